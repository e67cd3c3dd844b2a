#!/usr/bin/env bash
# For a lent GPU: the neural benchmarks in bf16 (MusicGen-small and -large sized), then the CUDA-relevant tests.
# Usage: bash benchmarks/gpu.sh   (after `pip install -r requirements-dev.txt` with a CUDA build of torch)
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python benchmarks/neural.py --device cuda --dtype bfloat16 --musicgen small
python benchmarks/neural.py --device cuda --dtype bfloat16 --musicgen large --steps 100
python -m pytest -q tests/test_neural.py
