// Shift-GCN's learnable temporal shift: schema of the three ops and their CPU kernels.
//
// temporal_shift(x, offset, stride)             x (N, C, T, V) -> out (N, C, T / stride, V)
//   out[n, c, t, v] = (1 - f) * x[n, c, t*stride + k, v] + f * x[n, c, t*stride + k + 1, v]
//   with k = floor(offset[c]), f = offset[c] - k, and x = 0 outside [0, T).
// temporal_shift_adjoint(grad_out, offset, stride, frames)   the input gradient: the transpose of the above.
// temporal_shift_offset_grad(grad_out, x, offset, stride)    d loss / d offset[c] (exact), shape (C,).
//
// offset is float32 (float64 for double x). The Python side (stviz/ops.py) adds the fake kernels and the
// autograd formula; csrc/cuda/temporal_shift.cu adds the CUDA kernels. Only the headers the kernels need are
// included: torch/extension.h would triple the build time.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
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

// Rows (frames) of one (T, V) plane that output frame t reads, and their weights; weight 0 = outside [0, T).
template <typename acc_t>
struct Taps {
  int64_t lo, hi;
  acc_t w_lo, w_hi;
};

template <typename acc_t>
Taps<acc_t> taps(int64_t t, int64_t stride, int64_t start, acc_t frac, int64_t frames) {
  const int64_t lo = t * stride + start;
  const int64_t hi = lo + 1;
  const bool lo_in = lo >= 0 && lo < frames;
  const bool hi_in = hi >= 0 && hi < frames;
  return {lo, hi, lo_in ? acc_t(1) - frac : acc_t(0), hi_in ? frac : acc_t(0)};
}

// floor(offset) as an integer, clamped to a range where every tap outside [0, frames) stays outside.
template <typename acc_t>
int64_t floor_start(acc_t offset, int64_t frames, int64_t span) {
  const acc_t limit = static_cast<acc_t>(frames + span + 2);
  const acc_t clamped = std::fmin(std::fmax(std::floor(offset), -limit), limit);
  return static_cast<int64_t>(clamped);
}

int64_t grain(int64_t plane) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(plane, 1)); }

at::Tensor temporal_shift_cpu(const at::Tensor& x_in, const at::Tensor& offset_in, int64_t stride) {
  check_shift_args(x_in, offset_in, stride, x_in.size(2));
  TORCH_INTERNAL_ASSERT(x_in.device().is_cpu());
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
        const int64_t start = floor_start(off, T, To * stride);
        const acc_t frac = off - std::floor(off);
        const scalar_t* src = xp + plane * T * V;
        scalar_t* dst = yp + plane * To * V;
        // At stride 1 the output rows whose two taps are both inside [0, T) read one contiguous block of the
        // plane: handle them as a single flat loop (vectorised, close to a copy); the few edge rows go row by row.
        int64_t flat_begin = 0, flat_end = 0;
        if (stride == 1) {
          flat_begin = std::min(std::max<int64_t>(-start, 0), To);
          flat_end = std::max(std::min<int64_t>(T - start - 1, To), flat_begin);
          const scalar_t* a = src + (flat_begin + start) * V;
          scalar_t* d = dst + flat_begin * V;
          const int64_t count = (flat_end - flat_begin) * V;
          const acc_t w_lo = acc_t(1) - frac, w_hi = frac;
          if (w_hi == acc_t(0)) {
            for (int64_t i = 0; i < count; ++i) d[i] = a[i];
          } else {
            for (int64_t i = 0; i < count; ++i) d[i] = w_lo * acc_t(a[i]) + w_hi * acc_t(a[i + V]);
          }
        }
        for (int64_t t = 0; t < To; ++t, dst += V) {
          if (t == flat_begin && flat_end > flat_begin) {
            dst += (flat_end - flat_begin - 1) * V;
            t = flat_end - 1;
            continue;
          }
          const auto k = taps<acc_t>(t, stride, start, frac, T);
          const scalar_t* a = src + k.lo * V;
          const scalar_t* b = src + k.hi * V;
          if (k.w_lo != acc_t(0) && k.w_hi != acc_t(0)) {
            for (int64_t v = 0; v < V; ++v) dst[v] = k.w_lo * acc_t(a[v]) + k.w_hi * acc_t(b[v]);
          } else if (k.w_lo != acc_t(0)) {
            for (int64_t v = 0; v < V; ++v) dst[v] = k.w_lo * acc_t(a[v]);
          } else if (k.w_hi != acc_t(0)) {
            for (int64_t v = 0; v < V; ++v) dst[v] = k.w_hi * acc_t(b[v]);
          } else {
            for (int64_t v = 0; v < V; ++v) dst[v] = scalar_t(0);
          }
        }
      }
    });
  });
  return out;
}

at::Tensor temporal_shift_adjoint_cpu(const at::Tensor& grad_in, const at::Tensor& offset_in, int64_t stride,
                                      int64_t frames) {
  check_adjoint_args(grad_in, offset_in, stride, frames);
  TORCH_INTERNAL_ASSERT(grad_in.device().is_cpu());
  const at::Tensor g = grad_in.contiguous();
  const at::Tensor offset = offset_in.contiguous();
  const int64_t N = g.size(0), C = g.size(1), To = g.size(2), V = g.size(3), T = frames;
  at::Tensor grad_x = g.new_empty({N, C, T, V});
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "temporal_shift_adjoint_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const acc_t* op = offset.const_data_ptr<acc_t>();
    scalar_t* xp = grad_x.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, N * C, grain(T * V), [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        const acc_t off = op[plane % C];
        const int64_t start = floor_start(off, T, To * stride);
        const acc_t frac = off - std::floor(off);
        const scalar_t* src = gp + plane * To * V;
        scalar_t* dst = xp + plane * T * V;
        // Input frame i received weight (1 - frac) from output frame (i - start) / stride and weight frac from
        // output frame (i - start - 1) / stride, when those divisions are exact and land in [0, To).
        for (int64_t i = 0; i < T; ++i, dst += V) {
          const int64_t d_lo = i - start, d_hi = i - start - 1;
          const bool lo = d_lo >= 0 && d_lo % stride == 0 && d_lo / stride < To && frac != acc_t(1);
          const bool hi = d_hi >= 0 && d_hi % stride == 0 && d_hi / stride < To && frac != acc_t(0);
          const scalar_t* a = src + (lo ? d_lo / stride : 0) * V;
          const scalar_t* b = src + (hi ? d_hi / stride : 0) * V;
          const acc_t w_lo = acc_t(1) - frac, w_hi = frac;
          if (lo && hi) {
            for (int64_t v = 0; v < V; ++v) dst[v] = w_lo * acc_t(a[v]) + w_hi * acc_t(b[v]);
          } else if (lo) {
            for (int64_t v = 0; v < V; ++v) dst[v] = w_lo * acc_t(a[v]);
          } else if (hi) {
            for (int64_t v = 0; v < V; ++v) dst[v] = w_hi * acc_t(b[v]);
          } else {
            for (int64_t v = 0; v < V; ++v) dst[v] = scalar_t(0);
          }
        }
      }
    });
  });
  return grad_x;
}

at::Tensor temporal_shift_offset_grad_cpu(const at::Tensor& grad_in, const at::Tensor& x_in,
                                          const at::Tensor& offset_in, int64_t stride) {
  check_offset_grad_args(grad_in, x_in, offset_in, stride);
  TORCH_INTERNAL_ASSERT(x_in.device().is_cpu());
  const at::Tensor g = grad_in.contiguous();
  const at::Tensor x = x_in.contiguous();
  const at::Tensor offset = offset_in.contiguous();
  const int64_t N = x.size(0), C = x.size(1), T = x.size(2), V = x.size(3), To = T / stride;
  at::Tensor grad_offset = offset.new_empty({C});
  std::vector<double> partial(N * C, 0.0);  // one sum per (n, c) plane, added over n afterwards: deterministic
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "temporal_shift_offset_grad_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    const acc_t* op = offset.const_data_ptr<acc_t>();
    at::parallel_for(0, N * C, grain(T * V), [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        const acc_t off = op[plane % C];
        const int64_t start = floor_start(off, T, To * stride);
        const scalar_t* src = xp + plane * T * V;
        const scalar_t* gr = gp + plane * To * V;
        double sum = 0.0;
        // d out[t] / d offset = x[hi] - x[lo] (each 0 outside [0, T)).
        for (int64_t t = 0; t < To; ++t, gr += V) {
          const int64_t lo = t * stride + start, hi = lo + 1;
          const bool lo_in = lo >= 0 && lo < T, hi_in = hi >= 0 && hi < T;
          if (!lo_in && !hi_in) continue;
          const scalar_t* a = src + lo * V;
          const scalar_t* b = src + hi * V;
          acc_t row = 0;
          if (lo_in && hi_in) {
            for (int64_t v = 0; v < V; ++v) row += acc_t(gr[v]) * (acc_t(b[v]) - acc_t(a[v]));
          } else if (hi_in) {
            for (int64_t v = 0; v < V; ++v) row += acc_t(gr[v]) * acc_t(b[v]);
          } else {
            for (int64_t v = 0; v < V; ++v) row -= acc_t(gr[v]) * acc_t(a[v]);
          }
          sum += static_cast<double>(row);
        }
        partial[plane] = sum;
      }
    });
    acc_t* out = grad_offset.mutable_data_ptr<acc_t>();
    for (int64_t c = 0; c < C; ++c) {
      double total = 0.0;
      for (int64_t n = 0; n < N; ++n) total += partial[n * C + c];
      out[c] = static_cast<acc_t>(total);
    }
  });
  return grad_offset;
}

}  // namespace

TORCH_LIBRARY(stviz, m) {
  m.def("temporal_shift(Tensor x, Tensor offset, int stride) -> Tensor");
  m.def("temporal_shift_adjoint(Tensor grad_out, Tensor offset, int stride, int frames) -> Tensor");
  m.def("temporal_shift_offset_grad(Tensor grad_out, Tensor x, Tensor offset, int stride) -> Tensor");
}

TORCH_LIBRARY_IMPL(stviz, CPU, m) {
  m.impl("temporal_shift", &temporal_shift_cpu);
  m.impl("temporal_shift_adjoint", &temporal_shift_adjoint_cpu);
  m.impl("temporal_shift_offset_grad", &temporal_shift_offset_grad_cpu);
}

}  // namespace stviz
