// sgemm wrapper and column sums (see gemm.h).
#include "base/gemm.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>

#include "charlm/status.hpp"

namespace charlm::nn {

namespace {

// Columns per slice: a stack accumulator of 2 KiB doubles.
constexpr size_t k_slice = 256;
constexpr size_t k_parallel_min = size_t{1} << 16;

// db[c0:c1] += sum over rows of dy[r, c0:c1], accumulated in double in row order.
__attribute__((target_clones("arch=x86-64-v3", "default"))) void column_slice(float* __restrict db,
                                                                              const float* __restrict dy, size_t M,
                                                                              size_t V, size_t c0, size_t c1) {
    double acc[k_slice] = {};
    const size_t n = c1 - c0;
    for (size_t r = 0; r < M; ++r) {
        const float* __restrict row = dy + r * V + c0;
        for (size_t c = 0; c < n; ++c) acc[c] += row[c];
    }
    for (size_t c = 0; c < n; ++c) db[c0 + c] += static_cast<float>(acc[c]);
}

}  // namespace

void sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
           int64_t ldb, float beta, float* c, int64_t ldc) {
    const dnnl_status_t st = dnnl_sgemm(ta, tb, m, n, k, 1.f, a, lda, b, ldb, beta, c, ldc);
    CHARLM_ASSERT(st == dnnl_success);
}

void column_sums(float* db, const float* dy, size_t M, size_t V) {
    const auto slices = static_cast<ptrdiff_t>((V + k_slice - 1) / k_slice);
#pragma omp parallel for schedule(static) if (M * V >= k_parallel_min && slices > 1)
    for (ptrdiff_t s = 0; s < slices; ++s) {
        const size_t c0 = static_cast<size_t>(s) * k_slice;
        column_slice(db, dy, M, V, c0, std::min(V, c0 + k_slice));
    }
}

}  // namespace charlm::nn
