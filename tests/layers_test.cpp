// Tests of the non-recurrent layers (charlm::nn): embedding and one-hot against plain loops, the
// oneDNN projection against a double reference and central finite differences (every backend),
// the fused softmax cross-entropy against a double reference, and the fast exp against std::exp.
// Mismatches report the tensor, the worst element and by how much. Not here: rnn_stack, optimizer.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "layers/embedding.h"
#include "layers/projection.h"
#include "layers/simd.h"
#include "layers/softmax_xent.h"

namespace {

namespace nn = charlm::nn;
using fvec = std::vector<float>;
using dvec = std::vector<double>;

fvec random_floats(size_t n, float scale, std::mt19937_64& rng) {
    std::uniform_real_distribution<float> u(-scale, scale);
    fvec v(n);
    for (auto& x : v) x = u(rng);
    return v;
}

// Worst |got - want| - tol(want) over a tensor; passes when no element exceeds its tolerance
// atol + rtol * |want|. Reports the element and both values.
template <class Got, class Want>
::testing::AssertionResult close(const char* what, const Got& got, const Want& want, double atol, double rtol) {
    if (got.size() != want.size())
        return ::testing::AssertionFailure() << what << ": size " << got.size() << " != " << want.size();
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double g = got[i], w = want[i];
        const double excess = std::isfinite(g) ? std::fabs(g - w) - (atol + rtol * std::fabs(w))
                                               : std::numeric_limits<double>::infinity();
        if (excess > worst || (excess > 0 && worst == 0)) {
            worst = excess;
            at = i;
        }
    }
    if (worst <= 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << what << ": element " << at << " got " << got[at] << " want " << want[at]
                                         << " (diff " << std::fabs(double(got[at]) - double(want[at])) << ", tol "
                                         << atol + rtol * std::fabs(double(want[at])) << ")";
}

// Runs the body with the AVX2 kernels and, when the CPU has them, again with the scalar ones.
template <class Fn>
void both_kernel_paths(Fn&& fn) {
    nn::simd::force_scalar = false;
    {
        SCOPED_TRACE(nn::simd::active() ? "avx2 kernels" : "scalar kernels");
        fn();
    }
    if (nn::simd::cpu_has_avx2_fma()) {
        nn::simd::force_scalar = true;
        SCOPED_TRACE("scalar kernels (forced)");
        fn();
        nn::simd::force_scalar = false;
    }
}

// ------------------------------------------------------------------ embedding

TEST(embedding, forward_gathers_rows) {
    std::mt19937_64 rng(1);
    const size_t V = 11, E = 20, M = 33;
    fvec W = random_floats(V * E, 1.f, rng);  // (V, E)
    std::vector<int32_t> ids(M);
    for (size_t r = 0; r < M; ++r) ids[r] = static_cast<int32_t>((r * 7) % V);
    fvec out(M * E, -1.f);  // (M, E)
    nn::embedding_forward(out.data(), W.data(), ids.data(), M, E);
    for (size_t r = 0; r < M; ++r)
        for (size_t c = 0; c < E; ++c)
            ASSERT_EQ(out[r * E + c], W[ids[r] * E + c]) << "row " << r << " column " << c;
}

// Plain loop, rows in order: the layer promises this exact result for any thread count.
fvec embedding_backward_plain(fvec dW, const fvec& dout, const std::vector<int32_t>& ids, size_t E) {
    for (size_t r = 0; r < ids.size(); ++r)
        for (size_t c = 0; c < E; ++c) dW[ids[r] * E + c] += dout[r * E + c];
    return dW;
}

TEST(embedding, backward_accumulates_duplicates_bit_exact_for_1_and_2_threads) {
    std::mt19937_64 rng(2);
    for (size_t E : {5, 16, 33, 64}) {
        const size_t V = 13, M = 1120;  // M*E >= 2^16 for E = 64: the parallel path runs
        std::vector<int32_t> ids(M);
        for (auto& id : ids) id = static_cast<int32_t>(rng() % 4);  // few ids: many duplicates
        ids[5] = static_cast<int32_t>(V - 1);
        const fvec dout = random_floats(M * E, 1.f, rng);
        const fvec dW0 = random_floats(V * E, 1.f, rng);  // backward adds to what is there
        const fvec want = embedding_backward_plain(dW0, dout, ids, E);
        for (int threads : {1, 2}) {
            omp_set_num_threads(threads);
            fvec dW = dW0;
            nn::embedding_backward(dW.data(), dout.data(), ids.data(), M, E, V);
            EXPECT_TRUE(close("dW", dW, want, 0, 0)) << "E=" << E << " threads=" << threads;
        }
    }
    omp_set_num_threads(2);
}

TEST(embedding, one_hot_rows) {
    const size_t V = 9, M = 4;
    const std::vector<int32_t> ids = {0, 8, 3, 3};
    fvec out(M * V, 7.f);
    nn::one_hot_forward(out.data(), ids.data(), M, V);
    for (size_t r = 0; r < M; ++r)
        for (size_t v = 0; v < V; ++v)
            ASSERT_EQ(out[r * V + v], static_cast<int32_t>(v) == ids[r] ? 1.f : 0.f) << "row " << r << " col " << v;
}

// ------------------------------------------------------------------ projection

struct proj_case {
    nn::projection_backend backend;
    const char* name;
};
const proj_case backends[] = {{nn::projection_backend::matmul, "matmul"},
                              {nn::projection_backend::inner_product, "inner_product"},
                              {nn::projection_backend::sgemm, "sgemm"}};

// y (M, V) = x (M, H) w^T + b in double (x, w, b float or double vectors).
template <class X>
dvec linear_ref(const X& x, const X& w, const X& b, size_t M, size_t H, size_t V) {
    dvec y(M * V);
    for (size_t r = 0; r < M; ++r)
        for (size_t v = 0; v < V; ++v) {
            double s = b[v];
            for (size_t h = 0; h < H; ++h) s += double(x[r * H + h]) * w[v * H + h];
            y[r * V + v] = s;
        }
    return y;
}

// A nonlinear scalar loss of the outputs: L = sum(G . y + y^2 / 2), dL/dy = G + y.
double loss_ref(const dvec& x, const dvec& w, const dvec& b, const fvec& G, size_t M, size_t H, size_t V) {
    const dvec y = linear_ref(x, w, b, M, H, V);
    double L = 0;
    for (size_t i = 0; i < y.size(); ++i) L += G[i] * y[i] + 0.5 * y[i] * y[i];
    return L;
}

// Central differences of loss_ref in double with respect to every element of p (a double copy
// of one of x, w, b). The loss is quadratic in each element, so the central difference is exact
// up to rounding for any step.
dvec finite_diff(dvec& p, const std::function<double()>& loss) {
    dvec g(p.size());
    const double h = 1e-3;
    for (size_t i = 0; i < p.size(); ++i) {
        const double keep = p[i];
        p[i] = keep + h;
        const double up = loss();
        p[i] = keep - h;
        const double down = loss();
        p[i] = keep;
        g[i] = (up - down) / (2.0 * h);
    }
    return g;
}

dvec to_d(const fvec& v) { return dvec(v.begin(), v.end()); }

TEST(projection, forward_and_gradients_match_double_reference_and_finite_differences) {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    std::mt19937_64 rng(3);
    for (const auto& bk : backends) {
        for (auto [M, H, V] : {std::tuple<size_t, size_t, size_t>{7, 13, 11}, {1, 5, 3}, {40, 64, 65}}) {
            SCOPED_TRACE(std::string(bk.name) + " M=" + std::to_string(M) + " H=" + std::to_string(H) +
                         " V=" + std::to_string(V));
            nn::projection proj(eng, strm, int(H), int(V), bk.backend);
            proj.prepare(int(M));
            fvec x = random_floats(M * H, 1.f, rng), w = random_floats(V * H, 0.5f, rng);
            fvec b = random_floats(V, 0.5f, rng);
            const fvec G = random_floats(M * V, 1.f, rng);  // random upstream gradient part
            fvec y(M * V);
            proj.forward(y.data(), x.data(), w.data(), b.data());
            const dvec y_ref = linear_ref(x, w, b, M, H, V);
            EXPECT_TRUE(close("y", y, y_ref, 1e-5, 1e-5));

            // Analytic gradients of the double loss: dy = G + y; dx = dy w; dw = dy^T x; db = sum dy.
            dvec dy_ref(M * V), dx_ref(M * H, 0), dw_ref(V * H, 0), db_ref(V, 0);
            for (size_t i = 0; i < dy_ref.size(); ++i) dy_ref[i] = G[i] + y_ref[i];
            for (size_t r = 0; r < M; ++r)
                for (size_t v = 0; v < V; ++v) {
                    const double d = dy_ref[r * V + v];
                    db_ref[v] += d;
                    for (size_t h = 0; h < H; ++h) {
                        dx_ref[r * H + h] += d * w[v * H + h];
                        dw_ref[v * H + h] += d * x[r * H + h];
                    }
                }
            // Finite differences check the analytic reference (and through it the layer); on the
            // small shapes only, where every element costs little.
            if (M * H * V < 5000) {
                dvec xd = to_d(x), wd = to_d(w), bd = to_d(b);
                auto L = [&] { return loss_ref(xd, wd, bd, G, M, H, V); };
                EXPECT_TRUE(close("fd vs analytic dx", finite_diff(xd, L), dx_ref, 1e-7, 1e-7));
                EXPECT_TRUE(close("fd vs analytic dw", finite_diff(wd, L), dw_ref, 1e-7, 1e-7));
                EXPECT_TRUE(close("fd vs analytic db", finite_diff(bd, L), db_ref, 1e-7, 1e-7));
            }

            // The layer, fed the float upstream gradient, accumulating onto nonzero gradients.
            fvec dy(M * V);
            for (size_t i = 0; i < dy.size(); ++i) dy[i] = G[i] + y[i];
            const fvec dw0 = random_floats(V * H, 1.f, rng), db0 = random_floats(V, 1.f, rng);
            fvec dx(M * H, 123.f), dw = dw0, db = db0;
            proj.backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data());
            for (size_t i = 0; i < dw.size(); ++i) dw_ref[i] += dw0[i];
            for (size_t i = 0; i < db.size(); ++i) db_ref[i] += db0[i];
            EXPECT_TRUE(close("dx (overwritten)", dx, dx_ref, 1e-4, 1e-5));
            EXPECT_TRUE(close("dw (accumulated)", dw, dw_ref, 1e-4, 1e-5));
            EXPECT_TRUE(close("db (accumulated)", db, db_ref, 1e-4, 1e-5));
        }
    }
}

// One row (a generation step) takes the matrix-vector kernel of the sgemm backend: against the
// double reference with its AVX2 and scalar versions, on 1 and 2 threads, with widths that leave
// every tail (H % 32, H % 8) and a product large enough to split over threads.
TEST(projection, one_row_matrix_vector_kernel) {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    std::mt19937_64 rng(5);
    const int saved_threads = omp_get_max_threads();
    for (auto [H, V] : {std::pair<size_t, size_t>{45, 21}, {64, 7000}, {256, 65}, {8, 3}}) {
        fvec x = random_floats(H, 1.f, rng), w = random_floats(V * H, 0.5f, rng), b = random_floats(V, 0.5f, rng);
        const dvec y_ref = linear_ref(x, w, b, 1, H, V);
        nn::projection proj(eng, strm, int(H), int(V));
        proj.prepare(1);
        for (bool scalar : {false, true})
            for (int threads : {1, 2}) {
                SCOPED_TRACE("H=" + std::to_string(H) + " V=" + std::to_string(V) + (scalar ? " scalar" : " simd") +
                             " threads=" + std::to_string(threads));
                nn::simd::force_scalar = scalar;
                omp_set_num_threads(threads);
                fvec y(V, -7.f);
                proj.forward(y.data(), x.data(), w.data(), b.data());
                EXPECT_TRUE(close("y", y, y_ref, 1e-5, 1e-5));
            }
        nn::simd::force_scalar = false;
        omp_set_num_threads(saved_threads);
    }
}

TEST(projection, shapes_are_cached_and_null_dx_skips_data_gradient) {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    std::mt19937_64 rng(4);
    const size_t H = 8, V = 5;
    for (const auto& bk : backends) {
        SCOPED_TRACE(bk.name);
        nn::projection proj(eng, strm, int(H), int(V), bk.backend);
        proj.prepare(6);
        const size_t after_first = proj.primitives_built();
        proj.prepare(3);
        const size_t after_second = proj.primitives_built();
        proj.prepare(6);
        proj.prepare(3);
        EXPECT_EQ(proj.primitives_built(), after_second) << "a known M rebuilt primitives";
        EXPECT_EQ(after_second, 2 * after_first);
        // M = 3 after M = 6: results are those of a fresh M = 3 layer.
        const size_t M = 3;
        fvec x = random_floats(M * H, 1.f, rng), w = random_floats(V * H, 1.f, rng), b = random_floats(V, 1.f, rng);
        fvec y(M * V), dy = random_floats(M * V, 1.f, rng), dw(V * H, 0.f), db(V, 0.f);
        proj.forward(y.data(), x.data(), w.data(), b.data());
        EXPECT_TRUE(close("y", y, linear_ref(x, w, b, M, H, V), 1e-5, 1e-5));
        proj.backward(nullptr, dw.data(), db.data(), dy.data(), x.data(), w.data());
        dvec dw_ref(V * H, 0);
        for (size_t r = 0; r < M; ++r)
            for (size_t v = 0; v < V; ++v)
                for (size_t h = 0; h < H; ++h) dw_ref[v * H + h] += double(dy[r * V + v]) * x[r * H + h];
        EXPECT_TRUE(close("dw", dw, dw_ref, 1e-5, 1e-5));
    }
}

// ------------------------------------------------------------------ softmax + cross-entropy

struct xent_ref {
    double nll = 0;
    uint64_t counted = 0;
    dvec grad;     // (M, V)
    dvec row_nll;  // (M)
};

xent_ref softmax_xent_reference(const fvec& logits, const std::vector<int32_t>& t, size_t V, double scale) {
    const size_t M = t.size();
    xent_ref out;
    out.grad.assign(M * V, 0);
    out.row_nll.assign(M, 0);
    for (size_t r = 0; r < M; ++r) {
        if (t[r] < 0) continue;
        const float* x = &logits[r * V];
        double mx = x[0];
        for (size_t v = 1; v < V; ++v) mx = std::max(mx, double(x[v]));
        double s = 0;
        for (size_t v = 0; v < V; ++v) s += std::exp(x[v] - mx);
        out.row_nll[r] = std::log(s) - (x[t[r]] - mx);
        out.nll += out.row_nll[r];
        ++out.counted;
        for (size_t v = 0; v < V; ++v)
            out.grad[r * V + v] = (std::exp(x[v] - mx) / s - (int32_t(v) == t[r] ? 1.0 : 0.0)) * scale;
    }
    return out;
}

TEST(softmax_xent, loss_and_gradient_match_double_reference) {
    std::mt19937_64 rng(5);
    both_kernel_paths([&] {
        for (size_t V : {1, 2, 7, 8, 9, 65, 300, 7000}) {
            const size_t M = 37;
            fvec logits = random_floats(M * V, 8.f, rng);
            std::vector<int32_t> t(M);
            for (size_t r = 0; r < M; ++r) t[r] = (r % 5 == 3) ? -1 : static_cast<int32_t>(rng() % V);
            const float scale = 1.f / 29.f;
            const xent_ref want = softmax_xent_reference(logits, t, V, scale);

            fvec row_nll(M, -5.f);
            uint64_t counted_eval = 0;
            const double nll_eval =
                nn::softmax_xent_nll(row_nll.data(), logits.data(), t.data(), M, V, &counted_eval);
            EXPECT_NEAR(nll_eval, want.nll, 1e-6 * want.nll + 1e-9) << "eval sum, V=" << V;
            EXPECT_EQ(counted_eval, want.counted);
            EXPECT_TRUE(close("row_nll", row_nll, want.row_nll, 1e-6, 1e-6)) << "V=" << V;

            uint64_t counted = 0;
            const double nll = nn::softmax_xent_forward_backward(logits.data(), t.data(), M, V, scale, &counted);
            EXPECT_NEAR(nll, want.nll, 1e-6 * want.nll + 1e-9) << "training sum, V=" << V;
            EXPECT_EQ(counted, want.counted);
            EXPECT_TRUE(close("dlogits", logits, want.grad, 1e-6 * scale, 0)) << "V=" << V;
        }
    });
}

TEST(softmax_xent, huge_logits_stay_finite) {
    both_kernel_paths([] {
        const size_t V = 5, M = 3;
        fvec logits = {1e4f, -1e4f, 0.f, 3.f, 1e4f,   //
                       -1e4f, -1e4f, -1e4f, -1e4f, -1e4f, //
                       -1e30f, 0.f, 1e30f, 1.f, 2.f};
        const std::vector<int32_t> t = {1, 4, 0};
        const xent_ref want = softmax_xent_reference(logits, t, V, 1.0);
        fvec row_nll(M);
        EXPECT_NEAR(nn::softmax_xent_nll(row_nll.data(), logits.data(), t.data(), M, V), want.nll, 1e-6 * want.nll);
        EXPECT_TRUE(close("row_nll", row_nll, want.row_nll, 1e-3, 1e-6));
        const double nll = nn::softmax_xent_forward_backward(logits.data(), t.data(), M, V, 1.f);
        EXPECT_TRUE(std::isfinite(nll));
        EXPECT_NEAR(nll, want.nll, 1e-6 * want.nll);
        EXPECT_TRUE(close("dlogits", logits, want.grad, 1e-6, 0));
    });
}

TEST(softmax_xent, single_class_and_ignored_rows) {
    fvec logits = {3.f, -2.f, 5.f};  // M = 3, V = 1
    const std::vector<int32_t> t = {0, -1, 0};
    uint64_t counted = 9;
    EXPECT_EQ(nn::softmax_xent_forward_backward(logits.data(), t.data(), 3, 1, 0.5f, &counted), 0.0);
    EXPECT_EQ(counted, 2u);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(logits[i], 0.f) << "row " << i;
    fvec l2 = {1.f, 2.f, 3.f, 4.f};  // M = 2, V = 2, nothing counted
    const std::vector<int32_t> none = {-1, -1};
    EXPECT_EQ(nn::softmax_xent_forward_backward(l2.data(), none.data(), 2, 2, 1.f, &counted), 0.0);
    EXPECT_EQ(counted, 0u);
    for (size_t i = 0; i < 4; ++i) EXPECT_EQ(l2[i], 0.f) << "element " << i;
}

TEST(softmax_xent, deterministic_for_1_and_2_threads) {
    std::mt19937_64 rng(6);
    for (size_t V : {65, 2000}) {
        const size_t M = 1120;
        const fvec logits = random_floats(M * V, 5.f, rng);
        std::vector<int32_t> t(M);
        for (auto& x : t) x = static_cast<int32_t>(rng() % V);
        t[17] = -1;
        double nll[2];
        fvec grad[2], row[2];
        for (int k = 0; k < 2; ++k) {
            omp_set_num_threads(k + 1);
            grad[k] = logits;
            nll[k] = nn::softmax_xent_forward_backward(grad[k].data(), t.data(), M, V, 1.f / M);
            row[k].resize(M);
            nn::softmax_xent_nll(row[k].data(), logits.data(), t.data(), M, V);
        }
        omp_set_num_threads(2);
        EXPECT_EQ(nll[0], nll[1]) << "V=" << V << ": loss differs between 1 and 2 threads";
        EXPECT_TRUE(close("dlogits 1 vs 2 threads", grad[1], grad[0], 0, 0)) << "V=" << V;
        EXPECT_TRUE(close("row_nll 1 vs 2 threads", row[1], row[0], 0, 0)) << "V=" << V;
    }
}

TEST(softmax_xent, naive_baseline_agrees) {
    std::mt19937_64 rng(7);
    const size_t M = 50, V = 300;
    const fvec logits = random_floats(M * V, 4.f, rng);
    std::vector<int32_t> t(M);
    for (auto& x : t) x = static_cast<int32_t>(rng() % V);
    t[3] = -1;
    fvec a = logits, b = logits;
    const double la = nn::softmax_xent_naive(a.data(), t.data(), M, V, 0.1f);
    const double lb = nn::softmax_xent_forward_backward(b.data(), t.data(), M, V, 0.1f);
    EXPECT_NEAR(la, lb, 1e-5 * lb);
    EXPECT_TRUE(close("naive vs fused dlogits", a, b, 1e-7, 0));
}

TEST(log_softmax, matches_double_reference) {
    std::mt19937_64 rng(8);
    both_kernel_paths([&] {
        for (size_t V : {1, 3, 8, 65, 7000}) {
            fvec x = random_floats(V, 20.f, rng);
            x[0] = 1e4f;  // a dominant logit: the others' log-probabilities are about -1e4
            double mx = -1e300, s = 0;
            for (float v : x) mx = std::max(mx, double(v));
            for (float v : x) s += std::exp(v - mx);
            dvec want(V);
            for (size_t i = 0; i < V; ++i) want[i] = x[i] - mx - std::log(s);
            fvec out(V);
            nn::log_softmax(out.data(), x.data(), V);
            EXPECT_TRUE(close("log_softmax", out, want, 1e-6, 1e-6)) << "V=" << V;
            nn::log_softmax(x.data(), x.data(), V);  // in place
            EXPECT_TRUE(close("log_softmax in place", x, out, 0, 0)) << "V=" << V;
        }
    });
}

// ------------------------------------------------------------------ fast exp

TEST(fast_exp, relative_error_over_the_float_range) {
    // Every 128th float in [-87.33, 88.37] (about 17 million values), against exp in double.
    both_kernel_paths([] {
        std::vector<float> x, y;
        x.reserve(1 << 20);
        double worst = 0;
        float worst_x = 0;
        auto flush = [&] {
            y.resize(x.size());
            nn::fast_exp(y.data(), x.data(), x.size());
            for (size_t i = 0; i < x.size(); ++i) {
                const double want = std::exp(double(x[i]));
                const double rel = std::fabs(y[i] - want) / want;
                if (!(rel <= worst)) {
                    worst = rel;
                    worst_x = x[i];
                }
            }
            x.clear();
        };
        for (uint32_t sign : {0u, 0x80000000u}) {
            const float limit = sign ? 87.33f : 88.37f;
            for (uint32_t bits = 0;; bits += 128) {
                float v;
                uint32_t b = bits | sign;
                std::memcpy(&v, &b, 4);
                if (std::fabs(v) > limit) break;
                x.push_back(v);
                if (x.size() == x.capacity()) flush();
            }
        }
        flush();
        RecordProperty("max_rel_error", std::to_string(worst));
        std::printf("fast_exp (%s): max relative error %.3g at x = %.9g\n",
                    nn::simd::active() ? "avx2" : "scalar", worst, double(worst_x));
        EXPECT_LT(worst, 1.5e-7) << "at x = " << worst_x;
    });
}

TEST(fast_exp, edges_flush_saturate_and_propagate_nan) {
    both_kernel_paths([] {
        const float inf = std::numeric_limits<float>::infinity();
        // 11 values: exercises the 8-wide body and a 3-wide tail.
        const fvec x = {-87.4f, -1e4f, -inf, 88.4f, 1e4f, inf, std::nanf(""), 0.f, -0.f, 1.f, -1.f};
        fvec y(x.size());
        nn::fast_exp(y.data(), x.data(), x.size());
        EXPECT_EQ(y[0], 0.f);
        EXPECT_EQ(y[1], 0.f);
        EXPECT_EQ(y[2], 0.f);
        EXPECT_EQ(y[3], inf);
        EXPECT_EQ(y[4], inf);
        EXPECT_EQ(y[5], inf);
        EXPECT_TRUE(std::isnan(y[6]));
        EXPECT_EQ(y[7], 1.f);
        EXPECT_EQ(y[8], 1.f);
        EXPECT_NEAR(y[9], std::exp(1.0), 3e-7);
        EXPECT_NEAR(y[10], std::exp(-1.0), 1e-7);
        // Tails of every length leave the element after the end alone.
        for (size_t n = 0; n <= 17; ++n) {
            fvec in(n + 1, 0.5f), out(n + 1, -7.f);
            nn::fast_exp(out.data(), in.data(), n);
            for (size_t i = 0; i < n; ++i) ASSERT_NEAR(out[i], std::exp(0.5), 3e-7) << "n=" << n << " i=" << i;
            ASSERT_EQ(out[n], -7.f) << "n=" << n << ": wrote past the end";
        }
    });
}

}  // namespace
