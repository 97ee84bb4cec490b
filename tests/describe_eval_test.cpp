// The library's descriptions of a model and of an evaluation, which `charlm info` and `charlm eval`
// only print: every cell and output layer's layer table covers each exported tensor once and its
// totals are the sums of its rows (stored and trainable named apart); perplexity's standard error
// from block means grows with correlated tokens where the independent-token error does not, and
// the perplexity over known tokens leaves <unk> targets out.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "charlm/batches.hpp"
#include "charlm/describe.hpp"
#include "charlm/evaluate.hpp"

namespace charlm {
namespace {

language_model make_model(cell_type cell, uint32_t layers, uint32_t embed, bool adaptive) {
    std::vector<std::string> t{"<unk>"};
    for (char c = 'a'; c <= 'z'; ++c) t.push_back(std::string(1, c));
    auto vocab = vocabulary::from_tokens(t);
    EXPECT_TRUE(vocab.ok());
    model_config c;
    c.cell = cell;
    c.layers = layers;
    c.hidden = 12;
    c.embed = embed;
    c.vocab = vocab->size();
    c.dropout = layers > 1 ? 0.25f : 0.f;
    if (adaptive) {
        c.softmax = softmax_type::adaptive;
        c.cutoffs = {8, 16};
        c.div_value = 2;
    }
    return language_model(c, text_config{}, std::move(*vocab), 3);
}

// Issue 18 item 13: info's rows summed to 37 842 and its total said 37 458.
TEST(describe_model, totals_are_the_sums_of_their_rows_for_every_cell) {
    for (cell_type cell : {cell_type::rnn_tanh, cell_type::rnn_relu, cell_type::gru, cell_type::lbr_gru, cell_type::lstm})
        for (uint32_t embed : {0u, 5u})
            for (bool adaptive : {false, true}) {
                const language_model m = make_model(cell, 2, embed, adaptive);
                SCOPED_TRACE(to_string(cell) + (embed ? " embedding" : " one-hot") + (adaptive ? " adaptive" : ""));
                const model_summary d = describe_model(m);
                std::set<std::string> seen;
                uint64_t stored = 0, trainable = 0;
                for (const auto& l : d.layers) {
                    uint64_t ls = 0, lt = 0;
                    for (const auto& t : l.tensors) {
                        EXPECT_TRUE(seen.insert(t.name).second) << t.name << " in two layers";
                        EXPECT_LE(t.trainable, t.stored) << t.name;
                        ls += t.stored;
                        lt += t.trainable;
                    }
                    EXPECT_EQ(l.stored, ls) << l.name;
                    EXPECT_EQ(l.trainable, lt) << l.name;
                    stored += l.stored;
                    trainable += l.trainable;
                }
                EXPECT_EQ(d.stored, stored);
                EXPECT_EQ(d.trainable, trainable);
                EXPECT_EQ(d.trainable, m.parameter_count());
                uint64_t in_file = 0;
                for (const auto& t : m.export_tensors()) {
                    EXPECT_TRUE(seen.count(t.name)) << t.name << " in no layer";
                    in_file += t.data.size();
                }
                EXPECT_EQ(d.stored, in_file);
                // The second bias vector: stored for PyTorch, trained only for lbr-gru's n gate.
                const uint64_t H = 12, G = static_cast<uint64_t>(gate_count(cell));
                EXPECT_EQ(d.stored - d.trainable, 2 * (cell == cell_type::lbr_gru ? 2 * H : G * H));
                EXPECT_EQ(d.layers[2].kind, "Dropout(0.25)");
                EXPECT_EQ(adaptive, !d.adaptive_groups.empty());
            }
}

std::vector<bool> all_known(size_t n) { return std::vector<bool>(n, true); }

// Issue 18 item 15: the +/- assumed independent tokens. Two halves of a text, one easy and one
// hard throughout: the per-token spread is small, the uncertainty of the mean is not.
TEST(summarize_nll, block_means_see_correlated_tokens) {
    std::vector<float> nll(3200);
    uint64_t s = 11;
    for (size_t i = 0; i < nll.size(); ++i)
        nll[i] = (i < 1600 ? 1.0f : 3.0f) + 0.1f * static_cast<float>(static_cast<double>(splitmix64(s) >> 11) * 0x1.0p-53 - 0.5);
    const eval_report r = summarize_nll(nll, all_known(nll.size()));
    EXPECT_EQ(r.blocks, 32u);
    EXPECT_EQ(r.block_tokens, 100u);
    EXPECT_NEAR(r.all.nll_mean, 2.0, 1e-3);
    // Block means: 16 of about 1 and 16 of about 3, so the mean's error is about 1 / sqrt(31).
    const double se_mean = r.all.std_error / r.all.perplexity;
    EXPECT_NEAR(se_mean, 1.0 / std::sqrt(31.0), 0.01);
    EXPECT_GT(r.all.std_error, 5 * r.stderr_independent);
}

TEST(summarize_nll, independent_tokens_agree_with_the_per_token_error) {
    std::vector<float> nll(32000);
    uint64_t s = 5;
    for (auto& v : nll) v = 2.0f + 2.0f * static_cast<float>(static_cast<double>(splitmix64(s) >> 11) * 0x1.0p-53 - 0.5);
    const eval_report r = summarize_nll(nll, all_known(nll.size()));
    EXPECT_NEAR(r.all.std_error / r.stderr_independent, 1.0, 0.35) << "32 blocks estimate the error to about 13%";
}

TEST(summarize_nll, known_tokens_leave_unk_targets_out_and_short_texts_have_no_error) {
    std::vector<float> nll(400, 1.0f);
    std::vector<bool> known(400, true);
    for (size_t i = 0; i < 400; i += 10) {
        nll[i] = 5.0f;  // an <unk> target scored badly
        known[i] = false;
    }
    const eval_report r = summarize_nll(nll, known);
    EXPECT_EQ(r.known.tokens, 360u);
    EXPECT_NEAR(r.known.perplexity, std::exp(1.0), 1e-6);
    EXPECT_NEAR(r.all.perplexity, std::exp(1.4), 1e-5);
    EXPECT_EQ(r.blocks, 4u);
    EXPECT_TRUE(std::isfinite(r.all.std_error));
    const eval_report tiny = summarize_nll(std::vector<float>(150, 1.0f), all_known(150));
    EXPECT_EQ(tiny.blocks, 0u);
    EXPECT_TRUE(std::isnan(tiny.all.std_error)) << "one block says nothing about the spread";
    EXPECT_NEAR(tiny.all.perplexity, std::exp(1.0), 1e-6);
}

}  // namespace
}  // namespace charlm
