#!/usr/bin/env bash
# terraform init for one configuration directory, online or offline:
#   scripts/tf-init.sh DIR [extra init args...]
# - TF_PLUGIN_DIR set: init offline from that provider mirror (a folder holding
#   registry.terraform.io/hashicorp/aws/...).
# - otherwise the public registry when it answers (what ops teams have);
# - otherwise a filesystem mirror found on this machine (e.g. /opt/tf-plugins).
# Fails (exit 1) when none of them works: a terraform that cannot init is never a silent skip.
set -euo pipefail

dir=${1:?usage: scripts/tf-init.sh DIR [init args...]}
shift
TF=${TF:-terraform}
MIRROR_CANDIDATES=(/opt/tf-plugins "$HOME/.terraform.d/plugins" "$HOME/.local/share/terraform/plugins"
  /usr/local/share/terraform/plugins /usr/share/terraform/plugins)

command -v "$TF" >/dev/null || {
  echo "tf-init: terraform is not installed (https://developer.hashicorp.com/terraform/install)" >&2
  exit 1
}

# A CLI config of our own: the machine's TF_CLI_CONFIG_FILE may name a file that does not exist.
if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -f "$TF_CLI_CONFIG_FILE" ]; then
  export TF_CLI_CONFIG_FILE=/dev/null
fi

find_mirror() {
  local candidate
  for candidate in "${MIRROR_CANDIDATES[@]}"; do
    if [ -d "$candidate/registry.terraform.io/hashicorp/aws" ]; then
      echo "$candidate"
      return
    fi
  done
  return 1
}

args=(-input=false -no-color "$@")
if [ -n "${TF_PLUGIN_DIR:-}" ]; then
  source="provider mirror $TF_PLUGIN_DIR (TF_PLUGIN_DIR)"
  args+=("-plugin-dir=$TF_PLUGIN_DIR")
elif curl -fsS --max-time 5 -o /dev/null https://registry.terraform.io/.well-known/terraform.json 2>/dev/null; then
  source="registry.terraform.io"
elif mirror=$(find_mirror); then
  source="provider mirror $mirror (the registry did not answer)"
  args+=("-plugin-dir=$mirror")
else
  echo "tf-init: registry.terraform.io does not answer and no provider mirror was found" >&2
  echo "         (looked in ${MIRROR_CANDIDATES[*]}); set TF_PLUGIN_DIR to one" >&2
  exit 1
fi

if ! output=$("$TF" -chdir="$dir" init "${args[@]}" 2>&1); then
  echo "$output" >&2
  echo "tf-init: terraform init failed in $dir (providers from $source)" >&2
  exit 1
fi
echo "tf-init: $dir initialised (providers from $source)"
