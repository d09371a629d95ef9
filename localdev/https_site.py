"""An https server on this machine with a throwaway certificate for `localhost` (openssl), for the
tests and benches that fetch image URLs: the fetcher takes https only, so a local site must be one.
Clients trust it through SSL_CERT_FILE (the certificate's path, returned).

It serves connections as a real site does, at once: each TLS handshake runs in its connection's own
thread (a listening socket wrapped with the default do_handshake_on_connect shakes hands inside
accept(), one client at a time, so on a loaded machine the eighth of eight simultaneous downloads
waited for the seven handshakes before it), and the listen backlog holds a burst (socketserver's 5
drops the rest, and a dropped SYN is retried a second later)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Site(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def finish_request(self, request, client_address) -> None:
        request.do_handshake()  # in this connection's thread, never in the accept loop
        super().finish_request(request, client_address)


def start(handler: type[BaseHTTPRequestHandler], folder: Path) -> tuple[ThreadingHTTPServer, Path]:
    """The running server (stop it with .shutdown()) and its certificate; key and certificate in `folder`."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(  # noqa: S603 (fixed arguments)
        [shutil.which("openssl") or "/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = Site(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, cert
