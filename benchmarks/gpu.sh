#!/usr/bin/env bash
# For a lent GPU: the neural benchmarks (MusicGen-small and -large sized decoders in bf16, the mapping in float32 as
# the product runs them), then the neural tests, which run their models on CUDA when it is present.
# Device time is scarce, so every step runs even when one before it fails, each within its own time limit, and each
# step's output is also written to a file of its own as it comes ($OUT, else benchmarks/_work/gpu/): a run cut
# short still leaves what it measured. The exit status says if any step failed.
# Usage: bash benchmarks/gpu.sh   (after `pip install -r requirements-dev.txt` with a CUDA build of torch)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/_work/gpu}"
mkdir -p "$out"
failed=0

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "== $name (at most ${limit} s)"
    timeout "$limit" "$@" 2>&1 | tee "$out/$name.txt"
    local status=${PIPESTATUS[0]}
    if [ "$status" -ne 0 ]; then
        echo "== $name failed (exit $status; 124 is its time limit)" | tee -a "$out/$name.txt"
        failed=1
    fi
}

step card 60 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
step versions 60 python -c "import torch, transformers; print('torch', torch.__version__, '| transformers', \
transformers.__version__, '| CUDA', torch.version.cuda)"
step small 150 python benchmarks/neural.py --device cuda --dtype bfloat16 --musicgen small --batches 1,4,16 --steps 100
step large 180 python benchmarks/neural.py --device cuda --dtype bfloat16 --musicgen large --batches 1,4,16 --steps 100
step tests 240 python -m pytest -q tests/test_neural.py --timeout 120 --durations 10
exit $failed
