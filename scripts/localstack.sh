#!/usr/bin/env bash
# Start or stop LocalStack for tests and `make serve`.
#   scripts/localstack.sh up     Docker (docker compose) when an engine answers, otherwise a
#                                host process in its own Python 3.13 venv. Idempotent.
#   scripts/localstack.sh down   Stops only what `up` started (by the PID it recorded).
#   scripts/localstack.sh status Exit 0 when LocalStack answers healthy.
set -euo pipefail

cd "$(dirname "$0")/.."
STATE_DIR=.localstack
ENDPOINT=${LOCALSTACK_ENDPOINT:-http://127.0.0.1:4566}
SERVICES=${LOCALSTACK_SERVICES:-s3,ssm,sqs,secretsmanager,iam,sts,lambda,logs}
VENV=${LOCALSTACK_VENV:-.tools/localstack}
# Pins from shared/notes/localstack-on-host.md: newer cbor2/pyopenssl broke the runtime.
LOCALSTACK_PACKAGES=("localstack-core[runtime]==2026.3.0" "cbor2<5.7" "pyopenssl>=25,<25.2" "cryptography>=45" "service_identity")
WAIT_SECONDS=${LOCALSTACK_WAIT_SECONDS:-180}

healthy() {
  curl -fsS --max-time 3 "$ENDPOINT/_localstack/health" 2>/dev/null |
    grep -q '"s3": "\(available\|running\)"'
}

wait_healthy() {
  local deadline=$((SECONDS + WAIT_SECONDS))
  until healthy; do
    if [ -f "$STATE_DIR/pid" ] && ! kill -0 "$(cat "$STATE_DIR/pid")" 2>/dev/null; then
      echo "LocalStack exited while starting; last lines of $STATE_DIR/localstack.log:" >&2
      tail -n 30 "$STATE_DIR/localstack.log" >&2 || true
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "LocalStack did not become healthy at $ENDPOINT within ${WAIT_SECONDS}s" >&2
      tail -n 30 "$STATE_DIR/localstack.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 1
  done
  echo "LocalStack is healthy at $ENDPOINT"
}

find_python313() {
  if [ -n "${LOCALSTACK_PYTHON:-}" ]; then echo "$LOCALSTACK_PYTHON"; return; fi
  local candidate
  for candidate in python3.13 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
      command -v "$candidate"; return
    fi
  done
  echo "LocalStack needs Python 3.13: none found (set LOCALSTACK_PYTHON=/path/to/python3.13)" >&2
  return 1
}

install_host_localstack() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import localstack.runtime.main' 2>/dev/null; then
    return
  fi
  local python
  python=$(find_python313)
  echo "Installing LocalStack into $VENV (about a minute, once)..."
  "$python" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${LOCALSTACK_PACKAGES[@]}"
}

up() {
  mkdir -p "$STATE_DIR"
  if healthy; then echo "LocalStack already running at $ENDPOINT"; return; fi
  if [ "${LOCALSTACK_USE_DOCKER:-auto}" != "never" ] && docker info >/dev/null 2>&1; then
    echo "Starting LocalStack with docker compose"
    docker compose up -d --wait localstack
    echo docker >"$STATE_DIR/mode"
    wait_healthy
    return
  fi
  install_host_localstack
  echo "Starting LocalStack as a host process (no Docker engine); log: $STATE_DIR/localstack.log"
  GATEWAY_LISTEN="${ENDPOINT#http://}" SERVICES="$SERVICES" \
    LOCALSTACK_VOLUME_DIR="$PWD/$STATE_DIR/volume" \
    nohup "$VENV/bin/python" -m localstack.runtime.main >"$STATE_DIR/localstack.log" 2>&1 &
  echo $! >"$STATE_DIR/pid"
  echo host >"$STATE_DIR/mode"
  wait_healthy
}

down() {
  local mode
  mode=$(cat "$STATE_DIR/mode" 2>/dev/null || true)
  if [ "$mode" = docker ]; then
    docker compose down
  elif [ -f "$STATE_DIR/pid" ]; then
    local pid
    pid=$(cat "$STATE_DIR/pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -9 "$pid" 2>/dev/null || true
      echo "Stopped LocalStack (pid $pid)"
    fi
  else
    echo "No LocalStack started by this project is running"
  fi
  rm -f "$STATE_DIR/pid" "$STATE_DIR/mode"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) healthy ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
