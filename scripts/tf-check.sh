#!/usr/bin/env bash
# Static checks of terraform/: checkov always; terraform fmt/init/validate where the binary exists.
# Run from the repository root (make tf-check). Exits non-zero on any failed check.
set -euo pipefail

cd "$(dirname "$0")/.."

CHECKOV_VERSION="3.3.30"
CHECKOV_VENV=".tools/checkov"
PYTHON="${PYTHON:-python3}"

# checkov bundles its own hcl2 module, which clashes with python-hcl2 in the dev venv: it gets a venv of its own.
if ! "$CHECKOV_VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  echo "Installing checkov $CHECKOV_VERSION into $CHECKOV_VENV"
  log="$(mktemp)"
  if ! { "$PYTHON" -m venv "$CHECKOV_VENV" &&
    "$CHECKOV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "tf-check: installing checkov failed" >&2
    exit 1
  fi
  rm -f "$log"
fi

echo "== checkov $CHECKOV_VERSION"
# BC_SKIP_MAPPING: no call to the Prisma Cloud guidelines API (offline machines; BC_* ids are not used here).
BC_SKIP_MAPPING=TRUE "$CHECKOV_VENV/bin/checkov" -d terraform --framework terraform --quiet --compact \
  --download-external-modules false

if command -v terraform >/dev/null 2>&1; then
  echo "== terraform fmt -check"
  terraform fmt -check -recursive terraform
  echo "== terraform init -backend=false && terraform validate"
  init_args=(-backend=false -input=false)
  # A local provider mirror for offline machines, e.g. TF_PLUGIN_DIR=/opt/tf-plugins (it must hold hashicorp/aws >= 6.0).
  if [ -n "${TF_PLUGIN_DIR:-}" ]; then
    init_args+=("-plugin-dir=$TF_PLUGIN_DIR")
  fi
  if init_output="$(terraform -chdir=terraform init "${init_args[@]}" 2>&1)"; then
    terraform -chdir=terraform validate
  elif grep -q "could not connect to registry" <<<"$init_output"; then
    echo "   skipped validate: terraform init cannot reach registry.terraform.io for hashicorp/aws (offline?);"
    echo "   set TF_PLUGIN_DIR to a provider mirror to validate offline"
  else
    echo "$init_output" >&2
    echo "tf-check: terraform init failed" >&2
    exit 1
  fi
else
  echo "== terraform not on PATH: skipped terraform fmt -check, init -backend=false and validate (tests/infra checks parsing, schema and references)"
fi

echo "tf-check: all checks passed"
