"""The `imagegen` command (cli/, installed into .venv/bin by `make install`) against `make serve`."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

IMAGEGEN = Path(sys.executable).with_name("imagegen")


def imagegen(served, *args, key: str | None = "served", cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "IMAGEGEN_URL": served.url}
    env.pop("IMAGEGEN_API_KEY", None)
    if key:
        env["IMAGEGEN_API_KEY"] = served.key if key == "served" else key
    ran = subprocess.run([str(IMAGEGEN), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert served.key not in ran.stdout + ran.stderr  # the key is never printed
    return ran


def written(ran) -> list[Path]:
    return [Path(line) for line in ran.stdout.split()]


def test_models_lists_the_deployments_models_with_prices(served):
    ran = imagegen(served, "models")
    assert ran.returncode == 0, ran.stderr
    line = next(line for line in ran.stdout.splitlines() if line.startswith("sd3.5-large"))
    assert "$0.08/image" in line and "default for generate" in line


def test_generate_writes_each_image_named_by_its_job(served, tmp_path):
    ran = imagegen(served, "generate", "a lighthouse", "-n", "2", "-m", "sd3.5-large", "-o", str(tmp_path / "out"))
    assert ran.returncode == 0, ran.stderr
    paths = written(ran)
    assert len(paths) == 2 and all(p.parent == tmp_path / "out" for p in paths)
    job_ids = {re.fullmatch(r"([0-9a-f]{32})-[01]\.png", p.name).group(1) for p in paths}
    assert len(job_ids) == 1
    assert all(Image.open(p).size[0] > 0 for p in paths)
    assert "$0.1600 at list price" in ran.stderr


def test_an_async_job_shows_progress_then_writes_its_image(served, tmp_path):
    ran = imagegen(served, "generate", "a lighthouse", "-m", "flux-schnell", "-o", str(tmp_path))
    assert ran.returncode == 0, ran.stderr
    lines = [line for line in ran.stderr.splitlines() if line.startswith("job ")]
    assert re.fullmatch(r"job [0-9a-f]{8} (queued|running) \(\d+\.\d s\)", lines[0]), ran.stderr
    assert re.fullmatch(r"job [0-9a-f]{8} succeeded \(\d+\.\d s\)", lines[-1]), ran.stderr
    (path,) = written(ran)
    assert lines[-1].split()[1] == path.name[:8] and Image.open(path).format == "PNG"


def test_jobs_wait_picks_up_a_job_by_its_id(served, tmp_path):
    started = imagegen(served, "generate", "a lighthouse", "-m", "flux-schnell", "--no-wait")
    assert started.returncode == 0, started.stderr
    (job_id,) = started.stdout.split()
    ran = imagegen(served, "jobs", "wait", job_id, "-o", str(tmp_path))
    assert ran.returncode == 0, ran.stderr
    assert [p.name for p in written(ran)] == [f"{job_id}-0.png"]


def test_edit_with_a_mask(served, tmp_path):
    photo, mask = tmp_path / "photo.png", tmp_path / "mask.png"
    Image.new("RGB", (96, 80), (90, 120, 200)).save(photo)
    hole = Image.new("RGBA", (96, 80), (0, 0, 0, 255))
    hole.paste((0, 0, 0, 0), (16, 12, 48, 36))
    hole.save(mask)
    ran = imagegen(served, "edit", str(photo), "--mask", str(mask), "a green sofa", "-o", str(tmp_path / "out"))
    assert ran.returncode == 0, ran.stderr
    (path,) = written(ran)
    assert Image.open(io.BytesIO(path.read_bytes())).size[0] > 0


def test_a_refused_request_exits_1_with_the_apis_message(served, tmp_path):
    ran = imagegen(served, "generate", "a lighthouse", "-m", "sd3.5-large", "-s", "13x17", "-o", str(tmp_path))
    assert ran.returncode == 1 and ran.stdout == ""
    assert ran.stderr.startswith("imagegen: size: ") and ran.stderr.rstrip().endswith("(HTTP 400, param size)")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_without_a_key_it_says_what_api_gateway_said(served):
    ran = imagegen(served, "models", key=None)
    assert ran.returncode == 1 and ran.stderr.strip() == "imagegen: Unauthorized (HTTP 401)"


def test_a_failed_job_exits_1_with_its_error(served, tmp_path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (96, 96), (10, 200, 10)).save(photo)
    # cartoonify on make serve's fake Replicate, whose own switch (an input the deployment allows) fails the model
    ran = imagegen(
        served, "variations", str(photo), "-m", "cartoonify", "--input", '{"fake": "fail"}', "-o", str(tmp_path)
    )
    assert ran.returncode == 1 and ran.stdout == ""
    assert re.search(r"imagegen: job [0-9a-f]{32} failed: CUDA out of memory \(fake failure\)", ran.stderr), ran.stderr
    missing = imagegen(served, "jobs", "wait", "0" * 32)
    assert missing.returncode == 1 and "no job with id" in missing.stderr


def test_usage_sums_what_this_key_spent(served):
    ran = imagegen(served, "usage")
    assert ran.returncode == 0, ran.stderr
    total = re.search(r": (\d+) images, \$(\d+\.\d{4}) at list price", ran.stdout)
    assert total and int(total.group(1)) >= 2 and float(total.group(2)) > 0


def test_usage_shows_the_keys_limits_and_what_is_left(served):
    from imagegen import apikeys

    key, _ = apikeys.mint("cli limits", limits={"budget_usd_day": 1.0, "rpm": 30})
    ran = imagegen(served, "usage", key=key)
    assert ran.returncode == 0, ran.stderr
    assert "limits: budget_usd_day 1.0, rpm 30; $1.0000 left this day" in ran.stdout
