// CUDA kernels for the ops declared in csrc/temporal_shift.cpp (same semantics; float, double, half, bfloat16).
//
// The forward and the adjoint (a gather, so no atomics) run on a grid whose y index walks the (n, c) planes and
// whose x index walks the elements of a plane, kUnroll per thread, so that each thread has several loads in flight:
// a shift moves memory and does almost no arithmetic. The taps are worked out once per plane, and per element there
// is no 64-bit division. The offset gradient runs one block per plane, whose partial sums are then added over n in a
// fixed order: every result is deterministic. What each thread computes is in csrc/cuda/temporal_shift_plane.cuh,
// which the tests also run on the host. The caller (stviz/ops.py) has checked that the offsets are finite; a tap
// whose weight is 0 is skipped, as on the CPU.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

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

using plane::kThreads;

// The kernels index within a plane with 32-bit integers.
void check_plane_size(int64_t frames, int64_t joints) {
  TORCH_CHECK(frames * joints <= plane::kMaxPlaneElements, "temporal_shift (CUDA): one (n, c) plane has T * V = ",
              frames * joints, " elements; the CUDA kernels index a plane with 32-bit integers (at most ",
              plane::kMaxPlaneElements, " elements)");
}

// The offset gradient runs one block per plane, in one launch.
void check_plane_count(int64_t planes) {
  TORCH_CHECK(planes <= std::numeric_limits<int>::max(), "temporal_shift_offset_grad (CUDA): N * C = ", planes,
              " planes, more than the ", std::numeric_limits<int>::max(), " blocks of one launch");
}

dim3 plane_grid(int64_t per_plane, int64_t planes) {
  return dim3(static_cast<unsigned>(plane::blocks_per_plane(per_plane)),
              static_cast<unsigned>(plane::plane_block_rows(planes)));
}

template <typename scalar_t, typename acc_t>
__global__ void forward_kernel(const scalar_t* __restrict__ x, const acc_t* __restrict__ offset,
                               scalar_t* __restrict__ out, int64_t planes, int64_t C, int T, int To, int V,
                               int stride) {
  plane::gather_thread<plane::Gather::kForward, scalar_t, acc_t>(x, offset, out, planes, C, T, To, V, stride,
                                                                 blockIdx.x, blockIdx.y, gridDim.y, threadIdx.x);
}

template <typename scalar_t, typename acc_t>
__global__ void adjoint_kernel(const scalar_t* __restrict__ g, const acc_t* __restrict__ offset,
                               scalar_t* __restrict__ grad_x, int64_t planes, int64_t C, int T, int To, int V,
                               int stride) {
  plane::gather_thread<plane::Gather::kAdjoint, scalar_t, acc_t>(g, offset, grad_x, planes, C, T, To, V, stride,
                                                                 blockIdx.x, blockIdx.y, gridDim.y, threadIdx.x);
}

// One block of kThreads per plane (gridDim.x = N * C): partial[plane] = the sum over the plane's output elements.
template <typename scalar_t, typename acc_t>
__global__ void offset_grad_plane_kernel(const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
                                         const acc_t* __restrict__ offset, acc_t* __restrict__ partial, int64_t C,
                                         int T, int To, int V, int stride) {
  __shared__ acc_t shared[kThreads];
  shared[threadIdx.x] =
      plane::offset_grad_partial<scalar_t, acc_t>(g, x, offset, C, T, To, V, stride, blockIdx.x, threadIdx.x);
  __syncthreads();
  for (int width = kThreads / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) shared[threadIdx.x] += shared[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = shared[0];
}

template <typename acc_t>
__global__ void sum_over_batch_kernel(const acc_t* __restrict__ partial, acc_t* __restrict__ out, int64_t N,
                                      int64_t C) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c < C) out[c] = plane::sum_over_batch(partial, N, C, c);
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
  check_plane_count(x_in.size(0) * x_in.size(1));
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
  check_plane_count(x_in.size(0) * x_in.size(1));  // before the adjoint runs
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
