// Tests of charlm::nn::rnn_stack (oneDNN) against the double reference in reference/rnn_ref.h, and
// of the reference itself against central finite differences. Every mismatch reports the tensor,
// the worst element and by how much.
// Not here: the model on top (embedding, output layer, optimizer).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "dnnl/rnn_stack.h"
#include "reference/rnn_ref.h"

namespace {

using charlm::cell_type;
using charlm::gate_count;
using charlm::bias_gate_count;
using charlm::nn::rnn_generator;
using charlm::nn::rnn_stack;
using charlm::nn::rnn_weights;
namespace ref = charlm::ref;
using vec = ref::vec;

const cell_type all_cells[] = {cell_type::rnn_tanh, cell_type::rnn_relu, cell_type::gru, cell_type::lbr_gru,
                               cell_type::lstm};

// Random values already rounded to float, so that float and double paths see the same numbers.
vec random_vec(size_t n, double scale, std::mt19937_64& rng) {
    std::uniform_real_distribution<double> u(-scale, scale);
    vec v(n);
    for (auto& x : v) x = static_cast<double>(static_cast<float>(u(rng)));
    return v;
}

ref::stack random_stack(cell_type cell, int L, int I, int H, std::mt19937_64& rng) {
    ref::stack s{cell, I, H, {}};
    const int G = gate_count(cell), Gb = bias_gate_count(cell);
    for (int l = 0; l < L; ++l) {
        s.layers.push_back({random_vec(static_cast<size_t>(s.in_width(l)) * G * H, 0.5, rng),
                            random_vec(static_cast<size_t>(H) * G * H, 0.5, rng),
                            random_vec(static_cast<size_t>(Gb) * H, 0.5, rng)});
    }
    return s;
}

std::vector<float> to_f(const vec& v) { return std::vector<float>(v.begin(), v.end()); }

// Weights and one training session over them (the split of rnn_stack.h) as one object under test.
struct stack : rnn_weights, rnn_stack {
    stack(const dnnl::engine& eng, cell_type cell, int L, int I, int H, float p = 0.f, uint64_t seed = 0)
        : rnn_weights(eng, cell, L, I, H, p > 0.f), rnn_stack(static_cast<const rnn_weights&>(*this), p, seed) {}
    std::vector<charlm::param_view> params() {
        auto out = rnn_weights::params();
        const auto g = grads();
        for (size_t k = 0; k < out.size(); ++k) out[k].grad = g[k];
        return out;
    }
};

void load(rnn_weights& st, const ref::stack& rs) {
    for (int l = 0; l < static_cast<int>(rs.layers.size()); ++l) {
        const auto& w = rs.layers[l];
        st.set_layer(l, to_f(w.w_x).data(), to_f(w.w_h).data(), to_f(w.bias).data());
    }
}

// max |got - want| / max |want| over a tensor, with where the worst element is.
struct error_report {
    double rel = 0, maxdiff = 0, maxref = 0;
    size_t where = 0;
};
template <class T>
error_report compare(const T* got, const vec& want) {
    error_report e;
    for (size_t i = 0; i < want.size(); ++i) {
        const double d = std::abs(static_cast<double>(got[i]) - want[i]);
        if (d > e.maxdiff) {
            e.maxdiff = d;
            e.where = i;
        }
        e.maxref = std::max(e.maxref, std::abs(want[i]));
    }
    e.rel = e.maxdiff / std::max(e.maxref, 1e-30);
    return e;
}
#define EXPECT_CLOSE(got, want, tol, what)                                                          \
    do {                                                                                            \
        const error_report e_ = compare((got), (want));                                            \
        EXPECT_LE(e_.rel, (tol)) << (what) << ": maxdiff " << e_.maxdiff << " at flat index "      \
                                 << e_.where << " (got " << (got)[e_.where] << ", want "           \
                                 << (want)[e_.where] << "), max |ref| " << e_.maxref;              \
    } while (0)

std::string describe(cell_type c, int L, int I, int H, int T, int N, float p = 0) {
    std::ostringstream s;
    s << charlm::to_string(c) << " L=" << L << " I=" << I << " H=" << H << " T=" << T << " N=" << N
      << " dropout=" << p;
    return s.str();
}

// Compares every gradient of the last backward() with the reference's.
void expect_grads(const rnn_stack& st, const ref::stack& rs, const ref::grads& g, const std::vector<float>& dsrc,
                  double tol) {
    for (int l = 0; l < static_cast<int>(rs.layers.size()); ++l) {
        const auto& d = g.d[l];
        std::vector<float> dx(d.w_x.size()), dh(d.w_h.size()), db(d.bias.size());
        st.get_layer_grad(l, dx.data(), dh.data(), db.data());
        const std::string at = " of layer " + std::to_string(l);
        EXPECT_CLOSE(dx.data(), d.w_x, tol, "dW_x" + at);
        EXPECT_CLOSE(dh.data(), d.w_h, tol, "dW_h" + at);
        EXPECT_CLOSE(db.data(), d.bias, tol, "dbias" + at);
    }
    EXPECT_CLOSE(dsrc.data(), g.dx, tol, "diff_src");
    EXPECT_CLOSE(st.diff_initial_h(), g.dh0, tol, "diff_initial_h");
    if (rs.cell == cell_type::lstm) EXPECT_CLOSE(st.diff_initial_c(), g.dc0, tol, "diff_initial_c");
}

class rnn_fixture : public ::testing::Test {
protected:
    dnnl::engine eng{dnnl::engine::kind::cpu, 0};
    dnnl::stream strm{eng};
};

// ---------------------------------------------------------------------------------------------
// 1. The reference's BPTT against central differences of the reference forward (double, eps 1e-6),
//    for all weights, the input and the initial states; with and without dropout masks; with the
//    final-state terms in the loss and without them (truncated BPTT, what backward() computes).
TEST(rnn_reference, backward_matches_finite_differences) {
    const int L = 2, I = 3, H = 4, T = 3, N = 2;
    const double eps = 1e-6;
    for (cell_type cell : all_cells) {
        for (bool masked : {false, true}) {
            for (bool truncated : {false, true}) {
                SCOPED_TRACE(describe(cell, L, I, H, T, N) + (masked ? " masked" : "") +
                             (truncated ? " loss=sum(out*R1)" : " loss with final state"));
                std::mt19937_64 rng(42 + static_cast<int>(cell));
                ref::stack rs = random_stack(cell, L, I, H, rng);
                vec x = random_vec(static_cast<size_t>(T) * N * I, 1.0, rng);
                vec h0 = random_vec(static_cast<size_t>(L) * N * H, 0.5, rng);
                vec c0 = random_vec(static_cast<size_t>(L) * N * H, 0.5, rng);
                const vec r1 = random_vec(static_cast<size_t>(T) * N * H, 1.0, rng);
                const vec r2 = random_vec(h0.size(), 1.0, rng), r3 = random_vec(h0.size(), 1.0, rng);
                std::vector<vec> masks;
                if (masked) {
                    vec m = random_vec(static_cast<size_t>(T) * N * H, 1.0, rng);
                    for (auto& v : m) v = v < 0 ? 0.0 : 2.0;
                    masks.push_back(m);
                }
                const bool lstm = cell == cell_type::lstm;
                auto loss = [&] {
                    ref::tape tp = ref::forward(rs, T, N, x, h0, c0, masks);
                    double s = 0;
                    for (size_t k = 0; k < r1.size(); ++k) s += tp.out[k] * r1[k];
                    if (!truncated) {
                        for (size_t k = 0; k < r2.size(); ++k) s += tp.h_final[k] * r2[k];
                        if (lstm) {
                            for (size_t k = 0; k < r3.size(); ++k) s += tp.c_final[k] * r3[k];
                        }
                    }
                    return s;
                };
                ref::tape tp = ref::forward(rs, T, N, x, h0, c0, masks);
                ref::grads g = truncated ? ref::backward(rs, tp, r1)
                                         : ref::backward(rs, tp, r1, r2, lstm ? r3 : vec{});
                // (name, parameter, analytic gradient) for every checked tensor.
                std::vector<std::tuple<std::string, vec*, const vec*>> checks = {
                    {"x", &x, &g.dx}, {"h0", &h0, &g.dh0}};
                if (lstm) checks.emplace_back("c0", &c0, &g.dc0);
                for (int l = 0; l < L; ++l) {
                    const std::string at = " layer " + std::to_string(l);
                    checks.emplace_back("W_x" + at, &rs.layers[l].w_x, &g.d[l].w_x);
                    checks.emplace_back("W_h" + at, &rs.layers[l].w_h, &g.d[l].w_h);
                    checks.emplace_back("bias" + at, &rs.layers[l].bias, &g.d[l].bias);
                }
                for (auto& [name, p, an] : checks) {
                    vec fd(p->size());
                    for (size_t k = 0; k < p->size(); ++k) {
                        const double keep = (*p)[k];
                        (*p)[k] = keep + eps;
                        const double up = loss();
                        (*p)[k] = keep - eps;
                        const double down = loss();
                        (*p)[k] = keep;
                        fd[k] = (up - down) / (2 * eps);
                    }
                    EXPECT_CLOSE(an->data(), fd, 1e-6, name);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2 and 3. oneDNN forward (training and inference) and backward against the reference, from random
//    initial states, for every cell, 1-3 layers, I != H and I == H. H = 7 makes the padded weight
//    layouts differ from dense ones (G*H = 7, 21, 28 floats per row, padded to 16 or 32).
struct case_param {
    cell_type cell;
    int layers, input;
};
class rnn_vs_reference : public rnn_fixture, public ::testing::WithParamInterface<case_param> {};

TEST_P(rnn_vs_reference, forward_and_backward) {
    const auto [cell, L, I] = GetParam();
    const int H = 7, T = 4, N = 3;
    SCOPED_TRACE(describe(cell, L, I, H, T, N));
    std::mt19937_64 rng(7 * L + I + 100 * static_cast<int>(cell));
    ref::stack rs = random_stack(cell, L, I, H, rng);
    const vec x = random_vec(static_cast<size_t>(T) * N * I, 1.0, rng);
    const vec h0 = random_vec(static_cast<size_t>(L) * N * H, 0.5, rng);
    const vec c0 = random_vec(h0.size(), 0.5, rng);
    const vec dy = random_vec(static_cast<size_t>(T) * N * H, 1.0, rng);
    const bool lstm = cell == cell_type::lstm;

    stack st(eng, cell, L, I, H);
    EXPECT_EQ(st.group_count(), I == H ? 1 : (L == 1 ? 1 : 2));
    load(st, rs);
    st.prepare(T, N);
    std::copy(h0.begin(), h0.end(), st.initial_h());
    if (lstm) std::copy(c0.begin(), c0.end(), st.initial_c());
    const ref::tape tp = ref::forward(rs, T, N, x, h0, lstm ? c0 : vec{});

    const auto xf = to_f(x);
    const float* y = st.forward_training(xf.data());
    EXPECT_CLOSE(y, tp.out, 1e-5, "forward_training output");
    EXPECT_CLOSE(st.final_h(), tp.h_final, 1e-5, "forward_training final h");
    if (lstm) EXPECT_CLOSE(st.final_c(), tp.c_final, 1e-5, "forward_training final c");

    st.zero_grad();
    std::vector<float> dsrc(x.size(), 99.f);
    st.backward(to_f(dy).data(), dsrc.data());
    expect_grads(st, rs, ref::backward(rs, tp, dy), dsrc, 1e-4);

    y = st.forward_inference(xf.data());
    EXPECT_CLOSE(y, tp.out, 1e-5, "forward_inference output");
    EXPECT_CLOSE(st.final_h(), tp.h_final, 1e-5, "forward_inference final h");
    if (lstm) EXPECT_CLOSE(st.final_c(), tp.c_final, 1e-5, "forward_inference final c");
}

std::vector<case_param> all_cases() {
    std::vector<case_param> v;
    for (cell_type c : all_cells) {
        for (int L : {1, 2, 3}) {
            for (int I : {5, 7}) v.push_back({c, L, I});
        }
    }
    return v;
}
INSTANTIATE_TEST_SUITE_P(cells, rnn_vs_reference, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) {
                             std::string s = charlm::to_string(info.param.cell);
                             for (auto& ch : s) {
                                 if (ch == '-') ch = '_';
                             }
                             return s + "_L" + std::to_string(info.param.layers) + "_I" +
                                    std::to_string(info.param.input);
                         });

// ---------------------------------------------------------------------------------------------
// 4. State carry: T = 6 in one forward equals two forwards of T = 3 with carry_state() between,
//    for training and inference; and reset_state() returns to zeros.
TEST_F(rnn_fixture, carry_state_splits_a_sequence) {
    const int L = 2, I = 5, H = 7, T = 6, N = 3;
    for (cell_type cell : all_cells) {
        for (bool training : {true, false}) {
            SCOPED_TRACE(describe(cell, L, I, H, T, N) + (training ? " training" : " inference"));
            std::mt19937_64 rng(5 + static_cast<int>(cell));
            ref::stack rs = random_stack(cell, L, I, H, rng);
            const auto x = to_f(random_vec(static_cast<size_t>(T) * N * I, 1.0, rng));
            const vec h0 = random_vec(static_cast<size_t>(L) * N * H, 0.5, rng);
            const bool lstm = cell == cell_type::lstm;
            stack st(eng, cell, L, I, H);
            load(st, rs);
            auto run = [&](const float* src) { return training ? st.forward_training(src) : st.forward_inference(src); };

            st.prepare(T, N);
            std::copy(h0.begin(), h0.end(), st.initial_h());
            if (lstm) std::copy(h0.begin(), h0.end(), st.initial_c());
            const float* y = run(x.data());
            const vec whole(y, y + static_cast<size_t>(T) * N * H);
            const vec final_h(st.final_h(), st.final_h() + h0.size());
            const vec final_c = lstm ? vec(st.final_c(), st.final_c() + h0.size()) : vec{};

            st.prepare(T / 2, N);  // same N: same state, still the initial one (no carry yet)
            const size_t half = static_cast<size_t>(T / 2) * N;
            y = run(x.data());
            EXPECT_CLOSE(y, vec(whole.begin(), whole.begin() + half * H), 1e-6, "first half");
            st.carry_state();
            y = run(x.data() + half * I);
            EXPECT_CLOSE(y, vec(whole.begin() + half * H, whole.end()), 1e-6, "second half");
            EXPECT_CLOSE(st.final_h(), final_h, 1e-6, "final h");
            if (lstm) EXPECT_CLOSE(st.final_c(), final_c, 1e-6, "final c");

            st.reset_state();
            for (size_t k = 0; k < h0.size(); ++k) ASSERT_EQ(st.initial_h()[k], 0.f) << "reset_state, h at " << k;
            if (lstm) {
                for (size_t k = 0; k < h0.size(); ++k) ASSERT_EQ(st.initial_c()[k], 0.f) << "reset_state, c at " << k;
            }
        }
    }
}

// 5. Gradients accumulate over two backward() calls and zero_grad() clears the whole buffers;
//    diff_src and the initial-state gradients are overwritten, not accumulated.
TEST_F(rnn_fixture, gradients_accumulate_until_zero_grad) {
    const int L = 2, I = 5, H = 7, T = 4, N = 2;
    for (cell_type cell : all_cells) {
        SCOPED_TRACE(describe(cell, L, I, H, T, N));
        std::mt19937_64 rng(9);
        ref::stack rs = random_stack(cell, L, I, H, rng);
        const auto x = to_f(random_vec(static_cast<size_t>(T) * N * I, 1.0, rng));
        const auto dy = to_f(random_vec(static_cast<size_t>(T) * N * H, 1.0, rng));
        stack st(eng, cell, L, I, H);
        load(st, rs);
        st.prepare(T, N);
        auto snapshot = [&] {
            vec all;
            for (auto& p : st.params()) all.insert(all.end(), p.grad, p.grad + p.count);
            return all;
        };
        std::vector<float> dsrc(x.size());
        st.zero_grad();
        st.forward_training(x.data());
        st.backward(dy.data(), dsrc.data());
        const vec once = snapshot();
        const vec dsrc_once(dsrc.begin(), dsrc.end());
        const vec dh0_once(st.diff_initial_h(), st.diff_initial_h() + static_cast<size_t>(L) * N * H);
        st.forward_training(x.data());
        st.backward(dy.data(), dsrc.data());
        vec twice_expected = once;
        for (auto& v : twice_expected) v *= 2;
        const vec twice = snapshot();
        EXPECT_CLOSE(twice.data(), twice_expected, 1e-6, "grads after two backward()");
        EXPECT_CLOSE(dsrc.data(), dsrc_once, 1e-6, "diff_src after two backward()");
        EXPECT_CLOSE(st.diff_initial_h(), dh0_once, 1e-6, "diff_initial_h after two backward()");
        st.zero_grad();
        const vec cleared = snapshot();
        for (size_t k = 0; k < cleared.size(); ++k) ASSERT_EQ(cleared[k], 0.0) << "grad not cleared at " << k;
    }
}

// 6. Dropout between layers: masks are 0 or 1/(1-p), new per call, reproducible from the seed; the
//    training forward and backward equal the reference applying the same masks; inference ignores them.
TEST_F(rnn_fixture, dropout_matches_reference_with_the_same_masks) {
    const int L = 3, I = 5, H = 7, T = 4, N = 3;
    const float p = 0.5f;
    for (cell_type cell : all_cells) {
        SCOPED_TRACE(describe(cell, L, I, H, T, N, p));
        std::mt19937_64 rng(11 + static_cast<int>(cell));
        ref::stack rs = random_stack(cell, L, I, H, rng);
        const vec x = random_vec(static_cast<size_t>(T) * N * I, 1.0, rng);
        const vec dy = random_vec(static_cast<size_t>(T) * N * H, 1.0, rng);
        const auto xf = to_f(x);
        const size_t tnh = static_cast<size_t>(T) * N * H;
        stack st(eng, cell, L, I, H, p, 1234);
        EXPECT_EQ(st.group_count(), L);
        load(st, rs);
        st.prepare(T, N);
        st.zero_grad();
        const float* y = st.forward_training(xf.data());
        std::vector<vec> masks;
        size_t dropped = 0;
        for (int l = 0; l + 1 < L; ++l) {
            const float* m = st.dropout_mask(l);
            ASSERT_NE(m, nullptr);
            masks.emplace_back(m, m + tnh);
            for (size_t k = 0; k < tnh; ++k) {
                ASSERT_TRUE(m[k] == 0.f || m[k] == 2.f) << "mask " << l << " at " << k << " is " << m[k];
                dropped += m[k] == 0.f;
            }
        }
        const double frac = static_cast<double>(dropped) / (tnh * (L - 1));
        EXPECT_GT(frac, 0.35);
        EXPECT_LT(frac, 0.65);
        const ref::tape tp = ref::forward(rs, T, N, x, {}, {}, masks);
        EXPECT_CLOSE(y, tp.out, 1e-5, "forward_training with dropout");
        std::vector<float> dsrc(x.size());
        st.backward(to_f(dy).data(), dsrc.data());
        expect_grads(st, rs, ref::backward(rs, tp, dy), dsrc, 1e-4);

        // Same seed, same call number: same masks. Next call: different masks.
        stack twin(eng, cell, L, I, H, p, 1234);
        load(twin, rs);
        twin.prepare(T, N);
        twin.forward_training(xf.data());
        EXPECT_TRUE(std::equal(masks[0].begin(), masks[0].end(), twin.dropout_mask(0))) << "masks not reproducible";
        twin.forward_training(xf.data());
        EXPECT_FALSE(std::equal(masks[0].begin(), masks[0].end(), twin.dropout_mask(0))) << "masks repeat across calls";

        y = st.forward_inference(xf.data());
        EXPECT_CLOSE(y, ref::forward(rs, T, N, x).out, 1e-5, "forward_inference ignores dropout");
    }
}

// 7. Shape cache: a known shape builds nothing, and forward/backward/zero_grad allocate nothing.
TEST_F(rnn_fixture, shapes_are_cached_and_steady_state_allocates_nothing) {
    const int L = 3, I = 5, H = 7;
    stack st(eng, cell_type::lstm, L, I, H, 0.25f, 3);
    st.init_uniform(1);
    auto run = [&](int T, int N) {
        std::vector<float> x(static_cast<size_t>(T) * N * I, 0.5f), dy(static_cast<size_t>(T) * N * H, 1.f);
        std::vector<float> dx(x.size());
        const auto before = st.stats();
        st.prepare(T, N);
        const auto built = st.stats();
        for (int k = 0; k < 2; ++k) {
            st.zero_grad();
            st.forward_training(x.data());
            st.backward(dy.data(), k == 0 ? dx.data() : nullptr);
            st.carry_state();
            st.forward_inference(x.data());
            st.reset_state();
        }
        const auto after = st.stats();
        EXPECT_EQ(after.primitives, built.primitives) << "primitives built in the steady state at T=" << T << " N=" << N;
        EXPECT_EQ(after.buffers, built.buffers) << "buffers allocated in the steady state at T=" << T << " N=" << N;
        return std::pair{before, built};
    };
    const auto [b0, s0] = run(5, 2);
    EXPECT_GT(s0.primitives, b0.primitives);
    const auto [b1, s1] = run(3, 4);  // new shape, new batch size: builds
    EXPECT_GT(s1.primitives, b1.primitives);
    EXPECT_GT(s1.buffers, b1.buffers);
    const auto [b2, s2] = run(5, 2);  // back to the first: reused
    EXPECT_EQ(s2.primitives, b2.primitives);
    EXPECT_EQ(s2.buffers, b2.buffers);
}

// Layout plumbing: set/get round trip, padding of values and grads zero, params() covering all
// buffers, and the documented initialization.
TEST_F(rnn_fixture, dense_round_trip_padding_and_init) {
    const int L = 2, I = 5, H = 7, T = 3, N = 2;
    for (cell_type cell : all_cells) {
        SCOPED_TRACE(describe(cell, L, I, H, T, N));
        std::mt19937_64 rng(3);
        ref::stack rs = random_stack(cell, L, I, H, rng);
        stack st(eng, cell, L, I, H);
        load(st, rs);
        double dense_abs = 0;
        for (int l = 0; l < L; ++l) {
            const auto& w = rs.layers[l];
            std::vector<float> a(w.w_x.size()), b(w.w_h.size()), c(w.bias.size());
            st.get_layer(l, a.data(), b.data(), c.data());
            EXPECT_CLOSE(a.data(), w.w_x, 0.0, "W_x round trip");
            EXPECT_CLOSE(b.data(), w.w_h, 0.0, "W_h round trip");
            EXPECT_CLOSE(c.data(), w.bias, 0.0, "bias round trip");
            for (const vec* v : {&w.w_x, &w.w_h, &w.bias}) {
                for (double e : *v) dense_abs += std::abs(e);
            }
        }
        // Train one step so that the gradients are non-zero, then compare sums of |.|: equal
        // only if every padding element is zero.
        st.prepare(T, N);
        std::vector<float> x(static_cast<size_t>(T) * N * I, 0.3f), dy(static_cast<size_t>(T) * N * H, 1.f);
        st.zero_grad();
        st.forward_training(x.data());
        st.backward(dy.data(), nullptr);
        double buf_abs = 0, grad_abs = 0, grad_dense_abs = 0;
        size_t dense_count = 0, buffer_count = 0;
        for (auto& p : st.params()) {
            buffer_count += p.count;
            for (size_t k = 0; k < p.count; ++k) {
                buf_abs += std::abs(p.value[k]);
                grad_abs += std::abs(p.grad[k]);
            }
        }
        for (int l = 0; l < L; ++l) {
            const auto& w = rs.layers[l];
            std::vector<float> a(w.w_x.size()), b(w.w_h.size()), c(w.bias.size());
            st.get_layer_grad(l, a.data(), b.data(), c.data());
            for (auto* v : {&a, &b, &c}) {
                dense_count += v->size();
                for (float e : *v) grad_dense_abs += std::abs(e);
            }
        }
        EXPECT_GE(buffer_count, dense_count);
        EXPECT_NEAR(buf_abs, dense_abs, 1e-6 * dense_abs) << "non-zero padding in the weights";
        EXPECT_GT(grad_dense_abs, 0.0);
        EXPECT_NEAR(grad_abs, grad_dense_abs, 1e-6 * grad_dense_abs) << "non-zero padding in the gradients";

        st.init_uniform(77);
        const double bound = 1.0 / std::sqrt(static_cast<double>(H));
        for (int l = 0; l < L; ++l) {
            const auto& w = rs.layers[l];
            std::vector<float> a(w.w_x.size()), b(w.w_h.size()), c(w.bias.size());
            st.get_layer(l, a.data(), b.data(), c.data());
            for (auto* v : {&a, &b, &c}) {
                for (size_t k = 0; k < v->size(); ++k) {
                    const bool forget_bias = cell == cell_type::lstm && v == &c && k / H == 1;
                    if (forget_bias) {
                        EXPECT_EQ((*v)[k], 1.f) << "LSTM forget bias at " << k;
                    } else {
                        EXPECT_LE(std::abs((*v)[k]), bound) << "init out of range at " << k;
                    }
                }
            }
        }
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// 8. Generation (rnn_generator): T = 1 steps with the state carried, on a
//    frozen copy of the weights in oneDNN's inference layouts, inputs picked from a table by id
//    (or one-hot), layer 0 folded into a per-row bias when N = 1. Against the reference over the
//    whole sequence, for every cell and each way the path can go; the folded flag is checked too.
namespace {
struct gen_case {
    int layers, input, hidden, batch, rows;
    bool one_hot;
    float dropout;
    bool folded;  // what the generator must choose
};

// Runs `steps` generation steps on ids drawn from rng and checks every step's output and the
// final state against the reference on the same inputs.
void check_generation(const rnn_weights& w, const ref::stack& rs, const gen_case& gc, const std::vector<float>& table,
                      int steps, std::mt19937_64& rng, double tol) {
    const int N = gc.batch, I = gc.input, H = gc.hidden;
    std::uniform_int_distribution<int> pick(0, gc.rows - 1);
    std::vector<int32_t> ids(static_cast<size_t>(steps) * N);
    for (auto& id : ids) id = pick(rng);
    vec x(static_cast<size_t>(steps) * N * I, 0.0);
    for (size_t r = 0; r < ids.size(); ++r) {
        for (int i = 0; i < I; ++i)
            x[r * I + i] = gc.one_hot ? (i == ids[r] ? 1.0 : 0.0) : table[static_cast<size_t>(ids[r]) * I + i];
    }
    const ref::tape tp = ref::forward(rs, steps, N, x);
    rnn_generator gen(w, N, gc.one_hot ? nullptr : table.data(), gc.rows);
    EXPECT_EQ(gen.folded(), gc.folded);
    for (int t = 0; t < steps; ++t) {
        const float* y = gen.step(ids.data() + static_cast<size_t>(t) * N);
        const vec want(tp.out.begin() + static_cast<ptrdiff_t>(t) * N * H,
                       tp.out.begin() + static_cast<ptrdiff_t>(t + 1) * N * H);
        EXPECT_CLOSE(y, want, tol, "generation step " + std::to_string(t));
    }
    EXPECT_CLOSE(gen.final_h(), tp.h_final, tol, "final h after generation");
    if (rs.cell == cell_type::lstm) EXPECT_CLOSE(gen.final_c(), tp.c_final, tol, "final c after generation");
}
}  // namespace

TEST_F(rnn_fixture, generation_matches_reference_folded_or_not) {
    const gen_case cases[] = {
        {1, 5, 7, 1, 9, false, 0.f, true},    // folded: rows <= 4 I
        {2, 5, 7, 1, 9, false, 0.f, true},    // layer 0 is its own group (I != H)
        {2, 7, 7, 1, 9, false, 0.f, false},   // layers 0-1 in one primitive: not folded
        {2, 7, 7, 1, 9, false, 0.3f, true},   // dropout: a group per layer (none applied here)
        {1, 5, 7, 1, 30, false, 0.f, false},  // rows > 4 I: the table would be too large
        {2, 5, 7, 3, 9, false, 0.f, false},   // N > 1: a bias cannot differ by row
        {2, 9, 7, 1, 9, true, 0.f, true},     // one-hot, folded: row r of W_x
        {2, 9, 7, 2, 9, true, 0.f, false},    // one-hot, N > 1
    };
    for (cell_type cell : all_cells) {
        for (const gen_case& gc : cases) {
            SCOPED_TRACE(describe(cell, gc.layers, gc.input, gc.hidden, 1, gc.batch, gc.dropout) +
                         " rows=" + std::to_string(gc.rows) + (gc.one_hot ? " one-hot" : ""));
            std::mt19937_64 rng(11 + static_cast<int>(cell) * 17 + gc.rows + gc.batch);
            ref::stack rs = random_stack(cell, gc.layers, gc.input, gc.hidden, rng);
            stack st(eng, cell, gc.layers, gc.input, gc.hidden, gc.dropout);
            load(st, rs);
            const auto table = to_f(random_vec(static_cast<size_t>(gc.rows) * gc.input, 1.0, rng));
            check_generation(st, rs, gc, table, 6, rng, 1e-5);
            // A second generator from a zero state again, on the same cache.
            check_generation(st, rs, gc, table, 3, rng, 1e-5);
        }
    }
}

// A generator's weights are frozen when it is made: writes after it are seen only by generators
// made later, which share the cache until the weights change again.
TEST_F(rnn_fixture, generation_weights_frozen_until_next_begin) {
    const gen_case gc{2, 5, 7, 1, 9, false, 0.f, true};
    for (cell_type cell : {cell_type::gru, cell_type::lstm}) {
        SCOPED_TRACE(charlm::to_string(cell));
        std::mt19937_64 rng(3);
        ref::stack a = random_stack(cell, 2, 5, 7, rng), b = random_stack(cell, 2, 5, 7, rng);
        stack st(eng, cell, 2, 5, 7);
        load(st, a);
        const auto table = to_f(random_vec(static_cast<size_t>(gc.rows) * gc.input, 1.0, rng));
        std::vector<int32_t> ids{2, 7, 0, 4};
        vec x;
        for (int32_t id : ids) x.insert(x.end(), table.begin() + id * 5, table.begin() + id * 5 + 5);
        const ref::tape ta = ref::forward(a, 4, 1, x), tb = ref::forward(b, 4, 1, x);
        rnn_generator first(st, 1, table.data(), gc.rows);
        load(st, b);  // after the freeze: not seen
        for (int t = 0; t < 4; ++t) {
            const float* y = first.step(&ids[t]);
            EXPECT_CLOSE(y, vec(ta.out.begin() + t * 7, ta.out.begin() + (t + 1) * 7), 1e-5, "frozen a");
        }
        rnn_generator second(st, 1, table.data(), gc.rows);
        const size_t built = st.cache_builds();
        for (int t = 0; t < 4; ++t) {
            const float* y = second.step(&ids[t]);
            EXPECT_CLOSE(y, vec(tb.out.begin() + t * 7, tb.out.begin() + (t + 1) * 7), 1e-5, "refreshed b");
        }
        // Unchanged weights: a third generator reuses the cache the second built.
        rnn_generator third(st, 1, table.data(), gc.rows);
        EXPECT_EQ(st.cache_builds(), built);
        EXPECT_CLOSE(third.step(&ids[0]), vec(tb.out.begin(), tb.out.begin() + 7), 1e-5, "third generator");
    }
}

// Sizes where oneDNN chooses other implementations and layouts for inference: brgemm kernels
// (LSTM, RNN) and an opaque packed layout (GRU and LBR-GRU at H = 512, which must be written by a
// reorder: zero bytes there crashed oneDNN with SIGFPE). Folded (1 row) and not (4 rows).
TEST_F(rnn_fixture, generation_at_product_sizes) {
    for (cell_type cell : all_cells) {
        for (int batch : {1, 4}) {
            const gen_case gc{1, 64, 512, batch, 65, false, 0.f, batch == 1};
            SCOPED_TRACE(describe(cell, 1, gc.input, gc.hidden, 1, batch));
            std::mt19937_64 rng(21 + static_cast<int>(cell));
            ref::stack rs = random_stack(cell, 1, gc.input, gc.hidden, rng);
            for (auto& l : rs.layers)  // weights of PyTorch's scale, U(-1/sqrt(H), 1/sqrt(H))
                for (vec* v : {&l.w_x, &l.w_h, &l.bias})
                    for (double& w : *v) w = static_cast<double>(static_cast<float>(w * 2.0 / std::sqrt(512.0)));
            stack st(eng, cell, 1, gc.input, gc.hidden);
            load(st, rs);
            const auto table = to_f(random_vec(static_cast<size_t>(gc.rows) * gc.input, 1.0, rng));
            check_generation(st, rs, gc, table, 4, rng, 2e-5);
        }
    }
    // Not folded when building the table would cost more than 2^26 multiply-adds (here
    // 256 rows x 128 x 4 x 1024 = 2^27), though rows <= 4 I.
    const gen_case big{1, 128, 1024, 1, 256, false, 0.f, false};
    std::mt19937_64 rng(5);
    ref::stack rs = random_stack(cell_type::lstm, 1, big.input, big.hidden, rng);
    for (auto& l : rs.layers)
        for (vec* v : {&l.w_x, &l.w_h, &l.bias})
            for (double& w : *v) w = static_cast<double>(static_cast<float>(w / 16.0));
    stack st(eng, cell_type::lstm, 1, big.input, big.hidden);
    load(st, rs);
    const auto table = to_f(random_vec(static_cast<size_t>(big.rows) * big.input, 1.0, rng));
    check_generation(st, rs, big, table, 2, rng, 2e-5);
}
