// Shift-GCN's learnable temporal shift: schema of the four ops and their CPU kernels.
//
// temporal_shift(x, offset, stride)             x (N, C, T, V) -> out (N, C, T / stride, V)
//   out[n, c, t, v] = (1 - f) * x[n, c, t*stride + k, v] + f * x[n, c, t*stride + k + 1, v]
//   with k = floor(offset[c]), f = offset[c] - k, and x = 0 outside [0, T).
// temporal_shift_adjoint(grad_out, offset, stride, frames)   the input gradient: the transpose of the above.
// temporal_shift_offset_grad(grad_out, x, offset, stride)    d loss / d offset[c] (exact), shape (C,).
// temporal_shift_backward(grad_out, x, offset, stride)       both gradients in one pass over grad_out.
//
// offset is float32 (float64 for double x) and finite. The kernels parallelise over (n, c) planes with
// at::parallel_for, so the build passes -fopenmp where torch itself uses OpenMP (without it they run on one
// thread). The Python side (stviz/ops.py) adds the fake kernels and the autograd formula;
// csrc/cuda/temporal_shift.cu adds the CUDA kernels. Only the headers the kernels need are included:
// torch/extension.h would triple the build time.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

namespace stviz {

// Validates the arguments shared by the three ops; these checks are also used by the CUDA kernels.
void check_shift_args(const at::Tensor& x, const at::Tensor& offset, int64_t stride, int64_t frames) {
  TORCH_CHECK(x.dim() == 4, "temporal_shift: expected a tensor of shape (N, C, T, V), got ", x.dim(), " dims");
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), "temporal_shift: expected a floating-point tensor, got ",
              x.scalar_type());
  TORCH_CHECK(offset.dim() == 1 && offset.size(0) == x.size(1), "temporal_shift: offset must have shape (C,) = (",
              x.size(1), ",), got ", offset.sizes());
  const auto want = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  TORCH_CHECK(offset.scalar_type() == want, "temporal_shift: offset must be ", want, " for ", x.scalar_type(),
              " input, got ", offset.scalar_type());
  TORCH_CHECK(offset.device() == x.device(), "temporal_shift: offset is on ", offset.device(), ", input on ",
              x.device());
  TORCH_CHECK(stride >= 1, "temporal_shift: stride must be >= 1, got ", stride);
  TORCH_CHECK(frames >= stride, "temporal_shift: T=", frames, " frames give no output frame at stride ", stride);
}

// Arguments of the adjoint (input gradient): grad_out has T / stride frames.
void check_adjoint_args(const at::Tensor& grad_in, const at::Tensor& offset, int64_t stride, int64_t frames) {
  check_shift_args(grad_in, offset, stride, frames);
  TORCH_CHECK(grad_in.size(2) == frames / stride, "temporal_shift_adjoint: grad_out has ", grad_in.size(2),
              " frames, expected T / stride = ", frames / stride);
}

// Arguments of the offset gradient: grad_out is (N, C, T / stride, V) of x's dtype.
void check_offset_grad_args(const at::Tensor& grad_in, const at::Tensor& x_in, const at::Tensor& offset,
                            int64_t stride) {
  check_shift_args(x_in, offset, stride, x_in.size(2));
  TORCH_CHECK(grad_in.dim() == 4 && grad_in.size(0) == x_in.size(0) && grad_in.size(1) == x_in.size(1) &&
                  grad_in.size(2) == x_in.size(2) / stride && grad_in.size(3) == x_in.size(3),
              "temporal_shift_offset_grad: grad_out has shape ", grad_in.sizes(), ", expected (N, C, T / stride, V)");
  TORCH_CHECK(grad_in.scalar_type() == x_in.scalar_type(), "temporal_shift_offset_grad: grad_out is ",
              grad_in.scalar_type(), ", input is ", x_in.scalar_type());
}

namespace {

int64_t grain(int64_t plane) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(plane, 1)); }

// floor(offset) as an integer, clamped to a range where every tap outside [0, frames) stays outside.
template <typename acc_t>
int64_t floor_start(acc_t offset, int64_t frames, int64_t span) {
  const acc_t limit = static_cast<acc_t>(frames + span + 2);
  const acc_t clamped = std::fmin(std::fmax(std::floor(offset), -limit), limit);
  return static_cast<int64_t>(clamped);
}

// Offsets reach the kernels only through these checks: a NaN would otherwise be clamped like a huge shift.
void check_finite(const at::Tensor& offset) {
  const at::Tensor c = offset.contiguous();
  AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "temporal_shift_check_finite", [&] {
    const scalar_t* p = c.const_data_ptr<scalar_t>();
    for (int64_t i = 0; i < c.numel(); ++i) {
      TORCH_CHECK(std::isfinite(p[i]), "temporal_shift: offsets must be finite, got ", p[i], " at channel ", i);
    }
  });
}

// One (rows_in, V) plane sampled at rows r*stride + start (weight w_lo) and r*stride + start + 1 (weight w_hi),
// r in [0, rows_out). A tap outside [0, rows_in) or with weight 0 is not read (it adds 0). The forward is this
// with (start, 1 - frac, frac); at stride 1 the adjoint is this too, on grad_out, with (-start - 1, frac, 1 - frac).
template <typename scalar_t, typename acc_t>
void sample_rows(const scalar_t* src, int64_t rows_in, scalar_t* dst, int64_t rows_out, int64_t stride,
                 int64_t start, acc_t w_lo, acc_t w_hi, int64_t V) {
  // At stride 1 the rows whose two taps lie inside read one contiguous block: a single flat loop (vectorised,
  // close to a copy); the few edge rows go row by row.
  int64_t flat_begin = 0, flat_end = 0;
  if (stride == 1) {
    flat_begin = std::min(std::max<int64_t>(-start, 0), rows_out);
    flat_end = std::max(std::min<int64_t>(rows_in - start - 1, rows_out), flat_begin);
    const scalar_t* a = src + (flat_begin + start) * V;
    scalar_t* d = dst + flat_begin * V;
    const int64_t count = (flat_end - flat_begin) * V;
    if (w_hi == acc_t(0)) {
      for (int64_t i = 0; i < count; ++i) d[i] = a[i];
    } else if (w_lo == acc_t(0)) {
      for (int64_t i = 0; i < count; ++i) d[i] = a[i + V];
    } else {
      for (int64_t i = 0; i < count; ++i) d[i] = w_lo * acc_t(a[i]) + w_hi * acc_t(a[i + V]);
    }
  }
  for (int64_t r = 0; r < rows_out; ++r) {
    if (r == flat_begin && flat_end > flat_begin) {
      r = flat_end - 1;
      continue;
    }
    const int64_t lo = r * stride + start, hi = lo + 1;
    const bool lo_in = lo >= 0 && lo < rows_in && w_lo != acc_t(0);
    const bool hi_in = hi >= 0 && hi < rows_in && w_hi != acc_t(0);
    const scalar_t* a = src + lo * V;
    const scalar_t* b = src + hi * V;
    scalar_t* d = dst + r * V;
    if (lo_in && hi_in) {
      for (int64_t v = 0; v < V; ++v) d[v] = w_lo * acc_t(a[v]) + w_hi * acc_t(b[v]);
    } else if (lo_in) {
      for (int64_t v = 0; v < V; ++v) d[v] = w_lo * acc_t(a[v]);
    } else if (hi_in) {
      for (int64_t v = 0; v < V; ++v) d[v] = w_hi * acc_t(b[v]);
    } else {
      std::fill(d, d + V, scalar_t(0));
    }
  }
}

// The input gradient of one plane at stride > 1: input row i received weight (1 - frac) from output row
// (i - start) / stride and weight frac from output row (i - start - 1) / stride, when the division is exact
// and lands in [0, rows_out).
template <typename scalar_t, typename acc_t>
void adjoint_rows_strided(const scalar_t* g, int64_t rows_out, scalar_t* dst, int64_t rows_in, int64_t stride,
                          int64_t start, acc_t frac, int64_t V) {
  const acc_t w_lo = acc_t(1) - frac, w_hi = frac;
  for (int64_t i = 0; i < rows_in; ++i, dst += V) {
    const int64_t d_lo = i - start, d_hi = i - start - 1;
    const bool lo = d_lo >= 0 && d_lo % stride == 0 && d_lo / stride < rows_out && w_lo != acc_t(0);
    const bool hi = d_hi >= 0 && d_hi % stride == 0 && d_hi / stride < rows_out && w_hi != acc_t(0);
    const scalar_t* a = g + (lo ? d_lo / stride : 0) * V;
    const scalar_t* b = g + (hi ? d_hi / stride : 0) * V;
    if (lo && hi) {
      for (int64_t v = 0; v < V; ++v) dst[v] = w_lo * acc_t(a[v]) + w_hi * acc_t(b[v]);
    } else if (lo) {
      for (int64_t v = 0; v < V; ++v) dst[v] = w_lo * acc_t(a[v]);
    } else if (hi) {
      for (int64_t v = 0; v < V; ++v) dst[v] = w_hi * acc_t(b[v]);
    } else {
      std::fill(dst, dst + V, scalar_t(0));
    }
  }
}

// sum_i g[i] * (b[i] - a[i]) over n elements, a or b null for a tap outside the clip (it reads 0). Eight
// independent partial sums let the compiler vectorise the loop.
template <typename scalar_t, typename acc_t>
double dot_difference(const scalar_t* g, const scalar_t* a, const scalar_t* b, int64_t n) {
  constexpr int64_t kLanes = 8;
  acc_t lanes[kLanes] = {};
  int64_t i = 0;
  if (a && b) {
    for (; i + kLanes <= n; i += kLanes)
      for (int64_t l = 0; l < kLanes; ++l) lanes[l] += acc_t(g[i + l]) * (acc_t(b[i + l]) - acc_t(a[i + l]));
    for (; i < n; ++i) lanes[0] += acc_t(g[i]) * (acc_t(b[i]) - acc_t(a[i]));
  } else if (b) {
    for (; i + kLanes <= n; i += kLanes)
      for (int64_t l = 0; l < kLanes; ++l) lanes[l] += acc_t(g[i + l]) * acc_t(b[i + l]);
    for (; i < n; ++i) lanes[0] += acc_t(g[i]) * acc_t(b[i]);
  } else if (a) {
    for (; i + kLanes <= n; i += kLanes)
      for (int64_t l = 0; l < kLanes; ++l) lanes[l] -= acc_t(g[i + l]) * acc_t(a[i + l]);
    for (; i < n; ++i) lanes[0] -= acc_t(g[i]) * acc_t(a[i]);
  }
  double sum = 0.0;
  for (int64_t l = 0; l < kLanes; ++l) sum += static_cast<double>(lanes[l]);
  return sum;
}

// d loss / d offset for one plane: sum over output rows r of <grad_out[r], x[hi] - x[lo]> (taps outside read 0).
template <typename scalar_t, typename acc_t>
double offset_grad_rows(const scalar_t* x, int64_t rows_in, const scalar_t* g, int64_t rows_out, int64_t stride,
                        int64_t start, int64_t V) {
  double sum = 0.0;
  int64_t flat_begin = 0, flat_end = 0;  // at stride 1, the rows with both taps inside: one flat block
  if (stride == 1) {
    flat_begin = std::min(std::max<int64_t>(-start, 0), rows_out);
    flat_end = std::max(std::min<int64_t>(rows_in - start - 1, rows_out), flat_begin);
    const scalar_t* a = x + (flat_begin + start) * V;
    sum += dot_difference<scalar_t, acc_t>(g + flat_begin * V, a, a + V, (flat_end - flat_begin) * V);
  }
  for (int64_t r = 0; r < rows_out; ++r) {
    if (r == flat_begin && flat_end > flat_begin) {
      r = flat_end - 1;
      continue;
    }
    const int64_t lo = r * stride + start, hi = lo + 1;
    const scalar_t* a = lo >= 0 && lo < rows_in ? x + lo * V : nullptr;
    const scalar_t* b = hi >= 0 && hi < rows_in ? x + hi * V : nullptr;
    sum += dot_difference<scalar_t, acc_t>(g + r * V, a, b, V);
  }
  return sum;
}

}  // namespace

namespace {

at::Tensor temporal_shift_cpu(const at::Tensor& x_in, const at::Tensor& offset_in, int64_t stride) {
  check_shift_args(x_in, offset_in, stride, x_in.size(2));
  TORCH_INTERNAL_ASSERT(x_in.device().is_cpu());
  check_finite(offset_in);
  const at::Tensor x = x_in.contiguous();
  const at::Tensor offset = offset_in.contiguous();
  const int64_t N = x.size(0), C = x.size(1), T = x.size(2), V = x.size(3), To = T / stride;
  at::Tensor out = x.new_empty({N, C, To, V});
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "temporal_shift_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    const acc_t* op = offset.const_data_ptr<acc_t>();
    scalar_t* yp = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, N * C, grain(T * V), [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        const acc_t off = op[plane % C];
        const acc_t frac = off - std::floor(off);
        sample_rows<scalar_t, acc_t>(xp + plane * T * V, T, yp + plane * To * V, To, stride,
                                     floor_start(off, T, To * stride), acc_t(1) - frac, frac, V);
      }
    });
  });
  return out;
}

// The input gradient (grad_x defined) and/or the offset gradient (grad_offset defined) in one pass over the
// planes: each grad_out plane is read once from memory and, when both are wanted, again from cache.
void backward_cpu(const at::Tensor& g, const at::Tensor& x, const at::Tensor& offset, int64_t stride, int64_t T,
                  at::Tensor& grad_x, at::Tensor& grad_offset) {
  const int64_t N = g.size(0), C = g.size(1), To = g.size(2), V = g.size(3);
  std::vector<double> partial(grad_offset.defined() ? N * C : 0);  // one sum per plane, then over n: deterministic
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "temporal_shift_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* xp = grad_offset.defined() ? x.const_data_ptr<scalar_t>() : nullptr;
    const acc_t* op = offset.const_data_ptr<acc_t>();
    scalar_t* dxp = grad_x.defined() ? grad_x.mutable_data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, N * C, grain(T * V), [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        const acc_t off = op[plane % C];
        const int64_t start = floor_start(off, T, To * stride);
        const acc_t frac = off - std::floor(off);
        const scalar_t* gr = gp + plane * To * V;
        if (xp) partial[plane] = offset_grad_rows<scalar_t, acc_t>(xp + plane * T * V, T, gr, To, stride, start, V);
        if (!dxp) continue;
        if (stride == 1) {
          sample_rows<scalar_t, acc_t>(gr, To, dxp + plane * T * V, T, 1, -start - 1, frac, acc_t(1) - frac, V);
        } else {
          adjoint_rows_strided<scalar_t, acc_t>(gr, To, dxp + plane * T * V, T, stride, start, frac, V);
        }
      }
    });
    if (!xp) return;
    acc_t* out = grad_offset.mutable_data_ptr<acc_t>();
    for (int64_t c = 0; c < C; ++c) {
      double total = 0.0;
      for (int64_t n = 0; n < N; ++n) total += partial[n * C + c];
      out[c] = static_cast<acc_t>(total);
    }
  });
}

at::Tensor temporal_shift_adjoint_cpu(const at::Tensor& grad_in, const at::Tensor& offset_in, int64_t stride,
                                      int64_t frames) {
  check_adjoint_args(grad_in, offset_in, stride, frames);
  TORCH_INTERNAL_ASSERT(grad_in.device().is_cpu());
  check_finite(offset_in);
  const at::Tensor g = grad_in.contiguous();
  at::Tensor grad_x = g.new_empty({g.size(0), g.size(1), frames, g.size(3)});
  at::Tensor no_offset_grad;
  backward_cpu(g, at::Tensor(), offset_in.contiguous(), stride, frames, grad_x, no_offset_grad);
  return grad_x;
}

at::Tensor temporal_shift_offset_grad_cpu(const at::Tensor& grad_in, const at::Tensor& x_in,
                                          const at::Tensor& offset_in, int64_t stride) {
  check_offset_grad_args(grad_in, x_in, offset_in, stride);
  TORCH_INTERNAL_ASSERT(x_in.device().is_cpu());
  check_finite(offset_in);
  const at::Tensor offset = offset_in.contiguous();
  at::Tensor grad_offset = offset.new_empty({offset.size(0)});
  at::Tensor no_input_grad;
  backward_cpu(grad_in.contiguous(), x_in.contiguous(), offset, stride, x_in.size(2), no_input_grad, grad_offset);
  return grad_offset;
}

std::tuple<at::Tensor, at::Tensor> temporal_shift_backward_cpu(const at::Tensor& grad_in, const at::Tensor& x_in,
                                                               const at::Tensor& offset_in, int64_t stride) {
  check_offset_grad_args(grad_in, x_in, offset_in, stride);
  TORCH_INTERNAL_ASSERT(x_in.device().is_cpu());
  check_finite(offset_in);
  const at::Tensor offset = offset_in.contiguous();
  at::Tensor grad_x = x_in.new_empty(x_in.sizes());
  at::Tensor grad_offset = offset.new_empty({offset.size(0)});
  backward_cpu(grad_in.contiguous(), x_in.contiguous(), offset, stride, x_in.size(2), grad_x, grad_offset);
  return {grad_x, grad_offset};
}

}  // namespace

TORCH_LIBRARY(stviz, m) {
  m.def("temporal_shift(Tensor x, Tensor offset, int stride) -> Tensor");
  m.def("temporal_shift_adjoint(Tensor grad_out, Tensor offset, int stride, int frames) -> Tensor");
  m.def("temporal_shift_offset_grad(Tensor grad_out, Tensor x, Tensor offset, int stride) -> Tensor");
  m.def("temporal_shift_backward(Tensor grad_out, Tensor x, Tensor offset, int stride) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(stviz, CPU, m) {
  m.impl("temporal_shift", &temporal_shift_cpu);
  m.impl("temporal_shift_adjoint", &temporal_shift_adjoint_cpu);
  m.impl("temporal_shift_offset_grad", &temporal_shift_offset_grad_cpu);
  m.impl("temporal_shift_backward", &temporal_shift_backward_cpu);
}

}  // namespace stviz
