"""The operator's API keys: create, list, show, set, revoke. It talks to the deployment's bucket with the
operator's own AWS credentials; no HTTP route can mint or change a key.

    python scripts/keys.py create --name ci-bot [--days 90] [--budget-usd-day 5] [--budget-usd-month 50]
                                  [--rpm 30] [--models sd3.5-large,flux-schnell] [--max-model-calls 4]
    python scripts/keys.py list                 every key: name, limits, spend today and this month, expiry
    python scripts/keys.py show <key id>
    python scripts/keys.py set <key id> [--budget-usd-day 10] [--rpm 0 (0: no limit)] ...
    python scripts/keys.py revoke <key id>

`create` prints the key once (the bucket keeps only its SHA-256). A limit left out of `create` is the
deployment's default (Terraform `keys`, the SSM parameter `--defaults`, Terraform output
key_defaults_parameter); `set` changes only the limits it names, and 0 removes one. Limits take effect
at the key's next authorizer call (within auth.cache_seconds).

The bucket is --bucket, else BUCKET_NAME, else `imagegen-local` (make serve's, in LocalStack); --aws
talks to real AWS (drops the LocalStack endpoint and test credentials the Makefile sets); a
deployment's bucket is `terraform -chdir=terraform output -raw bucket_name`.
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
from imagegen.jobs import limits as key_limits  # noqa: E402

NUMBERS = {"budget_usd_day": float, "budget_usd_month": float, "rpm": int, "max_model_calls": int}


def limits_from(args: argparse.Namespace) -> dict:
    """The limits the command line names (0: none); models comma-separated."""
    found: dict = {}
    for name, kind in NUMBERS.items():
        value = getattr(args, name)
        if value is not None:
            found[name] = kind(value) or None
    if args.models is not None:
        found["models"] = [model.strip() for model in args.models.split(",") if model.strip()] or None
    if args.webhook is not None:
        found["webhook"] = args.webhook or None
    return found


def line(record: dict) -> str:
    """One key: id, name, limits, spend this UTC day and month, expiry (no secret: the record has none)."""
    state = key_limits.status(record["id"], record.get("limits") or {})
    spent = state["spent_or_reserved_usd"]
    rules = ", ".join(f"{k}={v}" for k, v in (record.get("limits") or {}).items()) or "no limits"
    status = "revoked" if record.get("revoked_at") else f"expires {record.get('expires_at') or 'never'}"
    return (
        f"{record['id']}  {record['name']:<20} {rules}; spent ${spent['day']:.4f} today, "
        f"${spent['month']:.4f} this month; {status}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bucket", default=os.environ.get("BUCKET_NAME") or "imagegen-local")
    parser.add_argument("--defaults", default="/imagegen/api-keys/defaults", help="SSM parameter of the defaults")
    parser.add_argument("--aws", action="store_true", help="real AWS, not LocalStack")
    commands = parser.add_subparsers(dest="command", required=True)

    def limit_flags(command: argparse.ArgumentParser) -> None:
        command.add_argument("--budget-usd-day", dest="budget_usd_day", type=float)
        command.add_argument("--budget-usd-month", dest="budget_usd_month", type=float)
        command.add_argument("--rpm", type=int, help="requests per minute on the routes that call a model")
        command.add_argument("--models", help="catalog names (or aliases), comma-separated")
        command.add_argument("--max-model-calls", dest="max_model_calls", type=int)
        command.add_argument("--webhook", help="the key's default webhook (https URL; '' removes it)")

    create = commands.add_parser("create", help="make a key and print it once")
    create.add_argument("--name", required=True)
    create.add_argument("--days", type=int, help="expires after this many days")
    limit_flags(create)
    commands.add_parser("list", help="every key: name, limits, spend, expiry")
    show = commands.add_parser("show", help="one key's record and what it spent")
    show.add_argument("key_id")
    change = commands.add_parser("set", help="change a key's limits (the key stays the same)")
    change.add_argument("key_id")
    limit_flags(change)
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
    try:
        return run(args)
    except (ValueError, KeyError) as exc:
        print(f"keys: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    if args.command == "create":
        if args.days is not None and args.days < 1:
            raise ValueError("--days must be at least 1")
        defaults = apikeys.defaults(args.defaults)
        days = args.days or defaults.pop("expires_days", None)
        chosen = {**{k: v for k, v in defaults.items() if k != "expires_days"}, **limits_from(args)}
        key, record = apikeys.mint(args.name, days, {k: v for k, v in chosen.items() if v is not None})
        print(f"API key {record['id']} ({record['name']}): {line(record).split('  ', 1)[1]}", file=sys.stderr)
        print("Shown once; store it now:", file=sys.stderr)
        print(key)
    elif args.command == "list":
        for record in apikeys.list_keys():
            print(line(record))
    elif args.command == "show":
        record = apikeys.read(args.key_id)
        if record is None:
            raise KeyError(f"no key with id {args.key_id}")
        shown = {k: v for k, v in record.items() if k != "sha256"}
        print(json.dumps(shown | key_limits.status(record["id"], record.get("limits") or {}), indent=2))
    elif args.command == "set":
        record = apikeys.set_limits(args.key_id, limits_from(args))
        print(line(record))
    else:
        record = apikeys.revoke(args.key_id)
        print(f"revoked {record['id']} ({record['name']}) at {record['revoked_at']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
