"""The worst edit's peak memory against the edit function's memory (512 MB, Terraform's default).

The worst an edit can be now: 8 images (one request's cap on model calls, api.max_model_calls) fetched
from URLs (OpenAI's JSON edit, so no 4.5 MB body limit), each a 5 MB PNG (the most the fetcher takes)
of up to 9.4 MP (SD3.5's limit), edited on SD3.5 Large (sync: every call sends its source base64
in JSON). A fresh process per run loads the edit handler, makes one small edit first (clients made,
as in a warm Lambda), then the worst one against a local https site and the fake Bedrock; the
figure is the process's peak RSS (VmHWM) after it. Baseline: the same process after the small edit
only, so the ratio is what the worst request adds. Target: the peak stays under the function's memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zlib
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from bench import ROOT, Figure, median

FUNCTION_MB = 512  # terraform/variables.tf: functions.edit.memory_size
IMAGES, SIDE = 8, 1280  # noise, so each is about 4.7 MB as PNG, just under the 5 MB the fetcher takes

CHILD = """
import base64, json, sys
sys.path[:0] = {paths!r}
from bench.local import event, load_handler

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

edit = load_handler("edit")
route = "POST /v1/images/edits"
small = {{"image": base64.b64encode(open(sys.argv[1], "rb").read()).decode(), "prompt": "x", "model": "sd3.5-large"}}
answer = edit(event("POST", "/v1/images/edits", route, json.dumps(small)))
assert answer["statusCode"] == 201, answer["body"][:300]
warm = hwm()
worst = {{"images": [{{"image_url": url}} for url in sys.argv[2:]], "prompt": "as a watercolour"}}
worst["model"] = "sd3.5-large"
answer = edit(event("POST", "/v1/images/edits", route, json.dumps(worst)))
assert answer["statusCode"] == 201 and len(json.loads(answer["body"])["data"]) == {images}, answer["body"][:300]
print(json.dumps({{"warm_mb": warm, "peak_mb": hwm()}}))
"""


def noisy_png(side: int, seed: int) -> bytes:
    """An RGB PNG of noise (incompressible: the largest file for its pixels), standard library only."""
    import random
    import struct

    rng = random.Random(seed)
    rows = b"".join(b"\x00" + rng.randbytes(side * 3) for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(rows, 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + idat + chunk(b"IEND", b"")


def https_site(files: dict[str, bytes], tmp: Path):
    from localdev import https_site as https

    class Files(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            body = files[self.path]
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return https.start(Files, tmp)


def run(ctx) -> list[Figure]:
    from bench.local import replicate_env
    from localdev.fake_models import FakeModels

    files = {f"/{i}.png": noisy_png(SIDE, i) for i in range(IMAGES)}
    largest = max(len(data) for data in files.values())
    with replicate_env(), tempfile.TemporaryDirectory(prefix="bench-edit-") as tmp:  # a bucket and the env
        server, cert = https_site(files, Path(tmp))
        models = FakeModels().start()
        small = Path(tmp) / "small.png"
        small.write_bytes(noisy_png(256, 99))
        env = {
            **os.environ,
            "SSL_CERT_FILE": str(cert),
            "IMAGEGEN_FETCH_ALLOW_LOOPBACK": "1",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": models.url,
            "EDIT_MODELS": "sd3.5-large",
            "IMAGEGEN_MODELS_OFFLINE": "1",
        }
        urls = [f"https://localhost:{server.server_address[1]}{path}" for path in files]
        code = CHILD.format(paths=[str(ROOT / "src"), str(ROOT)], images=IMAGES)
        peaks, warms = [], []
        try:
            for _ in range(max(3, ctx.runs // 2)):
                out = subprocess.run(
                    [sys.executable, "-c", code, str(small), *urls], capture_output=True, text=True, env=env
                )
                if out.returncode:
                    raise RuntimeError(f"edit memory run failed: {out.stderr[-2000:]}")
                result = json.loads(out.stdout.strip().splitlines()[-1])
                peaks.append(result["peak_mb"])
                warms.append(result["warm_mb"])
        finally:
            server.shutdown()
            models.stop()
    peak, warm = median(peaks), median(warms)
    ctx.verdicts.append(
        (
            f"worst edit ({IMAGES} URL images of {largest / 2**20:.1f} MB on SD3.5) peaks under the edit "
            f"function's {FUNCTION_MB} MB",
            peak < FUNCTION_MB,
            f"{peak:.0f} MB",
        )
    )
    return [
        Figure(
            "memory",
            f"worst edit peak RSS ({IMAGES} x {largest / 2**20:.1f} MB URLs)",
            peak,
            warm,
            "MB",
            "the same process after one small edit",
            "",
            None,
            {"function_mb": FUNCTION_MB, "peaks_mb": peaks},
        )
    ]
