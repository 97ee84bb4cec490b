// The two dense kernels the output layers share: oneDNN's sgemm behind one checked call, and the
// bias gradient's column sums (in double, in row order, so the same for any thread count).
// Not here: the layers that call them (layers/projection.cpp, layers/adaptive_softmax.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace charlm::nn {

// C (m, n) = op(A) op(B) + beta C, row-major, alpha 1; op is 'N' or 'T'. Aborts on a bad call.
void sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
           int64_t ldb, float beta, float* c, int64_t ldc);

// db (V) += column sums of dy (M, V), each accumulated in double over the rows in order; split
// over threads by slices of columns when large.
void column_sums(float* db, const float* dy, size_t M, size_t V);

}  // namespace charlm::nn
