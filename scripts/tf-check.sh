#!/usr/bin/env bash
# Static checks of terraform/: terraform fmt, init (registry or an offline provider mirror) and
# validate of the root module and every example, then checkov. Run from the repository root
# (make tf-check). Exits non-zero on any failed check; a step that cannot run is a failure.
#   TF_CHECK_DIR  the Terraform tree to check (default: terraform); tests point it at a broken copy
set -euo pipefail

cd "$(dirname "$0")/.."

CHECKOV_VERSION="3.3.30"
CHECKOV_VENV=".tools/checkov"
PYTHON="${PYTHON:-python3}"
TF_TREE="${TF_CHECK_DIR:-terraform}"
TF=${TF:-terraform}

command -v "$TF" >/dev/null || {
  echo "tf-check: terraform is not installed; fmt, init and validate cannot run" >&2
  echo "          (https://developer.hashicorp.com/terraform/install)" >&2
  exit 1
}
if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -f "$TF_CLI_CONFIG_FILE" ]; then
  export TF_CLI_CONFIG_FILE=/dev/null # the machine may name a CLI config that does not exist
fi

echo "== terraform fmt -check -recursive $TF_TREE"
"$TF" fmt -check -recursive -diff "$TF_TREE"

# The root module and each example; init without a backend, then validate.
configs=("$TF_TREE")
for example in "$TF_TREE"/examples/*/; do
  [ -d "$example" ] && configs+=("${example%/}")
done
for config in "${configs[@]}"; do
  echo "== terraform init + validate $config"
  scripts/tf-init.sh "$config" -backend=false
  "$TF" -chdir="$config" validate -no-color
done

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
BC_SKIP_MAPPING=TRUE "$CHECKOV_VENV/bin/checkov" -d "$TF_TREE" --framework terraform --quiet --compact \
  --download-external-modules false --skip-path examples

echo "tf-check: all checks passed"
