// The vocabulary (vocab.hpp) and the id stream (token_stream.hpp): deterministic order (<unk>,
// then frequency, ties by code point order), <unk> folding, encode/decode, saved-list checks,
// the train/validation split in one id space, and widening of ids past 255 and 65535.
// Not here: how bytes become tokens (unicode_decode_test, unicode_segment_test).
#include <gtest/gtest.h>
#include <unicode/utf8.h>

#include <string>
#include <vector>

#include "charlm/text.hpp"
#include "charlm/token_stream.hpp"
#include "charlm/vocab.hpp"

namespace charlm {
namespace {

const std::string fffd = "\xEF\xBF\xBD";

tokenized_text must_tokenize(const std::string& utf8) {
    auto r = tokenize_bytes(utf8, text_config{}, "mem.txt");
    EXPECT_TRUE(r.ok()) << r.err().message;
    return r ? std::move(*r) : tokenized_text{};
}

std::string list(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& t : v) s.append(s.empty() ? "" : ", ").append(t == "\n" ? "\\n" : t);
    return s;
}

std::vector<uint32_t> ids_of(const token_stream& s) {
    std::vector<uint32_t> v(s.size());
    for (size_t i = 0; i < s.size(); ++i) v[i] = s[i];
    return v;
}

TEST(vocabulary_order, frequency_then_code_point_order) {
    auto v = vocabulary::build({"b", "a", "c"}, {3, 3, 5});
    EXPECT_EQ(v.tokens(), (std::vector<std::string>{"<unk>", "c", "a", "b"})) << list(v.tokens());
    EXPECT_EQ(vocabulary::unk_id, 0u);
    EXPECT_EQ(v.id("c"), 1u);
    EXPECT_EQ(v.id("zzz"), vocabulary::unk_id);
    EXPECT_FALSE(v.contains("zzz"));
    // Ties by code point sequence, not UTF-16 order: U+FF71 < U+1F600 although D83D < FF71.
    const std::vector<std::string> tied = {"\U0001F600", "\uFF71", "\u4E2D", "\u00E9", "z", "e\u0301", "e"};
    auto t = vocabulary::build(tied, std::vector<uint64_t>(tied.size(), 2));
    EXPECT_EQ(t.tokens(), (std::vector<std::string>{"<unk>", "e", "e\u0301", "z", "\u00E9", "\u4E2D", "\uFF71",
                                                    "\U0001F600"}))
        << list(t.tokens());
    // The input order does not matter.
    std::vector<std::string> rev(tied.rbegin(), tied.rend());
    EXPECT_EQ(vocabulary::build(rev, std::vector<uint64_t>(rev.size(), 2)).tokens(), t.tokens());
    EXPECT_EQ(vocabulary().tokens(), (std::vector<std::string>{"<unk>"}));
}

TEST(vocabulary_order, min_count_folds_rare_tokens_into_unk) {
    auto v = vocabulary::build({"a", "b", "c", "d"}, {5, 1, 2, 0}, 2);
    EXPECT_EQ(v.tokens(), (std::vector<std::string>{"<unk>", "a", "c"})) << list(v.tokens());
    EXPECT_EQ(v.id("b"), vocabulary::unk_id);
    auto all = vocabulary::build({"a", "b", "d"}, {5, 1, 0}, 0);  // min_count 0 acts as 1
    EXPECT_EQ(all.tokens(), (std::vector<std::string>{"<unk>", "a", "b"})) << list(all.tokens());
}

TEST(vocabulary_codec, encode_decode_round_trip_and_unk) {
    const std::string text = "na\u00EFve e\u0301 \U0001F468\u200D\U0001F469 \u4E2D\u6587\n";
    auto t = must_tokenize(text);
    auto v = vocabulary::build(t.tokens, t.counts);
    std::vector<std::string> seq;
    for (size_t i = 0; i < t.ids.size(); ++i) seq.push_back(t.tokens[t.ids[i]]);
    const std::vector<uint32_t> ids = v.encode(seq);
    ASSERT_EQ(ids.size(), seq.size());
    for (size_t i = 0; i < ids.size(); ++i) EXPECT_NE(ids[i], vocabulary::unk_id) << "token " << i;
    auto nfc = segment_utf8(text, text_config{});
    ASSERT_TRUE(nfc.ok());
    std::string joined;
    for (const auto& s : *nfc) joined += s;
    EXPECT_EQ(v.decode(ids), joined);
    EXPECT_EQ(v.encode({"never seen"}), std::vector<uint32_t>{vocabulary::unk_id});
    const std::vector<uint32_t> odd = {vocabulary::unk_id, v.id("n"), v.size() + 7};
    EXPECT_EQ(v.decode(odd), fffd + "n" + fffd) << "<unk> and ids out of range decode to U+FFFD";
}

TEST(vocabulary_codec, from_tokens_checks_the_saved_list) {
    auto built = vocabulary::build({"x", "y", "\u00E9"}, {1, 2, 3});
    auto back = vocabulary::from_tokens(built.tokens());
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(back->tokens(), built.tokens());
    for (const auto& tok : built.tokens()) EXPECT_EQ(back->id(tok), built.id(tok)) << tok;

    struct bad {
        const char* what;
        std::vector<std::string> list;
        const char* says;
    };
    for (const auto& b : std::vector<bad>{{"empty list", {}, "<unk>"},
                                          {"missing <unk>", {"a", "<unk>"}, "<unk>"},
                                          {"duplicate", {"<unk>", "a", "b", "a"}, "entries 1 and 3"},
                                          {"empty entry", {"<unk>", "a", ""}, "entry 2"},
                                          {"invalid UTF-8", {"<unk>", "a", "\xC3("}, "entry 2"},
                                          {"surrogate", {"<unk>", "\xED\xA0\x80"}, "entry 1"}}) {
        auto r = vocabulary::from_tokens(b.list);
        ASSERT_FALSE(r.ok()) << b.what << " accepted";
        EXPECT_EQ(r.err().code, errc::format) << b.what;
        EXPECT_NE(r.err().message.find(b.says), std::string::npos) << b.what << ": " << r.err().message;
    }
}

TEST(corpus_split, training_part_builds_the_vocabulary) {
    // 20 tokens: 18 of "ab" then "xy". Cut at floor(0.9 * 20) = 18: x and y only in validation.
    std::string text;
    for (int i = 0; i < 9; ++i) text += i % 3 == 2 ? "aa" : "ab";
    text += "xy";
    auto p = prepare_corpus(must_tokenize(text), nullptr, 0.1, 1);
    EXPECT_EQ(p.train.size(), 18u);
    EXPECT_EQ(p.valid.size(), 2u);
    EXPECT_EQ(p.vocab.tokens(), (std::vector<std::string>{"<unk>", "a", "b"})) << list(p.vocab.tokens());
    EXPECT_EQ(p.valid_unk, 2u);
    EXPECT_EQ(p.train_unk, 0u);
    const auto train = ids_of(p.train);
    EXPECT_EQ(p.vocab.decode(train), text.substr(0, 18));
    EXPECT_EQ(p.vocab.decode(ids_of(p.valid)), fffd + fffd);

    for (size_t n : {0u, 1u, 7u, 10u, 11u, 19u, 1000u, 1001u}) {
        auto q = prepare_corpus(must_tokenize(std::string(n, 'a')), nullptr, 0.1, 1);
        EXPECT_EQ(q.train.size(), n * 9 / 10) << "n = " << n;
        EXPECT_EQ(q.train.size() + q.valid.size(), n) << "n = " << n;
    }
    // min_count: b (3 times in training) folds into <unk> at min_count 4 and is counted.
    auto m = prepare_corpus(must_tokenize("aaaabbbaaac"), nullptr, 0.0, 4);
    EXPECT_EQ(m.vocab.tokens(), (std::vector<std::string>{"<unk>", "a"})) << list(m.vocab.tokens());
    EXPECT_EQ(m.train_unk, 4u) << "3 b and 1 c";
    EXPECT_EQ(m.valid.size(), 0u);
}

TEST(corpus_split, separate_validation_text_and_map_to_vocab) {
    auto train = must_tokenize("hello world\n");
    auto valid = must_tokenize("held word? \u4E2D\n");
    auto p = prepare_corpus(tokenized_text(train), &valid, 0.5, 1);
    EXPECT_EQ(p.train.size(), train.ids.size()) << "all of the text trains when validation is given";
    EXPECT_EQ(p.valid.size(), valid.ids.size());
    EXPECT_EQ(p.valid_unk, 2u) << "'?' and U+4E2D are not in the training text";
    EXPECT_EQ(p.vocab.decode(ids_of(p.valid)), "held word" + fffd + " " + fffd + "\n");
    uint64_t unk = 99;
    auto mapped = map_to_vocab(valid, p.vocab, &unk);
    EXPECT_EQ(unk, 2u);
    EXPECT_EQ(ids_of(mapped), ids_of(p.valid));
    auto again = map_to_vocab(valid, p.vocab, nullptr);
    EXPECT_EQ(ids_of(again), ids_of(p.valid));
}

TEST(id_stream, widens_past_255_and_65535) {
    token_stream s;
    EXPECT_EQ(s.width(), 1);
    const std::vector<uint32_t> v = {5, 255, 256, 7, 65535, 65536, 70000, 0, 1u << 31};
    const int widths[] = {1, 1, 2, 2, 2, 4, 4, 4, 4};
    for (size_t i = 0; i < v.size(); ++i) {
        s.push_back(v[i]);
        EXPECT_EQ(s.width(), widths[i]) << "after " << v[i];
    }
    EXPECT_EQ(ids_of(s), v);
    auto sl = s.slice(2, 6);
    EXPECT_EQ(ids_of(sl), (std::vector<uint32_t>{256, 7, 65535, 65536}));
    int32_t out[3];
    s.copy_to(4, 3, out);
    EXPECT_EQ(out[0], 65535);
    EXPECT_EQ(out[1], 65536);
    EXPECT_EQ(out[2], 70000);
}

TEST(id_stream, seventy_thousand_distinct_tokens) {
    // 70 304 distinct ideographs (CJK, Ext-A, Ext-B; all NFC-stable), each once, then again.
    std::string text;
    auto add = [&](UChar32 lo, UChar32 hi) {
        for (UChar32 c = lo; c <= hi; ++c) {
            char b[4];
            int32_t n = 0;
            U8_APPEND_UNSAFE(b, n, c);
            text.append(b, static_cast<size_t>(n));
        }
    };
    add(0x4E00, 0x9FFF);
    add(0x3400, 0x4DBF);
    add(0x20000, 0x2A6DF);
    text += text;
    auto t = must_tokenize(text);
    ASSERT_EQ(t.tokens.size(), 70304u);
    EXPECT_EQ(t.ids.width(), 4);
    EXPECT_EQ(t.ids[70303], 70303u);
    EXPECT_EQ(t.ids[70304 + 300], 300u);
    auto p = prepare_corpus(std::move(t), nullptr, 0.0, 1);
    EXPECT_EQ(p.vocab.size(), 70305u);
    EXPECT_EQ(p.train.width(), 4);
    EXPECT_EQ(p.vocab.decode(ids_of(p.train)), text);
    // 300 distinct tokens need 2 bytes per id, and ids < 256 one byte.
    auto small = must_tokenize(text.substr(0, 300 * 3));
    EXPECT_EQ(small.ids.width(), 2);
    EXPECT_EQ(small.ids[299], 299u);
    auto tiny = prepare_corpus(must_tokenize(text.substr(0, 200 * 3)), nullptr, 0.0, 1);
    EXPECT_EQ(tiny.train.width(), 1);
}

}  // namespace
}  // namespace charlm
