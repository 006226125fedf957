#!/usr/bin/env bash
# Set up nodegraph in .venv (idempotent; quick when nothing changed).
#   tools/setup.sh          the app and its node library
#   tools/setup.sh --test   plus the test tools
# torch is installed first (torch==2.14.1 with torchvision==0.29.1, which spandrel needs); set TORCH_SPEC
# (e.g. TORCH_SPEC="torch torchvision") to choose another build, such as your CUDA one.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
# pip with its progress (what it downloads and installs, minus the noise); a failed pip
# stops the set-up with its exit status, and nothing is marked done.
pip() {
  local status=0
  .venv/bin/python -m pip --disable-pip-version-check "$@" 2>&1 |
    { grep --line-buffered -v -e "^WARNING: Location" -e "^Requirement already satisfied" || true; } ||
    status=$?
  if [ "$status" -ne 0 ]; then
    echo "setup: 'pip $*' failed (exit $status); see its messages above" >&2
    exit "$status"
  fi
}
stamp=".venv/.nodegraph-setup$extras"
want="$(sha256sum pyproject.toml | cut -c1-16)-${TORCH_SPEC:-default}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
    echo "setup: installing torch (first time only: several GB, up to about 15 minutes)..." >&2
    pip install ${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}
  fi
  echo "setup: installing nodegraph$extras..." >&2
  pip install -e ".$extras"
  .venv/bin/python -c "import nodegraph, torch, diffusers" >/dev/null
  echo "$want" > "$stamp"
fi
