// Tests of the vocabulary: its order (<unk>, frequency, then code point), <unk> folding, checks on
// a saved list, encode/decode, and prepare_corpus (split sizes, counts from the training part
// only, unknown tokens, widening the id stream) and map_to_vocab. Not here: tokenization itself.
#include <gtest/gtest.h>
#include <unicode/umachine.h>

#include <string>
#include <vector>

#include "charlm/text.hpp"
#include "charlm/vocab.hpp"

namespace charlm {
namespace {

tokenized_text tokenize(std::string_view utf8) {
    auto r = tokenize_bytes(utf8, text_config{}, "mem.txt");
    EXPECT_TRUE(r.ok()) << r.err().message;
    return std::move(*r);
}

std::vector<std::string> text_tokens(const tokenized_text& t, size_t begin, size_t end) {
    std::vector<std::string> out;
    for (size_t k = begin; k < end; ++k) out.push_back(t.tokens[t.ids[k]]);
    return out;
}

std::vector<std::string> vocab_tokens(const vocabulary& v, const token_stream& ids) {
    std::vector<std::string> out;
    for (size_t k = 0; k < ids.size(); ++k) out.push_back(v.token(ids[k]));
    return out;
}

TEST(vocab, order_is_unk_then_count_descending_then_code_point) {
    // Equal counts: z (U+007A) < é (U+00E9) < � (U+FFFD) < 中? no: 中 is U+4E2D < U+FFFD < 😀 (U+1F600).
    const std::vector<std::string> tokens = {"\xF0\x9F\x98\x80", "\xEF\xBF\xBD", "z", "\xE4\xB8\xAD", "\xC3\xA9", "b", "a"};
    const std::vector<uint64_t> counts = {2, 2, 2, 2, 2, 5, 3};
    const vocabulary v = vocabulary::build(tokens, counts);
    EXPECT_EQ(v.tokens(), (std::vector<std::string>{"<unk>", "b", "a", "z", "\xC3\xA9", "\xE4\xB8\xAD", "\xEF\xBF\xBD",
                                                    "\xF0\x9F\x98\x80"}));
    EXPECT_EQ(v.size(), 8u);
    EXPECT_EQ(v.id("b"), 1u);
    EXPECT_EQ(v.id("\xF0\x9F\x98\x80"), 7u);
    EXPECT_EQ(v.id("missing"), vocabulary::unk_id);
    EXPECT_TRUE(v.contains("a"));
    EXPECT_FALSE(v.contains("q"));
    // The input order does not matter.
    const vocabulary r = vocabulary::build({"a", "b", "\xC3\xA9", "z", "\xF0\x9F\x98\x80", "\xE4\xB8\xAD", "\xEF\xBF\xBD"},
                                           {3, 5, 2, 2, 2, 2, 2});
    EXPECT_EQ(r.tokens(), v.tokens());
}

TEST(vocab, min_count_folds_rare_tokens_into_unk) {
    const vocabulary v = vocabulary::build({"a", "b", "c", "d"}, {5, 1, 2, 0}, 2);
    EXPECT_EQ(v.tokens(), (std::vector<std::string>{"<unk>", "a", "c"}));
    EXPECT_EQ(v.id("b"), vocabulary::unk_id);
    // A token never seen (count 0) has no place even with min_count 0 or 1.
    EXPECT_EQ(vocabulary::build({"a", "d"}, {1, 0}, 0).size(), 2u);
    EXPECT_EQ(vocabulary().size(), 1u);
    EXPECT_EQ(vocabulary().token(0), "<unk>");
}

TEST(vocab, encode_decode_round_trip_and_unk_decodes_to_fffd) {
    const std::string text = "h\xC3\xA9llo, \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x87\xA8\xF0\x9F\x87\xB3\n";
    tokenized_text t = tokenize(text);
    const vocabulary v = vocabulary::build(t.tokens, t.counts);
    const std::vector<std::string> toks = text_tokens(t, 0, t.ids.size());
    const std::vector<uint32_t> ids = v.encode(toks);
    ASSERT_EQ(ids.size(), toks.size());
    for (uint32_t id : ids) EXPECT_NE(id, vocabulary::unk_id);
    EXPECT_EQ(v.decode(ids), text);
    EXPECT_EQ(v.encode({"l", "?"}), (std::vector<uint32_t>{v.id("l"), vocabulary::unk_id}));
    const std::vector<uint32_t> with_unk = {v.id("h"), vocabulary::unk_id, v.id("l")};
    EXPECT_EQ(v.decode(with_unk), "h\xEF\xBF\xBDl");
    const std::vector<uint32_t> out_of_range = {999};
    EXPECT_EQ(v.decode(out_of_range), "\xEF\xBF\xBD");
}

TEST(vocab, from_tokens_checks_the_saved_list) {
    auto ok = vocabulary::from_tokens({"<unk>", "a", "\xE4\xB8\xAD", "e\xCC\x81"});
    ASSERT_TRUE(ok.ok()) << ok.err().message;
    EXPECT_EQ(ok->id("e\xCC\x81"), 3u);

    struct bad {
        std::vector<std::string> list;
        const char* says;
    };
    for (const auto& b : std::vector<bad>{
             {{}, "must start with <unk>"},
             {{"a", "<unk>"}, "must start with <unk>"},
             {{"<unk>", "a", "b", "a"}, "entries 1 and 3"},
             {{"<unk>", "a", "<unk>"}, "entries 0 and 2"},
             {{"<unk>", ""}, "entry 1 is empty"},
             {{"<unk>", "ok", "\xC0\xAF"}, "entry 2 is not valid UTF-8"},
             {{"<unk>", "\xED\xA0\x80"}, "entry 1 is not valid UTF-8"},
         }) {
        auto r = vocabulary::from_tokens(b.list);
        ASSERT_FALSE(r.ok()) << b.says;
        EXPECT_EQ(r.err().code, errc::format);
        EXPECT_NE(r.err().message.find(b.says), std::string::npos) << r.err().message;
    }
}

TEST(vocab, prepare_corpus_splits_at_floor_and_counts_the_training_part_only) {
    // 10 tokens; valid_fraction 0.25 -> train floor(7.5) = 7: "aabbbca", valid "dda".
    tokenized_text t = tokenize("aabbbcaddA");
    const tokenized_text copy = tokenize("aabbbcaddA");
    prepared_corpus p = prepare_corpus(std::move(t), nullptr, 0.25, 1);
    ASSERT_EQ(p.train.size(), 7u);
    ASSERT_EQ(p.valid.size(), 3u);
    // Vocabulary from "aabbbca" only: a 3, b 3, c 1 -> <unk>, a, b, c; d and A are validation-only.
    EXPECT_EQ(p.vocab.tokens(), (std::vector<std::string>{"<unk>", "a", "b", "c"}));
    EXPECT_EQ(vocab_tokens(p.vocab, p.train), text_tokens(copy, 0, 7));
    EXPECT_EQ(vocab_tokens(p.vocab, p.valid), (std::vector<std::string>{"<unk>", "<unk>", "<unk>"}));
    EXPECT_EQ(p.train_unk, 0u);
    EXPECT_EQ(p.valid_unk, 3u);

    // min_count 2 folds c (1 in training) into <unk> in both parts.
    tokenized_text u = tokenize("aabbbcacbc");  // train "aabbbca" (c once), valid "cbc"
    prepared_corpus q = prepare_corpus(std::move(u), nullptr, 0.25, 2);
    EXPECT_EQ(q.vocab.tokens(), (std::vector<std::string>{"<unk>", "a", "b"}));
    EXPECT_EQ(q.train_unk, 1u);
    EXPECT_EQ(q.valid_unk, 2u);
    EXPECT_EQ(vocab_tokens(q.vocab, q.valid), (std::vector<std::string>{"<unk>", "b", "<unk>"}));

    // No validation part.
    tokenized_text w = tokenize("abc");
    prepared_corpus r = prepare_corpus(std::move(w), nullptr, 0.0, 1);
    EXPECT_EQ(r.train.size(), 3u);
    EXPECT_TRUE(r.valid.empty());
    for (size_t n : {1u, 2u, 9u, 10u, 11u, 1000u}) {
        tokenized_text x = tokenize(std::string(n, 'x'));
        prepared_corpus s = prepare_corpus(std::move(x), nullptr, 0.1, 1);
        EXPECT_EQ(s.train.size(), static_cast<size_t>(static_cast<double>(n) * 0.9)) << n;
        EXPECT_EQ(s.train.size() + s.valid.size(), n);
    }
}

TEST(vocab, prepare_corpus_with_a_separate_validation_text) {
    tokenized_text train = tokenize("abcab");
    const tokenized_text valid = tokenize("bxa");
    prepared_corpus p = prepare_corpus(std::move(train), &valid, 0.5, 1);  // the fraction is ignored
    EXPECT_EQ(p.train.size(), 5u);
    EXPECT_EQ(p.vocab.tokens(), (std::vector<std::string>{"<unk>", "a", "b", "c"}));
    EXPECT_EQ(vocab_tokens(p.vocab, p.valid), (std::vector<std::string>{"b", "<unk>", "a"}));
    EXPECT_EQ(p.valid_unk, 1u);
    uint64_t unk = 99;
    const token_stream again = map_to_vocab(valid, p.vocab, &unk);
    EXPECT_EQ(unk, 1u);
    EXPECT_EQ(vocab_tokens(p.vocab, again), vocab_tokens(p.vocab, p.valid));
}

TEST(vocab, prepare_corpus_widens_ids_when_unk_pushes_past_256) {
    // 256 distinct tokens fit 1-byte ids in the text; with <unk> the vocabulary has 257.
    std::string text;
    for (UChar32 c = 0x4E00; c < 0x4E00 + 256; ++c) {
        text += static_cast<char>(0xE0 | (c >> 12));
        text += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        text += static_cast<char>(0x80 | (c & 0x3F));
    }
    text += text;
    tokenized_text t = tokenize(text);
    ASSERT_EQ(t.tokens.size(), 256u);
    ASSERT_EQ(t.ids.width(), 1);
    const tokenized_text copy = tokenize(text);
    prepared_corpus p = prepare_corpus(std::move(t), nullptr, 0.0, 1);
    EXPECT_EQ(p.vocab.size(), 257u);
    EXPECT_EQ(p.train.width(), 2);
    EXPECT_EQ(vocab_tokens(p.vocab, p.train), text_tokens(copy, 0, copy.ids.size()));
    EXPECT_EQ(p.train_unk, 0u);
}

}  // namespace
}  // namespace charlm
