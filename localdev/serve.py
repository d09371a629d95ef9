"""`make serve`: the whole API on one machine.

Sets up the bucket in LocalStack, starts offline provider fakes where no real
credentials are configured (and says so), then serves every route of
functions/routes.json at http://HOST:PORT through the local HTTP API server.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from urllib.parse import urlsplit

from localdev.bucket import ensure_bucket
from localdev.server import Cors, LocalApi

log = logging.getLogger("imagegen.localdev")


def configure_environment(host: str, port: int) -> list[str]:
    """Set the env the handlers read (as Terraform would) and start fakes; returns banner lines."""
    os.environ.setdefault("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("BUCKET_NAME", "imagegen-local")
    # the playground's CSP admits images from the bucket's origin only: here LocalStack's (plain http)
    endpoint = urlsplit(os.environ["AWS_ENDPOINT_URL"])
    os.environ.setdefault("IMAGEGEN_IMAGE_ORIGIN", f"{endpoint.scheme}://{endpoint.netloc}")
    # Edits may also pick Replicate's FLUX Kontext (prompt) and FLUX Fill (prompt + mask), which the
    # offline fake serves, besides the default cartoonify: the README's examples use them.
    os.environ.setdefault("EDIT_MODELS", "cartoonify,sd3.5-large,stable-image-inpaint,flux-kontext-pro,flux-fill-pro")
    ensure_bucket(os.environ["BUCKET_NAME"])
    lines = [f"bucket      s3://{os.environ['BUCKET_NAME']} at {os.environ['AWS_ENDPOINT_URL']}"]
    for starter in offline_starters():
        lines += starter(host=host, port=port)
    return lines


def offline_starters():
    """The provider set-up functions: each starts its fakes when no real account is configured."""
    starters = []
    try:
        from localdev.fake_replicate import start_offline_replicate

        starters.append(start_offline_replicate)
    except ImportError:
        pass
    try:
        from localdev.fake_models import start_offline_models

        starters.append(start_offline_models)
    except ImportError:
        pass
    try:
        from localdev.demo_models import start_demo_models  # needs onnx (a dev dependency)

        starters.append(start_demo_models)
    except ImportError:
        pass
    return starters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--auth",
        choices=("none", "api_key"),
        default=os.environ.get("AUTH", "none") or "none",
        help="api_key: routes need `Authorization: Bearer <key>` (mint one with `make api-key`), as deployed",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    banner = configure_environment(args.host, args.port)
    # API Gateway's CORS, as Terraform's api.cors_allowed_origins (default any origin); empty turns it off
    origins = [o.strip() for o in os.environ.get("CORS_ALLOWED_ORIGINS", "*").split(",") if o.strip()]
    cors = Cors.like_terraform(origins)
    server = LocalApi((args.host, args.port), auth=None if args.auth == "none" else args.auth, cors=cors)
    from localdev import queues

    made = queues.ensure()
    queues.start_pollers(server.handler_for, made)
    banner.append(
        f"queues      {len(made['work'])} work queue(s) (Prefer: respond-async) and webhook deliveries in LocalStack's "
        "SQS, polled here as Lambda's event source mappings would"
    )
    print(f"imagegen local HTTP API at {server.url}", flush=True)
    banner.insert(
        0, f"playground  {server.url}/ (the contract: {server.url}/openapi.json; the CLI: .venv/bin/imagegen)"
    )
    if server.auth:
        banner.append("auth        API keys: Authorization: Bearer <key> (make api-key NAME=me mints one)")
    elif args.host in ("127.0.0.1", "localhost", "::1"):
        banner.append("auth        OPEN: no API key needed (keep it on loopback; make serve AUTH=api_key for keys)")
    else:
        banner.append(f"auth        OPEN ON {args.host}: anyone who reaches it can spend; use AUTH=api_key")
    banner.append(
        f"cors        {', '.join(origins) or 'off'} (CORS_ALLOWED_ORIGINS, as Terraform's api.cors_allowed_origins)"
    )
    for line in banner:
        print(f"  {line}", flush=True)
    for route in server.routes:
        print(f"  route       {route.key} -> {route.function}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
