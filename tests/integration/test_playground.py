"""The playground in a real browser: Debian's Chromium, driven by Playwright, against `make serve`
(AUTH=api_key, its own offline fakes). Each state it reaches is a screenshot in build/screenshots/
(`make screenshots` copies them to docs/screenshots/, which the README shows)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image

from tests.conftest import require

playwright_api = require("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# No background traffic from the browser itself (this machine's network is closed), no sandbox (root).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: `make install` installs Debian's chromium", pytrace=False)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, served):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.requested = []
    page.on("request", lambda request: page.requested.append(request.url))
    page.console_errors = []
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    yield page
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def open_with_key(page, served) -> None:
    page.goto(served.url + "/")
    page.fill("#key", served.key)
    page.press("#key", "Tab")  # `change`: the key is kept and the models load with it
    page.wait_for_selector("#generate-form select[name=model] option[value='sd3.5-large']", state="attached")


def generate(page, served, prompt: str, model: str, n: int | None = None) -> None:
    """Open the page with the key, then ask the generate form for `prompt` on `model`."""
    open_with_key(page, served)
    page.fill("#generate-form textarea[name=prompt]", prompt)
    page.select_option("#generate-form select[name=model]", model)
    if n is not None:
        page.fill("#generate-form input[name=n]", str(n))
    page.click("#generate-form button[type=submit]")


def picture(width: int = 320, height: int = 240) -> bytes:
    image = Image.new("RGB", (width, height))
    image.putdata([(x % 256, y % 256, 128) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def stroke(page, start: float, end: float) -> None:
    """One stroke of the mouse across the edit's mask canvas, from `start` to `end` of its width, at mid height."""
    box = page.locator("#edit-form canvas.mask").bounding_box()
    page.mouse.move(box["x"] + box["width"] * start, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end, box["y"] + box["height"] * 0.5, steps=12)
    page.mouse.up()


def loaded_images(page) -> list[int]:
    """naturalWidth of each result image once the browser has decoded it (0: it did not decode)."""
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('#results img')];"
        " return imgs.length > 0 && imgs.every(i => i.complete); }",
        timeout=30_000,
    )
    return page.eval_on_selector_all("#results img", "imgs => imgs.map(i => i.naturalWidth)")


def test_generate_shows_decoded_images_each_downloadable(page, served):
    generate(page, served, "a lighthouse on a cliff at dawn", "sd3.5-large", n=2)
    widths = loaded_images(page)
    assert len(widths) == 2 and all(w > 0 for w in widths)
    links = page.eval_on_selector_all("#results a[download]", "links => links.map(a => a.download)")
    assert len(links) == 2 and all(name.endswith(".png") for name in links)
    assert links[0].split("-")[0] == links[1].split("-")[0]  # named by the job's id
    page.wait_for_function("() => document.querySelector('#cost').textContent.includes('last 7 days')")
    cost = page.text_content("#cost")  # this request's list price, then the key's usage (GET /v1/usage)
    assert cost.startswith("2 images: $0.16 at list price · last 7 days on this key: $"), cost
    assert not page.is_visible("#error")
    shot(page, "generate")


def test_variations_of_a_dropped_image(page, served):
    open_with_key(page, served)
    page.click("#tab-variation")
    # dropped, not chosen: the drop zone hands the file to its input
    page.evaluate(
        """async (b64) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const data = new DataTransfer();
            data.items.add(new File([bytes], "room.png", { type: "image/png" }));
            const zone = document.querySelector("#variation-form .drop");
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
        }""",
        base64.b64encode(picture()).decode(),
    )
    assert page.eval_on_selector("#variation-form input[name=image]", "i => i.files[0].name") == "room.png"
    page.select_option("#variation-form select[name=model]", "sd3.5-large")
    page.click("#variation-form button[type=submit]")
    widths = loaded_images(page)
    assert len(widths) == 1 and widths[0] > 0
    shot(page, "variation")


def test_an_edit_sends_the_painted_mask_as_a_real_rgba_png(page, served):
    page.add_init_script(WATCH_FORMS)
    open_with_key(page, served)
    page.click("#tab-edit")
    page.set_input_files(
        "#edit-form input[name=image]", files=[{"name": "room.png", "mimeType": "image/png", "buffer": picture()}]
    )
    page.wait_for_selector("#edit-form .paint", state="visible")
    stroke(page, 0.3, 0.7)  # across the middle of the picture
    page.fill("#edit-form textarea[name=prompt]", "a green velvet sofa")
    with page.expect_request("**/v1/images/edits") as sent:
        page.click("#edit-form button[type=submit]")
    assert sent.value.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = {name: base64.b64decode(data) for name, data in page.evaluate("window.sentParts")}
    mask = Image.open(io.BytesIO(parts["mask"]))
    image = Image.open(io.BytesIO(parts["image"]))
    assert mask.format == "PNG" and mask.mode == "RGBA" and mask.size == image.size == (320, 240)
    alpha = mask.getchannel("A")
    assert alpha.getpixel((160, 120)) == 0  # painted: may change
    assert alpha.getpixel((5, 5)) == 255 and alpha.getpixel((315, 235)) == 255  # untouched: kept
    assert "model" not in parts  # auto: the deployment picks the model for a masked edit
    widths = loaded_images(page)
    assert widths and all(w > 0 for w in widths)
    shot(page, "edit-mask")


def test_an_async_job_goes_from_queued_to_its_image(page, served):
    generate(page, served, "a lighthouse, slowly", "flux-schnell")
    page.wait_for_selector("#progress", state="visible")
    state = page.text_content("#progress .state")
    assert state in ("queued", "running")
    assert page.is_visible("#cancel")
    shot(page, "job-progress")
    widths = loaded_images(page)
    assert widths and all(w > 0 for w in widths)
    assert page.text_content("#progress .state") == "succeeded"
    assert not page.is_visible("#cancel")
    assert page.text_content("#progress .elapsed").endswith(" s")
    shot(page, "job-done")


def test_cancel_stops_a_running_job(page, served):
    generate(page, served, "a lighthouse, never mind", "flux-schnell")
    page.wait_for_selector("#cancel", state="visible")
    page.click("#cancel")
    page.wait_for_selector("#error", state="visible")
    assert page.text_content("#progress .state") == "canceled" and "cancel" in page.text_content("#error")
    assert not page.is_visible("#cancel")
    assert page.locator("#results img").count() == 0
    shot(page, "job-canceled")


def test_a_refused_request_shows_the_apis_own_message(page, served):
    prompt = "a lighthouse [filtered]"  # the offline Bedrock's content filter (make serve's banner)
    answer = requests.post(
        served.url + "/v1/images/generations",
        json={"prompt": prompt, "model": "sd3.5-large"},
        headers={"authorization": f"Bearer {served.key}"},
        timeout=30,
    )
    assert answer.status_code == 422
    generate(page, served, prompt, "sd3.5-large")
    page.wait_for_selector("#error", state="visible")
    assert page.text_content("#error") == answer.json()["error"]["message"]
    assert page.locator("#results img").count() == 0
    shot(page, "refused")


def test_without_a_key_the_page_loads_and_says_what_the_api_said(page, served):
    page.goto(served.url + "/playground")
    page.wait_for_selector("#error", state="visible")
    assert "Unauthorized" in page.text_content("#error") and "API key" in page.text_content("#error")


def test_the_key_stays_in_the_tab(page, served, browser):
    open_with_key(page, served)
    assert page.evaluate("sessionStorage.getItem('imagegen.key')") == served.key
    assert page.evaluate("localStorage.length") == 0
    assert all(served.key not in url for url in page.requested)  # sent as a header, never in a URL
    assert served.key not in served.log.read_text()
    other = browser.new_context().new_page()  # another tab (its own session): no key
    other.goto(served.url + "/")
    assert other.evaluate("sessionStorage.getItem('imagegen.key')") is None
    other.context.close()


def test_detections_are_drawn_over_the_image(page, served):
    open_with_key(page, served)
    page.click("#tab-analyze")
    red = Image.new("RGB", (200, 160), (230, 20, 20))
    out = io.BytesIO()
    red.save(out, "PNG")
    page.set_input_files(
        "#analyze-form input[name=image]",
        files=[{"name": "red.png", "mimeType": "image/png", "buffer": out.getvalue()}],
    )
    page.select_option("#analyze-form select[name=task]", "detections")
    with page.expect_response("**/v1/images/detections") as answered:
        page.click("#analyze-form button[type=submit]")
    found = answered.value.json()["results"][0]["detections"]
    assert found, "the demo detector finds the red square"
    page.wait_for_selector("#analysis", state="visible")
    box = found[0]
    # the box's left edge is drawn in the playground's colour over the red picture
    edge = page.evaluate(
        "([x, y]) => [...document.querySelector('#analysis').getContext('2d').getImageData(x, y, 1, 1).data]",
        [int(box["x"]), int(box["y"] + box["height"] / 2)],
    )
    assert edge[:3] == [255, 45, 85]
    assert page.locator("#labels li").first.text_content().startswith(box["label"])
    shot(page, "detections")


def test_classification_lists_labels(page, served):
    open_with_key(page, served)
    page.click("#tab-analyze")
    page.set_input_files(
        "#analyze-form input[name=image]", files=[{"name": "room.png", "mimeType": "image/png", "buffer": picture()}]
    )
    page.click("#analyze-form button[type=submit]")
    page.wait_for_selector("#labels li")
    assert page.locator("#labels li").count() >= 1


def test_it_fits_a_phone_and_loads_nothing_from_elsewhere(browser, served):
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(served.url + "/")
    page.fill("#key", served.key)
    page.press("#key", "Tab")
    page.wait_for_selector("#generate-form select[name=model] option[value='sd3.5-large']", state="attached")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    for tab in ("#tab-edit", "#tab-variation", "#tab-analyze", "#tab-generate"):
        page.click(tab)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, tab
    shot(page, "phone")
    hosts = {urlsplit(url).netloc for url in requested}
    assert hosts == {urlsplit(served.url).netloc}  # no CDN, no fonts, no third-party scripts
    context.close()


def test_the_page_is_public_and_locks_scripts_to_its_own(served):
    answer = requests.get(served.url + "/", timeout=10)  # no key: the page itself is public
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "'unsafe-inline'" not in policy
    script = answer.text.split("<script>")[1].split("</script>")[0]
    assert "<script src" not in answer.text and not re.search(r"https?://", script)  # no URL of another host
    assert requests.get(served.url + "/v1/models", timeout=10).status_code == 401  # the API is not


def phone_photo() -> bytes:
    """A 12 MP (4032x3024) JPEG with detail, as a phone takes it (about 3.5 MB)."""
    import random

    rng = random.Random(12)
    image = Image.new("RGB", (4032, 3024), (90, 110, 70))
    for _ in range(3000):
        x, y = rng.randrange(4032), rng.randrange(3024)
        image.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)), (x, y, x + 60, y + 60))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def test_a_phone_photo_with_a_painted_mask_is_sent_scaled_and_fits_the_upload_limit(page, served):
    # GIVEN a 12 MP phone photo picked for an edit, and a mask painted over part of it
    page.add_init_script(WATCH_FORMS)
    open_with_key(page, served)
    page.click("#tab-edit")
    photo = phone_photo()
    page.set_input_files(
        "#edit-form input[name=image]", files=[{"name": "phone.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    page.wait_for_selector("#edit-form .paint", state="visible")
    stroke(page, 0.4, 0.6)
    page.fill("#edit-form textarea[name=prompt]", "a green velvet sofa")
    # WHEN it is sent
    with page.expect_response("**/v1/images/edits") as answered:
        page.click("#edit-form button[type=submit]")
    # THEN the photo went as a JPEG scaled to at most 4.2 MP, the mask as a PNG of the same size, both
    # together well under the ~4.5 MB API Gateway and Lambda take, and the edit was made
    parts = {name: base64.b64decode(data) for name, data in page.evaluate("window.sentParts")}
    image, mask = Image.open(io.BytesIO(parts["image"])), Image.open(io.BytesIO(parts["mask"]))
    assert image.format == "JPEG" and mask.format == "PNG" and image.size == mask.size
    assert image.size[0] * image.size[1] <= 4_194_304 and abs(image.size[0] / image.size[1] - 4 / 3) < 0.01
    assert len(parts["image"]) + len(parts["mask"]) < 4_000_000, len(parts["image"]) + len(parts["mask"])
    assert answered.value.status == 201, answered.value.text()
    assert loaded_images(page)


def test_a_file_the_browser_cannot_read_clears_the_picture_and_nothing_is_sent(page, served):
    open_with_key(page, served)
    page.click("#tab-edit")
    page.set_input_files(
        "#edit-form input[name=image]", files=[{"name": "room.png", "mimeType": "image/png", "buffer": picture()}]
    )
    page.wait_for_selector("#edit-form .paint", state="visible")
    # WHEN a second pick is a file the browser cannot read
    page.set_input_files(
        "#edit-form input[name=image]",
        files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image"}],
    )
    page.wait_for_selector("#error", state="visible")
    assert "notes.png is not an image this browser can read" in page.text_content("#error")
    assert not page.is_visible("#edit-form .paint")
    # THEN pressing Edit sends nothing (not the previous picture): the form asks for a file again
    before = len(page.requested)
    page.fill("#edit-form textarea[name=prompt]", "x")
    page.click("#edit-form button[type=submit]")
    page.wait_for_timeout(500)
    assert page.eval_on_selector("#edit-form input[name=image]", "i => i.files.length") == 0
    assert page.eval_on_selector("#edit-form canvas.picture", "c => c.width") == 0
    assert not [url for url in page.requested[before:] if "/v1/images/edits" in url]


def test_each_image_downloads_as_its_job_and_number(page, served):
    generate(page, served, "a lighthouse", "sd3.5-large")
    loaded_images(page)
    link = page.locator("#results a[download]").first
    href, name = link.get_attribute("href"), link.get_attribute("download")
    assert link.get_attribute("target") is None
    # S3 (here LocalStack) answers the link as an attachment of that name: no new tab, the right file
    answer = requests.get(href, timeout=10)
    assert answer.status_code == 200 and answer.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert re.fullmatch(r"[0-9a-f]{32}-0\.png", name)


def test_switching_tabs_leaves_the_last_tabs_answer_behind(page, served):
    generate(page, served, "a lighthouse [filtered]", "sd3.5-large")
    page.wait_for_selector("#error", state="visible")
    page.click("#tab-edit")
    assert not page.is_visible("#error") and page.locator("#results > *").count() == 0
    assert page.text_content("#cost") == ""


def test_the_cost_line_says_what_is_left_of_the_keys_budget(page, served):
    from imagegen import apikeys

    key, _ = apikeys.mint("playground budget", limits={"budget_usd_day": 1.0})
    page.goto(served.url + "/")
    page.fill("#key", key)
    page.press("#key", "Tab")
    page.wait_for_selector("#generate-form select[name=model] option[value='sd3.5-large']", state="attached")
    page.fill("#generate-form textarea[name=prompt]", "a lighthouse")
    page.select_option("#generate-form select[name=model]", "sd3.5-large")
    page.click("#generate-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#cost').textContent.includes('left this day')")
    assert "$0.92 left this day" in page.text_content("#cost")


def test_a_late_answer_never_writes_into_a_newer_requests_cost_line(page, served):
    # GIVEN GET /v1/usage held back, so the first request's usage arrives after a second request began
    open_with_key(page, served)
    held = []
    page.route("**/v1/usage*", lambda route: held.append(route))
    page.fill("#generate-form textarea[name=prompt]", "first")
    page.select_option("#generate-form select[name=model]", "sd3.5-large")
    page.click("#generate-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#cost').textContent.startsWith('1 image')")
    page.wait_for_timeout(200)
    assert held, "the first request asked for its usage"
    page.click("#tab-variation")  # another tab: the first answer is no longer on screen
    held.pop().continue_()
    page.wait_for_timeout(500)
    assert page.text_content("#cost") == ""  # the late usage did not write a half line


def test_tabs_follow_the_arrow_keys_and_inputs_have_visible_borders(page, served):
    open_with_key(page, served)
    page.focus("#tab-generate")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-edit" and page.is_visible("#edit-form")
    page.keyboard.press("End")
    assert page.get_attribute("#tab-analyze", "aria-selected") == "true"
    page.keyboard.press("ArrowRight")  # wraps
    assert page.evaluate("document.activeElement.id") == "tab-generate"
    assert page.evaluate("[...document.querySelectorAll('[role=tab]')].map(t => t.tabIndex)") == [0, -1, -1, -1]
    # WCAG 1.4.11: a field's border against the page, at least 3:1
    colours = page.evaluate(
        """() => { const field = getComputedStyle(document.querySelector('#key')).borderTopColor;
                   const page = getComputedStyle(document.body).backgroundColor; return [field, page]; }"""
    )

    def luminance(css: str) -> float:
        values = [float(v) for v in re.findall(r"[\d.]+", css)[:4]]
        r, g, b = values[:3]
        alpha = values[3] if len(values) > 3 else 1.0
        r, g, b = (alpha * c + (1 - alpha) * 255 for c in (r, g, b))  # over a white page
        lin = [(c / 255) / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    field, back = luminance(colours[0]), luminance(colours[1] if "0, 0, 0, 0" not in colours[1] else "rgb(255,255,255)")
    ratio = (max(field, back) + 0.05) / (min(field, back) + 0.05)
    assert ratio >= 3, f"{colours}: {ratio:.2f}:1"


def test_an_answer_naming_an_image_url_of_another_scheme_is_not_shown(page, served):
    open_with_key(page, served)
    image = {"url": "javascript:alert(1)", "download_url": "ftp://x/y", "content_type": "image/png"}
    bad = {"id": "a" * 32, "status": "succeeded", "created": 1, "data": [{"url": image["url"]}], "images": [image]}
    page.route(
        "**/v1/images/generations",
        lambda route: route.fulfill(status=201, content_type="application/json", body=json.dumps(bad)),
    )
    page.fill("#generate-form textarea[name=prompt]", "x")
    page.click("#generate-form button[type=submit]")
    page.wait_for_selector("#error", state="visible")
    assert "a URL this page does not open" in page.text_content("#error")
    assert page.locator("#results img").count() == 0 and page.locator("#results a").count() == 0


# Chromium does not hand a request's file parts to Playwright, so the page's fetch is watched: each
# FormData it sends is kept as (name, base64) pairs, files read back from the very Blobs sent.
WATCH_FORMS = """
const send = window.fetch;
window.fetch = async (url, init) => {
  if (init && init.body instanceof FormData) {
    const parts = [];
    for (const [name, value] of init.body.entries()) {
      const bytes = typeof value === "string"
        ? new TextEncoder().encode(value) : new Uint8Array(await value.arrayBuffer());
      let text = "";  // in slices: one spread of a megabyte overflows the call stack
      for (let i = 0; i < bytes.length; i += 32768) text += String.fromCharCode(...bytes.subarray(i, i + 32768));
      parts.push([name, btoa(text)]);
    }
    window.sentParts = parts;
  }
  return send(url, init);
};
"""
