// Global norm, clipping, SGD and Adam over flat parameter buffers (see optimizer.h). Work is cut
// into fixed blocks independent of the thread count; reductions add block partials in order.
// Adam's kernel is hand-written AVX2 (GCC does not vectorize sqrt under -fmath-errno), the other
// loops are compiler-vectorized clones. Not here: gradients, schedules.
#include "layers/optimizer.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "charlm/status.hpp"
#include "layers/simd.h"

namespace charlm::nn {

namespace {

// 64 KiB of floats per block: enough work to amortize scheduling, small enough to balance.
constexpr size_t k_block = size_t{1} << 14;

__attribute__((target_clones("arch=x86-64-v3", "default"))) double sum_squares(const float* g, size_t n) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; ++i) s += static_cast<double>(g[i]) * g[i];
    return s;
}

__attribute__((target_clones("arch=x86-64-v3", "default"))) void scale_inplace(float* __restrict g, size_t n,
                                                                               float f) {
    for (size_t i = 0; i < n; ++i) g[i] *= f;
}

__attribute__((target_clones("arch=x86-64-v3", "default"))) void axpy_inplace(float* __restrict w,
                                                                              const float* __restrict g, size_t n,
                                                                              float a) {
    for (size_t i = 0; i < n; ++i) w[i] += a * g[i];
}

struct adam_step {
    float b1, b2;
    float step_size;     // lr / (1 - b1^t)
    float inv_sqrt_bc2;  // 1 / sqrt(1 - b2^t)
    float eps;
};

void adam_scalar(float* w, const float* g, float* m, float* v, size_t n, const adam_step& a) {
    for (size_t i = 0; i < n; ++i) {
        m[i] = a.b1 * m[i] + (1.f - a.b1) * g[i];
        v[i] = a.b2 * v[i] + (1.f - a.b2) * g[i] * g[i];
        w[i] -= a.step_size * m[i] / (std::sqrt(v[i]) * a.inv_sqrt_bc2 + a.eps);
    }
}

[[gnu::target("avx2,fma")]] void adam_avx2(float* w, const float* g, float* m, float* v, size_t n,
                                           const adam_step& a) {
    const __m256 b1 = _mm256_set1_ps(a.b1), c1 = _mm256_set1_ps(1.f - a.b1);
    const __m256 b2 = _mm256_set1_ps(a.b2), c2 = _mm256_set1_ps(1.f - a.b2);
    const __m256 ss = _mm256_set1_ps(a.step_size), ib = _mm256_set1_ps(a.inv_sqrt_bc2);
    const __m256 eps = _mm256_set1_ps(a.eps);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 gi = _mm256_loadu_ps(g + i);
        const __m256 mi = _mm256_fmadd_ps(b1, _mm256_loadu_ps(m + i), _mm256_mul_ps(c1, gi));
        const __m256 vi = _mm256_fmadd_ps(b2, _mm256_loadu_ps(v + i), _mm256_mul_ps(_mm256_mul_ps(c2, gi), gi));
        const __m256 den = _mm256_fmadd_ps(_mm256_sqrt_ps(vi), ib, eps);
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(w + i, _mm256_sub_ps(_mm256_loadu_ps(w + i), _mm256_div_ps(_mm256_mul_ps(ss, mi), den)));
    }
    adam_scalar(w + i, g + i, m + i, v + i, n - i, a);
}

// Calls fn(parameter index, first element, element count) for every block of every buffer, in
// parallel; blocks do not depend on the thread count.
template <class Fn>
void for_each_block(const std::vector<param_view>& params, Fn&& fn) {
    const auto P = static_cast<ptrdiff_t>(params.size());
    size_t total = 0;
    for (const auto& p : params) total += p.count;
    const bool parallel = total >= 4 * k_block;
    for (ptrdiff_t p = 0; p < P; ++p) {
        const size_t count = params[p].count;
        const auto blocks = static_cast<ptrdiff_t>((count + k_block - 1) / k_block);
#pragma omp parallel for schedule(static) if (parallel && blocks > 1)
        for (ptrdiff_t b = 0; b < blocks; ++b) {
            const size_t first = static_cast<size_t>(b) * k_block;
            fn(static_cast<size_t>(p), first, std::min(k_block, count - first));
        }
    }
}

}  // namespace

double global_norm(const std::vector<param_view>& params) {
    // Block partials (one per block of every buffer), summed serially. Grow-only per thread.
    thread_local std::vector<double> partial;
    thread_local std::vector<size_t> first_block;  // (P + 1) prefix of block counts
    first_block.assign(1, 0);
    for (const auto& p : params) first_block.push_back(first_block.back() + (p.count + k_block - 1) / k_block);
    if (partial.size() < first_block.back()) partial.resize(first_block.back());
    double* out = partial.data();
    const size_t* fb = first_block.data();
    for_each_block(params, [&](size_t p, size_t first, size_t n) {
        out[fb[p] + first / k_block] = sum_squares(params[p].grad + first, n);
    });
    double s = 0;
    for (size_t b = 0; b < first_block.back(); ++b) s += partial[b];
    return std::sqrt(s);
}

bool clip_global_norm(const std::vector<param_view>& params, double theta, double norm) {
    if (theta <= 0 || !norm_is_finite(norm) || norm <= theta) return false;
    const auto f = static_cast<float>(theta / norm);
    for_each_block(params, [&](size_t p, size_t first, size_t n) { scale_inplace(params[p].grad + first, n, f); });
    return true;
}

optimizer::optimizer(optimizer_kind kind, std::vector<param_view> params, adam_config adam)
    : kind_(kind), params_(std::move(params)), adam_(adam) {
    for (const auto& p : params_) CHARLM_ASSERT(p.value && p.grad);
    if (kind_ == optimizer_kind::adam) {
        for (const auto& p : params_) {
            m_.emplace_back(p.count, 0.f);
            v_.emplace_back(p.count, 0.f);
        }
    }
}

void optimizer::step(float lr, float weight_decay) {
    ++steps_;
    if (weight_decay > 0.f) {
        const float keep = 1.f - lr * weight_decay;
        for_each_block(params_, [&](size_t p, size_t first, size_t n) {
            scale_inplace(params_[p].value + first, n, keep);
        });
    }
    if (kind_ == optimizer_kind::sgd) {
        for_each_block(params_, [&](size_t p, size_t first, size_t n) {
            axpy_inplace(params_[p].value + first, params_[p].grad + first, n, -lr);
        });
        return;
    }
    // Bias corrections in double: 1 - 0.999^t loses most of its digits in float for small t.
    const double t = static_cast<double>(steps_);
    const double bc1 = 1.0 - std::pow(static_cast<double>(adam_.beta1), t);
    const double bc2 = 1.0 - std::pow(static_cast<double>(adam_.beta2), t);
    const adam_step a{adam_.beta1, adam_.beta2, static_cast<float>(lr / bc1), static_cast<float>(1.0 / std::sqrt(bc2)),
                      adam_.eps};
    const bool vec = simd::active();
    for_each_block(params_, [&](size_t p, size_t first, size_t n) {
        float* w = params_[p].value + first;
        const float* g = params_[p].grad + first;
        float* m = m_[p].data() + first;
        float* v = v_[p].data() + first;
        if (vec) {
            adam_avx2(w, g, m, v, n, a);
        } else {
            adam_scalar(w, g, m, v, n, a);
        }
    });
}

std::vector<param_view> optimizer::state() {
    std::vector<param_view> out;
    for (size_t p = 0; p < m_.size(); ++p) {
        out.push_back({"optimizer.exp_avg." + params_[p].name, m_[p].data(), nullptr, m_[p].size()});
        out.push_back({"optimizer.exp_avg_sq." + params_[p].name, v_[p].data(), nullptr, v_[p].size()});
    }
    return out;
}

}  // namespace charlm::nn
