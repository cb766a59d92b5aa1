// CUDA kernels for the ops declared in csrc/temporal_shift.cpp (same semantics; float, double, half, bfloat16).
//
// The forward and the adjoint (a gather, so no atomics) run on a grid whose y index walks the (n, c) planes and
// whose x index walks the elements of a plane, kUnroll per thread, so that each thread has several loads in flight:
// a shift moves memory and does almost no arithmetic. The per-plane taps are worked out once per plane and the
// per-element arithmetic (csrc/cuda/temporal_shift_plane.cuh, which the tests also run on the host) has no 64-bit
// division. The offset gradient runs one block per plane, whose partial sums are then added over n in a fixed
// order: every result is deterministic. The caller (stviz/ops.py) has checked that the offsets are finite; a tap
// whose weight is 0 is skipped, as on the CPU.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <tuple>

#include "temporal_shift_plane.cuh"

namespace stviz {

void check_shift_args(const at::Tensor& x, const at::Tensor& offset, int64_t stride, int64_t frames);
void check_adjoint_args(const at::Tensor& grad_in, const at::Tensor& offset, int64_t stride, int64_t frames);
void check_offset_grad_args(const at::Tensor& grad_in, const at::Tensor& x_in, const at::Tensor& offset,
                            int64_t stride);

namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;  // elements per thread and pass: their loads are issued before any result is stored
constexpr int64_t kMaxPlaneBlocks = 65535;  // gridDim.y's limit; more planes are walked in a loop

// The kernels index within a plane with 32-bit integers.
void check_plane_size(int64_t frames, int64_t joints) {
  TORCH_CHECK(frames * joints <= std::numeric_limits<int>::max(), "temporal_shift (CUDA): one (n, c) plane has ",
              "T * V = ", frames * joints, " elements; the CUDA kernels index a plane with 32-bit integers (at most ",
              "2^31 - 1)");
}

// Grid of the element-wise kernels: x covers a plane's elements, kThreads * kUnroll per block; y the planes.
dim3 plane_grid(int64_t per_plane, int64_t planes) {
  const int64_t per_block = int64_t(kThreads) * kUnroll;
  return dim3(static_cast<unsigned>((per_plane + per_block - 1) / per_block),
              static_cast<unsigned>(std::min(planes, kMaxPlaneBlocks)));
}

template <typename scalar_t, typename acc_t>
__global__ void forward_kernel(const scalar_t* __restrict__ x, const acc_t* __restrict__ offset,
                               scalar_t* __restrict__ out, int64_t planes, int64_t C, int T, int To, int V,
                               int stride) {
  const int per_plane = To * V;
  for (int64_t p = blockIdx.y; p < planes; p += gridDim.y) {
    const plane::Taps<acc_t> taps = plane::taps<acc_t>(offset[p % C], T, int64_t(To) * stride);
    const scalar_t* src = x + p * T * V;
    scalar_t* dst = out + p * per_plane;
    const int first = blockIdx.x * kThreads * kUnroll + threadIdx.x;
    acc_t values[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = first + u * kThreads;
      if (i < per_plane) values[u] = plane::forward_element<scalar_t, acc_t>(src, i, taps, T, V, stride);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = first + u * kThreads;
      if (i < per_plane) dst[i] = static_cast<scalar_t>(values[u]);
    }
  }
}

template <typename scalar_t, typename acc_t>
__global__ void adjoint_kernel(const scalar_t* __restrict__ g, const acc_t* __restrict__ offset,
                               scalar_t* __restrict__ grad_x, int64_t planes, int64_t C, int T, int To, int V,
                               int stride) {
  const int per_plane = T * V;
  for (int64_t p = blockIdx.y; p < planes; p += gridDim.y) {
    const plane::Taps<acc_t> taps = plane::taps<acc_t>(offset[p % C], T, int64_t(To) * stride);
    const scalar_t* src = g + p * To * V;
    scalar_t* dst = grad_x + p * per_plane;
    const int first = blockIdx.x * kThreads * kUnroll + threadIdx.x;
    acc_t values[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = first + u * kThreads;
      if (i < per_plane) values[u] = plane::adjoint_element<scalar_t, acc_t>(src, i, taps, To, V, stride);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = first + u * kThreads;
      if (i < per_plane) dst[i] = static_cast<scalar_t>(values[u]);
    }
  }
}

// One block per plane (gridDim.x = N * C): partial[plane] = sum over the plane's output elements.
template <typename scalar_t, typename acc_t>
__global__ void offset_grad_plane_kernel(const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
                                         const acc_t* __restrict__ offset, acc_t* __restrict__ partial, int64_t C,
                                         int T, int To, int V, int stride) {
  const int64_t p = blockIdx.x;
  const plane::Taps<acc_t> taps = plane::taps<acc_t>(offset[p % C], T, int64_t(To) * stride);
  const scalar_t* src = x + p * T * V;
  const scalar_t* gr = g + p * To * V;
  const int per_plane = To * V;
  acc_t sum = 0;
  for (int i = threadIdx.x; i < per_plane; i += blockDim.x)
    sum += plane::offset_grad_term<scalar_t, acc_t>(gr, src, i, taps, T, V, stride);
  __shared__ acc_t shared[kThreads];
  shared[threadIdx.x] = sum;
  __syncthreads();
  for (int width = kThreads / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) shared[threadIdx.x] += shared[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[p] = shared[0];
}

template <typename acc_t>
__global__ void sum_over_batch_kernel(const acc_t* __restrict__ partial, acc_t* __restrict__ out, int64_t N,
                                      int64_t C) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  acc_t total = 0;
  for (int64_t n = 0; n < N; ++n) total += partial[n * C + c];
  out[c] = total;
}

at::Tensor temporal_shift_cuda(const at::Tensor& x_in, const at::Tensor& offset_in, int64_t stride) {
  check_shift_args(x_in, offset_in, stride, x_in.size(2));
  TORCH_INTERNAL_ASSERT(x_in.device().is_cuda());
  check_plane_size(x_in.size(2), x_in.size(3));
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = x_in.contiguous();
  const at::Tensor offset = offset_in.contiguous();
  const int64_t N = x.size(0), C = x.size(1), T = x.size(2), V = x.size(3), To = T / stride;
  at::Tensor out = x.new_empty({N, C, To, V});
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "temporal_shift_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    forward_kernel<scalar_t, acc_t><<<plane_grid(To * V, N * C), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        x.const_data_ptr<scalar_t>(), offset.const_data_ptr<acc_t>(), out.mutable_data_ptr<scalar_t>(), N * C, C,
        int(T), int(To), int(V), int(stride));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

at::Tensor temporal_shift_adjoint_cuda(const at::Tensor& grad_in, const at::Tensor& offset_in, int64_t stride,
                                       int64_t frames) {
  check_adjoint_args(grad_in, offset_in, stride, frames);
  TORCH_INTERNAL_ASSERT(grad_in.device().is_cuda());
  check_plane_size(frames, grad_in.size(3));
  const c10::cuda::CUDAGuard guard(grad_in.device());
  const at::Tensor g = grad_in.contiguous();
  const at::Tensor offset = offset_in.contiguous();
  const int64_t N = g.size(0), C = g.size(1), To = g.size(2), V = g.size(3), T = frames;
  at::Tensor grad_x = g.new_empty({N, C, T, V});
  if (grad_x.numel() == 0) return grad_x;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "temporal_shift_adjoint_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    adjoint_kernel<scalar_t, acc_t><<<plane_grid(T * V, N * C), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        g.const_data_ptr<scalar_t>(), offset.const_data_ptr<acc_t>(), grad_x.mutable_data_ptr<scalar_t>(), N * C, C,
        int(T), int(To), int(V), int(stride));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return grad_x;
}

at::Tensor temporal_shift_offset_grad_cuda(const at::Tensor& grad_in, const at::Tensor& x_in,
                                           const at::Tensor& offset_in, int64_t stride) {
  check_offset_grad_args(grad_in, x_in, offset_in, stride);
  TORCH_INTERNAL_ASSERT(x_in.device().is_cuda());
  check_plane_size(x_in.size(2), x_in.size(3));
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor g = grad_in.contiguous();
  const at::Tensor x = x_in.contiguous();
  const at::Tensor offset = offset_in.contiguous();
  const int64_t N = x.size(0), C = x.size(1), T = x.size(2), V = x.size(3), To = T / stride;
  at::Tensor partial = offset.new_empty({N, C});
  at::Tensor grad_offset = offset.new_empty({C});
  if (C == 0) return grad_offset;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "temporal_shift_offset_grad_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto stream = c10::cuda::getCurrentCUDAStream();
    if (N > 0) {
      offset_grad_plane_kernel<scalar_t, acc_t><<<N * C, kThreads, 0, stream>>>(
          g.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), offset.const_data_ptr<acc_t>(),
          partial.mutable_data_ptr<acc_t>(), C, int(T), int(To), int(V), int(stride));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    sum_over_batch_kernel<acc_t><<<(C + kThreads - 1) / kThreads, kThreads, 0, stream>>>(
        partial.const_data_ptr<acc_t>(), grad_offset.mutable_data_ptr<acc_t>(), N, C);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return grad_offset;
}

// Both gradients: on the GPU the two kernels above run back to back (each is one pass over grad_out).
std::tuple<at::Tensor, at::Tensor> temporal_shift_backward_cuda(const at::Tensor& grad_in, const at::Tensor& x_in,
                                                                const at::Tensor& offset_in, int64_t stride) {
  check_offset_grad_args(grad_in, x_in, offset_in, stride);
  return {temporal_shift_adjoint_cuda(grad_in, offset_in, stride, x_in.size(2)),
          temporal_shift_offset_grad_cuda(grad_in, x_in, offset_in, stride)};
}

}  // namespace

TORCH_LIBRARY_IMPL(stviz, CUDA, m) {
  m.impl("temporal_shift", &temporal_shift_cuda);
  m.impl("temporal_shift_adjoint", &temporal_shift_adjoint_cuda);
  m.impl("temporal_shift_offset_grad", &temporal_shift_offset_grad_cuda);
  m.impl("temporal_shift_backward", &temporal_shift_backward_cuda);
}

}  // namespace stviz
