// CUDA kernels for the ops declared in csrc/temporal_shift.cpp (same semantics; float, double, half, bfloat16).
//
// One thread per output element for the forward, one per input element for the adjoint (a gather, so no
// atomics), and one block per (n, c) plane for the offset gradient, whose partial sums are then added over n
// in a fixed order: every result is deterministic. The caller (stviz/ops.py) has checked that the offsets are
// finite; a tap whose weight is 0 is skipped, as on the CPU.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <tuple>

namespace stviz {

void check_shift_args(const at::Tensor& x, const at::Tensor& offset, int64_t stride, int64_t frames);
void check_adjoint_args(const at::Tensor& grad_in, const at::Tensor& offset, int64_t stride, int64_t frames);
void check_offset_grad_args(const at::Tensor& grad_in, const at::Tensor& x_in, const at::Tensor& offset,
                            int64_t stride);

namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<int>(std::min<int64_t>(std::max<int64_t>(blocks, 1), 65535 * 8));
}

template <typename acc_t>
__device__ int64_t floor_start(acc_t offset, int64_t frames, int64_t span) {
  const acc_t limit = static_cast<acc_t>(frames + span + 2);
  return static_cast<int64_t>(fmin(fmax(floor(offset), -limit), limit));
}

template <typename scalar_t, typename acc_t>
__global__ void forward_kernel(const scalar_t* __restrict__ x, const acc_t* __restrict__ offset,
                               scalar_t* __restrict__ out, int64_t total, int64_t C, int64_t T, int64_t To,
                               int64_t V, int64_t stride) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(blockDim.x) * gridDim.x) {
    const int64_t v = idx % V;
    const int64_t t = (idx / V) % To;
    const int64_t plane = idx / (V * To);
    const acc_t off = offset[plane % C];
    const int64_t lo = t * stride + floor_start(off, T, To * stride);
    const acc_t frac = off - floor(off);
    const scalar_t* src = x + plane * T * V + v;
    acc_t value = 0;
    if (lo >= 0 && lo < T && frac != acc_t(1)) value += (acc_t(1) - frac) * acc_t(src[lo * V]);
    if (lo + 1 >= 0 && lo + 1 < T && frac != acc_t(0)) value += frac * acc_t(src[(lo + 1) * V]);
    out[idx] = static_cast<scalar_t>(value);
  }
}

template <typename scalar_t, typename acc_t>
__global__ void adjoint_kernel(const scalar_t* __restrict__ g, const acc_t* __restrict__ offset,
                               scalar_t* __restrict__ grad_x, int64_t total, int64_t C, int64_t T, int64_t To,
                               int64_t V, int64_t stride) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(blockDim.x) * gridDim.x) {
    const int64_t v = idx % V;
    const int64_t i = (idx / V) % T;
    const int64_t plane = idx / (V * T);
    const acc_t off = offset[plane % C];
    const int64_t start = floor_start(off, T, To * stride);
    const acc_t frac = off - floor(off);
    const scalar_t* src = g + plane * To * V + v;
    const int64_t d_lo = i - start, d_hi = i - start - 1;
    acc_t value = 0;
    if (d_lo >= 0 && d_lo % stride == 0 && d_lo / stride < To && frac != acc_t(1))
      value += (acc_t(1) - frac) * acc_t(src[(d_lo / stride) * V]);
    if (d_hi >= 0 && d_hi % stride == 0 && d_hi / stride < To && frac != acc_t(0))
      value += frac * acc_t(src[(d_hi / stride) * V]);
    grad_x[idx] = static_cast<scalar_t>(value);
  }
}

template <typename scalar_t, typename acc_t>
__global__ void offset_grad_plane_kernel(const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
                                         const acc_t* __restrict__ offset, acc_t* __restrict__ partial, int64_t C,
                                         int64_t T, int64_t To, int64_t V, int64_t stride) {
  const int64_t plane = blockIdx.x;
  const acc_t off = offset[plane % C];
  const int64_t start = floor_start(off, T, To * stride);
  const scalar_t* src = x + plane * T * V;
  const scalar_t* gr = g + plane * To * V;
  acc_t sum = 0;
  for (int64_t idx = threadIdx.x; idx < To * V; idx += blockDim.x) {
    const int64_t t = idx / V, v = idx % V;
    const int64_t lo = t * stride + start, hi = lo + 1;
    const acc_t a = (lo >= 0 && lo < T) ? acc_t(src[lo * V + v]) : acc_t(0);
    const acc_t b = (hi >= 0 && hi < T) ? acc_t(src[hi * V + v]) : acc_t(0);
    sum += acc_t(gr[idx]) * (b - a);
  }
  __shared__ acc_t shared[kThreads];
  shared[threadIdx.x] = sum;
  __syncthreads();
  for (int width = kThreads / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) shared[threadIdx.x] += shared[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[plane] = shared[0];
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
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = x_in.contiguous();
  const at::Tensor offset = offset_in.contiguous();
  const int64_t N = x.size(0), C = x.size(1), T = x.size(2), V = x.size(3), To = T / stride;
  at::Tensor out = x.new_empty({N, C, To, V});
  const int64_t total = out.numel();
  if (total == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "temporal_shift_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    forward_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        x.const_data_ptr<scalar_t>(), offset.const_data_ptr<acc_t>(), out.mutable_data_ptr<scalar_t>(), total, C, T,
        To, V, stride);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

at::Tensor temporal_shift_adjoint_cuda(const at::Tensor& grad_in, const at::Tensor& offset_in, int64_t stride,
                                       int64_t frames) {
  check_adjoint_args(grad_in, offset_in, stride, frames);
  TORCH_INTERNAL_ASSERT(grad_in.device().is_cuda());
  const c10::cuda::CUDAGuard guard(grad_in.device());
  const at::Tensor g = grad_in.contiguous();
  const at::Tensor offset = offset_in.contiguous();
  const int64_t N = g.size(0), C = g.size(1), To = g.size(2), V = g.size(3), T = frames;
  at::Tensor grad_x = g.new_empty({N, C, T, V});
  const int64_t total = grad_x.numel();
  if (total == 0) return grad_x;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "temporal_shift_adjoint_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    adjoint_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        g.const_data_ptr<scalar_t>(), offset.const_data_ptr<acc_t>(), grad_x.mutable_data_ptr<scalar_t>(), total, C,
        T, To, V, stride);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return grad_x;
}

at::Tensor temporal_shift_offset_grad_cuda(const at::Tensor& grad_in, const at::Tensor& x_in,
                                           const at::Tensor& offset_in, int64_t stride) {
  check_offset_grad_args(grad_in, x_in, offset_in, stride);
  TORCH_INTERNAL_ASSERT(x_in.device().is_cuda());
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
          partial.mutable_data_ptr<acc_t>(), C, T, To, V, stride);
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
