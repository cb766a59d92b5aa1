#!/usr/bin/env bash
# The CUDA checks in one command, for a machine with an NVIDIA GPU whose python already has a CUDA build of torch,
# ninja, pytest and stviz's other needs (nothing is installed; the tree is used in place):
#   1. the shift op's tests, the CUDA ones included (they skip without a GPU), and the CUDA kernels' arithmetic on the
#      host against the CPU kernels;
#   2. benchmarks/shift.py on the GPU in float32, float16 and bfloat16: the CUDA kernel's forward, timed alone,
#      must reach 60% of a copy's bandwidth in each.
# Logs go to $OUT (default benchmarks/results/cuda): device.txt, tests.txt, shift.txt. The exit status is 1 if the
# tests failed, 2 if only the benchmark did (a missed goal, or an error).
#   bash benchmarks/cuda_check.sh          # PYTHON=... for another interpreter than python3
set -uo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
out="${OUT:-benchmarks/results/cuda}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$PWD/build/extensions}"  # a fresh build, kept in the tree

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  "$python" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name())'
  nvcc --version | tail -n 1
} 2>&1 | tee "$out/device.txt"

status=0
# addopts is emptied: pyproject's adds nbval's options, which these tests do not need
"$python" -m pytest -q -o addopts="" -p no:cacheprovider -rs tests/test_shift_op.py tests/test_shift_cuda_on_host.py \
  tests/test_bad_inputs_shift.py tests/test_shift_modules.py 2>&1 | tee "$out/tests.txt" || status=1
"$python" benchmarks/shift.py --device cuda 2>&1 | tee "$out/shift.txt" || { [ "$status" -eq 0 ] && status=2; }
exit "$status"
