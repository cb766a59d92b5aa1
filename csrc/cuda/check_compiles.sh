#!/usr/bin/env bash
# Compile-only check of the CUDA kernels, no GPU needed: nvcc builds csrc/cuda/temporal_shift.cu for one
# architecture (sm_90 unless given, e.g. `check_compiles.sh 80`) against the headers of the torch in .venv.
# A CPU-only torch wheel lacks one generated header of c10/cuda; a stand-in is written to a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
arch="${1:-90}"
python="${PYTHON:-.venv/bin/python}"
torch_include="$("$python" -c 'import torch.utils.cpp_extension as c; print(c.include_paths()[0])')"
python_include="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
stub="$(mktemp -d)"
trap 'rm -rf "$stub"' EXIT
if [ ! -f "$torch_include/c10/cuda/impl/cuda_cmake_macros.h" ]; then
  mkdir -p "$stub/c10/cuda/impl"
  printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' > "$stub/c10/cuda/impl/cuda_cmake_macros.h"
fi
nvcc -std=c++20 -O3 -arch="sm_$arch" --expt-relaxed-constexpr -DTORCH_EXTENSION_NAME=compile_check \
  -D__CUDA_NO_HALF_OPERATORS__ -D__CUDA_NO_HALF_CONVERSIONS__ -D__CUDA_NO_BFLOAT16_CONVERSIONS__ \
  -D__CUDA_NO_HALF2_OPERATORS__ -isystem "$stub" -isystem "$torch_include" \
  -isystem "$torch_include/torch/csrc/api/include" -isystem "$python_include" \
  -c csrc/cuda/temporal_shift.cu -o "$stub/temporal_shift.o"
echo "csrc/cuda/temporal_shift.cu compiles for sm_$arch with $(nvcc --version | tail -1)"
