"""`GET /`, `GET /playground` and `GET /openapi.json`: what people look at, public like the webhook
(the page calls the API with the key typed into it; the API routes stay authorized).

The page is three files in the package (imagegen/web: playground.html, .css, .js), put together once
per cold start into one answer: no CDN, no third-party script or font, and a Content-Security-Policy
that lets only that script and that style run (by their SHA-256) and the page talk only to its own
origin. The contract is imagegen/web/openapi.json, generated from the route table and the catalog
by scripts/openapi.py and held equal to them by tests/unit/routes/test_web.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from importlib import resources

from imagegen import settings
from imagegen.api.events import Request

ASSETS = resources.files("imagegen") / "web"


def digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def page() -> tuple[str, str]:
    """The page with its style and script inlined, and the Content-Security-Policy that admits them."""
    style = (ASSETS / "playground.css").read_text()
    script = (ASSETS / "playground.js").read_text()
    html = (ASSETS / "playground.html").read_text()
    html = html.replace("<style></style>", f"<style>{style}</style>").replace(
        "<script></script>", f"<script>{script}</script>"
    )
    policy = "; ".join(
        (
            "default-src 'none'",
            f"script-src {digest(script)}",
            f"style-src {digest(style)}",
            f"img-src 'self' data: blob: {' '.join(image_origins())}",  # presigned URLs: the bucket's only
            "connect-src 'self'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        )
    )
    return html, policy


def image_origins() -> list[str]:
    """Where the page's images come from: the origins S3's presigned URLs of this bucket have, as
    botocore makes them (virtual-hosted `https://<bucket>.s3.amazonaws.com`; a name with dots goes
    path-style to the region's endpoint; tests/unit/routes/test_web.py holds this against botocore),
    or, under make serve, LocalStack's."""
    local = settings.local_image_origin()
    if local:
        return [local]
    bucket, region = settings.bucket_name(), settings.aws_region()
    if "." in bucket:
        return ["https://s3.amazonaws.com" if region == "us-east-1" else f"https://s3.{region}.amazonaws.com"]
    return [f"https://{bucket}.s3.amazonaws.com", f"https://{bucket}.s3.{region}.amazonaws.com"]


@cache
def contract() -> str:
    """The committed contract, compacted once per cold start (not parsed and dumped per request)."""
    return json.dumps(json.loads((ASSETS / "openapi.json").read_text()), separators=(",", ":"))


def static(body: str, content_type: str, **headers: str) -> dict:
    """A file's answer: the same for everyone, cacheable for five minutes."""
    return {
        "statusCode": 200,
        "headers": {"content-type": content_type, "cache-control": "public, max-age=300", **headers},
        "body": body,
        "isBase64Encoded": False,
    }


def handle(request: Request) -> dict:
    if request.route_key.endswith("/openapi.json"):
        return static(contract(), "application/json")
    html, policy = page()
    return static(
        html,
        "text/html; charset=utf-8",
        **{"content-security-policy": policy, "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"},
    )
