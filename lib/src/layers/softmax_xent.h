// Fused softmax + cross-entropy over rows of logits: the training form writes the gradient in
// place of the logits, the evaluation form returns per-row NLL, plus a one-row log-softmax for
// sampling and the vectorized exp they share (AVX2+FMA chosen at run time, see simd.h; scalar
// kernels with the C library's expf otherwise).
// Not here: the output projection that makes the logits (projection.h) or the sampler's draw.
#pragma once

#include <cstddef>
#include <cstdint>

namespace charlm::nn {

// Letters: M rows (M = T*N, tnc row order), V vocabulary. A target < 0 marks a row that is not
// counted: it adds no loss and gets a zero gradient. Targets must be < V (asserted).
//
// Determinism: each row's NLL is computed by one thread in a fixed order and the rows' NLLs are
// summed serially in double, so the result does not depend on the OpenMP thread count.
// Rows run in parallel (OpenMP) when M * V is large enough to pay for it.

// logits (M, V) in, dlogits (M, V) out IN PLACE: (softmax(row) - onehot(target)) * scale, or a
// zero row when ignored. `scale` is the caller's (1/count for a mean). Returns the summed NLL
// (natural log) of the counted rows; their number goes to *counted when given.
double softmax_xent_forward_backward(float* logits, const int32_t* targets, size_t M, size_t V, float scale,
                                     uint64_t* counted = nullptr);

// Evaluation: row_nll (M) = -log softmax(row)[target], 0 for ignored rows; logits untouched.
// Returns the summed NLL of the counted rows (summed in double from per-row double values).
double softmax_xent_nll(float* row_nll, const float* logits, const int32_t* targets, size_t M, size_t V,
                        uint64_t* counted = nullptr);

// One row: out (V) = x - max(x) - log(sum exp(x - max(x))), the sum in double. out may be logits.
void log_softmax(float* out, const float* logits, size_t V);

// y (n) = exp(x) elementwise. Accurate to ~2 ulp (measured max relative error in the test) for
// -87.33 <= x <= 88.37; below that the result is flushed to 0, above it is +inf; NaN stays NaN.
// y may be x.
void fast_exp(float* y, const float* x, size_t n);

// The plain single-thread loop (float std::exp, float sums) the fast kernel replaces: same
// contract as softmax_xent_forward_backward. Kept as the benchmark's baseline.
double softmax_xent_naive(float* logits, const int32_t* targets, size_t M, size_t V, float scale);

}  // namespace charlm::nn
