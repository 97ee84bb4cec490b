// The whole language model against the double-precision reference (reference/lm_ref.h):
// loss and every gradient (embedding, each layer's weights and biases, decoder, initial states)
// for each cell type; the reference's gradients against central finite differences; state carry
// across consecutive batches with the gradient cut at the edge; file round trip.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>

#include "charlm/batches.hpp"
#include "charlm/model.hpp"
#include "models/lm_impl.h"
#include "reference/lm_from_model.h"

namespace charlm {
namespace {

struct shape {
    cell_type cell;
    uint32_t layers, hidden, embed, vocab;
    int T, N;
};

vocabulary make_vocab(uint32_t v) {
    std::vector<std::string> t{"<unk>"};
    for (uint32_t i = 1; i < v; ++i) t.push_back(std::string(1, static_cast<char>('a' + i)));
    return *vocabulary::from_tokens(t);
}

language_model make_model(const shape& s, uint64_t seed = 7) {
    model_config c;
    c.cell = s.cell;
    c.layers = s.layers;
    c.hidden = s.hidden;
    c.embed = s.embed;
    c.vocab = s.vocab;
    return language_model(c, text_config{}, make_vocab(s.vocab), seed);
}

ref::lm to_ref(language_model& m) { return ref::from_model(m); }

// max |a - b| / max(max |b|, floor), and where.
struct cmp {
    double err = 0;
    size_t at = 0;
};
template <class A, class B>
cmp compare(const A& a, const B& b, size_t n, double floor = 1e-3) {
    double mx = floor, worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; ++i) mx = std::max(mx, std::fabs(static_cast<double>(b[i])));
    for (size_t i = 0; i < n; ++i) {
        double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
        if (d > worst) worst = d, at = i;
    }
    return {worst / mx, at};
}

#define EXPECT_CLOSE(a, b, n, tol, what)                                                               \
    do {                                                                                               \
        cmp c_ = compare(a, b, n);                                                                     \
        EXPECT_LE(c_.err, tol) << what << ": normalized maxdiff " << c_.err << " at element " << c_.at \
                               << " (got " << (a)[c_.at] << ", want " << (b)[c_.at] << ")";          \
    } while (0)

struct batch_data {
    std::vector<int32_t> in, tg;
    std::vector<double> h0, c0;
};

batch_data random_batch(const shape& s, uint64_t seed, bool with_state) {
    batch_data b;
    uint64_t rng = seed;
    const size_t M = static_cast<size_t>(s.T) * s.N;
    for (size_t r = 0; r < M; ++r) {
        b.in.push_back(static_cast<int32_t>(uniform_below(rng, s.vocab)));
        b.tg.push_back(static_cast<int32_t>(uniform_below(rng, s.vocab)));
    }
    b.tg[1] = -1;  // an ignored target
    if (with_state) {
        const size_t n = static_cast<size_t>(s.layers) * s.N * s.hidden;
        for (size_t k = 0; k < n; ++k) b.h0.push_back((static_cast<double>(uniform_below(rng, 2001)) - 1000) / 2000);
        if (s.cell == cell_type::lstm)
            for (size_t k = 0; k < n; ++k) b.c0.push_back((static_cast<double>(uniform_below(rng, 2001)) - 1000) / 1000);
    }
    return b;
}

// Every parameter gradient of the session's last train_step against the reference's.
void expect_parameter_grads(const shape& s, language_model& m, training_session& ts, const ref::lm_grads& g) {
    const double tol = 1e-4;
    auto& pm = model_access::of(m);
    auto& p = model_access::of(ts);
    if (s.embed > 0) EXPECT_CLOSE(p.emb_g, g.emb, g.emb.size(), tol, "embedding.weight grad");
    EXPECT_CLOSE(p.dec_g, g.dec_w, g.dec_w.size(), tol, "decoder.weight grad");
    EXPECT_CLOSE(p.dec_bg, g.dec_b, g.dec_b.size(), tol, "decoder.bias grad");
    const int G = gate_count(s.cell), Gb = bias_gate_count(s.cell);
    for (uint32_t l = 0; l < s.layers; ++l) {
        const size_t in = l == 0 ? pm.I : pm.H;
        std::vector<float> wx(in * G * s.hidden), wh(static_cast<size_t>(s.hidden) * G * s.hidden),
            bb(static_cast<size_t>(Gb) * s.hidden);
        p.rnn.get_layer_grad(static_cast<int>(l), wx.data(), wh.data(), bb.data());
        EXPECT_CLOSE(wx, g.rnn[l].w_x, wx.size(), tol, "layer " << l << " W_x grad");
        EXPECT_CLOSE(wh, g.rnn[l].w_h, wh.size(), tol, "layer " << l << " W_h grad");
        EXPECT_CLOSE(bb, g.rnn[l].bias, bb.size(), tol, "layer " << l << " bias grad");
    }
}

// Central differences of `loss` in every element of x against the analytic gradient: the largest
// difference, relative to the gradient's largest element (at least 1e-3), and where.
cmp finite_difference_error(std::vector<double>& x, const std::vector<double>& analytic,
                            const std::function<double()>& loss) {
    const double eps = 1e-6;
    double worst = 0, scale = 1e-3;
    size_t at = 0;
    for (double a : analytic) scale = std::max(scale, std::fabs(a));
    for (size_t i = 0; i < x.size(); ++i) {
        const double keep = x[i];
        x[i] = keep + eps;
        const double up = loss();
        x[i] = keep - eps;
        const double down = loss();
        x[i] = keep;
        const double d = std::fabs((up - down) / (2 * eps) - analytic[i]);
        if (d > worst) worst = d, at = i;
    }
    return {worst / scale, at};
}

const shape shapes[] = {
    {cell_type::rnn_tanh, 2, 4, 3, 7, 4, 3}, {cell_type::rnn_relu, 2, 4, 3, 7, 4, 3},
    {cell_type::gru, 2, 4, 3, 7, 4, 3},      {cell_type::lbr_gru, 2, 4, 3, 7, 4, 3},
    {cell_type::lstm, 2, 4, 3, 7, 4, 3},     {cell_type::lstm, 1, 5, 0, 6, 3, 2},
    {cell_type::gru, 3, 4, 4, 5, 3, 2},      {cell_type::rnn_tanh, 1, 6, 0, 9, 5, 2},
};

class lm_vs_reference : public ::testing::TestWithParam<shape> {};

TEST_P(lm_vs_reference, loss_and_every_gradient) {
    const shape s = GetParam();
    omp_set_num_threads(1);
    language_model m = make_model(s);
    batch_data b = random_batch(s, 11, true);
    training_session ts(m, s.T, s.N);
    auto& p = model_access::of(ts);
    std::copy(b.h0.begin(), b.h0.end(), p.rnn.initial_h());
    if (s.cell == cell_type::lstm) std::copy(b.c0.begin(), b.c0.end(), p.rnn.initial_c());

    ref::lm r = to_ref(m);
    ref::lm_grads g;
    double ref_sum = 0;
    const double ref_mean = ref::lm_loss(r, s.T, s.N, b.in, b.tg, b.h0, b.c0, &g, &ref_sum);
    loss_sum got = ts.train_step(b.in.data(), b.tg.data());
    ASSERT_EQ(got.tokens, static_cast<uint64_t>(s.T * s.N - 1));
    EXPECT_NEAR(got.nll / static_cast<double>(got.tokens), ref_mean, 1e-5 * ref_mean) << "loss";

    expect_parameter_grads(s, m, ts, g);
    const double tol = 1e-4;
    EXPECT_CLOSE(p.rnn.diff_initial_h(), g.dh0, g.dh0.size(), tol, "initial h grad");
    if (s.cell == cell_type::lstm) EXPECT_CLOSE(p.rnn.diff_initial_c(), g.dc0, g.dc0.size(), tol, "initial c grad");
}

// The reference's hand-written gradients against central finite differences, for every element of
// every parameter tensor and of the initial states.
TEST_P(lm_vs_reference, reference_gradients_match_finite_differences) {
    const shape s = GetParam();
    language_model m = make_model(s);
    ref::lm r = to_ref(m);
    batch_data b = random_batch(s, 13, true);
    ref::lm_grads g;
    ref::lm_loss(r, s.T, s.N, b.in, b.tg, b.h0, b.c0, &g);
    auto check = [&](std::vector<double>& x, const std::vector<double>& analytic, const std::string& what) {
        const cmp e = finite_difference_error(
            x, analytic, [&] { return ref::lm_loss(r, s.T, s.N, b.in, b.tg, b.h0, b.c0); });
        EXPECT_LE(e.err, 1e-6) << what << ": relative FD difference " << e.err << " at " << e.at;
    };
    if (s.embed > 0) check(r.emb, g.emb, "embedding.weight");
    for (size_t l = 0; l < r.rnn.layers.size(); ++l) {
        check(r.rnn.layers[l].w_x, g.rnn[l].w_x, "W_x l" + std::to_string(l));
        check(r.rnn.layers[l].w_h, g.rnn[l].w_h, "W_h l" + std::to_string(l));
        check(r.rnn.layers[l].bias, g.rnn[l].bias, "bias l" + std::to_string(l));
    }
    check(r.dec_w, g.dec_w, "decoder.weight");
    check(r.dec_b, g.dec_b, "decoder.bias");
    check(b.h0, g.dh0, "initial h");
    if (s.cell == cell_type::lstm) check(b.c0, g.dc0, "initial c");
}

INSTANTIATE_TEST_SUITE_P(cells, lm_vs_reference, ::testing::ValuesIn(shapes), [](const auto& info) {
    const shape& s = info.param;
    std::string n = to_string(s.cell) + "_L" + std::to_string(s.layers) + "_E" + std::to_string(s.embed);
    for (char& c : n)
        if (c == '-') c = '_';
    return n + "_" + std::to_string(info.index);
});

// Dropout on the first layer's input, between layers and on the last layer's output (--dropout-input,
// --dropout, --dropout-output): the loss and every gradient against the reference given the same
// masks, the reference's gradients with masks against central finite differences, and the masks
// themselves: about the dropped share, the same for a repeated call, new for the next one.
TEST(lm_dropout, input_between_and_output_masks_match_reference_and_finite_differences) {
    for (cell_type cell : {cell_type::lstm, cell_type::gru}) {
        SCOPED_TRACE(to_string(cell));
        omp_set_num_threads(1);
        const shape s{cell, 2, 4, 3, 7, 4, 3};
        model_config c;
        c.cell = s.cell;
        c.layers = s.layers;
        c.hidden = s.hidden;
        c.embed = s.embed;
        c.vocab = s.vocab;
        c.dropout = 0.3f;
        c.dropout_input = 0.25f;
        c.dropout_output = 0.4f;
        language_model m(c, text_config{}, make_vocab(s.vocab), 7);
        training_session ts(m, s.T, s.N);
        auto& p = model_access::of(ts);
        batch_data b = random_batch(s, 17, false);
        const loss_sum got = ts.train_step(b.in.data(), b.tg.data());

        const size_t M = static_cast<size_t>(s.T) * s.N;
        ref::dropout_masks dm;
        dm.in.assign(p.mask_in.begin(), p.mask_in.end());
        dm.out.assign(p.mask_out.begin(), p.mask_out.end());
        const float* between = p.rnn.dropout_mask(0);
        ASSERT_NE(between, nullptr);
        dm.layers.push_back(ref::vec(between, between + M * s.hidden));
        ASSERT_EQ(dm.in.size(), M * s.embed);
        ASSERT_EQ(dm.out.size(), M * s.hidden);
        size_t dropped = 0;
        for (double v : dm.out) dropped += v == 0.0;
        EXPECT_GT(dropped, 0u);
        EXPECT_LT(dropped, dm.out.size());
        for (double v : dm.in) EXPECT_TRUE(v == 0.0 || std::fabs(v - 1 / 0.75) < 1e-6) << v;

        ref::lm r = to_ref(m);
        ref::lm_grads g;
        const double want = ref::lm_loss(r, s.T, s.N, b.in, b.tg, {}, {}, &g, nullptr, dm);
        EXPECT_NEAR(got.nll / static_cast<double>(got.tokens), want, 1e-5 * want) << "loss";
        expect_parameter_grads(s, m, ts, g);

        // The reference with these masks against central differences.
        auto check = [&](std::vector<double>& x, const std::vector<double>& analytic, const std::string& what) {
            const cmp e = finite_difference_error(
                x, analytic, [&] { return ref::lm_loss(r, s.T, s.N, b.in, b.tg, {}, {}, nullptr, nullptr, dm); });
            EXPECT_LE(e.err, 1e-6) << what << ": relative FD difference " << e.err << " at " << e.at;
        };
        check(r.emb, g.emb, "embedding.weight");
        check(r.rnn.layers[0].w_x, g.rnn[0].w_x, "W_x l0");
        check(r.rnn.layers[1].w_h, g.rnn[1].w_h, "W_h l1");
        check(r.dec_w, g.dec_w, "decoder.weight");

        // The next call draws new masks; replaying the call's counter draws the same.
        const uint64_t calls = ts.dropout_calls();
        const std::vector<float> first_in = p.mask_in, first_out = p.mask_out;
        ts.train_step(b.in.data(), b.tg.data());
        EXPECT_NE(p.mask_in, first_in);
        EXPECT_NE(p.mask_out, first_out);
        ts.set_dropout_calls(calls - 1);
        ts.train_step(b.in.data(), b.tg.data());
        EXPECT_EQ(p.mask_in, first_in);
        EXPECT_EQ(p.mask_out, first_out);
    }
}

// Consecutive batches: two half-length batches with the state carried give the same losses as one
// full-length batch, and the second half's gradients are those of a batch that starts from the
// carried state as a constant (the gradient is cut at the edge).
TEST(lm_state, carried_state_equals_full_sequence_and_gradient_is_cut) {
    for (cell_type cell : {cell_type::rnn_tanh, cell_type::gru, cell_type::lbr_gru, cell_type::lstm}) {
        SCOPED_TRACE(to_string(cell));
        shape full{cell, 2, 6, 5, 8, 6, 3};
        shape half = full;
        half.T = 3;
        language_model m = make_model(full, 3);
        batch_data b = random_batch(full, 17, false);
        b.tg[1] = 2;  // count every target
        const size_t Mh = static_cast<size_t>(half.T) * half.N;
        std::vector<int32_t> in1(b.in.begin(), b.in.begin() + Mh), tg1(b.tg.begin(), b.tg.begin() + Mh);
        std::vector<int32_t> in2(b.in.begin() + Mh, b.in.end()), tg2(b.tg.begin() + Mh, b.tg.end());

        training_session ts_full(m, full.T, full.N);
        ts_full.reset_state();
        loss_sum whole = ts_full.train_step(b.in.data(), b.tg.data());

        training_session ts(m, half.T, half.N);
        ts.reset_state();
        loss_sum first = ts.train_step(in1.data(), tg1.data());
        ts.carry_state();
        auto& p = model_access::of(ts);
        const size_t ns = static_cast<size_t>(full.layers) * full.N * full.hidden;
        std::vector<double> h_edge(p.rnn.initial_h(), p.rnn.initial_h() + ns), c_edge;
        if (cell == cell_type::lstm) c_edge.assign(p.rnn.initial_c(), p.rnn.initial_c() + ns);
        loss_sum second = ts.train_step(in2.data(), tg2.data());
        EXPECT_NEAR(first.nll + second.nll, whole.nll, 1e-5 * whole.nll) << "forward over the edge";

        ref::lm r = to_ref(m);
        ref::lm_grads g;
        ref::lm_loss(r, half.T, half.N, in2, tg2, h_edge, c_edge, &g);
        EXPECT_CLOSE(p.dec_g, g.dec_w, g.dec_w.size(), 1e-4, "decoder grad of the second half");
        EXPECT_CLOSE(p.emb_g, g.emb, g.emb.size(), 1e-4, "embedding grad of the second half (cut at the edge)");
        std::vector<float> wx(5 * gate_count(cell) * 6), wh(6 * gate_count(cell) * 6), bb(bias_gate_count(cell) * 6);
        p.rnn.get_layer_grad(0, wx.data(), wh.data(), bb.data());
        EXPECT_CLOSE(wh, g.rnn[0].w_h, wh.size(), 1e-4, "layer 0 W_h grad of the second half");
    }
}

// Evaluation counts every predicted token once, whatever the number of streams, and matches the
// reference's NLL with the state carried through each stream.
TEST(lm_eval, whole_text_every_token_once) {
    shape s{cell_type::lstm, 1, 6, 4, 9, 1, 1};
    language_model m = make_model(s, 5);
    token_stream ids;
    uint64_t rng = 99;
    for (int i = 0; i < 101; ++i) ids.push_back(static_cast<uint32_t>(uniform_below(rng, 9)));
    loss_sum one = m.evaluate(ids, 1, 7);
    EXPECT_EQ(one.tokens, 100u);
    // Reference: one stream, T = 100.
    ref::lm r = to_ref(m);
    std::vector<int32_t> in, tg;
    for (int i = 0; i < 100; ++i) in.push_back(static_cast<int32_t>(ids[i])), tg.push_back(static_cast<int32_t>(ids[i + 1]));
    double ref_sum = 0;
    ref::lm_loss(r, 100, 1, in, tg, {}, {}, nullptr, &ref_sum);
    EXPECT_NEAR(one.nll, ref_sum, 1e-5 * ref_sum);
    for (uint32_t streams : {2u, 3u, 7u, 32u}) {
        std::vector<float> per;
        loss_sum l = m.evaluate(ids, streams, 5, &per);
        EXPECT_EQ(l.tokens, 100u) << streams << " streams";
        EXPECT_EQ(per.size(), 100u);
    }
}

TEST(lm_files, export_import_round_trip_gives_same_logits) {
    for (const shape& s : shapes) {
        SCOPED_TRACE(to_string(s.cell));
        language_model a = make_model(s, 21);
        language_model b = make_model(s, 22);
        ASSERT_TRUE(b.import_tensors(a.export_tensors(), "test").ok());
        generator ga(a, 2), gb(b, 2);
        int32_t ids[2] = {1, 3};
        for (int step = 0; step < 3; ++step) {
            const float* la = ga.step(ids);
            std::vector<float> ca(la, la + s.vocab * 2);
            const float* lb = gb.step(ids);
            for (uint32_t k = 0; k < s.vocab * 2; ++k) ASSERT_EQ(ca[k], lb[k]) << "logit " << k << " step " << step;
        }
    }
}

}  // namespace
}  // namespace charlm
