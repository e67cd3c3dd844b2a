#!/usr/bin/env bash
# For a lent GPU: the neural benchmarks (MusicGen-small and -large sized decoders in bf16, the mapping in float32 as
# the product runs them), then the neural tests, which run their models on CUDA when it is present.
# Every step runs even when one before it fails (device time is scarce); the exit status says if any failed.
# Usage: bash benchmarks/gpu.sh   (after `pip install -r requirements-dev.txt` with a CUDA build of torch)
set -uo pipefail
cd "$(dirname "$0")/.."
failed=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import torch, transformers; print('torch', torch.__version__, '| transformers', transformers.__version__)"
python benchmarks/neural.py --device cuda --dtype bfloat16 --musicgen small --batches 1,4,16 --steps 100 || failed=1
python benchmarks/neural.py --device cuda --dtype bfloat16 --musicgen large --batches 1,4,16 --steps 100 || failed=1
python -m pytest -q tests/test_neural.py --timeout 300 --durations 10 || failed=1
exit $failed
