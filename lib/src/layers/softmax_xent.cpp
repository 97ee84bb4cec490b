// Fused softmax + cross-entropy kernels (see softmax_xent.h): per row a max pass, an exp-and-sum
// pass (exp stored for the gradient), a scale pass. AVX2+FMA versions with our own exp, chosen at
// run time (the product is built for generic x86-64); scalar versions with std::exp otherwise.
// Not here: the GEMM that produces the logits, sampling.
#include "layers/softmax_xent.h"

#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "charlm/status.hpp"
#include "layers/simd.h"

namespace charlm::nn {

namespace {

// exp domain: below k_exp_lo the result would be subnormal (< FLT_MIN): flushed to 0, which
// after max subtraction is far below a float sum's resolution. Above k_exp_hi the 2^n
// exponent trick would overflow, so the result is +inf (exp(88.72) is FLT_MAX anyway).
constexpr float k_exp_lo = -87.33f;
constexpr float k_exp_hi = 88.37f;

// Rows go parallel only when a call has at least this many logits: below, the OpenMP fork/join
// (a few µs) costs more than the work (~1 ns per logit).
constexpr size_t k_parallel_min = size_t{1} << 15;

// ---------------------------------------------------------------- AVX2 + FMA kernels

// exp(x) for 8 floats. Range reduction x = n ln2 + r, |r| <= ln2/2, with ln2 split in two floats
// (Cody-Waite; the FMA keeps n*ln2_hi exact); exp(r) by its Taylor series to degree 7, whose
// truncation error (|r|^8/8! < 6e-9) is below float rounding; 2^n built in the exponent field.
[[gnu::target("avx2,fma")]] inline __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(k_exp_lo), hi = _mm256_set1_ps(k_exp_hi);
    // min/max return their second operand when one is NaN: this order lets NaN through.
    const __m256 xc = _mm256_max_ps(lo, _mm256_min_ps(hi, x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    constexpr double ln2 = 0.693147180559945309;
    constexpr float ln2_hi = static_cast<float>(ln2);
    constexpr float ln2_lo = static_cast<float>(ln2 - static_cast<double>(ln2_hi));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ln2_hi), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ln2_lo), r);
    __m256 p = _mm256_set1_ps(1.f / 5040.f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 720.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 120.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 24.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 6.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    y = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), y);
    return _mm256_blendv_ps(y, _mm256_set1_ps(std::numeric_limits<float>::infinity()),
                            _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
}

// Lane mask with the first k (0..8) lanes set, for the tail of a row.
[[gnu::target("avx2,fma")]] inline __m256i tail_mask(size_t k) {
    alignas(32) static const int32_t table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + 8 - k));
}

[[gnu::target("avx2,fma")]] float row_max_avx2(const float* x, size_t V) {
    __m256 m = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    size_t i = 0;
    for (; i + 8 <= V; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    float best = _mm_cvtss_f32(h);
    for (; i < V; ++i) best = x[i] > best ? x[i] : best;
    return best;
}

// sum_i exp(x_i - mx) in double; e (V) = the exponentials when not null (may be x).
[[gnu::target("avx2,fma")]] double row_sum_exp_avx2(float* e, const float* x, size_t V, float mx) {
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= V; i += 8) {
        const __m256 y = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
        if (e) _mm256_storeu_ps(e + i, y);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(y)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(y, 1)));
    }
    if (i < V) {
        const __m256i mask = tail_mask(V - i);
        __m256 y = exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), vmx));
        y = _mm256_and_ps(y, _mm256_castsi256_ps(mask));  // masked-off lanes read 0, exp'd to != 0
        if (e) _mm256_maskstore_ps(e + i, mask, y);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(y)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(y, 1)));
    }
    alignas(32) double lanes[4];
    _mm256_store_pd(lanes, _mm256_add_pd(s0, s1));
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

// row (V) *= f
[[gnu::target("avx2,fma")]] void row_scale_avx2(float* row, size_t V, float f) {
    const __m256 vf = _mm256_set1_ps(f);
    size_t i = 0;
    for (; i + 8 <= V; i += 8) _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), vf));
    for (; i < V; ++i) row[i] *= f;
}

[[gnu::target("avx2,fma")]] void fast_exp_avx2(float* y, const float* x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        const __m256i mask = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, mask, exp8(_mm256_maskload_ps(x + i, mask)));
    }
}

// ---------------------------------------------------------------- scalar kernels

float exp_scalar(float x) {
    if (x < k_exp_lo) return 0.f;
    if (x > k_exp_hi) return std::numeric_limits<float>::infinity();
    return std::exp(x);  // glibc's expf: within 1 ulp
}

float row_max_scalar(const float* x, size_t V) {
    float best = -std::numeric_limits<float>::infinity();
    for (size_t i = 0; i < V; ++i) best = x[i] > best ? x[i] : best;
    return best;
}

double row_sum_exp_scalar(float* e, const float* x, size_t V, float mx) {
    double s = 0;
    for (size_t i = 0; i < V; ++i) {
        const float y = exp_scalar(x[i] - mx);
        if (e) e[i] = y;
        s += y;
    }
    return s;
}

void row_scale_scalar(float* row, size_t V, float f) {
    for (size_t i = 0; i < V; ++i) row[i] *= f;
}

// ---------------------------------------------------------------- dispatch

struct row_kernels {
    float (*max)(const float*, size_t);
    double (*sum_exp)(float*, const float*, size_t, float);
    void (*scale)(float*, size_t, float);
};

row_kernels kernels() {
    if (simd::active()) return {row_max_avx2, row_sum_exp_avx2, row_scale_avx2};
    return {row_max_scalar, row_sum_exp_scalar, row_scale_scalar};
}

// Per-row NLL (M) in double for the serial, thread-count-independent sum. Grow-only, per
// calling thread: allocates only the first time a larger M is seen.
double* row_scratch(size_t M) {
    thread_local std::vector<double> buf;
    if (buf.size() < M) buf.resize(M);
    return buf.data();
}

double serial_sum(const double* nll, const int32_t* targets, size_t M, uint64_t* counted) {
    double total = 0;
    uint64_t c = 0;
    for (size_t r = 0; r < M; ++r) {
        if (targets[r] < 0) continue;
        total += nll[r];
        ++c;
    }
    if (counted) *counted = c;
    return total;
}

}  // namespace

double softmax_xent_forward_backward(float* logits, const int32_t* targets, size_t M, size_t V, float scale,
                                     uint64_t* counted) {
    CHARLM_ASSERT(V > 0);
    const row_kernels k = kernels();
    double* nll = row_scratch(M);
    const auto rows = static_cast<ptrdiff_t>(M);
#pragma omp parallel for schedule(static) if (M * V >= k_parallel_min)
    for (ptrdiff_t r = 0; r < rows; ++r) {
        float* row = logits + static_cast<size_t>(r) * V;  // (V)
        const int32_t t = targets[r];
        CHARLM_ASSERT(t < static_cast<int64_t>(V));
        if (t < 0) {
            std::memset(row, 0, V * sizeof(float));
            nll[r] = 0;
            continue;
        }
        const float xt = row[t];
        const float mx = k.max(row, V);
        const double s = k.sum_exp(row, row, V, mx);  // row <- exp(x - max); s >= 1
        k.scale(row, V, static_cast<float>(scale / s));
        row[t] -= scale;
        nll[r] = std::log(s) - (static_cast<double>(xt) - mx);
    }
    return serial_sum(nll, targets, M, counted);
}

double softmax_xent_nll(float* row_nll, const float* logits, const int32_t* targets, size_t M, size_t V,
                        uint64_t* counted) {
    CHARLM_ASSERT(V > 0);
    const row_kernels k = kernels();
    double* nll = row_scratch(M);
    const auto rows = static_cast<ptrdiff_t>(M);
#pragma omp parallel for schedule(static) if (M * V >= k_parallel_min)
    for (ptrdiff_t r = 0; r < rows; ++r) {
        const float* row = logits + static_cast<size_t>(r) * V;  // (V)
        const int32_t t = targets[r];
        CHARLM_ASSERT(t < static_cast<int64_t>(V));
        double v = 0;
        if (t >= 0) {
            const float mx = k.max(row, V);
            v = std::log(k.sum_exp(nullptr, row, V, mx)) - (static_cast<double>(row[t]) - mx);
        }
        nll[r] = v;
        row_nll[r] = static_cast<float>(v);
    }
    return serial_sum(nll, targets, M, counted);
}

void log_softmax(float* out, const float* logits, size_t V) {
    CHARLM_ASSERT(V > 0);
    const row_kernels k = kernels();
    const float mx = k.max(logits, V);
    const auto lse = static_cast<float>(std::log(k.sum_exp(nullptr, logits, V, mx)));
    // (x - max) is exact for nearby values; subtracting log-sum separately keeps small differences.
    for (size_t i = 0; i < V; ++i) out[i] = (logits[i] - mx) - lse;
}

void fast_exp(float* y, const float* x, size_t n) {
    if (simd::active()) {
        fast_exp_avx2(y, x, n);
        return;
    }
    for (size_t i = 0; i < n; ++i) y[i] = exp_scalar(x[i]);
}

double softmax_xent_naive(float* logits, const int32_t* targets, size_t M, size_t V, float scale) {
    double total = 0;
    for (size_t r = 0; r < M; ++r) {
        float* row = logits + r * V;
        const int32_t t = targets[r];
        if (t < 0) {
            std::memset(row, 0, V * sizeof(float));
            continue;
        }
        const float xt = row[t];
        float mx = row[0];
        for (size_t i = 1; i < V; ++i) mx = row[i] > mx ? row[i] : mx;
        float s = 0;
        for (size_t i = 0; i < V; ++i) {
            row[i] = std::exp(row[i] - mx);
            s += row[i];
        }
        total += std::log(s) + (mx - xt);
        for (size_t i = 0; i < V; ++i) row[i] = row[i] / s * scale;
        row[t] -= scale;
    }
    return total;
}

}  // namespace charlm::nn
