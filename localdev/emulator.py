"""Terraform against an AWS emulator: a real `terraform apply` of our module on a moto server.

LocalStack's free edition has no API Gateway v2 and cannot run Lambda code without Docker, so
the apply test (tests/infra/test_deploy.py) and `make deploy-local` deploy to moto in server
mode instead: moto answers every API our module calls, so the real aws provider creates,
reads back, plans and destroys the real resources. It runs no Lambda code and enforces no IAM:
the handlers are proven by the unit and integration tiers.

Each deployment works on a scratch copy of the repository (its own zips, its own state, an
override file pointing the provider at the emulator), so the project's own files never change.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MOTO_SERVER = ROOT / "localdev" / "moto_server.py"
# What a scratch copy needs: the Terraform, the route table it reads, and what `make build` reads.
COPIED = ("Makefile", "scripts", "src", "layers", "functions", "terraform")
# Every service our module's resources and data sources call (the provider's endpoint names).
SERVICES = (
    *("apigatewayv2", "bedrock", "cloudwatch", "events", "iam", "kms"),
    *("lambda", "logs", "s3", "scheduler", "sns", "sqs", "ssm", "sts"),
)
ACCOUNT_ID = "123456789012"  # what moto's STS answers
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """A moto server on a free loopback port, started and stopped by this object only."""

    def __init__(self, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> MotoServer:
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}  # so managed policies attach
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 (our own fixed command)
            [sys.executable, str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited ({self.process.returncode}); see {self.log_path}")
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=2).close()
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.url} within {timeout} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def override(endpoint: str) -> str:
    """Provider settings that point every service at the emulator (an override file, merged by Terraform)."""
    endpoints = "\n".join(f'    {service} = "{endpoint}"' for service in SERVICES)
    return f"""provider "aws" {{
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = false
  s3_use_path_style           = true

  endpoints {{
{endpoints}
  }}
}}
"""


@dataclass
class Deployment:
    """One configuration (terraform/ or an example) applied to its own moto server from a scratch copy."""

    config: str  # relative to the repository root, e.g. "terraform/examples/minimal"
    workdir: Path
    arch: str = "x86_64"
    var_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.server = MotoServer(self.workdir / "moto.log")
        self.config_dir = self.workdir / self.config
        self.timings: dict[str, float] = {}

    @property
    def endpoint(self) -> str:
        return self.server.url

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
        env.update(
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",  # noqa: S106 (the emulator's dummy)
            AWS_REGION=REGION,
            AWS_DEFAULT_REGION=REGION,
            TF_IN_AUTOMATION="1",
        )
        env.pop("AWS_PROFILE", None)
        if env.get("TF_CLI_CONFIG_FILE") and not Path(env["TF_CLI_CONFIG_FILE"]).is_file():
            env["TF_CLI_CONFIG_FILE"] = "/dev/null"
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 600, cwd: Path | None = None):
        started = time.monotonic()
        result = subprocess.run(  # noqa: S603 (terraform/make, fixed arguments)
            args, cwd=cwd or self.config_dir, env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        self.timings[args[1] if args[0] == "terraform" else args[0]] = time.monotonic() - started
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def prepare(self) -> None:
        """Scratch copy, zips built in it, the override written, the emulator started, terraform init."""
        for name in COPIED:
            source, target = ROOT / name, self.workdir / name
            if source.is_dir():
                ignore = shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl", "__pycache__")
                shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
            else:
                shutil.copy2(source, target)
        self.run(
            "make", "--no-print-directory", "build", f"ARCH={self.arch}", f"PYTHON={sys.executable}", cwd=self.workdir
        )
        self.server.start()
        (self.workdir / "terraform" / "emulator_override.tf").write_text(override(self.endpoint))
        self.run(str(self.workdir / "scripts" / "tf-init.sh"), str(self.config_dir), cwd=self.workdir)

    def apply(self) -> dict:
        self.run("terraform", "apply", "-auto-approve", "-input=false", "-no-color", *self.var_args)
        return self.outputs()

    def outputs(self) -> dict:
        raw = self.run("terraform", "output", "-json").stdout
        return {name: value["value"] for name, value in json.loads(raw).items()}

    def plan_exit_code(self) -> tuple[int, str]:
        """`terraform plan -detailed-exitcode`: 0 no changes, 2 changes (drift), 1 error."""
        result = self.run(
            "terraform", "plan", "-detailed-exitcode", "-input=false", "-no-color", *self.var_args, check=False
        )
        return result.returncode, result.stdout + result.stderr

    def destroy(self) -> list[str]:
        """Destroy everything; returns what is left in the state (nothing, when it worked)."""
        self.run("terraform", "destroy", "-auto-approve", "-input=false", "-no-color", *self.var_args)
        return self.run("terraform", "state", "list", check=False).stdout.split()

    def stop(self) -> None:
        self.server.stop()


def main(argv: list[str]) -> int:
    """`make deploy-local`: apply terraform/ (or CONFIG) to a moto server and keep it running."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--config", default="terraform", help="configuration to apply, relative to the repository")
    parser.add_argument("--arch", default=os.environ.get("ARCH", "x86_64"))
    parser.add_argument("--workdir", default=str(ROOT / ".emulator"))
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    deployment = Deployment(args.config, workdir, args.arch)
    try:
        deployment.prepare()
        outputs = deployment.apply()
    except Exception:
        deployment.stop()
        raise
    print(json.dumps(outputs, indent=2))
    print(
        f"\nDeployed {args.config} to a moto server (an AWS emulator, NOT AWS) at {deployment.endpoint}"
        f" (account {ACCOUNT_ID}, {REGION}); state and zips in {workdir}.\n"
        "moto stores the API, functions, roles and bucket but runs no Lambda code: use `make serve` to call"
        " the routes.\nQuery it with e.g. `aws --endpoint-url "
        f"{deployment.endpoint} apigatewayv2 get-apis`. Ctrl-C stops the emulator (and forgets the deployment)."
    )
    try:
        deployment.server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        deployment.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
