#!/usr/bin/env bash
# GPU benchmark of issue 3: our txt2img graph vs diffusers' StableDiffusionPipeline on
# random-weight full-size SD1.5 (512x512, 20 steps, CFG 7, fp16; eager / channels_last /
# torch.compile). Needs torch with CUDA and transformers; diffusers (and networkx, if
# missing) come from a wheels folder when the python has none:
#
#   benchmarks/gpu.sh [WHEELS_DIR] [-- gpu_bench.py options, e.g. --runs 5 --json out.json]
#
# WHEELS_DIR may also be a folder of unpacked packages (put on PYTHONPATH).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${PYTHON:-python3}"
WHEELS=""
if [ $# -gt 0 ] && [ "$1" != "--" ]; then WHEELS="$1"; shift; fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then shift; fi

missing() { ! "$PY" -c "import $1" >/dev/null 2>&1; }
if missing diffusers || missing networkx; then
  [ -n "$WHEELS" ] || { echo "gpu.sh: diffusers/networkx missing; pass a wheels folder" >&2; exit 2; }
  if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    # unpack the (pure-Python) wheels onto PYTHONPATH: a venv made from a venv's python
    # would not see that python's torch
    UNPACKED="${TMPDIR:-/tmp}/nodegraph-gpu-wheels"
    mkdir -p "$UNPACKED"
    for wheel in "$WHEELS"/diffusers-*.whl "$WHEELS"/networkx-*.whl; do
      [ -e "$wheel" ] || continue
      "$PY" -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$wheel" "$UNPACKED"
    done
    export PYTHONPATH="$UNPACKED${PYTHONPATH:+:$PYTHONPATH}"
  else
    export PYTHONPATH="$WHEELS${PYTHONPATH:+:$PYTHONPATH}"
  fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1
"$PY" -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'diffusers', diffusers.__version__, 'transformers', transformers.__version__)"
exec "$PY" "$HERE/gpu_bench.py" "$@"
