// The sampler and generation: temperature 0 and top-k 1 are argmax, top-p keeps exactly the
// smallest set reaching p, draw frequencies match softmax(logits / T), extreme temperatures and
// logits stay finite, seeds reproduce; generation from tiny untrained models (grapheme and code
// point vocabularies) is valid UTF-8, batched rows are independent and reproducible, stop strings
// and unknown prefix tokens behave; sample_config::validate and the CLI's exit status.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "charlm/batches.hpp"
#include "charlm/model_file.hpp"
#include "charlm/sample.hpp"
#include "charlm/train.hpp"
#include "cli_support.h"

namespace charlm {
namespace {

// Offset of the first byte that is not part of well-formed UTF-8, or npos.
size_t utf8_error_at(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
        if (n == 0 || i + n > s.size() || (n == 2 && b < 0xC2) || (n == 4 && b > 0xF4)) return i;
        uint32_t cp = n == 1 ? b : b & (0x7F >> n);
        for (size_t k = 1; k < n; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (c & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n;
    }
    return std::string::npos;
}

uint32_t argmax(const std::vector<float>& l) {
    uint32_t best = 0;
    for (uint32_t i = 1; i < l.size(); ++i)
        if (l[i] > l[best]) best = i;
    return best;
}

std::vector<float> random_logits(uint32_t v, uint64_t& rng, float scale) {
    std::vector<float> l(v);
    for (auto& x : l) x = scale * static_cast<float>(static_cast<double>(splitmix64(rng) >> 11) * 0x1.0p-53 - 0.5);
    return l;
}

// Counts of `n` draws.
std::vector<uint64_t> histogram(const std::vector<float>& logits, const token_sampler& s, uint64_t seed, uint64_t n) {
    std::vector<uint64_t> count(logits.size(), 0);
    uint64_t rng = seed;
    sample_scratch scratch;
    for (uint64_t i = 0; i < n; ++i) {
        const uint32_t t = sample_logits(logits.data(), static_cast<uint32_t>(logits.size()), s, rng, scratch);
        EXPECT_LT(t, logits.size());
        if (t < logits.size()) ++count[t];
    }
    return count;
}

std::string describe(const std::vector<uint64_t>& count) {
    std::string s;
    for (size_t i = 0; i < count.size(); ++i) s += fmt::format(" [{}]={}", i, count[i]);
    return s;
}

TEST(sampler, temperature_zero_is_argmax) {
    uint64_t rng = 11;
    sample_scratch scratch;
    for (int trial = 0; trial < 200; ++trial) {
        auto l = random_logits(50, rng, 10.f);
        uint64_t draw_rng = 5;
        const uint32_t got = sample_logits(l.data(), 50, {0.f, 0, 1.f}, draw_rng, scratch);
        ASSERT_EQ(got, argmax(l)) << "trial " << trial;
        EXPECT_EQ(draw_rng, 5u) << "argmax must not consume random numbers";
    }
    std::vector<float> tie{1.f, 3.f, 3.f, 2.f};
    uint64_t r = 1;
    EXPECT_EQ(sample_logits(tie.data(), 4, {0.f, 0, 1.f}, r, scratch), 1u) << "ties go to the first";
}

TEST(sampler, top_k_one_is_argmax_at_any_temperature) {
    uint64_t rng = 12;
    sample_scratch scratch;
    for (float t : {1e-4f, 0.5f, 1.f, 10.f, 1e4f}) {
        for (int trial = 0; trial < 100; ++trial) {
            auto l = random_logits(30, rng, 4.f);
            uint64_t draw_rng = static_cast<uint64_t>(trial);
            ASSERT_EQ(sample_logits(l.data(), 30, {t, 1, 1.f}, draw_rng, scratch), argmax(l))
                << "temperature " << t << " trial " << trial;
        }
    }
}

TEST(sampler, top_p_keeps_the_smallest_set_reaching_p) {
    // Probabilities 0.4, 0.3, 0.2, 0.1 at T = 1 (listed out of order to exercise the sort).
    const std::vector<double> p{0.2, 0.4, 0.1, 0.3};
    std::vector<float> l;
    for (double x : p) l.push_back(static_cast<float>(std::log(x)));
    struct c {
        float top_p;
        uint32_t top_k;
        std::set<uint32_t> support;
    };
    const std::vector<c> cases{
        {0.30f, 0, {1}},          {0.65f, 0, {1, 3}},    {0.75f, 0, {1, 3, 0}}, {0.95f, 0, {0, 1, 2, 3}},
        {0.90f, 2, {1, 3}},       {0.50f, 2, {1}},       {1.00f, 3, {1, 3, 0}},
    };
    for (const auto& k : cases) {
        auto count = histogram(l, {1.f, k.top_k, k.top_p}, 99, 20000);
        std::set<uint32_t> seen;
        for (uint32_t i = 0; i < count.size(); ++i)
            if (count[i] > 0) seen.insert(i);
        EXPECT_EQ(seen, k.support) << "top_p " << k.top_p << " top_k " << k.top_k << ":" << describe(count);
    }
    // Inside the kept set the probabilities are renormalized: 0.4 / 0.7 and 0.3 / 0.7.
    auto count = histogram(l, {1.f, 0, 0.65f}, 7, 70000);
    EXPECT_NEAR(static_cast<double>(count[1]) / 70000, 0.4 / 0.7, 0.01) << describe(count);
}

// Every bin within 4 sigma of n * softmax(logits / T)_i, and the chi-square statistic below the
// 99.99% quantile of its distribution with V - 1 = 4 degrees of freedom (23.5).
void expect_softmax_frequencies(const std::vector<float>& l, const token_sampler& s, const std::vector<double>& expect_p) {
    const uint64_t n = 200000;
    auto count = histogram(l, s, 2024, n);
    double chi2 = 0;
    for (size_t i = 0; i < l.size(); ++i) {
        const double e = static_cast<double>(n) * expect_p[i];
        const double sigma = std::sqrt(e * (1 - expect_p[i]));
        const double d = static_cast<double>(count[i]) - e;
        EXPECT_LE(std::fabs(d), 4 * sigma + 1e-9)
            << "bin " << i << ": " << count[i] << " draws, expected " << e << " (sigma " << sigma << ")";
        if (e > 0) chi2 += d * d / e;
    }
    EXPECT_LT(chi2, 23.5) << "chi-square over" << describe(count);
}

std::vector<double> softmax(const std::vector<float>& l, double t) {
    double mx = -1e300, sum = 0;
    for (float x : l) mx = std::max(mx, static_cast<double>(x));
    std::vector<double> p;
    for (float x : l) p.push_back(std::exp((x - mx) / t));
    for (double x : p) sum += x;
    for (double& x : p) x /= sum;
    return p;
}

TEST(sampler, frequencies_match_softmax_over_temperature) {
    const std::vector<float> l{1.0f, 0.5f, -0.3f, 2.0f, 0.0f};
    for (float t : {0.7f, 1.0f, 2.5f}) {
        SCOPED_TRACE(fmt::format("temperature {}", t));
        expect_softmax_frequencies(l, {t, 0, 1.f}, softmax(l, t));
    }
    // top-k 3 at T = 1: softmax over ids 3, 0, 1 only.
    auto p = softmax({1.0f, 0.5f, -1e30f, 2.0f, -1e30f}, 1.0);
    SCOPED_TRACE("top-k 3");
    expect_softmax_frequencies(l, {1.f, 3, 1.f}, p);
}

// A vocabulary of several 64-id blocks and a partial one: the blocked draw over the whole
// vocabulary still follows the softmax, bin by bin and as a whole (chi-square, 199 degrees of
// freedom: mean 199, sd 20); the first of tied maxima is the argmax.
TEST(sampler, blocked_draw_over_a_large_vocabulary) {
    uint64_t g = 17;
    auto l = random_logits(200, g, 4.f);
    const auto p = softmax(l, 0.8);
    const uint64_t n = 400000;
    const auto count = histogram(l, {0.8f, 0, 1.f}, 99, n);
    double chi2 = 0;
    for (size_t i = 0; i < l.size(); ++i) {
        const double e = static_cast<double>(n) * p[i], d = static_cast<double>(count[i]) - e;
        EXPECT_LE(std::fabs(d), 5 * std::sqrt(e * (1 - p[i])) + 1e-9) << "bin " << i;
        chi2 += d * d / e;
    }
    EXPECT_LT(chi2, 199 + 6 * 20.0) << "chi-square over" << describe(count);

    l[150] = l[argmax(l)];
    l[190] = l[150];
    uint64_t rng = 1;
    sample_scratch scratch;
    EXPECT_EQ(sample_logits(l.data(), 200, {0.f, 0, 1.f}, rng, scratch), argmax(l));
}

TEST(sampler, extreme_temperatures_stay_finite_and_valid) {
    uint64_t rng = 3;
    sample_scratch scratch;
    auto l = random_logits(64, rng, 20.f);
    l[argmax(l)] += 0.1f;  // a gap of 0.1 is a factor exp(-1000) at T = 1e-4
    std::set<uint32_t> hot;
    for (int i = 0; i < 2000; ++i) {
        const uint32_t cold = sample_logits(l.data(), 64, {1e-4f, 0, 1.f}, rng, scratch);
        ASSERT_EQ(cold, argmax(l)) << "at T = 1e-4 every other weight underflows to 0";
        const uint32_t h = sample_logits(l.data(), 64, {1e4f, 0, 0.9f}, rng, scratch);
        ASSERT_LT(h, 64u);
        hot.insert(h);
        for (double w : scratch.weight) ASSERT_TRUE(std::isfinite(w) && w >= 0 && w <= 1) << w;
    }
    EXPECT_GT(hot.size(), 40u) << "T = 1e4 is nearly uniform";
}

TEST(sampler, huge_logits_do_not_make_nan) {
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> l{1e30f, -1e30f, 0.f, 1e30f, -1e30f, nan};
    sample_scratch scratch;
    uint64_t rng = 8;
    for (float t : {1e-4f, 1.f, 1e4f}) {
        for (float p : {1.f, 0.5f}) {
            std::set<uint32_t> seen;
            for (int i = 0; i < 1000; ++i) {
                seen.insert(sample_logits(l.data(), 6, {t, 0, p}, rng, scratch));
                for (double w : scratch.weight) ASSERT_FALSE(std::isnan(w)) << "T " << t;
            }
            const std::set<uint32_t> expect = p < 1 ? std::set<uint32_t>{0} : std::set<uint32_t>{0, 3};
            EXPECT_EQ(seen, expect) << "T " << t << " top_p " << p;
        }
    }
    const std::vector<float> with_inf{0.f, inf, 3.f};
    EXPECT_EQ(sample_logits(with_inf.data(), 3, {1.f, 0, 1.f}, rng, scratch), 1u);
    const std::vector<float> all_low{-1e30f, -1e30f, -1e30f};
    EXPECT_LT(sample_logits(all_low.data(), 3, {1.f, 0, 1.f}, rng, scratch), 3u);
}

// Issue 18 item 9: below about 2.9e-39, 1 / T overflows; the argmax's weight was 0 * inf = NaN and
// the draw fell back to id 0, <unk>.
TEST(sampler, temperature_too_small_for_its_reciprocal_is_argmax) {
    uint64_t rng = 5;
    sample_scratch scratch;
    auto l = random_logits(50, rng, 4.f);
    l[0] = -10.f;  // never the argmax, so a fallback to id 0 shows
    for (float t : {2e-39f, 1e-40f, std::numeric_limits<float>::denorm_min(), 1e-38f})
        for (float p : {1.f, 0.5f})
            for (uint32_t k : {0u, 5u})
                EXPECT_EQ(sample_logits(l.data(), 50, {t, k, p}, rng, scratch), argmax(l))
                    << "T " << t << " top_p " << p << " top_k " << k;
}

TEST(sampler, same_seed_same_sequence) {
    uint64_t g = 1;
    auto l = random_logits(20, g, 3.f);
    sample_scratch scratch;
    uint64_t a = 42, b = 42, c = 43;
    std::vector<uint32_t> sa, sb, sc;
    for (int i = 0; i < 500; ++i) {
        sa.push_back(sample_logits(l.data(), 20, {1.f, 5, 0.9f}, a, scratch));
        sb.push_back(sample_logits(l.data(), 20, {1.f, 5, 0.9f}, b, scratch));
        sc.push_back(sample_logits(l.data(), 20, {1.f, 5, 0.9f}, c, scratch));
    }
    EXPECT_EQ(sa, sb);
    EXPECT_NE(sa, sc) << "seeds 42 and 43 drew the same 500 tokens";
    EXPECT_NE(row_stream_state(1, 0), row_stream_state(1, 1));
    EXPECT_NE(row_stream_state(1, 0), row_stream_state(2, 0));
}

// --- generation with tiny untrained models

language_model make_model(std::vector<std::string> tokens, token_unit unit = token_unit::grapheme, uint64_t seed = 3) {
    auto vocab = vocabulary::from_tokens(std::move(tokens));
    EXPECT_TRUE(vocab.ok()) << vocab.err().message;
    model_config c;
    c.cell = cell_type::lstm;
    c.layers = 1;
    c.hidden = 16;
    c.embed = 8;
    c.vocab = vocab->size();
    text_config t;
    t.unit = unit;
    return language_model(c, t, std::move(*vocab), seed);
}

sample_config hot_config(uint32_t length, uint32_t rows, uint64_t seed = 1) {
    sample_config c;
    c.length = length;
    c.num_samples = rows;
    c.temperature = 2.0f;  // an untrained model's logits are nearly flat; make every token likely
    c.seed = seed;
    return c;
}

void expect_valid_rows(const std::vector<std::string>& rows, const std::string& what) {
    bool saw_unk = false;
    for (size_t r = 0; r < rows.size(); ++r) {
        EXPECT_EQ(utf8_error_at(rows[r]), std::string::npos) << what << " row " << r << " is not UTF-8";
        EXPECT_EQ(rows[r].find("<unk>"), std::string::npos) << what << " row " << r << " prints <unk> literally";
        saw_unk |= rows[r].find("\xEF\xBF\xBD") != std::string::npos;
    }
    EXPECT_TRUE(saw_unk) << what << ": <unk> was never drawn as U+FFFD (expected at T = 2)";
}

TEST(generate, grapheme_model_output_is_valid_utf8) {
    auto m = make_model({"<unk>", "a", "e\u0301", "\U0001F469\u200D\U0001F469\u200D\U0001F467", "\U0001F1EF\U0001F1F5",
                         "\n", "\u4E2D"});
    auto rows = generate(m, "a\u4E2D", hot_config(300, 3));
    ASSERT_TRUE(rows.ok()) << rows.err().message;
    ASSERT_EQ(rows->size(), 3u);
    for (const auto& r : *rows) EXPECT_EQ(r.rfind("a\u4E2D", 0), 0u) << "the prefix starts each row";
    expect_valid_rows(*rows, "grapheme");
}

TEST(generate, codepoint_model_output_is_valid_utf8) {
    auto m = make_model({"<unk>", "a", "\u0301", "\U0001F600", "\u4E2D", "\n"}, token_unit::codepoint);
    auto rows = generate(m, "", hot_config(300, 2));
    ASSERT_TRUE(rows.ok()) << rows.err().message;
    expect_valid_rows(*rows, "codepoint");
}

TEST(generate, rows_are_independent_and_reproducible) {
    auto m = make_model({"<unk>", "a", "b", "c", "d", "e"});
    auto c = hot_config(60, 4, 5);
    std::vector<std::string> streamed(4);
    auto first = generate(m, "ab", c, [&](uint32_t r, std::string_view piece) { streamed.at(r) += piece; });
    auto second = generate(m, "ab", c);
    ASSERT_TRUE(first.ok() && second.ok());
    EXPECT_EQ(*first, *second) << "the same seed must give the same text";
    EXPECT_EQ(*first, streamed) << "the streamed pieces add up to the rows";
    for (size_t i = 0; i < 4; ++i)
        for (size_t j = i + 1; j < 4; ++j) EXPECT_NE((*first)[i], (*first)[j]) << "rows " << i << " and " << j;
    c.seed = 6;
    auto other = generate(m, "ab", c);
    ASSERT_TRUE(other.ok());
    EXPECT_NE((*first)[0], (*other)[0]) << "seeds 5 and 6 gave the same row 0";
}

TEST(generate, stop_strings_end_a_row) {
    auto m = make_model({"<unk>", "a", "b", "c"});
    auto c = hot_config(5000, 4);
    c.stop = {"b"};
    auto rows = generate(m, "a", c);
    ASSERT_TRUE(rows.ok());
    for (size_t r = 0; r < rows->size(); ++r) {
        const std::string gen = (*rows)[r].substr(1);
        EXPECT_TRUE(gen.ends_with("b")) << "row " << r << ": '" << gen << "'";
        EXPECT_EQ(gen.find('b'), gen.size() - 1) << "row " << r << " went on past a stop: '" << gen << "'";
    }
    // A stop string spanning tokens; the prefix does not count.
    c.stop = {"ca", "bb"};
    rows = generate(m, "bb", c);
    ASSERT_TRUE(rows.ok());
    for (size_t r = 0; r < rows->size(); ++r) {
        const std::string gen = (*rows)[r].substr(2);
        const bool ends = gen.ends_with("ca") || gen.ends_with("bb");
        EXPECT_TRUE(ends) << "row " << r << ": '" << gen << "'";
        const std::string body = gen.substr(0, gen.size() - 1);
        EXPECT_EQ(body.find("ca"), std::string::npos) << "row " << r << ": '" << gen << "'";
        EXPECT_EQ(body.find("bb"), std::string::npos) << "row " << r << ": '" << gen << "'";
    }
}

// Issue 18 item 11: stop strings go through the model's preprocessing as the prefix does, so a
// lowercasing model stops at "B" when it writes "b".
TEST(generate, stop_strings_go_through_the_models_preprocessing) {
    auto vocab = vocabulary::from_tokens({"<unk>", "a", "b", "c"});
    ASSERT_TRUE(vocab.ok());
    model_config mc;
    mc.layers = 1;
    mc.hidden = 16;
    mc.embed = 8;
    mc.vocab = vocab->size();
    text_config t;
    t.lowercase = true;
    t.normalize = normalization::nfkc;
    language_model m(mc, t, std::move(*vocab), 3);
    auto c = hot_config(5000, 4);
    c.stop = {"B", "\xEF\xBD\x83\xEF\xBD\x83"};  // full-width "ＣＣ": NFKC "CC", lowercased "cc"
    auto rows = generate(m, "A", c);
    ASSERT_TRUE(rows.ok()) << rows.err().message;
    for (size_t r = 0; r < rows->size(); ++r) {
        const std::string gen = (*rows)[r].substr(1);
        EXPECT_TRUE(gen.ends_with("b") || gen.ends_with("cc")) << "row " << r << ": '" << gen.substr(0, 80) << "'";
        const std::string body = gen.substr(0, gen.size() - 1);
        EXPECT_EQ(body.find('b'), std::string::npos) << "row " << r << " went on past a stop: '" << gen.substr(0, 80) << "'";
        EXPECT_EQ(body.find("cc"), std::string::npos) << "row " << r << ": '" << gen.substr(0, 80) << "'";
    }
}

// A constrained sampler backs up by restoring a saved state (issue 24: re-reading a 30-character
// mood on every backup took minutes): the steps after a restore are those of a generator that
// never took the steps in between, bit for bit.
TEST(generator, a_restored_state_continues_as_if_the_steps_since_were_not_taken) {
    auto m = make_model({"<unk>", "a", "b", "c", "\n"});
    const uint32_t v = m.vocab().size();
    const auto feed = [](generator& g, std::vector<int32_t> ids) {
        const float* out = nullptr;
        for (int32_t id : ids) out = g.step(&id);
        return out;
    };
    generator straight(m, 1);
    const float* l = feed(straight, {1, 2, 3});
    const std::vector<float> want(l, l + v);
    generator g(m, 1);
    feed(g, {1, 2});
    const generator::saved_state saved = g.save();
    EXPECT_FALSE(saved.c.empty()) << "an LSTM keeps its cell state too";
    feed(g, {3, 3, 4, 1});
    g.restore(saved);
    l = feed(g, {3});
    EXPECT_EQ(std::vector<float>(l, l + v), want);
}

TEST(generate, unknown_prefix_tokens) {
    auto m = make_model({"<unk>", "a", "b", "\n"});
    auto c = hot_config(10, 1);
    auto err = generate(m, "ab\u2603a\u00E9", c);
    ASSERT_FALSE(err.ok());
    EXPECT_EQ(err.err().code, errc::usage) << "a bad --prefix is a usage error, as with --form (issue 24)";
    EXPECT_NE(err.err().message.find("U+2603"), std::string::npos) << err.err().message;
    EXPECT_NE(err.err().message.find("U+00E9"), std::string::npos) << err.err().message;
    c.unknown = unknown_policy::skip;
    auto skipped = generate(m, "ab\u2603a", c);
    ASSERT_TRUE(skipped.ok()) << skipped.err().message;
    EXPECT_EQ(skipped->front().rfind("aba", 0), 0u) << skipped->front();
    c.unknown = unknown_policy::unk;
    auto unk = generate(m, "ab\u2603a", c);
    ASSERT_TRUE(unk.ok()) << unk.err().message;
    EXPECT_EQ(unk->front().rfind("ab\uFFFDa", 0), 0u) << unk->front();
    // Everything skipped, and no "\n" in the vocabulary: still generates.
    auto bare = make_model({"<unk>", "x", "y"});
    c.unknown = unknown_policy::skip;
    auto from_nothing = generate(bare, "\u2603", c);
    ASSERT_TRUE(from_nothing.ok()) << from_nothing.err().message;
    const std::string& text = from_nothing->front();
    size_t tokens = 0;
    for (size_t i = 0; i < text.size(); i += text.compare(i, 3, "\xEF\xBF\xBD") == 0 ? 3 : 1) ++tokens;
    EXPECT_EQ(tokens, 10u) << "x, y or U+FFFD ten times: '" << text << "'";
}

TEST(sample_config, validate) {
    EXPECT_TRUE(sample_config{}.validate().ok());
    struct c {
        std::function<void(sample_config&)> set;
        std::string option;
    };
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<c> bad{
        {[](sample_config& s) { s.temperature = -1; }, "--temperature"},
        {[&](sample_config& s) { s.temperature = nan; }, "--temperature"},
        {[](sample_config& s) { s.temperature = std::numeric_limits<float>::infinity(); }, "--temperature"},
        {[](sample_config& s) { s.top_p = 0; }, "--top-p"},
        {[](sample_config& s) { s.top_p = 1.5f; }, "--top-p"},
        {[&](sample_config& s) { s.top_p = nan; }, "--top-p"},
        {[](sample_config& s) { s.num_samples = 0; }, "--num-samples"},
        {[](sample_config& s) { s.length = sample_config::max_length + 1; }, "--length"},
        {[](sample_config& s) { s.stop = {"x", ""}; }, "--stop"},
    };
    for (size_t i = 0; i < bad.size(); ++i) {
        sample_config s;
        bad[i].set(s);
        auto st = s.validate();
        ASSERT_FALSE(st.ok()) << "case " << i << " (" << bad[i].option << ") passed";
        EXPECT_EQ(st.err().code, errc::usage) << st.err().message;
        EXPECT_NE(st.err().message.find(bad[i].option), std::string::npos) << st.err().message;
        EXPECT_EQ(st.err().message.find('\n'), std::string::npos) << "one line: " << st.err().message;
    }
    EXPECT_FALSE(parse_unknown_policy("maybe").ok());
    EXPECT_EQ(*parse_unknown_policy("unk"), unknown_policy::unk);
}

// --- through the binary

TEST(cli, generate_options_and_samples) {
    auto m = make_model({"<unk>", "a", "b", "c", "\u4E2D"});
    const std::string path = test::scratch_dir() + "/sample_tiny.safetensors";
    ASSERT_TRUE(save_model(path, m, training_summary{}).ok());
    for (const auto& bad : std::vector<std::vector<std::string>>{
             {"--top-p", "0"}, {"--top-p", "1.5"}, {"--temperature=-1"}, {"--temperature", "-1"}, {"--num-samples", "0"}, {"--unknown", "x"}}) {
        std::vector<std::string> args{"generate", "--model", path};
        args.insert(args.end(), bad.begin(), bad.end());
        auto r = test::run_charlm(args);
        EXPECT_EQ(r.status, 2) << bad[0] << " " << (bad.size() > 1 ? bad[1] : "") << ": " << r.err;
        EXPECT_FALSE(r.err.empty());
    }
    auto unknown = test::run_charlm({"generate", "--model", path, "--prefix", "a\u2603"});
    EXPECT_EQ(unknown.status, 2) << "a bad --prefix is a usage error, as with --form (issue 24): " << unknown.err;
    EXPECT_NE(unknown.err.find("U+2603"), std::string::npos) << unknown.err;

    const std::vector<std::string> args{"generate", "--model", path, "--prefix", "ab", "--length", "30",
                                        "--temperature", "1.5", "--top-k", "4", "--num-samples", "3", "--seed", "9"};
    auto a = test::run_charlm(args), b = test::run_charlm(args);
    ASSERT_EQ(a.status, 0) << a.err;
    EXPECT_EQ(a.out, b.out) << "the same seed must print the same samples";
    EXPECT_EQ(utf8_error_at(a.out), std::string::npos);
    // Three samples of "ab" + 30 tokens (1 or 3 bytes each), a blank line between them.
    size_t start = 0;
    for (int r = 0; r < 3; ++r) {
        EXPECT_EQ(a.out.compare(start, 2, "ab"), 0) << "sample " << r << " at byte " << start << ":\n" << a.out;
        const size_t end = a.out.find('\n', start);
        ASSERT_NE(end, std::string::npos) << a.out;
        start = end + (r < 2 ? 2 : 1);
        if (r < 2) {
            EXPECT_EQ(a.out[end + 1], '\n') << "no blank line after sample " << r << ":\n" << a.out;
        }
    }
    EXPECT_EQ(start, a.out.size()) << a.out;
    auto one = test::run_charlm({"generate", "--model", path, "--prefix", "a", "--length", "5", "--greedy"});
    ASSERT_EQ(one.status, 0) << one.err;
    EXPECT_EQ(one.out.rfind("a", 0), 0u);
}

}  // namespace
}  // namespace charlm
