#!/usr/bin/env bash
# The CUDA checks in one command, for a machine with an NVIDIA GPU whose python already has a CUDA build of torch,
# ninja, pytest and stviz's other needs (nothing is installed; the tree is used in place):
#   1. the shift op's tests, the CUDA ones included (they skip without a GPU), and the CUDA kernels' arithmetic on the
#      host against the CPU kernels;
#   2. benchmarks/shift.py on the GPU in float32, float16 and bfloat16: the CUDA kernel's forward, timed alone,
#      must reach 60% of a copy's bandwidth in each;
#   3. one short epoch of each family on synthetic clips under `--device cuda --amp` (float16 autocast, gradient
#      scaling), and one of CTR-GCN under torchrun with NCCL (one process: the process group's start on a GPU;
#      DistributedDataParallel and SyncBatchNorm need two GPUs, since NCCL refuses two ranks on one).
# Logs go to $OUT (default benchmarks/results/cuda): device.txt, tests.txt, shift.txt, train.txt. The exit status is
# the number of the first step that failed (a failed test, a missed goal or an error, a failed training run).
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
  "$python" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())'
  nvcc --version | tail -n 1
} 2>&1 | tee "$out/device.txt"

status=0
failed() { [ "$status" -eq 0 ] && status=$1; }
# addopts is emptied: pyproject's adds nbval's options, which these tests do not need
"$python" -m pytest -q -o addopts="" -p no:cacheprovider -rs tests/test_shift_op.py tests/test_shift_cuda_on_host.py \
  tests/test_bad_inputs_shift.py tests/test_shift_modules.py 2>&1 | tee "$out/tests.txt" || failed 1
"$python" benchmarks/shift.py --device cuda 2>&1 | tee "$out/shift.txt" || failed 2
short=(--width 24 --frames 32 --epochs 1 --batch-size 16 --samples 64 --device cuda --amp --no-progress)
: > "$out/train.txt"
for model in stgcn ctrgcn shiftgcn msg3d efficientgcn-b0; do
  "$python" -m stviz.train --model "$model" "${short[@]}" 2>&1 | tee -a "$out/train.txt" || failed 3
done
"$python" -m torch.distributed.run --standalone --nproc_per_node 1 -m stviz.train --model ctrgcn "${short[@]}" 2>&1 |
  tee -a "$out/train.txt" || failed 3
exit "$status"
