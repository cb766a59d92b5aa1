// What each thread of the CUDA kernels (csrc/cuda/temporal_shift.cu) computes, one (n, c) plane at a time.
//
// A plane is x[n, c] viewed flat: T rows of V joints, element i = row * V + v. Its two taps come from the
// channel's offset once per plane (Taps); then each element is an add and a compare or two, with no 64-bit
// division: at stride 1 the row of a tap never needs computing, since a tap row lies in [0, rows) exactly when
// its flat index lies in [0, rows * V). Indices within a plane are 32-bit: the kernels check that T * V is at most
// kMaxPlaneElements, so that no index a thread forms, one pass of kThreads * kUnroll past the end included, overflows.
// The kernels are one call each of gather_thread (forward and adjoint) and offset_grad_partial (plus the reduction
// of the partial sums in shared memory) or sum_over_batch.
//
// Plain C++ when not compiled by nvcc, so that tests/test_shift_cuda_on_host.py runs these same functions on the
// host, thread by thread over the whole grid, against the CPU kernels, GPU or not.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define STVIZ_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define STVIZ_HOST_DEVICE inline
#endif
#ifdef __CUDA_ARCH__  // the device pass only: a host compiler would warn about an unknown pragma
#define STVIZ_UNROLL _Pragma("unroll")
#else
#define STVIZ_UNROLL
#endif

namespace stviz {
namespace plane {

constexpr int kThreads = 256;  // threads per block
constexpr int kUnroll = 4;    // elements per thread and pass: their loads are issued before any result is stored
constexpr int64_t kMaxPlaneBlocks = 65535;  // gridDim.y's limit; more planes are walked in a loop
constexpr int64_t kMaxPlaneElements = 2147483647 - kThreads * kUnroll;  // T * V, see above

// The element-wise kernels' grid: x covers a plane's elements, kThreads * kUnroll per block; y the planes.
inline int64_t blocks_per_plane(int64_t per_plane) {
  const int64_t per_block = int64_t(kThreads) * kUnroll;
  return (per_plane + per_block - 1) / per_block;
}
inline int64_t plane_block_rows(int64_t planes) { return planes < kMaxPlaneBlocks ? planes : kMaxPlaneBlocks; }

template <typename acc_t>
STVIZ_HOST_DEVICE acc_t floor_of(acc_t value) {
#ifdef __CUDA_ARCH__
  return ::floor(value);
#else
  return std::floor(value);
#endif
}

// Output row r of a plane reads input rows r * stride + start (weight lo) and r * stride + start + 1 (weight hi).
template <typename acc_t>
struct Taps {
  int64_t start;
  acc_t lo;
  acc_t hi;
};

// The taps of an offset: start = floor(offset), clamped to a range where a tap outside [0, frames) stays outside
// (as the CPU kernels' floor_start), lo = 1 - frac and hi = frac.
template <typename acc_t>
STVIZ_HOST_DEVICE Taps<acc_t> taps(acc_t offset, int64_t frames, int64_t span) {
  const acc_t limit = static_cast<acc_t>(frames + span + 2);
  const acc_t k = floor_of(offset);
  const acc_t clamped = !(k >= -limit) ? -limit : (k > limit ? limit : k);  // NaN: -limit, as fmax(NaN, -limit)
  const acc_t frac = offset - k;
  return {static_cast<int64_t>(clamped), acc_t(1) - frac, frac};
}

// Flat index of output element i's low tap in the input plane: (r * stride + start) * V + v.
template <typename acc_t>
STVIZ_HOST_DEVICE int64_t low_tap(int i, const Taps<acc_t>& t, int V, int stride) {
  const int extra_rows = stride == 1 ? 0 : (i / V) * (stride - 1);  // r * (stride - 1); no division at stride 1
  return i + (extra_rows + t.start) * V;
}

// Output element i = r * V + v of the forward. A tap outside the plane's rows_in * V elements, or with weight 0,
// is not read.
template <typename scalar_t, typename acc_t>
STVIZ_HOST_DEVICE acc_t forward_element(const scalar_t* x, int i, const Taps<acc_t>& t, int rows_in, int V,
                                        int stride) {
  const int64_t lo = low_tap(i, t, V, stride), hi = lo + V, n = int64_t(rows_in) * V;
  acc_t value = 0;
  if (t.lo != acc_t(0) && lo >= 0 && lo < n) value += t.lo * acc_t(x[lo]);
  if (t.hi != acc_t(0) && hi >= 0 && hi < n) value += t.hi * acc_t(x[hi]);
  return value;
}

// Input element i = row * V + v of the adjoint (the input gradient): row received weight lo from output row
// (row - start) / stride and weight hi from output row (row - start - 1) / stride, where the division is exact
// and the row lies in [0, rows_out).
template <typename scalar_t, typename acc_t>
STVIZ_HOST_DEVICE acc_t adjoint_element(const scalar_t* g, int i, const Taps<acc_t>& t, int rows_out, int V,
                                        int stride) {
  const int64_t n = int64_t(rows_out) * V;
  acc_t value = 0;
  if (stride == 1) {  // output rows row - start and row - start - 1: flat indices i - start * V and that - V
    const int64_t from_lo = i - t.start * V, from_hi = from_lo - V;
    if (t.lo != acc_t(0) && from_lo >= 0 && from_lo < n) value += t.lo * acc_t(g[from_lo]);
    if (t.hi != acc_t(0) && from_hi >= 0 && from_hi < n) value += t.hi * acc_t(g[from_hi]);
    return value;
  }
  const int row = i / V, v = i - row * V;
  const int64_t d_lo = row - t.start, d_hi = d_lo - 1, span = int64_t(rows_out) * stride;
  // in [0, span) the distance fits 32 bits, so its division by the stride does too
  if (t.lo != acc_t(0) && d_lo >= 0 && d_lo < span && int(d_lo) % stride == 0)
    value += t.lo * acc_t(g[(int(d_lo) / stride) * V + v]);
  if (t.hi != acc_t(0) && d_hi >= 0 && d_hi < span && int(d_hi) % stride == 0)
    value += t.hi * acc_t(g[(int(d_hi) / stride) * V + v]);
  return value;
}

// Output element i's term of d loss / d offset: g[i] * (x[high tap] - x[low tap]), a tap outside reading 0.
template <typename scalar_t, typename acc_t>
STVIZ_HOST_DEVICE acc_t offset_grad_term(const scalar_t* g, const scalar_t* x, int i, const Taps<acc_t>& t,
                                         int rows_in, int V, int stride) {
  const int64_t lo = low_tap(i, t, V, stride), hi = lo + V, n = int64_t(rows_in) * V;
  const acc_t a = lo >= 0 && lo < n ? acc_t(x[lo]) : acc_t(0);
  const acc_t b = hi >= 0 && hi < n ? acc_t(x[hi]) : acc_t(0);
  return acc_t(g[i]) * (b - a);
}

// Which of the two gathers a thread runs: the forward (T -> To rows per plane) or the adjoint (To -> T).
enum class Gather { kForward, kAdjoint };

// Thread `thread` of block (block_x, block_y) in a grid of grid_y block rows: the elements
// block_x * kThreads * kUnroll + thread + u * kThreads (u < kUnroll) of the result's planes block_y,
// block_y + grid_y, ... The forward reads x and writes its output; the adjoint reads grad_out, writes grad_x.
template <Gather kind, typename scalar_t, typename acc_t>
STVIZ_HOST_DEVICE void gather_thread(const scalar_t* in, const acc_t* offset, scalar_t* out, int64_t planes, int64_t C,
                                     int T, int To, int V, int stride, int block_x, int64_t block_y, int64_t grid_y,
                                     int thread) {
  const bool forward = kind == Gather::kForward;
  const int in_plane = (forward ? T : To) * V, out_plane = (forward ? To : T) * V;
  const int first = block_x * kThreads * kUnroll + thread;
  for (int64_t p = block_y; p < planes; p += grid_y) {
    const Taps<acc_t> t = taps<acc_t>(offset[p % C], T, int64_t(To) * stride);
    const scalar_t* src = in + p * in_plane;
    scalar_t* dst = out + p * out_plane;
    acc_t values[kUnroll];
    STVIZ_UNROLL
    for (int u = 0; u < kUnroll; ++u) {
      const int i = first + u * kThreads;
      if (i < out_plane)
        values[u] = forward ? forward_element<scalar_t, acc_t>(src, i, t, T, V, stride)
                            : adjoint_element<scalar_t, acc_t>(src, i, t, To, V, stride);
    }
    STVIZ_UNROLL
    for (int u = 0; u < kUnroll; ++u) {
      const int i = first + u * kThreads;
      if (i < out_plane) dst[i] = static_cast<scalar_t>(values[u]);
    }
  }
}

// The offset gradient's thread `thread` of the block for plane p: its share of the plane's sum, the output elements
// thread, thread + kThreads, ... (the block then adds the kThreads shares in shared memory).
template <typename scalar_t, typename acc_t>
STVIZ_HOST_DEVICE acc_t offset_grad_partial(const scalar_t* g, const scalar_t* x, const acc_t* offset, int64_t C,
                                            int T, int To, int V, int stride, int64_t p, int thread) {
  const Taps<acc_t> t = taps<acc_t>(offset[p % C], T, int64_t(To) * stride);
  const scalar_t* src = x + p * T * V;
  const scalar_t* gr = g + p * To * V;
  acc_t sum = 0;
  for (int i = thread; i < To * V; i += kThreads) sum += offset_grad_term<scalar_t, acc_t>(gr, src, i, t, T, V, stride);
  return sum;
}

// d loss / d offset[c]: the planes' sums partial (N, C) added over n in order.
template <typename acc_t>
STVIZ_HOST_DEVICE acc_t sum_over_batch(const acc_t* partial, int64_t N, int64_t C, int64_t c) {
  acc_t total = 0;
  for (int64_t n = 0; n < N; ++n) total += partial[n * C + c];
  return total;
}

}  // namespace plane
}  // namespace stviz
