// --precision bf16 against f32 and the double reference: the AVX-512 BF16 kernel of the output
// layer gives the scalar kernel's bits and both stay within bf16's rounding bound of the exact
// product; the bf16 model's logits stay within a documented bound of f32's on fixed (seeded)
// weights for every cell and output layer; its perplexity within 1% of f32's on a small model
// trained here; the same seed gives the same text. On a CPU without avx512_bf16 (or with
// CHARLM_FORCE_SCALAR=1, which hides it) the precision is refused by name, here tested too.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include "charlm/evaluate.hpp"
#include "charlm/model_file.hpp"
#include "charlm/sample.hpp"
#include "cli_support.h"
#include "dnnl/rnn_stack.h"
#include "layers/qgemm.h"
#include "layers/simd.h"
#include "reference/rnn_ref.h"

namespace charlm {
namespace {

// Tests that run bf16 arithmetic skip with the refusal's own words where the CPU lacks it.
#define SKIP_WITHOUT_BF16()                                                                        \
    if (std::string why = precision_unavailable(precision::bf16); !why.empty()) GTEST_SKIP() << why

std::vector<float> random_vector(size_t n, float scale, uint32_t seed) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d(0.f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
}

// ---- the output layer's kernels

TEST(bf16_kernels, rounding_to_bf16_is_to_nearest_even) {
    EXPECT_EQ(nn::to_bf16(1.f), 0x3f80);
    EXPECT_EQ(nn::to_bf16(1.f + 1.f / 256), 0x3f80);              // a tie: to the even 1.0
    EXPECT_EQ(nn::to_bf16(1.f + 3.f / 256), 0x3f82);              // a tie: to the even 1 + 2/128
    EXPECT_EQ(nn::to_bf16(1.f + 1.f / 256 + 1.f / 4096), 0x3f81);  // above the tie: up
    EXPECT_EQ(nn::from_bf16(nn::to_bf16(-2.5f)), -2.5f);
    EXPECT_TRUE(std::isnan(nn::from_bf16(nn::to_bf16(std::nanf("")))));
    EXPECT_TRUE(std::isinf(nn::from_bf16(nn::to_bf16(INFINITY))));
}

// Scalar against the double reference, always: each product w x errs by at most
// |w| |x| (2 u + u^2) with u = 2^-9 (both rounded to 8 significant bits), and the f32 sum by
// K 2^-24 sum |w x|. O and K off the block sizes (16 outputs, pairs of inputs): padding exercised.
TEST(bf16_kernels, scalar_stays_within_the_rounding_bound_of_the_exact_product) {
    const int O = 37, K = 101;
    const size_t M = 7;
    const auto w = random_vector(size_t{O} * K, 0.1f, 1), b = random_vector(O, 0.5f, 2), x = random_vector(M * K, 1.f, 3);
    const nn::qlinear q = nn::bf16_linear(w.data(), b.data(), O, K);
    nn::qscratch s;
    std::vector<float> y(M * O);
    nn::qlinear_forward(y.data(), O, x.data(), M, q, s, nn::qkernel::scalar);
    const double u = std::ldexp(1.0, -9);
    for (size_t m = 0; m < M; ++m)
        for (int o = 0; o < O; ++o) {
            double exact = b[o], mag = 0;
            for (int k = 0; k < K; ++k) {
                exact += double{w[size_t(o) * K + k]} * x[m * K + k];
                mag += std::fabs(double{w[size_t(o) * K + k]} * x[m * K + k]);
            }
            const double bound = mag * (2 * u + u * u + K * std::ldexp(1.0, -24)) + 1e-6;
            EXPECT_LE(std::fabs(y[m * O + o] - exact), bound) << "row " << m << " output " << o;
        }
}

TEST(bf16_kernels, avx512_bf16_gives_the_scalar_bits) {
    SKIP_WITHOUT_BF16();
    for (size_t M : {1, 3, 4, 9})
        for (int O : {5, 16, 70}) {
            const int K = 130;
            const auto w = random_vector(size_t(O) * K, 0.1f, 4), x = random_vector(M * K, 1.f, 5);
            const nn::qlinear q = nn::bf16_linear(w.data(), nullptr, O, K);
            nn::qscratch s;
            std::vector<float> ref(M * O), y(M * O);
            nn::qlinear_forward(ref.data(), O, x.data(), M, q, s, nn::qkernel::scalar);
            nn::qlinear_forward(y.data(), O, x.data(), M, q, s, nn::qkernel::avx512_bf16);
            for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], ref[i]) << "M " << M << " O " << O << " at " << i;
        }
}

// oneDNN's matmul (the kernel used) adds the same exact products in another order: within
// 2 K 2^-24 sum |w x| of the scalar sums, at the row counts of generation and evaluation.
TEST(bf16_kernels, onednn_matmul_stays_within_summation_rounding_of_the_scalar_sums) {
    SKIP_WITHOUT_BF16();
    EXPECT_EQ(nn::best_bkernel(), nn::qkernel::onednn_bf16);
    const int O = 70, K = 130;
    for (size_t M : {1, 5, 16, 64}) {
        const auto w = random_vector(size_t(O) * K, 0.1f, 6), b = random_vector(O, 0.5f, 7), x = random_vector(M * K, 1.f, 8);
        const nn::qlinear q = nn::bf16_linear(w.data(), b.data(), O, K);
        nn::qscratch s;
        std::vector<float> ref(M * (O + 3)), y(M * (O + 3));  // a row stride past O, as the adaptive softmax's
        nn::qlinear_forward(ref.data(), O + 3, x.data(), M, q, s, nn::qkernel::scalar);
        nn::qlinear_forward(y.data(), O + 3, x.data(), M, q, s, nn::qkernel::onednn_bf16);
        const auto wq = nn::dequantize(q);
        for (size_t m = 0; m < M; ++m)
            for (int o = 0; o < O; ++o) {
                double mag = std::fabs(b[o]);
                for (int k = 0; k < K; ++k) mag += std::fabs(wq[size_t(o) * K + k] * nn::from_bf16(nn::to_bf16(x[m * K + k])));
                const size_t i = m * (O + 3) + o;
                ASSERT_LE(std::fabs(y[i] - ref[i]), 2 * K * std::ldexp(1.0, -24) * mag) << "M " << M << " row " << m << " output " << o;
            }
    }
}

// ---- refusal where the CPU lacks avx512_bf16 (CHARLM_FORCE_SCALAR hides it here)

TEST(bf16_refused, without_avx512_bf16_the_library_refuses_bf16_by_the_missing_feature) {
    const bool was = nn::simd::force_scalar;  // set already under CHARLM_FORCE_SCALAR=1
    nn::simd::force_scalar = true;
    EXPECT_EQ(nn::best_bkernel(), nn::qkernel::scalar);
    auto p = parse_precision("bf16");
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.err().code, errc::usage);
    EXPECT_NE(p.err().message.find("avx512_bf16"), std::string::npos) << p.err().message;
    EXPECT_TRUE(parse_precision("int8").ok());
    sample_config cfg;
    cfg.precision = precision::bf16;
    const status s = cfg.validate();
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.err().message.find("avx512_bf16"), std::string::npos);
    nn::simd::force_scalar = was;
}

TEST(bf16_refused, the_cli_exits_2_naming_the_missing_feature) {
    ::setenv("CHARLM_FORCE_SCALAR", "1", 1);
    const std::string text = test::write_file("bf16_refused.txt", "abcabc\n");
    auto g = test::run_charlm({"generate", "--model", "/nonexistent.safetensors", "--precision", "bf16"});
    auto e = test::run_charlm({"eval", "--model", "/nonexistent.safetensors", "--text", text, "--precision", "bf16"});
    ::unsetenv("CHARLM_FORCE_SCALAR");
    for (const auto* r : {&g, &e}) {
        EXPECT_EQ(r->status, 2) << r->err;
        EXPECT_NE(r->err.find("avx512_bf16"), std::string::npos) << r->err;
        EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
    }
}

// ---- fixed (seeded) weights: logits of bf16 against f32

language_model fixed_model(cell_type cell, uint32_t layers, uint32_t embed, bool adaptive) {
    std::vector<std::string> t{"<unk>"};
    for (char c = 'a'; c <= 'z'; ++c) t.push_back(std::string(1, c));
    for (char c = 'A'; c <= 'Z'; ++c) t.push_back(std::string(1, c));
    auto vocab = vocabulary::from_tokens(t);
    EXPECT_TRUE(vocab.ok());
    model_config c;
    c.cell = cell;
    c.layers = layers;
    c.hidden = 48;
    c.embed = embed;
    c.vocab = vocab->size();
    if (adaptive) {
        c.softmax = softmax_type::adaptive;
        c.cutoffs = {12, 30};
        c.div_value = 2;
    }
    return language_model(c, text_config{}, std::move(*vocab), 7);
}

// The documented bound (docs/bf16.md): on these models every logit of a 40-step walk within 0.02
// of f32's (measured worst 0.005).
constexpr float k_logit_bound = 0.02f;

float worst_logit_gap(const language_model& m, uint32_t rows) {
    generator f(m, rows, precision::f32), q(m, rows, precision::bf16);
    const uint32_t V = m.vocab().size();
    std::vector<int32_t> ids(rows);
    float worst = 0.f;
    for (int t = 0; t < 40; ++t) {
        for (uint32_t r = 0; r < rows; ++r) ids[r] = static_cast<int32_t>((t * 7 + r * 3) % V);
        const float* a = f.step(ids.data());
        const float* b = q.step(ids.data());
        for (size_t i = 0; i < size_t{rows} * V; ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
    }
    return worst;
}

TEST(bf16_model, logits_stay_within_the_bound_of_f32_for_every_cell_and_output_layer) {
    SKIP_WITHOUT_BF16();
    float worst = 0.f;
    for (cell_type cell : {cell_type::lstm, cell_type::gru, cell_type::lbr_gru, cell_type::rnn_tanh, cell_type::rnn_relu})
        for (uint32_t layers : {1u, 2u})
            for (uint32_t embed : {0u, 16u, 48u})
                for (bool adaptive : {false, true})
                    for (uint32_t rows : {1u, 4u}) {
                        const language_model m = fixed_model(cell, layers, embed, adaptive);
                        EXPECT_EQ(m.precision_notice(precision::bf16), "") << to_string(cell);
                        const float gap = worst_logit_gap(m, rows);
                        worst = std::max(worst, gap);
                        EXPECT_LE(gap, k_logit_bound) << to_string(cell) << " L" << layers << " E" << embed
                                                      << (adaptive ? " adaptive" : " full") << " N" << rows;
                        EXPECT_GT(gap, 0.f) << "bf16 is not f32 to the last bit";
                    }
    fmt::print("worst logit gap bf16 - f32: {:.4f} (bound {})\n", worst, k_logit_bound);
}

// Saved and restored state, and a state copied to every row, continue as in f32.
TEST(bf16_model, state_save_restore_and_broadcast_work_in_bf16) {
    SKIP_WITHOUT_BF16();
    for (cell_type cell : {cell_type::lstm, cell_type::gru}) {
        const language_model m = fixed_model(cell, 2, 16, false);
        const uint32_t V = m.vocab().size();
        generator one(m, 1, precision::bf16), two(m, 1, precision::bf16), rows(m, 3, precision::bf16);
        for (int32_t id : {1, 5, 9}) one.step(&id);
        const auto saved = one.save();
        int32_t next = 4;
        one.step(&next);
        const float* after = one.step(&next);
        std::vector<float> want(after, after + V);
        one.restore(saved);
        one.step(&next);
        const float* again = one.step(&next);
        for (uint32_t i = 0; i < V; ++i) ASSERT_EQ(again[i], want[i]) << i;
        for (int32_t id : {1, 5, 9}) two.step(&id);
        rows.copy_state_to_rows(two);
        std::vector<int32_t> ids(3, next);
        const float* r = rows.step(ids.data());
        const float* s = two.step(&next);
        for (uint32_t row = 0; row < 3; ++row)
            for (uint32_t i = 0; i < V; ++i) ASSERT_NEAR(r[row * V + i], s[i], 1e-5f) << row << " " << i;
    }
}

// Sessions on several threads share the bf16 weights and the output layer's primitive cache (as
// serve's requests do): each thread's logits are those of the same walk on one thread.
TEST(bf16_model, sessions_on_several_threads_give_one_thread_s_logits) {
    SKIP_WITHOUT_BF16();
    const language_model m = fixed_model(cell_type::lstm, 2, 16, true);
    const uint32_t V = m.vocab().size();
    auto walk = [&](uint32_t rows) {
        generator g(m, rows, precision::bf16);
        std::vector<int32_t> ids(rows);
        std::vector<float> out;
        for (int t = 0; t < 30; ++t) {
            for (uint32_t r = 0; r < rows; ++r) ids[r] = static_cast<int32_t>((t * 5 + r) % V);
            const float* l = g.step(ids.data());
            out.assign(l, l + size_t{rows} * V);
        }
        return out;
    };
    const auto one = walk(1), three = walk(3);
    std::vector<std::vector<float>> got(6);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < got.size(); ++i) threads.emplace_back([&, i] { got[i] = walk(i % 2 ? 3 : 1); });
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], i % 2 ? three : one) << "thread " << i;
}

// ---- a small model trained here on Tang poems

std::string tang_text(int first, int count) {
    std::ifstream in(std::string(CHARLM_SHARED_CORPORA) + "/tang300.txt");
    std::string line, text;
    int poem = 0;
    while (std::getline(in, line)) {
        poem += line.rfind("《", 0) == 0;
        if (poem > first + count) break;
        if (poem > first) text += line + "\n";
    }
    return text;
}

// A two-layer LSTM with the adaptive softmax (bf16 throughout).
const std::string& trained() {
    static const std::string corpus = test::write_file("bf16_tang60.txt", tang_text(0, 60));
    static const std::string out = [] {
        const std::string path = test::scratch_dir() + "/bf16_lstm.safetensors";
        auto r = test::run_charlm({"train", "--corpus", corpus, "--out", path, "--hidden", "64", "--embed", "32",
                                   "--batch", "16", "--steps", "32", "--epochs", "5", "--optimizer", "adam", "--lr",
                                   "0.01", "--threads", "1", "--seed", "5", "--layers", "2", "--softmax", "adaptive",
                                   "--cutoffs", "200,600"});
        EXPECT_EQ(r.status, 0) << r.err;
        return path;
    }();
    return out;
}

TEST(bf16_trained, perplexity_within_one_percent_of_f32_and_the_same_seed_gives_the_same_text) {
    SKIP_WITHOUT_BF16();
    auto m = load_model(trained());
    ASSERT_TRUE(m.ok()) << m.err().message;
    const std::string held_out = test::write_file("bf16_tang_held_out.txt", tang_text(60, 40));
    eval_options f, q;
    q.precision = precision::bf16;
    auto a = evaluate_file(m->model, held_out, f);
    auto b = evaluate_file(m->model, held_out, q);
    ASSERT_TRUE(a.ok() && b.ok());
    const double rel = b->all.perplexity / a->all.perplexity - 1;
    fmt::print("perplexity f32 {:.4f}, bf16 {:.4f} ({:+.3f}%)\n", a->all.perplexity, b->all.perplexity, 100 * rel);
    EXPECT_LT(std::fabs(rel), 0.01);
    EXPECT_NE(rel, 0.0) << "bf16 is not f32 to the last bit";
    for (uint32_t rows : {1u, 8u}) {
        sample_config cfg;
        cfg.precision = precision::bf16;
        cfg.length = 120;
        cfg.num_samples = rows;
        cfg.seed = 21;
        auto x = generate(m->model, "春", cfg);
        auto y = generate(m->model, "春", cfg);
        ASSERT_TRUE(x.ok() && y.ok());
        EXPECT_EQ(*x, *y);
    }
}

// ---- training in bf16 (charlm train --precision bf16)

// bf16 training's recurrent layers against the double reference, forward and backward, for every
// cell, 1 and 2 layers, with and without dropout between them. The session rounds the weights,
// the layer input and h to bf16 (8 significant bits, u = 2^-9) and keeps c, the sums and every
// gradient in f32. The bound (docs/bf16.md): each tensor within 0.03 of its largest element
// (about 15 u: a handful of roundings through 4 steps and back); f32 meets 1e-4 here.
constexpr double k_bf16_train_bound = 0.03;

double rel_error(const float* got, const ref::vec& want) {
    double worst = 0, top = 1e-30;
    for (size_t i = 0; i < want.size(); ++i) {
        worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]));
        top = std::max(top, std::fabs(want[i]));
    }
    return worst / top;
}

ref::vec random_ref(size_t n, double scale, std::mt19937_64& rng) {
    std::uniform_real_distribution<double> u(-scale, scale);
    ref::vec v(n);
    for (auto& x : v) x = static_cast<float>(u(rng));
    return v;
}

std::vector<float> floats_of(const ref::vec& v) { return std::vector<float>(v.begin(), v.end()); }

// One case: returns the worst relative error over the outputs and every gradient.
double bf16_training_error(cell_type cell, int L, int I, float dropout) {
    const int H = 16, T = 4, N = 3, G = gate_count(cell), Gb = bias_gate_count(cell);
    std::mt19937_64 rng(11 * L + I + 100 * static_cast<int>(cell));
    ref::stack rs{cell, I, H, {}};
    for (int l = 0; l < L; ++l)
        rs.layers.push_back({random_ref(size_t(rs.in_width(l)) * G * H, 0.4, rng),
                             random_ref(size_t(H) * G * H, 0.4, rng), random_ref(size_t(Gb) * H, 0.4, rng)});
    const ref::vec x = random_ref(size_t(T) * N * I, 1.0, rng), h0 = random_ref(size_t(L) * N * H, 0.5, rng),
                   c0 = random_ref(h0.size(), 0.5, rng), dy = random_ref(size_t(T) * N * H, 1.0, rng);
    const bool lstm = cell == cell_type::lstm;
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    nn::rnn_weights w(eng, cell, L, I, H, dropout > 0.f);
    for (int l = 0; l < L; ++l)
        w.set_layer(l, floats_of(rs.layers[l].w_x).data(), floats_of(rs.layers[l].w_h).data(),
                    floats_of(rs.layers[l].bias).data());
    nn::rnn_stack st(w, dropout, 3, true, nullptr, true);
    st.prepare(T, N);
    std::copy(h0.begin(), h0.end(), st.initial_h());
    if (lstm) std::copy(c0.begin(), c0.end(), st.initial_c());
    const auto xf = floats_of(x);
    const float* y = st.forward_training(xf.data());
    std::vector<ref::vec> masks;
    for (int l = 0; dropout > 0.f && l + 1 < L; ++l)
        masks.emplace_back(st.dropout_mask(l), st.dropout_mask(l) + size_t(T) * N * H);
    const ref::tape tp = ref::forward(rs, T, N, x, h0, lstm ? c0 : ref::vec{}, masks);
    double worst = std::max(rel_error(y, tp.out), rel_error(st.final_h(), tp.h_final));
    st.zero_grad();
    std::vector<float> dsrc(x.size());
    st.backward(floats_of(dy).data(), dsrc.data());
    const ref::grads g = ref::backward(rs, tp, dy);
    for (int l = 0; l < L; ++l) {
        std::vector<float> dx(g.d[l].w_x.size()), dh(g.d[l].w_h.size()), db(g.d[l].bias.size());
        st.get_layer_grad(l, dx.data(), dh.data(), db.data());
        worst = std::max({worst, rel_error(dx.data(), g.d[l].w_x), rel_error(dh.data(), g.d[l].w_h),
                          rel_error(db.data(), g.d[l].bias)});
    }
    worst = std::max({worst, rel_error(dsrc.data(), g.dx), rel_error(st.diff_initial_h(), g.dh0)});
    if (lstm) worst = std::max({worst, rel_error(st.final_c(), tp.c_final), rel_error(st.diff_initial_c(), g.dc0)});
    return worst;
}

TEST(bf16_training, forward_and_gradients_within_the_bf16_bound_of_the_double_reference) {
    SKIP_WITHOUT_BF16();
    double overall = 0;
    for (cell_type cell : {cell_type::lstm, cell_type::gru, cell_type::lbr_gru, cell_type::rnn_tanh,
                           cell_type::rnn_relu})
        for (auto [L, I, p] : {std::tuple{1, 5, 0.f}, std::tuple{2, 16, 0.f}, std::tuple{2, 5, 0.f},
                               std::tuple{2, 5, 0.3f}}) {
            const double e = bf16_training_error(cell, L, I, p);
            overall = std::max(overall, e);
            EXPECT_LE(e, k_bf16_train_bound) << to_string(cell) << " L " << L << " I " << I << " dropout " << p;
            EXPECT_GT(e, 1e-5) << "bf16 is not f32: " << to_string(cell);  // it did round
        }
    fmt::print("bf16 training against the double reference: worst relative error {:.4f}\n", overall);
}

// Weights rounded once per step, primitives built once per shape: nothing is built or allocated
// in the steady state.
TEST(bf16_training, steady_state_builds_and_allocates_nothing) {
    SKIP_WITHOUT_BF16();
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    nn::rnn_weights w(eng, cell_type::lstm, 2, 8, 32, true);
    w.init_uniform(1);
    nn::rnn_stack st(w, 0.2f, 1, true, nullptr, true);
    std::vector<float> x(5 * 4 * 8, 0.5f), dy(5 * 4 * 32, 0.1f), dx(x.size());
    auto step = [&] {
        st.prepare(5, 4);
        st.forward_training(x.data());
        st.backward(dy.data(), dx.data());
    };
    step();
    const auto before = st.stats();
    for (int k = 0; k < 3; ++k) step();
    EXPECT_EQ(st.stats().primitives, before.primitives);
    EXPECT_EQ(st.stats().buffers, before.buffers);
}

double last_valid_ppl(const std::string& out) {
    const auto at = out.rfind("valid ppl ");
    return at == std::string::npos ? 0 : std::stod(out.substr(at + 10));
}

// A short fixed-seed run in bf16 and in f32: validation perplexity within 1% at equal steps; the
// model file of the bf16 run is an f32 file that evaluates as any other, and the checkpoint
// records the precision. A bf16 checkpoint resumes in f32 (the state is f32 either way).
TEST(bf16_training, validation_perplexity_within_one_percent_of_f32_at_equal_steps) {
    SKIP_WITHOUT_BF16();
    const std::string corpus = test::write_file("bf16_train_tang.txt", tang_text(0, 60));
    double ppl[2];
    for (int k = 0; k < 2; ++k) {
        const std::string p = k ? "bf16" : "f32", out = test::scratch_dir() + "/bf16_train_" + p + ".safetensors";
        auto r = test::run_charlm({"train", "--corpus", corpus, "--out", out, "--hidden", "64", "--embed", "32",
                                   "--batch", "16", "--steps", "32", "--epochs", "3", "--lr", "0.01", "--layers",
                                   "2", "--dropout", "0.1", "--threads", "1", "--seed", "9", "--precision", p});
        ASSERT_EQ(r.status, 0) << r.err;
        ppl[k] = last_valid_ppl(r.out + r.err);
        ASSERT_GT(ppl[k], 1.0) << r.out << r.err;
    }
    const double rel = ppl[1] / ppl[0] - 1;
    fmt::print("validation perplexity after 3 epochs: f32 {:.4f}, bf16 {:.4f} ({:+.3f}%)\n", ppl[0], ppl[1], 100 * rel);
    EXPECT_LT(std::fabs(rel), 0.01);
    EXPECT_NE(rel, 0.0) << "bf16 trained as f32 to the last bit";
    const std::string bf = test::scratch_dir() + "/bf16_train_bf16.safetensors";
    std::ifstream ck(bf + ".ckpt", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(ck)), std::istreambuf_iterator<char>());
    // The checkpoint's JSON is a string in the file's metadata: its quotes escaped.
    EXPECT_NE(bytes.find(R"(precision\":\"bf16)"), std::string::npos) << "the checkpoint records the precision";
    auto e = test::run_charlm({"eval", "--model", bf, "--text", corpus});
    EXPECT_EQ(e.status, 0) << e.err;
    // Where bf16 is missing, the checkpoint's bf16 is refused by name until --precision f32 is given.
    ::setenv("CHARLM_FORCE_SCALAR", "1", 1);
    auto refused = test::run_charlm({"train", "--resume", bf + ".ckpt", "--corpus", corpus, "--epochs", "4"});
    ::unsetenv("CHARLM_FORCE_SCALAR");
    EXPECT_EQ(refused.status, 2) << refused.err;
    EXPECT_NE(refused.err.find("avx512_bf16"), std::string::npos) << refused.err;
    auto r = test::run_charlm({"train", "--resume", bf + ".ckpt", "--corpus", corpus, "--epochs", "4", "--threads",
                               "1", "--precision", "f32"});
    EXPECT_EQ(r.status, 0) << r.err;
}

TEST(bf16_training, refused_without_avx512_bf16_and_int8_refused_for_training) {
    const std::string corpus = test::write_file("bf16_refused_train.txt", "abcabc\n");
    ::setenv("CHARLM_FORCE_SCALAR", "1", 1);
    auto b = test::run_charlm({"train", "--corpus", corpus, "--epochs", "1", "--precision", "bf16"});
    ::unsetenv("CHARLM_FORCE_SCALAR");
    EXPECT_EQ(b.status, 2) << b.err;
    EXPECT_NE(b.err.find("--precision: bf16 needs a CPU with avx512_bf16"), std::string::npos) << b.err;
    EXPECT_EQ(b.err.find("int8"), std::string::npos) << "int8 does not train: " << b.err;
    EXPECT_EQ(std::count(b.err.begin(), b.err.end(), '\n'), 1) << b.err;
    auto i = test::run_charlm({"train", "--corpus", corpus, "--epochs", "1", "--precision", "int8"});
    EXPECT_EQ(i.status, 2) << i.err;
    EXPECT_NE(i.err.find("int8 is for generate, eval and serve"), std::string::npos) << i.err;
}

}  // namespace
}  // namespace charlm
