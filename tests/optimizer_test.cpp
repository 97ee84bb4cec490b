// Tests of charlm::nn's global norm, clipping, SGD and Adam against hand-computed double values,
// their determinism across OpenMP thread counts, and Adam's exposed state.
// Mismatches report the buffer, the element and by how much. Not here: the layers' gradients.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "layers/optimizer.h"
#include "layers/simd.h"

namespace {

namespace nn = charlm::nn;
using fvec = std::vector<float>;

// Owns values and grads for a few parameters of the given sizes.
struct model {
    std::vector<fvec> w, g;
    std::vector<charlm::param_view> buffers;
    model(const std::vector<size_t>& sizes, uint64_t seed) {
        std::mt19937_64 rng(seed);
        std::uniform_real_distribution<float> u(-1.f, 1.f);
        for (size_t n : sizes) {
            w.emplace_back(n);
            g.emplace_back(n);
            for (auto& x : w.back()) x = u(rng);
            for (auto& x : g.back()) x = u(rng);
        }
        for (size_t p = 0; p < sizes.size(); ++p)
            buffers.push_back({std::string("p").append(std::to_string(p)), w[p].data(), g[p].data(), sizes[p]});
    }
};

double norm_ref(const model& m) {
    double s = 0;
    for (const auto& g : m.g)
        for (float x : g) s += double(x) * x;
    return std::sqrt(s);
}

// Run the body with the AVX2 kernels and, when the CPU has them, again with the scalar ones.
template <class Fn>
void both_kernel_paths(Fn&& fn) {
    nn::simd::force_scalar = false;
    fn();
    if (nn::simd::cpu_has_avx2_fma()) {
        nn::simd::force_scalar = true;
        SCOPED_TRACE("scalar kernels (forced)");
        fn();
        nn::simd::force_scalar = false;
    }
}

TEST(global_norm, matches_double_and_is_identical_for_1_and_2_threads) {
    // 200 000 elements: 13 blocks of 2^14, enough for the parallel path.
    model m({5, 100000, 3, 99992}, 1);
    const double want = norm_ref(m);
    double got[2];
    for (int k = 0; k < 2; ++k) {
        omp_set_num_threads(k + 1);
        got[k] = nn::global_norm(m.buffers);
    }
    omp_set_num_threads(2);
    EXPECT_NEAR(got[0], want, 1e-12 * want);
    EXPECT_EQ(got[0], got[1]) << "1 thread vs 2 threads differ by " << got[0] - got[1];
    EXPECT_EQ(nn::global_norm({}), 0.0);
}

TEST(global_norm, non_finite_gradient_gives_non_finite_norm) {
    for (float bad : {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
        model m({10, 70000}, 2);
        m.g[1][54321] = bad;
        const double n = nn::global_norm(m.buffers);
        EXPECT_FALSE(nn::norm_is_finite(n)) << "norm " << n << " with a gradient element " << bad;
    }
    model ok({3}, 3);
    EXPECT_TRUE(nn::norm_is_finite(nn::global_norm(ok.buffers)));
    // Squares of the largest floats do not overflow the double sum.
    ok.g[0] = {3e38f, -3e38f, 1.f};
    EXPECT_TRUE(nn::norm_is_finite(nn::global_norm(ok.buffers)));
}

TEST(clip_global_norm, scales_above_theta_only) {
    model m({3, 40000}, 4);
    const double norm = nn::global_norm(m.buffers);
    ASSERT_GT(norm, 1.0);
    const model before = m;

    // theta above the norm, zero or negative: untouched, not clipped.
    for (double theta : {norm * 1.01, 0.0, -1.0}) {
        EXPECT_FALSE(nn::clip_global_norm(m.buffers, theta, norm)) << "theta " << theta;
        EXPECT_EQ(m.g, before.g) << "theta " << theta << " changed the gradients";
    }
    // A non-finite norm is left to the caller.
    EXPECT_FALSE(nn::clip_global_norm(m.buffers, 1.0, std::numeric_limits<double>::infinity()));
    EXPECT_EQ(m.g, before.g);

    const double theta = 1.0;
    EXPECT_TRUE(nn::clip_global_norm(m.buffers, theta, norm));
    const double f = theta / norm;
    for (size_t p = 0; p < m.g.size(); ++p)
        for (size_t i = 0; i < m.g[p].size(); ++i)
            ASSERT_NEAR(m.g[p][i], before.g[p][i] * f, 2.5e-7 * std::fabs(before.g[p][i] * f) + 1e-12)
                << "param " << p << " element " << i;
    EXPECT_NEAR(nn::global_norm(m.buffers), theta, 1e-6);
}

TEST(sgd, one_and_several_steps) {
    model m({7, 70000}, 5);
    const model start = m;
    nn::optimizer opt(nn::optimizer_kind::sgd, m.buffers);
    EXPECT_TRUE(opt.state().empty());
    const float lr = 0.25f;
    for (int step = 1; step <= 3; ++step) {
        opt.step(lr);
        EXPECT_EQ(opt.step_count(), uint64_t(step));
        for (size_t p = 0; p < m.w.size(); ++p)
            for (size_t i = 0; i < m.w[p].size(); ++i) {
                const double want = start.w[p][i] - step * double(lr) * start.g[p][i];
                ASSERT_NEAR(m.w[p][i], want, 1e-6) << "step " << step << " param " << p << " element " << i;
            }
    }
}

// Adam in double, PyTorch's formulation (AdamW's with weight decay `wd`).
struct adam_ref {
    std::vector<double> w, m, v;
    uint64_t t = 0;
    void step(const fvec& g, double lr, double wd = 0, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8) {
        ++t;
        const double bc1 = 1 - std::pow(b1, double(t)), bc2 = 1 - std::pow(b2, double(t));
        for (size_t i = 0; i < w.size(); ++i) {
            w[i] *= 1 - lr * wd;
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * double(g[i]) * g[i];
            w[i] -= lr / bc1 * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + eps);
        }
    }
};

TEST(adam, one_and_several_steps_match_double) {
    both_kernel_paths([] {
        model m({9, 50001}, 6);  // 9: all in the scalar tail; 50001: blocks and an odd tail
        std::vector<adam_ref> ref;
        for (const auto& w : m.w) ref.push_back({std::vector<double>(w.begin(), w.end()),
                                                 std::vector<double>(w.size(), 0), std::vector<double>(w.size(), 0)});
        nn::optimizer opt(nn::optimizer_kind::adam, m.buffers);
        std::mt19937_64 rng(7);
        std::uniform_real_distribution<float> u(-1.f, 1.f);
        const float lr = 1e-2f;
        for (int step = 1; step <= 5; ++step) {
            if (step > 1)  // new gradients each step; one tiny, to exercise eps
                for (auto& g : m.g)
                    for (auto& x : g) x = u(rng);
            m.g[0][0] = 1e-9f;
            for (size_t p = 0; p < m.w.size(); ++p) ref[p].step(m.g[p], lr);
            opt.step(lr);
            for (size_t p = 0; p < m.w.size(); ++p)
                for (size_t i = 0; i < m.w[p].size(); ++i)
                    ASSERT_NEAR(m.w[p][i], ref[p].w[i], 2e-6)
                        << "step " << step << " param " << p << " element " << i << " (first step moves by lr = "
                        << lr << ")";
        }
        EXPECT_EQ(opt.step_count(), 5u);
        // The state is m and v, named after the parameters, as long as them.
        auto st = opt.state();
        ASSERT_EQ(st.size(), 4u);
        EXPECT_EQ(st[0].name, "optimizer.exp_avg.p0");
        EXPECT_EQ(st[1].name, "optimizer.exp_avg_sq.p0");
        EXPECT_EQ(st[3].name, "optimizer.exp_avg_sq.p1");
        EXPECT_EQ(st[3].count, 50001u);
        for (size_t i = 0; i < 50001; i += 997) {
            ASSERT_NEAR(st[2].value[i], ref[1].m[i], 1e-6) << "m element " << i;
            ASSERT_NEAR(st[3].value[i], ref[1].v[i], 1e-6) << "v element " << i;
        }
    });
}

// Weight decay, decoupled: AdamW against the double reference on both kernel paths; SGD's equals
// PyTorch's SGD weight_decay, w - lr (g + wd w).
TEST(weight_decay, adamw_and_sgd_match_double) {
    both_kernel_paths([] {
        model m({9, 50001}, 8);
        std::vector<adam_ref> ref;
        for (const auto& w : m.w) ref.push_back({std::vector<double>(w.begin(), w.end()),
                                                 std::vector<double>(w.size(), 0), std::vector<double>(w.size(), 0)});
        nn::optimizer opt(nn::optimizer_kind::adam, m.buffers);
        const float lr = 1e-2f, wd = 0.1f;
        for (int step = 1; step <= 4; ++step) {
            for (size_t p = 0; p < m.w.size(); ++p) ref[p].step(m.g[p], lr, wd);
            opt.step(lr, wd);
            for (size_t p = 0; p < m.w.size(); ++p)
                for (size_t i = 0; i < m.w[p].size(); ++i)
                    ASSERT_NEAR(m.w[p][i], ref[p].w[i], 2e-6) << "step " << step << " param " << p << " element " << i;
        }
    });
    model s({7, 70000}, 9);
    const model start = s;
    nn::optimizer sgd(nn::optimizer_kind::sgd, s.buffers);
    const float lr = 0.25f, wd = 0.5f;
    sgd.step(lr, wd);
    for (size_t p = 0; p < s.w.size(); ++p)
        for (size_t i = 0; i < s.w[p].size(); ++i) {
            const double want = start.w[p][i] - double(lr) * (start.g[p][i] + double(wd) * start.w[p][i]);
            ASSERT_NEAR(s.w[p][i], want, 1e-6) << "param " << p << " element " << i;
        }
}

TEST(adam, restored_state_continues_identically) {
    model a({1000}, 8), b = a;
    b.buffers[0].value = b.w[0].data();
    b.buffers[0].grad = b.g[0].data();
    nn::optimizer oa(nn::optimizer_kind::adam, a.buffers), ob(nn::optimizer_kind::adam, b.buffers);
    oa.step(1e-3f);
    oa.step(1e-3f);
    // Copy weights, state and step count into the second optimizer, as a checkpoint would.
    b.w = a.w;
    auto sa = oa.state(), sb = ob.state();
    for (size_t k = 0; k < sa.size(); ++k) std::copy(sa[k].value, sa[k].value + sa[k].count, sb[k].value);
    ob.set_step_count(oa.step_count());
    oa.step(1e-3f);
    ob.step(1e-3f);
    EXPECT_EQ(a.w, b.w) << "a restored optimizer diverges from the original";
}

}  // namespace
