"""`imagegen`: the API from a shell. The same HTTP routes any client calls; nothing else.

    imagegen generate "a lighthouse" -n 2 -o out/
    imagegen edit photo.png "a green sofa" --mask mask.png
    imagegen edit photo.png -m cartoonify          (a model that takes no prompt)
    imagegen variations photo.png -n 2 -o variation.png
    imagegen jobs wait ID          (also: jobs get ID, jobs cancel ID)
    imagegen models
    imagegen usage

IMAGEGEN_URL is the API's base URL (default http://127.0.0.1:8080, `make serve`); IMAGEGEN_API_KEY its
key, sent as `Authorization: Bearer` (never printed). A slow model's job is followed with a progress
line (status, elapsed) until it ends; images are written as <job id>-<n>.<ext> and their paths
printed. A refused request or a failed job exits 1 with the API's own message; a wait that runs out
exits 2 (the job goes on: `imagegen jobs wait ID` picks it up again); an -o that cannot be written
exits 73 before anything is asked of the API (nothing billed).

What the server says is treated as data, never trusted: a file is only ever written inside -o, named
from a job id of the API's own form; a download is capped in size and time; terminal escape
sequences in its messages are dropped before they are printed; an API key about to go over plain
http to another machine is warned about first.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import os
import re
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

TERMINAL = ("succeeded", "failed", "canceled")
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
USAGE_ERROR, FAILED, TIMED_OUT, CANNOT_CREATE = 64, 1, 2, 73  # sysexits: EX_USAGE, EX_CANTCREAT
JOB_ID = re.compile(r"[0-9a-f]{32}")  # the API's job ids: the only names a file here is given
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024  # no image of any model here comes near it
DOWNLOAD_SECONDS = 120.0  # the whole download, however slowly the bytes come
# ESC-led sequences (CSI, OSC, ...) and other control characters: a server's text cannot move the
# cursor, retitle the terminal or hide a line
CONTROL = re.compile(
    r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])?|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def version() -> str:
    try:
        return metadata.version("imagegen-cli")
    except metadata.PackageNotFoundError:  # run from a checkout without installing
        return "unknown"


def clean(text: object) -> str:
    """A server's text, safe to print: no escape sequences, no control characters but newline and tab."""
    return CONTROL.sub("", str(text))


class Failure(Exception):
    """What the API (or the job) said went wrong, and the exit status it means."""

    def __init__(self, message: str, status: int = FAILED):
        super().__init__(clean(message))
        self.status = status


class Api:
    def __init__(self, base_url: str, key: str | None, timeout: float = 120):
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        if key:
            self.session.headers["authorization"] = f"Bearer {key}"
        self.session.headers["user-agent"] = f"imagegen-cli/{version()}"
        self.timeout = timeout

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict]:
        try:
            response = self.session.request(method, self.base + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise Failure(f"cannot reach {self.base} ({type(exc).__name__}); is IMAGEGEN_URL right?") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            message = error.get("message") or body.get("message") or response.reason
            param = f", param {error['param']}" if error.get("param") else ""
            raise Failure(f"{message} (HTTP {response.status_code}{param})")
        return response.status_code, body


# -- jobs and images --------------------------------------------------------------------------------


class Progress:
    """One line on stderr: rewritten in place on a terminal, a new line per change otherwise."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.last = ""

    def show(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
        elif text.split(" (")[0] != self.last.split(" (")[0]:  # the status changed, not only the time
            self.stream.write(text + "\n")
            self.stream.flush()
        self.last = text

    def done(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")


def wait(api: Api, jobs: list[dict], timeout: float, interval: float = 1.0) -> list[dict]:
    """Poll each open job until every one has ended (or `timeout` seconds pass: exit 2)."""
    progress = Progress()
    started = time.monotonic()
    jobs = list(jobs)
    try:
        while True:
            for i, job in enumerate(jobs):
                if job.get("status") not in TERMINAL:
                    jobs[i] = api.call("GET", f"/v1/jobs/{job['id']}")[1]
            elapsed = time.monotonic() - started
            states = ", ".join(f"{job['id'][:8]} {job['status']}" for job in jobs)
            progress.show(f"job {states} ({elapsed:.1f} s)")
            if all(job["status"] in TERMINAL for job in jobs):
                return jobs
            if elapsed > timeout:
                ids = " ".join(job["id"] for job in jobs if job["status"] not in TERMINAL)
                raise Failure(
                    f"still running after {timeout:.0f} s; wait again with: imagegen jobs wait {ids}", TIMED_OUT
                )
            time.sleep(interval)
    finally:
        progress.done()


def target(out: Path, job_id: str, n: int, ext: str, count: int) -> Path:
    """Where image n of a job goes: out/<job id>-<n>.<ext>, or the file -o names (out.png; with several
    images out-<n>.png). The job id must be of the API's own form, so nothing the server says can place
    a file outside -o (`../x`, `/abs`)."""
    if not JOB_ID.fullmatch(job_id):
        raise Failure(f"the API named a job {job_id[:40]!r}, which is not a job id; nothing was written")
    if out.suffix.lower() in IMAGE_SUFFIXES:
        return out if count == 1 else out.with_name(f"{out.stem}-{n}{out.suffix}")
    return out / f"{job_id}-{n}.{ext}"


def writable(out: Path) -> Path:
    """-o checked (a folder made) before the request: a billed image must never meet a path it cannot
    be written to. A name with an image suffix is a file, anything else a folder."""
    folder = out.parent if out.suffix.lower() in IMAGE_SUFFIXES else out
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Failure(f"cannot write to {out}: {exc.strerror}", CANNOT_CREATE) from None
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise Failure(f"cannot write to {out}: {folder} is not a folder this user can write to", CANNOT_CREATE)
    if out.suffix.lower() in IMAGE_SUFFIXES and out.is_dir():
        raise Failure(f"cannot write to {out}: it is a folder", CANNOT_CREATE)
    return out


def download(url: str, label: str) -> bytes:
    """A presigned URL's bytes (its own signature: no Authorization header goes with it), at most
    MAX_DOWNLOAD_BYTES within DOWNLOAD_SECONDS."""
    deadline = time.monotonic() + DOWNLOAD_SECONDS
    try:
        with requests.get(url, timeout=30, stream=True) as response:
            response.raise_for_status()
            if int(response.headers.get("content-length") or 0) > MAX_DOWNLOAD_BYTES:
                raise Failure(f"{label} is over {MAX_DOWNLOAD_BYTES // 2**20} MB; not downloaded")
            body = bytearray()
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > MAX_DOWNLOAD_BYTES:
                    raise Failure(f"{label} is over {MAX_DOWNLOAD_BYTES // 2**20} MB; download stopped")
                if time.monotonic() > deadline:
                    raise Failure(f"{label} took longer than {DOWNLOAD_SECONDS:.0f} s to download; stopped")
            return bytes(body)
    except requests.RequestException as exc:
        raise Failure(f"could not download {label}: {type(exc).__name__}") from None


def save(job_id: str, images: list[dict], data: list[dict], out: Path) -> list[Path]:
    """Write each image (from the answer's base64 or its presigned URL) where target() says."""
    written = []
    for n, image in enumerate(images):
        ext = EXTENSIONS.get(image.get("content_type") or "", "png")
        path = target(out, job_id, n, ext, len(images))
        inline = data[n].get("b64_json") if n < len(data) else None
        content = base64.b64decode(inline) if inline else download(image["url"], f"image {n} of job {job_id}")
        path.write_bytes(content)
        written.append(path)
    return written


def finish(api: Api, status: int, body: dict, args: argparse.Namespace) -> int:
    """An answer of generate, edit or variations: save the images now, or follow the jobs and save theirs."""
    if status == 201:
        job_id = str(body.get("id") or next((j["id"] for j in body.get("jobs", []) if j.get("id")), ""))
        paths = save(job_id, body.get("images") or [], body.get("data") or [], args.output)
        report(paths, body.get("cost_usd"))
        return 0
    jobs = [job for job in body.get("jobs", [body]) if job.get("id")]
    if args.no_wait:
        for job in jobs:
            print(clean(job["id"]))
        return 0
    return settle(api, wait(api, jobs, args.timeout), args.output)


def settle(api: Api, jobs: list[dict], out: Path) -> int:
    paths: list[Path] = []
    cost = None
    for job in jobs:
        if job["status"] == "succeeded":
            paths += save(job["id"], job.get("images") or [], [], out)
            if job.get("cost_usd") is not None:
                cost = (cost or 0) + job["cost_usd"]
    report(paths, cost)
    failed = [job for job in jobs if job["status"] != "succeeded"]
    if failed:
        raise Failure(
            "; ".join(f"job {job['id']} {job['status']}: {job.get('error') or 'no reason given'}" for job in failed)
        )
    return 0


def report(paths: list[Path], cost: float | None) -> None:
    for path in paths:
        print(path)
    if cost is not None:
        print(f"{len(paths)} image(s), ${cost:.4f} at list price", file=sys.stderr)


# -- commands ------------------------------------------------------------------------------------------


def generate(api: Api, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"prompt": args.prompt, "n": args.n}
    for name in ("model", "size", "negative_prompt", "seed"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    status, answer = api.call("POST", "/v1/images/generations", json=body, headers=prefer(args))
    return finish(api, status, answer, args)


def images(api: Api, args: argparse.Namespace, route: str) -> int:
    files = []
    try:
        files.append(("image", (Path(args.image).name, Path(args.image).read_bytes())))
        if getattr(args, "mask", None):
            files.append(("mask", (Path(args.mask).name, Path(args.mask).read_bytes())))
    except OSError as exc:
        raise Failure(f"cannot read {exc.filename}: {exc.strerror}", USAGE_ERROR) from None
    fields = {"n": str(args.n)}
    if getattr(args, "prompt", None):
        fields["prompt"] = args.prompt
    if args.model:
        fields["model"] = args.model
    if args.input:
        fields["input"] = args.input
    status, answer = api.call("POST", route, data=fields, files=files, headers=prefer(args))
    return finish(api, status, answer, args)


def prefer(args: argparse.Namespace) -> dict:
    """A quick job answers with its images; a slower one comes back at once and is followed here.
    --no-wait: a job for any model, answered at once (its id is printed)."""
    return {"prefer": "respond-async"} if args.no_wait else {"prefer": "wait=2"}


def jobs_command(api: Api, args: argparse.Namespace) -> int:
    if args.action == "get":
        print(clean(json.dumps(api.call("GET", f"/v1/jobs/{args.ids[0]}")[1], indent=2)))
        return 0
    if args.action == "cancel":
        for job_id in args.ids:
            job = api.call("POST", f"/v1/jobs/{job_id}/cancel")[1]
            print(clean(f"{job['id']} {job['status']}"))
        return 0
    return settle(api, wait(api, [{"id": job_id} for job_id in args.ids], args.timeout), args.output)


def models_command(api: Api, args: argparse.Namespace) -> int:
    rows = api.call("GET", "/v1/models")[1]["data"]
    for model in rows:
        price = model.get("price_per_image_usd")
        cost = f"${price}/image" if price is not None else "endpoint-billed"
        default = f"  default for {', '.join(model['default_for'])}" if model.get("default_for") else ""
        line = (
            f"{model['id']:<24} {model.get('provider', ''):<10} {','.join(model.get('tasks', [])):<22} {cost}{default}"
        )
        print(clean(line))
    return 0


def usage_command(api: Api, args: argparse.Namespace) -> int:
    query = {name: value for name, value in (("start_date", args.start), ("end_date", args.end)) if value}
    usage = api.call("GET", "/v1/usage", params=query)[1]
    for day in usage["data"]:
        print(clean(f"{day['date']}  {day['jobs']:>4} jobs  {day['images']:>4} images  ${day['cost_usd']:.4f}"))
    total = (
        f"{usage['start_date']}..{usage['end_date']}: {usage['images']} images, ${usage['cost_usd']:.4f} at list price"
    )
    print(clean(total))
    if usage.get("limits"):  # the key's own limits, and what is left of its budgets
        rules = ", ".join(f"{name} {value}" for name, value in usage["limits"].items())
        left = ", ".join(f"${usd:.4f} left this {period}" for period, usd in usage.get("left_usd", {}).items())
        print(clean(f"limits: {rules}" + (f"; {left}" if left else "")))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="imagegen",
        description="imagegen's API from a shell (IMAGEGEN_URL, IMAGEGEN_API_KEY).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"imagegen {version()}")
    commands = top.add_subparsers(dest="command", required=True)

    def making(command: argparse.ArgumentParser) -> None:
        command.add_argument("-n", type=int, default=1, help="how many images (1-4)")
        command.add_argument("-m", "--model", help="a model of `imagegen models` (default: the deployment's)")
        command.add_argument(
            "-o",
            "--output",
            type=Path,
            default=Path("."),
            help="a folder for <job id>-<n>.<ext> (default .), or a file name ending .png/.jpg/.webp",
        )
        command.add_argument("--timeout", type=float, default=600, help="seconds to follow a job (default 600)")
        command.add_argument("--no-wait", action="store_true", help="print the job ids instead of following them")

    gen = commands.add_parser("generate", help="images from a prompt")
    gen.add_argument("prompt")
    gen.add_argument("-s", "--size", help="WIDTHxHEIGHT, e.g. 1024x1024")
    gen.add_argument("--negative-prompt", dest="negative_prompt")
    gen.add_argument("--seed", type=int)
    making(gen)
    gen.set_defaults(run=generate)

    edit = commands.add_parser("edit", help="edit an image with a prompt (and a mask: transparent where it may change)")
    edit.add_argument("image")
    edit.add_argument("prompt", nargs="?", help="what to change (leave it out for a model that takes none)")
    edit.add_argument("--mask")
    edit.add_argument("--input", help="model inputs as a JSON object (those the deployment lets clients set)")
    making(edit)
    edit.set_defaults(run=lambda api, args: images(api, args, "/v1/images/edits"))

    var = commands.add_parser("variations", help="variations of an image")
    var.add_argument("image")
    var.add_argument("--input", help="model inputs as a JSON object (those the deployment lets clients set)")
    making(var)
    var.set_defaults(run=lambda api, args: images(api, args, "/v1/images/variations"))

    jobs = commands.add_parser("jobs", help="jobs: wait for them (and save their images), get one, cancel")
    jobs.add_argument("action", choices=("wait", "get", "cancel"))
    jobs.add_argument("ids", nargs="+", metavar="ID")
    jobs.add_argument("-o", "--output", type=Path, default=Path("."), help="where to write the images (default .)")
    jobs.add_argument("--timeout", type=float, default=600)
    jobs.set_defaults(run=jobs_command)

    commands.add_parser("models", help="the deployment's models, tasks and prices").set_defaults(run=models_command)

    use = commands.add_parser("usage", help="what your key spent per day (last 7 days by default)")
    use.add_argument("--start", help="YYYY-MM-DD")
    use.add_argument("--end", help="YYYY-MM-DD")
    use.set_defaults(run=usage_command)
    return top


EXAMPLES = """examples:
  imagegen generate "a lighthouse at dusk" -n 2 -o out/
  imagegen generate "a lighthouse" -m flux-schnell --no-wait      # prints the job id
  imagegen edit photo.jpg "a green sofa" --mask mask.png -o sofa.png
  imagegen edit photo.jpg -m cartoonify                           # a model that takes no prompt
  imagegen variations photo.png -n 2
  imagegen jobs wait 1f3a9c2e... -o out/
  imagegen models
  imagegen usage --start 2026-12-01

environment:
  IMAGEGEN_URL      the API's base URL (default http://127.0.0.1:8080, make serve)
  IMAGEGEN_API_KEY  its key, sent as Authorization: Bearer (never printed)
"""


def plain_http_to_another_machine(url: str) -> bool:
    """True if `url` is http:// to a host that is not this machine (a key would cross the network in clear)."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    host = (parts.hostname or "").strip("[]")
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line; an edit's optional prompt may also come after its options (`edit photo.png
    --mask m.png "a sofa"`), which argparse leaves over when the prompt may be left out."""
    top = parser()
    args, extra = top.parse_known_args(argv)
    if getattr(args, "command", None) == "edit" and args.prompt is None and len(extra) == 1 and extra[0][:1] != "-":
        args.prompt, extra = extra[0], []
    if extra:
        top.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    url, key = os.environ.get("IMAGEGEN_URL") or "http://127.0.0.1:8080", os.environ.get("IMAGEGEN_API_KEY")
    if key and plain_http_to_another_machine(url):
        print(
            f"imagegen: warning: IMAGEGEN_URL is plain http to another machine ({clean(urlsplit(url).hostname)}): "
            "the API key crosses the network unencrypted; use https",
            file=sys.stderr,
        )
    api = Api(url, key)
    try:
        if hasattr(args, "output"):
            writable(args.output)  # before anything is asked (and billed)
        return args.run(api, args)
    except Failure as failure:
        print(f"imagegen: {failure}", file=sys.stderr)
        return failure.status
    except KeyboardInterrupt:
        print("imagegen: interrupted (a job goes on; `imagegen jobs wait ID` follows it again)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
