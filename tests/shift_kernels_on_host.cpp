// The CUDA kernels' per-element arithmetic (csrc/cuda/temporal_shift_plane.cuh) run on the host, plane by plane
// and element by element as the kernels' threads run it, for tests/test_shift_op.py to compare with the CPU kernels
// on machines without a GPU. Built there with the C++ compiler alone and called through ctypes.
#include <cstdint>

#include "temporal_shift_plane.cuh"

namespace {

using stviz::plane::Taps;

template <typename scalar_t>
void forward(const scalar_t* x, const scalar_t* offset, scalar_t* out, int64_t planes, int64_t C, int T, int V,
             int stride) {
  const int To = T / stride;
  for (int64_t p = 0; p < planes; ++p) {
    const Taps<scalar_t> taps = stviz::plane::taps<scalar_t>(offset[p % C], T, int64_t(To) * stride);
    for (int i = 0; i < To * V; ++i)
      out[p * To * V + i] = stviz::plane::forward_element<scalar_t, scalar_t>(x + p * T * V, i, taps, T, V, stride);
  }
}

template <typename scalar_t>
void adjoint(const scalar_t* g, const scalar_t* offset, scalar_t* grad_x, int64_t planes, int64_t C, int T, int V,
             int stride) {
  const int To = T / stride;
  for (int64_t p = 0; p < planes; ++p) {
    const Taps<scalar_t> taps = stviz::plane::taps<scalar_t>(offset[p % C], T, int64_t(To) * stride);
    for (int i = 0; i < T * V; ++i)
      grad_x[p * T * V + i] = stviz::plane::adjoint_element<scalar_t, scalar_t>(g + p * To * V, i, taps, To, V, stride);
  }
}

// One sum per plane, then over n in order: what offset_grad_plane_kernel and sum_over_batch_kernel compute.
template <typename scalar_t>
void offset_grad(const scalar_t* g, const scalar_t* x, const scalar_t* offset, scalar_t* grad_offset, int64_t N,
                 int64_t C, int T, int V, int stride) {
  const int To = T / stride;
  for (int64_t c = 0; c < C; ++c) grad_offset[c] = 0;
  for (int64_t p = 0; p < N * C; ++p) {
    const Taps<scalar_t> taps = stviz::plane::taps<scalar_t>(offset[p % C], T, int64_t(To) * stride);
    scalar_t sum = 0;
    for (int i = 0; i < To * V; ++i)
      sum += stviz::plane::offset_grad_term<scalar_t, scalar_t>(g + p * To * V, x + p * T * V, i, taps, T, V, stride);
    grad_offset[p % C] += sum;
  }
}

}  // namespace

// forward_float, forward_double, adjoint_float, ...: C names for ctypes.
#define STVIZ_EXPORT(scalar_t)                                                                                       \
  void forward_##scalar_t(const scalar_t* x, const scalar_t* offset, scalar_t* out, int64_t planes, int64_t C, int T, \
                          int V, int stride) {                                                                       \
    forward(x, offset, out, planes, C, T, V, stride);                                                                \
  }                                                                                                                  \
  void adjoint_##scalar_t(const scalar_t* g, const scalar_t* offset, scalar_t* grad_x, int64_t planes, int64_t C,     \
                          int T, int V, int stride) {                                                                \
    adjoint(g, offset, grad_x, planes, C, T, V, stride);                                                             \
  }                                                                                                                  \
  void offset_grad_##scalar_t(const scalar_t* g, const scalar_t* x, const scalar_t* offset, scalar_t* grad_offset,    \
                              int64_t N, int64_t C, int T, int V, int stride) {                                      \
    offset_grad(g, x, offset, grad_offset, N, C, T, V, stride);                                                      \
  }

extern "C" {
STVIZ_EXPORT(float)
STVIZ_EXPORT(double)
}
