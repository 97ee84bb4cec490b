// Embedding gather / scatter-add and one-hot rows (see embedding.h). The work is small (M*E
// floats), so threads are used only for large calls; the hot loops are cloned for x86-64-v3
// (AVX2+FMA) with run-time selection, the product being built for generic x86-64.
// Not here: anything that needs oneDNN.
#include "layers/embedding.h"

#include <algorithm>
#include <cstring>

#include "charlm/status.hpp"

namespace charlm::nn {

namespace {

// Below this many floats moved, a parallel region costs more than it saves.
constexpr size_t k_parallel_min = size_t{1} << 16;
// Columns per backward slice: one 64-byte line, so slices never share a cache line of dW.
constexpr size_t k_slice = 16;

// dW[ids[r], c0:c1] += dout[r, c0:c1] for r = 0..M-1 in order.
__attribute__((target_clones("arch=x86-64-v3", "default"))) void scatter_add_columns(
    float* __restrict dW, const float* __restrict dout, const int32_t* ids, size_t M, size_t E, size_t c0,
    size_t c1) {
    for (size_t r = 0; r < M; ++r) {
        float* __restrict d = dW + static_cast<size_t>(ids[r]) * E;
        const float* __restrict s = dout + r * E;
        for (size_t c = c0; c < c1; ++c) d[c] += s[c];
    }
}

}  // namespace

void embedding_forward(float* out, const float* W, const int32_t* ids, size_t M, size_t E) {
    const auto rows = static_cast<ptrdiff_t>(M);
#pragma omp parallel for schedule(static) if (M * E >= k_parallel_min)
    for (ptrdiff_t r = 0; r < rows; ++r) {
        CHARLM_ASSERT(ids[r] >= 0);
        std::memcpy(out + static_cast<size_t>(r) * E, W + static_cast<size_t>(ids[r]) * E, E * sizeof(float));
    }
}

void embedding_backward(float* dW, const float* dout, const int32_t* ids, size_t M, size_t E, size_t V) {
    for (size_t r = 0; r < M; ++r) CHARLM_ASSERT(ids[r] >= 0 && static_cast<size_t>(ids[r]) < V);
    const auto slices = static_cast<ptrdiff_t>((E + k_slice - 1) / k_slice);
#pragma omp parallel for schedule(static) if (M * E >= k_parallel_min)
    for (ptrdiff_t s = 0; s < slices; ++s) {
        const size_t c0 = static_cast<size_t>(s) * k_slice;
        scatter_add_columns(dW, dout, ids, M, E, c0, std::min(E, c0 + k_slice));
    }
}

void one_hot_forward(float* out, const int32_t* ids, size_t M, size_t V) {
    const auto rows = static_cast<ptrdiff_t>(M);
#pragma omp parallel for schedule(static) if (M * V >= k_parallel_min)
    for (ptrdiff_t r = 0; r < rows; ++r) {
        CHARLM_ASSERT(ids[r] >= 0 && static_cast<size_t>(ids[r]) < V);
        float* row = out + static_cast<size_t>(r) * V;
        std::memset(row, 0, V * sizeof(float));
        row[ids[r]] = 1.f;
    }
}

}  // namespace charlm::nn
