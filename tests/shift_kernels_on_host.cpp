// The CUDA kernels' threads (csrc/cuda/temporal_shift_plane.cuh) run on the host: every thread of every block of the
// kernels' grids in turn, for tests/test_shift_cuda_on_host.py to compare with the CPU kernels on machines without a
// GPU. grid_y (the rows of blocks that walk the planes) is a parameter, so that a test can make them wrap as more than
// 65535 planes do on the GPU. Built there with the C++ compiler alone and called through ctypes.
#include <cstdint>
#include <vector>

#include "temporal_shift_plane.cuh"

namespace {

namespace plane = stviz::plane;

// Every thread of forward_kernel's or adjoint_kernel's grid, grid_y rows of blocks.
template <plane::Gather kind, typename scalar_t>
void gather(const scalar_t* in, const scalar_t* offset, scalar_t* out, int64_t planes, int64_t C, int T, int V,
            int stride, int64_t grid_y) {
  const int To = T / stride;
  const int64_t out_plane = int64_t(kind == plane::Gather::kForward ? To : T) * V;
  for (int64_t block_y = 0; block_y < grid_y; ++block_y)
    for (int block_x = 0; block_x < plane::blocks_per_plane(out_plane); ++block_x)
      for (int thread = 0; thread < plane::kThreads; ++thread)
        plane::gather_thread<kind, scalar_t, scalar_t>(in, offset, out, planes, C, T, To, V, stride, block_x, block_y,
                                                       grid_y, thread);
}

// offset_grad_plane_kernel's block per plane, its shared-memory halving done step by step (within a step no
// thread reads a slot that another writes), then sum_over_batch_kernel.
template <typename scalar_t>
void offset_grad(const scalar_t* g, const scalar_t* x, const scalar_t* offset, scalar_t* grad_offset, int64_t N,
                 int64_t C, int T, int V, int stride, int64_t) {
  const int To = T / stride;
  std::vector<scalar_t> partial(N * C), shared(plane::kThreads);
  for (int64_t p = 0; p < N * C; ++p) {
    for (int thread = 0; thread < plane::kThreads; ++thread)
      shared[thread] = plane::offset_grad_partial<scalar_t, scalar_t>(g, x, offset, C, T, To, V, stride, p, thread);
    for (int width = plane::kThreads / 2; width > 0; width /= 2)
      for (int thread = 0; thread < width; ++thread) shared[thread] += shared[thread + width];
    partial[p] = shared[0];
  }
  for (int64_t c = 0; c < C; ++c) grad_offset[c] = plane::sum_over_batch(partial.data(), N, C, c);
}

}  // namespace

// forward_float, forward_double, adjoint_float, ...: C names for ctypes. The last argument is grid_y (unused by
// offset_grad, which has one block per plane).
#define STVIZ_EXPORT(scalar_t)                                                                                     \
  void forward_##scalar_t(const scalar_t* x, const scalar_t* offset, scalar_t* out, int64_t planes, int64_t C,    \
                          int T, int V, int stride, int64_t grid_y) {                                              \
    gather<plane::Gather::kForward>(x, offset, out, planes, C, T, V, stride, grid_y);                              \
  }                                                                                                                \
  void adjoint_##scalar_t(const scalar_t* g, const scalar_t* offset, scalar_t* grad_x, int64_t planes, int64_t C,   \
                          int T, int V, int stride, int64_t grid_y) {                                              \
    gather<plane::Gather::kAdjoint>(g, offset, grad_x, planes, C, T, V, stride, grid_y);                           \
  }                                                                                                                \
  void offset_grad_##scalar_t(const scalar_t* g, const scalar_t* x, const scalar_t* offset, scalar_t* grad_offset,  \
                              int64_t N, int64_t C, int T, int V, int stride, int64_t grid_y) {                    \
    offset_grad(g, x, offset, grad_offset, N, C, T, V, stride, grid_y);                                            \
  }

extern "C" {
STVIZ_EXPORT(float)
STVIZ_EXPORT(double)
}
