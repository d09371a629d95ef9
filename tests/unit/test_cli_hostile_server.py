"""The CLI treats what a server says as data: files stay inside -o, downloads are capped, escape
sequences never reach the terminal, a key over plain http to another machine is warned about, and an
-o that cannot be written fails before anything is asked of the API.

A hostile server on loopback plays the API (the CLI in a subprocess, as a person runs it).
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

IMAGEGEN = Path(sys.executable).with_name("imagegen")
GOOD_ID = "a" * 32


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, format="PNG")
    return out.getvalue()


class Hostile(BaseHTTPRequestHandler):
    answer: dict = {}
    requests: list[str] = []
    big = 0

    def log_message(self, *args) -> None:
        pass

    def reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        if self.path == "/big.png":  # an endless image
            self.send_response(200)
            self.end_headers()
            try:
                self.wfile.write(png())
                for _ in range(70 * 16):
                    self.wfile.write(b"\0" * 65536)
            except OSError:
                pass
            return
        self.reply(*type(self).answer.get(self.path, (404, b"{}")))

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        type(self).requests.append(self.path)
        self.reply(*type(self).answer.get(self.path, (404, b"{}")))


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    Hostile.answer, Hostile.requests = {}, []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def run(url: str, *args: str, cwd=None, key: str | None = "igk_0123456789abcdef_" + "k" * 43):
    env = {**os.environ, "IMAGEGEN_URL": url}
    env.pop("IMAGEGEN_API_KEY", None)
    if key:
        env["IMAGEGEN_API_KEY"] = key
    return subprocess.run([str(IMAGEGEN), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def created(job_id: str, url: str | None = None, inline: bool = True) -> tuple[int, bytes]:
    image = {"key": "k", "url": url or "http://x/never", "content_type": "image/png"}
    data = [{"b64_json": base64.b64encode(png()).decode()}] if inline else [{"url": image["url"]}]
    return 201, json.dumps({"id": job_id, "status": "succeeded", "images": [image], "data": data}).encode()


@pytest.mark.parametrize("job_id", ["../../escaped", "/tmp/abs", "a" * 31 + "/", "..", ""])
def test_a_job_id_from_the_server_never_places_a_file_outside_o(server, tmp_path, job_id):
    Hostile.answer = {"/v1/images/generations": created(job_id)}
    out = tmp_path / "out"
    ran = run(server, "generate", "x", "-o", str(out))
    assert ran.returncode == 1 and "is not a job id; nothing was written" in ran.stderr
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [] and not Path("/tmp/abs-0.png").exists()


def test_a_good_answer_is_written_inside_o_and_o_with_a_suffix_is_a_file(server, tmp_path):
    Hostile.answer = {"/v1/images/generations": created(GOOD_ID)}
    ran = run(server, "generate", "x", "-o", str(tmp_path / "out"))
    assert ran.returncode == 0 and ran.stdout.split() == [str(tmp_path / "out" / f"{GOOD_ID}-0.png")]
    ran = run(server, "generate", "x", "-o", str(tmp_path / "one.png"))
    assert ran.returncode == 0 and (tmp_path / "one.png").is_file()  # a file, not a folder named one.png


def test_an_endless_download_is_stopped_at_the_cap(server, tmp_path):
    Hostile.answer = {"/v1/images/generations": created(GOOD_ID, f"{server}/big.png", inline=False)}
    ran = run(server, "generate", "x", "-o", str(tmp_path))
    assert ran.returncode == 1 and "over 64 MB; download stopped" in ran.stderr
    assert list(tmp_path.iterdir()) == []


def test_escape_sequences_from_the_server_never_reach_the_terminal(server, tmp_path):
    evil = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m refused\x9b"
    body = {"error": {"code": "x", "message": evil, "type": "invalid_request_error", "param": "size\x1b[1A"}}
    Hostile.answer = {"/v1/images/generations": (400, json.dumps(body).encode())}
    ran = run(server, "generate", "x", "-o", str(tmp_path))
    assert ran.returncode == 1 and "\x1b" not in ran.stderr and "\x9b" not in ran.stderr
    assert "red refused" in ran.stderr


def test_an_o_that_cannot_be_written_fails_before_anything_is_asked(server, tmp_path):
    Hostile.answer = {"/v1/images/generations": created(GOOD_ID)}
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for out in (blocker / "sub", blocker):
        ran = run(server, "generate", "x", "-o", str(out))
        assert ran.returncode == 73 and "cannot write to" in ran.stderr and "Traceback" not in ran.stderr
    assert Hostile.requests == []  # nothing asked, nothing billed


def test_a_key_over_plain_http_to_another_machine_is_warned_about():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "cli"))
    import imagegen_cli

    assert imagegen_cli.plain_http_to_another_machine("http://api.example.com:8080")
    assert imagegen_cli.plain_http_to_another_machine("http://10.0.0.5")
    for safe in ("https://api.example.com", "http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:1"):
        assert not imagegen_cli.plain_http_to_another_machine(safe), safe


def test_the_warning_is_printed_before_the_request(server, tmp_path):
    # 0.0.0.0 is not a loopback address (so: another machine, as far as the check knows), yet it reaches
    # no other machine: the warning comes first, then the failure to connect to the closed port
    ran = run("http://0.0.0.0:9", "models")
    assert ran.stderr.index("warning: IMAGEGEN_URL is plain http to another machine") < ran.stderr.index("cannot reach")
    assert run(server, "models").stderr.count("warning") == 0


def test_help_has_examples_and_there_is_a_version():
    assert "examples:" in run("http://127.0.0.1:9", "--help").stdout
    version = run("http://127.0.0.1:9", "--version")
    assert version.returncode == 0 and version.stdout.strip() == "imagegen 0.2.0"


def test_an_edit_needs_no_prompt_for_a_model_that_takes_none(server, tmp_path):
    photo = tmp_path / "p.png"
    photo.write_bytes(png())
    Hostile.answer = {"/v1/images/edits": created(GOOD_ID)}
    ran = run(server, "edit", str(photo), "-m", "cartoonify", "-o", str(tmp_path / "out"))
    assert ran.returncode == 0, ran.stderr


def test_an_edits_prompt_may_come_before_or_after_its_options(server, tmp_path):
    photo, mask = tmp_path / "p.png", tmp_path / "m.png"
    photo.write_bytes(png())
    mask.write_bytes(png())
    Hostile.answer = {"/v1/images/edits": created(GOOD_ID)}
    for args in (["a sofa", "--mask", str(mask)], ["--mask", str(mask), "a sofa"]):
        ran = run(server, "edit", str(photo), *args, "-o", str(tmp_path / "out"))
        assert ran.returncode == 0, ran.stderr
    ran = run(server, "edit", str(photo), "a sofa", "extra", "-o", str(tmp_path / "out"))
    assert ran.returncode == 2 and "unrecognized arguments: extra" in ran.stderr
