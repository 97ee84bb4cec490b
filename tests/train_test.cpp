// Training as a whole: a fixed-seed golden loss trajectory (checked against the double reference
// driven with the same batches and SGD), every cell type learning a small corpus, bit-for-bit
// determinism, divergence handling, and the model file the run writes.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <iostream>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "charlm/model_file.hpp"
#include "charlm/train.hpp"
#include "charlm/sample.hpp"
#include "cli_support.h"
#include "models/lm_impl.h"
#include "train/schedule.h"
#include "reference/lm_from_model.h"

namespace charlm {
namespace {

// A small deterministic "language": lines drawn from a fixed set of 12, so a model can learn it
// well below the vocabulary size.
std::string toy_corpus(size_t lines, uint64_t seed) {
    static const char* set[] = {"the cat sat on the mat",   "a dog ran in the fog",    "the sun is up",
                                "rain on the plain",        "birds sing in spring",    "we go to sea",
                                "the moon is bright",       "stars at night",          "wind in the trees",
                                "snow on the hill",         "a ship at sea",           "the end of day"};
    std::string out;
    for (size_t i = 0; i < lines; ++i) {
        out += set[uniform_below(seed, 12)];
        out += '\n';
    }
    return out;
}

std::string write_corpus(const std::string& name, const std::string& text) {
    return test::write_file(name, text);
}

// The first ten SGD steps: charlm's losses equal the reference's (double) driven with the same
// batches and updates, and both equal the recorded golden values.
TEST(train, golden_loss_trajectory_matches_reference) {
    omp_set_num_threads(1);
    auto text = tokenize_bytes(toy_corpus(40, 5), text_config{}, "toy");
    ASSERT_TRUE(text.ok());
    prepared_corpus corpus = prepare_corpus(std::move(*text), nullptr, 0.0, 1);
    model_config mc;
    mc.cell = cell_type::lstm;
    mc.layers = 1;
    mc.hidden = 16;
    mc.embed = 8;
    mc.vocab = corpus.vocab.size();
    language_model model(mc, text_config{}, corpus.vocab, 42);
    batch_config bc{4, 10, sampling::consecutive, 42};
    batch_iterator it(corpus.train, bc);
    it.start_epoch(0);
    minibatch mb;
    training_session session(model, bc.steps, bc.batch);
    ref::lm r = ref::from_model(model);
    const float lr = 0.5f;
    std::vector<double> got, want;
    std::vector<double> h0, c0;  // the reference's carried state
    for (int step = 0; step < 10; ++step) {
        ASSERT_TRUE(it.next(mb));
        if (mb.reset_state) session.reset_state();
        loss_sum l = session.train_step(mb.inputs.data(), mb.targets.data());
        got.push_back(l.nll / static_cast<double>(l.tokens));
        for (auto& p : session.params())
            for (size_t k = 0; k < p.count; ++k) p.value[k] -= lr * p.grad[k];
        session.carry_state();

        ref::lm_grads g;
        if (mb.reset_state) h0.clear(), c0.clear();
        want.push_back(ref::lm_loss(r, 10, 4, mb.inputs, mb.targets, h0, c0, &g));
        ref::vec x(mb.inputs.size() * 8);
        for (size_t i = 0; i < mb.inputs.size(); ++i)
            for (int e = 0; e < 8; ++e) x[i * 8 + e] = r.emb[static_cast<size_t>(mb.inputs[i]) * 8 + e];
        ref::tape tp = ref::forward(r.rnn, 10, 4, x, h0, c0);
        h0 = tp.h_final, c0 = tp.c_final;
        auto sgd = [&](ref::vec& w, const ref::vec& d) {
            for (size_t k = 0; k < w.size(); ++k) w[k] -= lr * d[k];
        };
        sgd(r.emb, g.emb), sgd(r.dec_w, g.dec_w), sgd(r.dec_b, g.dec_b);
        sgd(r.rnn.layers[0].w_x, g.rnn[0].w_x), sgd(r.rnn.layers[0].w_h, g.rnn[0].w_h);
        sgd(r.rnn.layers[0].bias, g.rnn[0].bias);
    }
    for (int i = 0; i < 10; ++i) EXPECT_NEAR(got[i], want[i], 1e-4 * want[i]) << "step " << i;
    // Recorded from this implementation (and equal to the reference above within 1e-4).
    const double golden[10] = {3.12973012, 3.11084462, 3.06923703, 3.07571276, 3.04164806,
                               3.0401528,  2.92318549, 3.01874399, 2.88875643, 2.92877344};
    for (int i = 0; i < 10; ++i) EXPECT_NEAR(got[i], golden[i], 1e-5 * golden[i]) << "golden step " << i;
    std::string printed;
    for (double v : got) printed += fmt::format("{:.9g}, ", v);
    RecordProperty("trajectory", printed);
    std::cout << "trajectory: " << printed << "\n";
}

train_config toy_config(const std::string& corpus, cell_type cell) {
    train_config c;
    c.corpus = corpus;
    c.valid_fraction = 0.1;
    c.model.cell = cell;
    c.model.layers = 1;
    c.model.hidden = 48;
    c.model.embed = 16;
    c.batch = 16;
    c.steps = 24;
    c.scheme = sampling::random;
    c.epochs = 12;
    c.optimizer = optimizer_kind::adam;
    c.lr = 1e-2f;
    c.clip = 5;
    c.seed = 3;
    return c;
}

// Every cell type drives training perplexity well below the vocabulary size.
TEST(train, every_cell_learns_the_toy_corpus) {
    omp_set_num_threads(2);
    const std::string corpus = write_corpus("toy.txt", toy_corpus(400, 9));
    for (cell_type cell : {cell_type::rnn_tanh, cell_type::rnn_relu, cell_type::gru, cell_type::lbr_gru, cell_type::lstm}) {
        SCOPED_TRACE(to_string(cell));
        train_config c = toy_config(corpus, cell);
        if (cell == cell_type::rnn_relu) c.lr = 3e-3f;
        std::vector<train_report> reports;
        train_callbacks cb;
        cb.on_report = [&](const train_report& r) { reports.push_back(r); };
        auto out = train(c, cb);
        ASSERT_TRUE(out.ok()) << out.err().message;
        ASSERT_FALSE(reports.empty());
        const double v = out->vocab_size;
        EXPECT_LT(out->train_ppl, v / 5) << "vocabulary " << v;
        ASSERT_TRUE(out->valid_ppl.has_value());
        EXPECT_LT(*out->valid_ppl, v / 5);
        EXPECT_LT(reports.back().train_ppl, reports.front().train_ppl);
    }
}

// The adaptive softmax with the cutoffs the trainer chooses: learns as the full softmax does,
// and the model it writes loads back with them.
TEST(train, adaptive_softmax_learns_the_toy_corpus) {
    omp_set_num_threads(2);
    const std::string corpus = write_corpus("toy_adaptive.txt", toy_corpus(400, 9));
    train_config c = toy_config(corpus, cell_type::lstm);
    c.model.softmax = softmax_type::adaptive;
    c.out = test::scratch_dir() + "/adaptive.safetensors";
    std::vector<std::string> info;
    train_callbacks cb;
    cb.on_info = [&](const std::string& s) { info.push_back(s); };
    auto out = train(c, cb);
    ASSERT_TRUE(out.ok()) << out.err().message;
    const double v = out->vocab_size;
    EXPECT_LT(out->train_ppl, v / 5) << "vocabulary " << v;
    ASSERT_TRUE(out->valid_ppl.has_value());
    EXPECT_LT(*out->valid_ppl, v / 5);
    bool told = false;
    for (const auto& s : info) told = told || s.find("adaptive softmax: head ") != std::string::npos;
    EXPECT_TRUE(told) << "the cutoffs chosen are reported";
    auto m = load_model(c.out);
    ASSERT_TRUE(m.ok()) << m.err().message;
    EXPECT_EQ(m->model.config().softmax, softmax_type::adaptive);
    ASSERT_FALSE(m->model.config().cutoffs.empty());
    EXPECT_LT(m->model.config().cutoffs.back(), m->model.config().vocab);
}

TEST(train, same_seed_same_trajectory_bit_for_bit) {
    omp_set_num_threads(2);
    const std::string corpus = write_corpus("toy2.txt", toy_corpus(200, 4));
    auto run = [&] {
        train_config c = toy_config(corpus, cell_type::gru);
        c.epochs = 3;
        c.scheme = sampling::consecutive;
        c.model.dropout = 0;
        std::vector<double> ppl;
        train_callbacks cb;
        cb.on_report = [&](const train_report& r) {
            ppl.push_back(r.train_ppl);
            if (r.valid_ppl) ppl.push_back(*r.valid_ppl);
            ppl.push_back(r.grad_norm);
        };
        auto out = train(c, cb);
        EXPECT_TRUE(out.ok());
        return ppl;
    };
    auto a = run(), b = run();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "figure " << i;
}

TEST(train, divergence_stops_with_a_clear_error_and_keeps_the_last_good_file) {
    const std::string corpus = write_corpus("toy3.txt", toy_corpus(200, 6));
    const std::string out = test::scratch_dir() + "/kept.safetensors";
    {
        std::ofstream(out) << "an earlier model";
    }
    train_config c = toy_config(corpus, cell_type::rnn_relu);
    c.optimizer = optimizer_kind::sgd;
    c.lr = 1e30f;
    c.clip = 0;
    c.out = out;
    auto r = train(c, {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::numeric);
    EXPECT_NE(r.err().message.find("step"), std::string::npos) << r.err().message;
    EXPECT_NE(r.err().message.find("--lr"), std::string::npos) << r.err().message;
    EXPECT_EQ(test::slurp(out), "an earlier model");
}

TEST(train, too_short_corpus_is_an_input_error) {
    const std::string corpus = write_corpus("short.txt", "abc\n");
    train_config c = toy_config(corpus, cell_type::lstm);
    auto r = train(c, {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::input);
    EXPECT_NE(r.err().message.find("fewer than"), std::string::npos) << r.err().message;
}

TEST(train, writes_a_model_that_loads_with_the_same_vocabulary_and_perplexity) {
    omp_set_num_threads(2);
    const std::string corpus = write_corpus("toy4.txt", toy_corpus(200, 8));
    const std::string out = test::scratch_dir() + "/toy4.safetensors";
    train_config c = toy_config(corpus, cell_type::lstm);
    c.epochs = 2;
    c.out = out;
    c.valid_fraction = 0.2;
    auto r = train(c, {});
    ASSERT_TRUE(r.ok()) << r.err().message;
    auto loaded = load_model(out);
    ASSERT_TRUE(loaded.ok()) << loaded.err().message;
    EXPECT_EQ(loaded->model.vocab().size(), r->vocab_size);
    EXPECT_EQ(loaded->summary.epochs, 2u);
    ASSERT_TRUE(loaded->summary.valid_ppl.has_value());
    EXPECT_DOUBLE_EQ(*loaded->summary.valid_ppl, *r->valid_ppl);
    // Generation from the loaded model is valid text of the corpus's alphabet.
    sample_config sc;
    sc.length = 40;
    sc.temperature = 0.8f;
    sc.seed = 1;
    auto text = generate(loaded->model, "the ", sc);
    ASSERT_TRUE(text.ok()) << text.err().message;
    EXPECT_EQ(text->front().rfind("the ", 0), 0u);
}

// --patience: a validation text unlike the training text gets worse as the model learns; the run
// stops after exactly `patience` validations in a row without a new best, says so, and the last
// report carries the reason.
TEST(train, patience_stops_after_n_validations_without_a_new_best) {
    omp_set_num_threads(2);
    std::string text, other;
    for (int i = 0; i < 400; ++i) text += "abcabd\n";
    for (int i = 0; i < 60; ++i) other += "dcbadc\n";
    train_config c = toy_config(write_corpus("patience_train.txt", text), cell_type::gru);
    c.valid = write_corpus("patience_valid.txt", other);
    c.epochs = 60;
    c.patience = 3;
    c.valid_every_steps = 2;
    std::vector<train_report> reports;
    train_callbacks cb;
    cb.on_report = [&](const train_report& r) { reports.push_back(r); };
    auto r = train(c, cb);
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->stop, stop_reason::patience);
    EXPECT_LT(r->epochs, 60u) << "ran to its epoch count";
    ASSERT_FALSE(reports.empty());
    EXPECT_EQ(reports.back().stop, stop_reason::patience);
    EXPECT_NE(reports.back().stop_detail.find("3 validations in a row without a new best"), std::string::npos)
        << reports.back().stop_detail;
    size_t since_best = 0;
    for (const auto& rep : reports) {
        if (!rep.valid_ppl) continue;
        since_best = rep.best ? 0 : since_best + 1;
    }
    EXPECT_EQ(since_best, 3u);
    for (const auto& rep : reports) {
        if (rep.valid_ppl) {
            EXPECT_TRUE(std::isfinite(*rep.valid_ppl));
        }
    }

    // --lr-plateau 0.5: each validation without a new best halves the rate the next steps use.
    c.lr_plateau = 0.5f;
    reports.clear();
    auto p = train(c, cb);
    ASSERT_TRUE(p.ok()) << p.err().message;
    std::optional<train_report> prev;
    int halvings = 0;
    for (const auto& rep : reports) {
        if (!rep.valid_ppl) continue;
        if (prev) {
            EXPECT_DOUBLE_EQ(rep.lr, prev->best ? prev->lr : prev->lr * 0.5) << "step " << rep.step;
            halvings += !prev->best;
        }
        prev = rep;
    }
    EXPECT_GE(halvings, 2);
}

// --valid-every inside an epoch: validation reads the model with other shapes and its own state,
// while the carried training state (consecutive sampling) and the dropout draws stay as they were,
// so every step's loss equals the run's without it, bit for bit; and the run did validate inside
// epochs (with as many streams as the training batch, the shape most likely to share state).
TEST(train, validation_inside_an_epoch_leaves_the_training_trajectory_unchanged) {
    omp_set_num_threads(2);
    const std::string corpus = write_corpus("valid_every.txt", toy_corpus(150, 12));
    auto run = [&](uint32_t valid_every, uint64_t& in_epoch_validations) {
        train_config c = toy_config(corpus, cell_type::lstm);
        c.model.layers = 2;
        c.model.hidden = 24;
        c.model.dropout = 0.2f;
        c.scheme = sampling::consecutive;
        c.batch = 4;  // the validation's streams use this batch size too
        c.epochs = 2;
        c.valid_every_steps = valid_every;
        std::vector<double> losses;
        train_callbacks cb;
        cb.on_progress = [&](const train_progress& p) { losses.push_back(p.loss); };
        cb.on_report = [&](const train_report& r) { in_epoch_validations += !r.end_of_epoch && r.valid_ppl; };
        auto r = train(c, cb);
        EXPECT_TRUE(r.ok()) << r.err().message;
        return losses;
    };
    uint64_t none = 0, some = 0;
    const auto plain = run(0, none);
    const auto validated = run(5, some);
    EXPECT_EQ(none, 0u);
    EXPECT_GE(some, 4u);
    ASSERT_EQ(plain.size(), validated.size());
    for (size_t i = 0; i < plain.size(); ++i) ASSERT_EQ(plain[i], validated[i]) << "step " << i + 1;
}


// --warmup and --lr-schedule cosine: the rate each report gives (the next step's) follows the
// formula over the run's epochs, ends at exactly --lr-final x --lr, and is the rate the optimizer
// uses: a run's second step equals, bit for bit, that of a run whose --lr is the warmed-up rate.
TEST(train, warmup_and_cosine_shape_the_rate_over_the_run) {
    omp_set_num_threads(2);
    const std::string corpus = write_corpus("cosine.txt", toy_corpus(150, 4));
    train_config c = toy_config(corpus, cell_type::lstm);
    c.epochs = 3;
    c.report_every = 1;
    c.lr = 0.008f;
    c.warmup = 4;
    c.schedule = lr_schedule::cosine;
    c.lr_final = 0.25f;
    std::vector<std::pair<uint64_t, double>> rates;  // (steps done, rate of the next step)
    std::vector<double> losses;
    train_callbacks cb;
    cb.on_report = [&](const train_report& r) { rates.emplace_back(r.step, r.lr); };
    cb.on_progress = [&](const train_progress& p) { losses.push_back(p.loss); };
    auto r = train(c, cb);
    ASSERT_TRUE(r.ok()) << r.err().message;
    const double total = static_cast<double>(r->steps);
    ASSERT_GE(rates.size(), r->steps);
    for (const auto& [step, lr] : rates) {
        const double warm = step < 4 ? (step + 1) / 4.0 : 1.0;
        const double cosine = 0.25 + 0.75 * 0.5 * (1 + std::cos(std::acos(-1.0) * step / total));
        EXPECT_NEAR(lr, 0.008f * warm * cosine, 1e-12) << "after step " << step;
    }
    EXPECT_EQ(rates.back().first, r->steps);
    EXPECT_DOUBLE_EQ(rates.back().second, 0.008f * 0.25);

    // The first step ran at --lr / 4: a run at that --lr without a schedule takes the same first step.
    train_config plain = c;
    plain.warmup = 0;
    plain.schedule = lr_schedule::constant;
    plain.lr = c.lr / 4;
    plain.epochs = 1;
    std::vector<double> plain_losses;
    train_callbacks pcb;
    pcb.on_progress = [&](const train_progress& p) { plain_losses.push_back(p.loss); };
    ASSERT_TRUE(train(plain, pcb).ok());
    ASSERT_GE(plain_losses.size(), 3u);
    EXPECT_EQ(losses[0], plain_losses[0]);
    EXPECT_EQ(losses[1], plain_losses[1]) << "the first update used another rate";
    EXPECT_NE(losses[2], plain_losses[2]) << "the second update used the same rate";
}

// With a time budget the cosine runs over the budget: the rate falls as the clock runs and the
// report that says the budget is spent gives exactly --lr-final x --lr.
TEST(train, cosine_over_a_time_budget_ends_at_the_final_rate) {
    omp_set_num_threads(2);
    const std::string corpus = write_corpus("cosine_budget.txt", toy_corpus(150, 5));
    train_config c = toy_config(corpus, cell_type::gru);
    c.epochs = 0;
    c.time_budget_s = 1.5;
    c.report_every = 2;
    c.schedule = lr_schedule::cosine;
    c.lr_final = 0.1f;
    std::vector<train_report> reports;
    train_callbacks cb;
    cb.on_report = [&](const train_report& r) { reports.push_back(r); };
    auto r = train(c, cb);
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->stop, stop_reason::budget);
    ASSERT_GE(reports.size(), 4u);
    for (size_t i = 1; i < reports.size(); ++i) EXPECT_LE(reports[i].lr, reports[i - 1].lr) << "report " << i;
    EXPECT_LT(reports.front().lr, c.lr);
    EXPECT_GT(reports.front().lr, 0.5 * c.lr) << "the first report comes early in the budget";
    // The report that says the budget is spent gives the final rate; when the budget ran out right
    // after a report (no step since), that report stays the last and nothing is reported twice.
    if (reports.back().stop == stop_reason::budget)
        EXPECT_DOUBLE_EQ(reports.back().lr, static_cast<double>(c.lr) * static_cast<double>(c.lr_final));
    else
        EXPECT_EQ(reports.back().step, r->steps);
}

// The overfitting rule (issue 28): said once, after the validation perplexity rose at each of
// three validations in a row while the training perplexity fell; a validation that does not fit the
// pattern starts the count again.
TEST(train, overfitting_is_said_once_after_three_diverging_validations) {
    train_config c;
    detail::schedule s(c, true, 0);
    EXPECT_FALSE(s.overfitting(10, 5));
    EXPECT_FALSE(s.overfitting(9, 6));
    EXPECT_FALSE(s.overfitting(8, 7));
    EXPECT_FALSE(s.overfitting(7, 6.5)) << "validation fell: the count starts again";
    EXPECT_FALSE(s.overfitting(6, 7));
    EXPECT_FALSE(s.overfitting(5.5, 7.5));
    EXPECT_FALSE(s.overfitting(5.6, 8)) << "training rose: not overfitting";
    EXPECT_FALSE(s.overfitting(5, 9));
    EXPECT_FALSE(s.overfitting(4, 10));
    EXPECT_TRUE(s.overfitting(3, 11));
    EXPECT_FALSE(s.overfitting(2, 12)) << "said once";
}

}  // namespace
}  // namespace charlm
