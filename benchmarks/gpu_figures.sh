#!/usr/bin/env bash
# The GPU figures of benchmarks/RESULTS.md in one go, from the repository root, on a machine with a CUDA GPU
# and a CUDA build of torch in .venv (./bootstrap.sh test there installs PyPI's). About 5 minutes on an H100/H200:
# synthetic data of the paper's size (61,578 images), both data paths on the same model in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
export NO_ALBUMENTATIONS_UPDATE=1 HF_HUB_OFFLINE=1
PY=${PYTHON:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
date -u '+%Y-%m-%d %H:%M UTC'
"$PY" benchmarks/train_throughput.py --model kabani_maxout --size 64 --steps 300 --repeat 3
"$PY" benchmarks/train_throughput.py --model kabani_maxout --size 64 --steps 300 --repeat 2 --compile reduce-overhead
"$PY" benchmarks/train_throughput.py --model efficientnet_b0 --size 224 --steps 40 --repeat 2
"$PY" benchmarks/predict_throughput.py --repeat 2
