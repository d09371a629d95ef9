"""Mint, list and revoke API keys (the bucket keeps only their SHA-256; a key is shown once).

    python scripts/api_key.py mint --name ci-bot [--expires-days 90]
    python scripts/api_key.py list
    python scripts/api_key.py revoke <key id>

The bucket is --bucket, else BUCKET_NAME, else `imagegen-local` (make serve's, in LocalStack).
--aws talks to real AWS (drops the LocalStack endpoint and test credentials the Makefile sets);
the bucket of a deployment is `terraform -chdir=terraform output -raw bucket_name`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from imagegen import apikeys  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bucket", default=os.environ.get("BUCKET_NAME") or "imagegen-local")
    parser.add_argument("--aws", action="store_true", help="real AWS, not LocalStack")
    commands = parser.add_subparsers(dest="command", required=True)
    mint = commands.add_parser("mint", help="make a key and print it once")
    mint.add_argument("--name", required=True)
    mint.add_argument("--expires-days", type=int, default=None)
    commands.add_parser("list", help="every key's id, name, dates (no secrets)")
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)
    if args.aws:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            if os.environ.get(name) == "test":
                os.environ.pop(name)
    os.environ["BUCKET_NAME"] = args.bucket
    if not args.aws:  # make serve's bucket, which may not exist yet
        from localdev.bucket import ensure_bucket

        ensure_bucket(args.bucket)
    if args.command == "mint":
        if args.expires_days is not None and args.expires_days < 1:
            parser.error("--expires-days must be at least 1")
        key, record = apikeys.mint(args.name, args.expires_days)
        expires = record["expires_at"] or "never"
        print(f"API key {record['id']} ({record['name']}), expires {expires}. Shown once; store it now:")
        print(key)
    elif args.command == "list":
        print(json.dumps(apikeys.list_keys(), indent=2))
    else:
        try:
            record = apikeys.revoke(args.key_id)
        except KeyError:
            print(f"no key with id {args.key_id}", file=sys.stderr)
            return 1
        print(f"revoked {record['id']} ({record['name']}) at {record['revoked_at']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
