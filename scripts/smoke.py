"""An operator's first-deploy check against the real API: `make smoke URL=... KEY=... [YES=1]`.

Step by step, each saying what it checked, and on a failure what failed and what to do:
  1. the playground page (GET /) and the contract (GET /openapi.json), public;
  2. a request without a key is refused (401), as the API key authorizer should;
  3. GET /v1/models with the key: the deployment's models and prices;
  4. one image on the cheapest enabled generation model: its list price is printed and the operator
     asked before anything is spent (YES=1 skips the question; without a terminal it is a no);
  5. if an async (Replicate) model is on and was not that one: one image on the cheapest such model,
     its job polled to the end;
  6. the Replicate webhook route answers 401 to an unsigned call (it is public, and checks signatures).
Exit 0 when every step passed, 1 at the first that did not.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import requests

ADVICE = {
    "provider_unavailable": "the model is not available to this deployment: a Bedrock model needs its first "
    "use subscribed (an administrator's first call, docs/models.md 'First use of a Bedrock model'), "
    "and must be offered in the region its catalog row names",
    "not_configured": "a setting or secret is missing: the Replicate API token and webhook secret are SSM "
    "parameters created out of band (terraform/README.md, 'Before the first apply')",
    "model_not_allowed": "the model is not enabled: name it in the Terraform input `models`",
}


class Failed(Exception):
    pass


def say(step: str, detail: str = "") -> None:
    print(f"ok    {step}" + (f": {detail}" if detail else ""), flush=True)


def problem(step: str, response: requests.Response) -> Failed:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code = error.get("code") if isinstance(error, dict) else None
    message = (error.get("message") if isinstance(error, dict) else None) or response.text[:200]
    advice = ADVICE.get(code or "", "")
    return Failed(
        f"{step}: HTTP {response.status_code} {code or ''} {message}"
        + (f"\n      what to do: {advice}" if advice else "")
    )


def confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        print(f"      {question} no (no terminal to ask; YES=1 to spend)")
        return False
    return input(f"      {question} [y/N] ").strip().lower() in ("y", "yes")


def generate_one(api: str, headers: dict, model: dict, yes: bool, timeout: float) -> None:
    step = f"one image on {model['id']}"
    price = model.get("price_per_image_usd")
    if not confirm(f"make one image on {model['id']} at ${price} list price?", yes):
        print(f"skip  {step} (not confirmed)")
        return
    body = {"prompt": "a lighthouse at dusk, smoke test", "model": model["id"], "response_format": "url"}
    response = requests.post(f"{api}/v1/images/generations", json=body, headers=headers, timeout=60)
    if response.status_code not in (201, 202):
        raise problem(step, response)
    job = response.json()
    started = time.monotonic()
    while job.get("status") not in ("succeeded", "failed", "canceled"):
        if time.monotonic() - started > timeout:
            raise Failed(
                f"{step}: job {job['id']} still {job['status']} after {timeout:.0f} s (is the webhook reachable?)"
            )
        time.sleep(2)
        polled = requests.get(f"{api}/v1/jobs/{job['id']}", headers=headers, timeout=30)
        if polled.status_code != 200:
            raise problem(f"{step}, polling job {job['id']}", polled)
        job = polled.json()
    if job["status"] != "succeeded":
        raise Failed(f"{step}: job {job['id']} {job['status']}: {job.get('error')}")
    url = job["images"][0]["url"]
    image = requests.get(url, timeout=60)
    if image.status_code != 200 or not image.content:
        raise Failed(f"{step}: the image's presigned URL answered {image.status_code}")
    say(step, f"job {job['id']}, {len(image.content)} bytes, ${job.get('cost_usd')} at list price")


def run(api: str, key: str, yes: bool, timeout: float) -> None:
    page = requests.get(f"{api}/", timeout=30)
    if page.status_code != 200 or "text/html" not in page.headers.get("content-type", ""):
        raise Failed(f"the playground page: HTTP {page.status_code} (is URL the API's base URL, api_url?)")
    say("the playground page", f"{api}/")
    contract = requests.get(f"{api}/openapi.json", timeout=30)
    if contract.status_code != 200 or not str(contract.json().get("openapi", "")).startswith("3.1"):
        raise Failed(f"the contract: HTTP {contract.status_code}")
    say("the contract", f"OpenAPI {contract.json()['openapi']}, version {contract.json()['info']['version']}")
    anonymous = requests.get(f"{api}/v1/models", timeout=30)
    if anonymous.status_code != 401:
        raise Failed(f"a request without a key answered {anonymous.status_code}, not 401: is `auth` off?")
    say("a request without a key is refused", "401")
    headers = {"authorization": f"Bearer {key}"}
    listed = requests.get(f"{api}/v1/models", headers=headers, timeout=30)
    if listed.status_code != 200:
        raise problem("GET /v1/models with the key (403: a wrong, revoked or expired key)", listed)
    models = [m for m in listed.json()["data"] if "generate" in m.get("tasks", [])]
    say("GET /v1/models", ", ".join(f"{m['id']} ${m.get('price_per_image_usd')}" for m in models))
    priced = [m for m in models if isinstance(m.get("price_per_image_usd"), int | float)]
    if not priced:
        raise Failed("no enabled generation model has a list price: check the `models` input")
    cheapest = min(priced, key=lambda m: m["price_per_image_usd"])
    generate_one(api, headers, cheapest, yes, timeout)
    later = [m for m in priced if m.get("provider") == "replicate" and m is not cheapest]
    if later and cheapest.get("provider") != "replicate":
        generate_one(api, headers, min(later, key=lambda m: m["price_per_image_usd"]), yes, timeout)
    hook = requests.post(f"{api}/v1/webhooks/replicate", json={}, timeout=30)
    if hook.status_code != 401:
        raise problem("the webhook route, unsigned (it must be 401)", hook)
    say("the webhook route refuses an unsigned call", "401")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the API's base URL (Terraform output api_url)")
    parser.add_argument("--key", default=os.environ.get("IMAGEGEN_API_KEY"), help="an API key (or IMAGEGEN_API_KEY)")
    parser.add_argument("--yes", action="store_true", help="spend without asking (YES=1)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to follow a job")
    args = parser.parse_args(argv)
    if not args.key:
        parser.error("an API key is needed: KEY=igk_... (make api-key, or imagegen's operator CLI)")
    try:
        run(args.url.rstrip("/"), args.key, args.yes, args.timeout)
    except Failed as failure:
        print(f"FAIL  {failure}", flush=True)
        return 1
    except requests.RequestException as exc:
        print(f"FAIL  cannot reach {args.url} ({type(exc).__name__}): is URL the Terraform output api_url?")
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
