// The decoding half of the corpus pipeline (text.hpp): strict UTF-8 with located errors, the
// replace/skip policies, other encodings through ICU converters and detection, BOM and CR/LF
// handling, line counts, text_config names, load_text on files, and the shared corpora if present.
// Not here: normalization and segmentation (unicode_segment_test) or the vocabulary (vocab_unit_test).
#include <gtest/gtest.h>
#include <unicode/ucnv.h>
#include <unicode/unistr.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "charlm/text.hpp"

namespace charlm {
namespace {

namespace fs = std::filesystem;
constexpr size_t chunk = 4u << 20;  // the pipeline's read size (load.cpp)

std::string bytes(std::initializer_list<int> b) {
    std::string s;
    for (int x : b) s += static_cast<char>(x);
    return s;
}

std::string hex(std::string_view s) {
    std::string out;
    for (unsigned char b : s) {
        static const char digits[] = "0123456789ABCDEF";
        if (!out.empty()) out += ' ';
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

text_config config(const char* encoding = "utf-8", invalid_policy p = invalid_policy::error) {
    text_config c;
    c.encoding = encoding;
    c.on_invalid = p;
    return c;
}

// The tokens of a text in order, as UTF-8 strings.
std::vector<std::string> sequence(const tokenized_text& t) {
    std::vector<std::string> out;
    out.reserve(t.ids.size());
    for (size_t i = 0; i < t.ids.size(); ++i) out.push_back(t.tokens.at(t.ids[i]));
    return out;
}

std::string show(const std::vector<std::string>& toks, size_t from = 0, size_t n = 12) {
    std::string s;
    for (size_t i = from; i < toks.size() && i < from + n; ++i) s.append("[").append(describe_code_points(toks[i])).append("] ");
    return s;
}

::testing::AssertionResult same_tokens(const std::vector<std::string>& got, const std::vector<std::string>& want) {
    const size_t n = std::min(got.size(), want.size());
    for (size_t i = 0; i < n; ++i)
        if (got[i] != want[i])
            return ::testing::AssertionFailure() << "first difference at token " << i << ": got " << show(got, i, 4)
                                                 << " want " << show(want, i, 4);
    if (got.size() != want.size())
        return ::testing::AssertionFailure() << got.size() << " tokens, want " << want.size() << "; tail of the longer: "
                                             << show(got.size() > n ? got : want, n, 4);
    return ::testing::AssertionSuccess();
}

tokenized_text must_tokenize(std::string_view b, const text_config& c) {
    auto r = tokenize_bytes(b, c, "mem.txt");
    EXPECT_TRUE(r.ok()) << r.err().message;
    return r ? std::move(*r) : tokenized_text{};
}

// Checks that an error says what and where: source name, byte offset, line, column, bad bytes.
void expect_located(const error& e, uint64_t offset, uint64_t line, uint64_t column, const std::string& hex,
                    const char* kind = "invalid") {
    EXPECT_EQ(e.code, errc::input) << e.message;
    for (const std::string& part :
         {std::string("'mem.txt'"), std::string(kind) + " ", "byte offset " + std::to_string(offset) + " ",
          "line " + std::to_string(line) + ",", "column " + std::to_string(column) + ")", "bytes " + hex + ";"})
        EXPECT_NE(e.message.find(part), std::string::npos) << "missing \"" << part << "\" in: " << e.message;
}

// Bytes of `utf8` in another encoding, failing on any character the encoding cannot hold.
std::string encode_as(const std::string& utf8, const char* encoding) {
    const icu::UnicodeString u = icu::UnicodeString::fromUTF8(utf8);
    UErrorCode err = U_ZERO_ERROR;
    UConverter* c = ucnv_open(encoding, &err);
    ucnv_setFromUCallBack(c, UCNV_FROM_U_CALLBACK_STOP, nullptr, nullptr, nullptr, &err);
    std::string out(static_cast<size_t>(u.length()) * 4 + 16, '\0');
    const int32_t n = ucnv_fromUChars(c, out.data(), static_cast<int32_t>(out.size()), u.getBuffer(), u.length(), &err);
    ucnv_close(c);
    EXPECT_TRUE(U_SUCCESS(err)) << encoding << ": " << u_errorName(err);
    out.resize(U_SUCCESS(err) ? static_cast<size_t>(n) : 0);
    return out;
}

// ASCII lines of 64 bytes ("abc..." then LF), `n` bytes in all.
std::string filler(size_t n, bool with_lf = true) {
    std::string s(n, ' ');
    for (size_t i = 0; i < n; ++i) s[i] = with_lf && i % 64 == 63 ? '\n' : static_cast<char>('a' + i % 26);
    return s;
}

struct bad_case {
    const char* what;
    std::string text;
    uint64_t offset, line, column;
    const char* hex;
    const char* kind;
};

TEST(utf8_strict, errors_name_source_offset_line_column_and_bytes) {
    // The message shows the ill-formed sequence with the continuation bytes that follow it (what
    // an editor would show as one bad character), even where U+FFFD replacement sees several.
    const std::vector<bad_case> cases = {
        {"overlong 2-byte", "ab" + bytes({0xC0, 0xAF}) + "c", 2, 1, 3, "C0 AF", "invalid"},
        {"overlong 3-byte", "ab" + bytes({0xE0, 0x80, 0xAF}) + "c", 2, 1, 3, "E0 80 AF", "invalid"},
        {"overlong 4-byte", "ab" + bytes({0xF0, 0x80, 0x80, 0xAF}) + "c", 2, 1, 3, "F0 80 80 AF", "invalid"},
        {"surrogate", "ab" + bytes({0xED, 0xA0, 0x80}) + "c", 2, 1, 3, "ED A0 80", "invalid"},
        {"above U+10FFFF", "ab" + bytes({0xF4, 0x90, 0x80, 0x80}), 2, 1, 3, "F4 90 80 80", "invalid"},
        {"F5", "x" + bytes({0xF5, 0x80, 0x80, 0x80}), 1, 1, 2, "F5 80 80 80", "invalid"},
        {"FE", "x" + bytes({0xFE}), 1, 1, 2, "FE", "invalid"},
        {"FF", "xy\n" + bytes({0xFF}), 3, 2, 1, "FF", "invalid"},
        {"stray continuation", "abc" + bytes({0x80}) + "d", 3, 1, 4, "80", "invalid"},
        {"truncated at end", "ab" + bytes({0xE6, 0x98}), 2, 1, 3, "E6 98", "truncated"},
        {"cut short before ASCII", "ab" + bytes({0xE6, 0x98}) + "c", 2, 1, 3, "E6 98", "invalid"},
        {"after CRLF lines", "one\r\ntwo\r\nab" + bytes({0xFF}), 12, 3, 3, "FF", "invalid"},
        {"after a lone CR", "one\rab" + bytes({0xFF}), 6, 2, 3, "FF", "invalid"},
        // Columns count code points: "中文" is 6 bytes but 2 columns.
        {"after multi-byte", "\xE4\xB8\xAD\xE6\x96\x87\nx\xC3\xA9" + bytes({0xC3, '('}), 10, 2, 3, "C3", "invalid"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        auto r = tokenize_bytes(c.text, config(), "mem.txt");
        ASSERT_FALSE(r.ok()) << "accepted ill-formed input";
        expect_located(r.err(), c.offset, c.line, c.column, c.hex, c.kind);
    }
}

TEST(utf8_strict, noncharacters_and_extremes_are_accepted) {
    // U+FFFE, U+FFFF, U+FDD0, U+10FFFF are noncharacters but well-formed; U+0080, U+07FF,
    // U+0800, U+10000 are the smallest non-overlong forms.
    const std::vector<std::string> ok = {"\xEF\xBF\xBE", "\xEF\xBF\xBF", "\xEF\xB7\x90", "\xF4\x8F\xBF\xBF",
                                         "\xC2\x80",     "\xDF\xBF",     "\xE0\xA0\x80", "\xF0\x90\x80\x80"};
    text_config c = config();
    c.normalize = normalization::none;
    for (const auto& s : ok) {
        auto r = tokenize_bytes("a" + s + "b", c, "mem.txt");
        ASSERT_TRUE(r.ok()) << describe_code_points(s) << ": " << r.err().message;
        EXPECT_TRUE(same_tokens(sequence(*r), {"a", s, "b"})) << describe_code_points(s);
    }
}

TEST(utf8_strict, replace_gives_one_fffd_per_maximal_subpart) {
    // ICU's U8_NEXT follows Unicode's "maximal subpart" practice (U+FFFD substitution, ch. 3):
    // a lead byte that its next byte cannot continue is one subpart, and each following
    // continuation byte is another. So E0 80 AF gives 3, not 1; E6 98 (a valid prefix) gives 1.
    struct rcase {
        std::string bad;
        uint64_t n;
    };
    const std::vector<rcase> cases = {
        {bytes({0xC0, 0xAF}), 2},       {bytes({0xE0, 0x80, 0xAF}), 3},       {bytes({0xF0, 0x80, 0x80, 0xAF}), 4},
        {bytes({0xED, 0xA0, 0x80}), 3}, {bytes({0xF4, 0x90, 0x80, 0x80}), 4}, {bytes({0xF5}), 1},
        {bytes({0xFF}), 1},             {bytes({0x80}), 1},                   {bytes({0x80, 0xBF, 0x80}), 3},
        {bytes({0xE6, 0x98}), 1},       {bytes({0xF0, 0x9F, 0x98}), 1},       {bytes({0xC3}), 1},
    };
    for (const auto& c : cases) {
        for (bool at_end : {false, true}) {
            SCOPED_TRACE("bytes " + hex(c.bad) + (at_end ? " at the end" : " before 'b'"));
            const std::string text = "a" + c.bad + (at_end ? "" : "b");
            auto rep = must_tokenize(text, config("utf-8", invalid_policy::replace));
            std::vector<std::string> want = {"a"};
            for (uint64_t k = 0; k < c.n; ++k) want.push_back("\xEF\xBF\xBD");
            if (!at_end) want.push_back("b");
            EXPECT_TRUE(same_tokens(sequence(rep), want));
            EXPECT_EQ(rep.stats.invalid_sequences, c.n);
            auto skip = must_tokenize(text, config("utf-8", invalid_policy::skip));
            EXPECT_TRUE(same_tokens(sequence(skip), at_end ? std::vector<std::string>{"a"}
                                                           : std::vector<std::string>{"a", "b"}));
            EXPECT_EQ(skip.stats.invalid_sequences, c.n);
            EXPECT_EQ(skip.stats.bytes, text.size());
        }
    }
}

TEST(utf8_strict, errors_and_replacements_across_the_chunk_boundary) {
    // A truncated sequence whose lead sits k bytes before the 4 MiB read boundary: the offset is
    // absolute, the line counts the filler's lines, and replace/skip count it once.
    for (size_t k = 0; k <= 3; ++k) {
        SCOPED_TRACE("k = " + std::to_string(k));
        const size_t at = chunk - k;
        std::string text = filler(at) + bytes({0xF0, 0x9F, 0x98}) + "z\n";
        auto r = tokenize_bytes(text, config(), "mem.txt");
        ASSERT_FALSE(r.ok());
        expect_located(r.err(), at, at / 64 + 1, at % 64 + 1, "F0 9F 98");
        auto rep = must_tokenize(text, config("utf-8", invalid_policy::replace));
        EXPECT_EQ(rep.stats.invalid_sequences, 1u);
        EXPECT_EQ(rep.stats.tokens, at + 3);
        EXPECT_EQ(rep.tokens.at(rep.ids[at]), "\xEF\xBF\xBD");
        // A valid 4-byte character straddling the boundary decodes whole.
        auto good = must_tokenize(filler(at) + "\xF0\x9F\x98\x80z", config());
        EXPECT_EQ(good.stats.tokens, at + 2);
        EXPECT_EQ(good.tokens.at(good.ids[at]), "\xF0\x9F\x98\x80");
    }
}

// ---- other encodings through ICU

const std::string mixed_utf8 =
    "Caf\xC3\xA9 e\xCC\x81 na\xC3\xAFve \xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD\n"  // é, e+U+0301, emoji
    "\xE5\xBA\x8A\xE5\x89\x8D\xE6\x98\x8E\xE6\x9C\x88\xE5\x85\x89\xEF\xBC\x8C\xF0\xA0\x80\x80\n";  // 床前明月光，U+20000

TEST(encodings, gb18030_big5_shift_jis_utf16_give_the_utf8_tokens) {
    struct enc_case {
        const char* encoding;
        std::string utf8;
        std::string prefix;  // a BOM for "UTF-16"
        std::string canonical;  // the MIME (or IANA) name ICU gives
    };
    const std::string chinese_s =
        "\xE5\xBA\x8A\xE5\x89\x8D\xE6\x98\x8E\xE6\x9C\x88\xE5\x85\x89\xEF\xBC\x8C\xE7\x96\x91\xE6\x98\xAF\n"
        "\xF0\xA0\x80\x80\xF0\x9F\x98\x80 ABC\n";  // U+20000 and U+1F600 are 4-byte GB18030 codes
    const std::string chinese_t =  // 春眠不覺曉，處處聞啼鳥。
        "\xE6\x98\xA5\xE7\x9C\xA0\xE4\xB8\x8D\xE8\xA6\xBA\xE6\x9B\x89\xEF\xBC\x8C\xE8\x99\x95\xE8\x99\x95"
        "\xE8\x81\x9E\xE5\x95\xBC\xE9\xB3\xA5\xE3\x80\x82\n";
    const std::string japanese =  // こんにちは、世界。カタカナ
        "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF\xE3\x80\x81\xE4\xB8\x96\xE7\x95\x8C"
        "\xE3\x80\x82\xE3\x82\xAB\xE3\x82\xBF\xE3\x82\xAB\xE3\x83\x8A\n";
    const std::vector<enc_case> cases = {
        {"GB18030", chinese_s + mixed_utf8, "", "GB18030"},
        {"Big5", chinese_t, "", "Big5"},
        {"Shift_JIS", japanese, "", "Shift_JIS"},
        {"UTF-16LE", mixed_utf8, "", "UTF-16LE"},
        {"UTF-16BE", mixed_utf8, "", "UTF-16BE"},
        {"UTF-16", mixed_utf8, bytes({0xFF, 0xFE}), "UTF-16"},
        {"UTF-16", mixed_utf8, bytes({0xFE, 0xFF}), "UTF-16"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(std::string(c.encoding) + (c.prefix.empty() ? "" : " with BOM ") +
                     (c.prefix.empty() ? "" : describe_code_points(c.prefix)));
        const char* as = c.prefix.empty() ? c.encoding : (c.prefix[0] == '\xFF' ? "UTF-16LE" : "UTF-16BE");
        const std::string raw = c.prefix + encode_as(c.utf8, as);
        ASSERT_FALSE(raw.empty());
        auto want = must_tokenize(c.utf8, config());
        auto got = must_tokenize(raw, config(c.encoding));
        EXPECT_TRUE(same_tokens(sequence(got), sequence(want)));
        EXPECT_EQ(got.stats.code_points, want.stats.code_points);
        EXPECT_EQ(got.stats.lines, want.stats.lines);
        EXPECT_EQ(got.stats.bytes, raw.size());
        EXPECT_EQ(got.stats.encoding, c.canonical);
        EXPECT_EQ(got.stats.confidence, -1);
    }
}

TEST(encodings, invalid_sequences_error_with_offset_or_are_replaced) {
    struct icu_case {
        const char* encoding;
        std::string text;
        uint64_t offset, column;
        const char* hex;
        const char* kind;
    };
    const std::vector<icu_case> cases = {
        {"GB18030", "a" + bytes({0x81, 0x20}) + "z", 1, 2, "81", "invalid"},  // lead then a non-trail
        {"GB18030", "ab" + bytes({0xFF}) + "z", 2, 3, "FF", "invalid"},
        {"GB18030", "a" + bytes({0x81, 0x30}), 1, 2, "81 30", "truncated"},  // half of a 4-byte code
        {"UTF-16LE", bytes({'a', 0, 0x00, 0xD8, 'b', 0}), 2, 2, "00 D8", "invalid"},  // lone lead surrogate
        {"UTF-16LE", bytes({'a', 0, 'b', 0, 0x00, 0xDC}), 4, 3, "00 DC", "invalid"},  // lone trail surrogate
        {"UTF-16BE", bytes({0, 'a', 0xD8, 0x00, 0, 'b'}), 2, 2, "D8 00", "invalid"},
        {"UTF-16LE", bytes({'a', 0, 'b'}), 2, 2, "62", "truncated"},  // odd length
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(std::string(c.encoding) + " at " + std::to_string(c.offset));
        auto r = tokenize_bytes(c.text, config(c.encoding), "mem.txt");
        ASSERT_FALSE(r.ok());
        expect_located(r.err(), c.offset, 1, c.column, c.hex, c.kind);
        auto rep = must_tokenize(c.text, config(c.encoding, invalid_policy::replace));
        EXPECT_EQ(rep.stats.invalid_sequences, 1u);
        size_t replaced = 0;
        for (const auto& t : sequence(rep)) replaced += t == "\xEF\xBF\xBD";
        EXPECT_EQ(replaced, 1u) << show(sequence(rep));
    }
    // The same errors straddling the 4 MiB boundary: the offset stays absolute.
    // (ICU holds the first bytes inside the converter when they end a chunk.)
    for (const std::string& seq : {bytes({0x81, 0x20}), bytes({0x81, 0x30, 0x81, 0x20})}) {
        for (size_t k = 0; k <= seq.size(); ++k) {
            SCOPED_TRACE("GB18030 " + hex(seq) + " at k = " + std::to_string(k));
            const std::string text = filler(chunk - k) + seq + "z";
            auto r = tokenize_bytes(text, config("GB18030"), "mem.txt");
            ASSERT_FALSE(r.ok());
            expect_located(r.err(), chunk - k, (chunk - k) / 64 + 1, (chunk - k) % 64 + 1, "81");
        }
    }
    {  // half of a 4-byte code ending the text across the boundary: truncated, offset of its lead
        auto r = tokenize_bytes(filler(chunk - 1) + bytes({0x81, 0x30}), config("GB18030"), "mem.txt");
        ASSERT_FALSE(r.ok());
        expect_located(r.err(), chunk - 1, (chunk - 1) / 64 + 1, (chunk - 1) % 64 + 1, "81 30", "truncated");
    }
    const std::string utf16_filler = encode_as(filler(chunk / 2), "UTF-16LE");
    for (size_t k = 0; k <= 4; k += 2) {
        SCOPED_TRACE("UTF-16LE lone surrogate at k = " + std::to_string(k));
        std::string text = utf16_filler.substr(0, chunk - k) + bytes({0x00, 0xD8, 'b', 0});
        auto r = tokenize_bytes(text, config("UTF-16LE"), "mem.txt");
        ASSERT_FALSE(r.ok());
        const uint64_t unit = (chunk - k) / 2;
        expect_located(r.err(), chunk - k, unit / 64 + 1, unit % 64 + 1, "00 D8");
    }
}

TEST(encodings, auto_detects_utf16_bom_and_gb18030) {
    for (const char* bom_enc : {"UTF-16LE", "UTF-16BE"}) {
        const std::string bom = bom_enc[6] == 'L' ? bytes({0xFF, 0xFE}) : bytes({0xFE, 0xFF});
        auto got = must_tokenize(bom + encode_as(mixed_utf8, bom_enc), config("auto"));
        EXPECT_EQ(got.stats.encoding, bom_enc);
        EXPECT_GT(got.stats.confidence, 0);
        EXPECT_TRUE(same_tokens(sequence(got), sequence(must_tokenize(mixed_utf8, config())))) << bom_enc;
    }
    // A few KB of Chinese (Tang quatrains, simplified) in GB18030.
    const std::string poems =
        "床前明月光，疑是地上霜。举头望明月，低头思故乡。\n"
        "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。\n"
        "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。\n"
        "红豆生南国，春来发几枝。愿君多采撷，此物最相思。\n"
        "千山鸟飞绝，万径人踪灭。孤舟蓑笠翁，独钓寒江雪。\n\n";
    std::string text;
    while (text.size() < 6000) text += poems;
    const std::string gb = encode_as(text, "GB18030");
    auto got = must_tokenize(gb, config("auto"));
    EXPECT_EQ(got.stats.encoding, "GB18030");
    EXPECT_GT(got.stats.confidence, 0);
    EXPECT_TRUE(same_tokens(sequence(got), sequence(must_tokenize(text, config()))));
    // Empty input under auto is UTF-8 with no tokens.
    auto empty = must_tokenize("", config("auto"));
    EXPECT_EQ(empty.stats.tokens, 0u);
}

// ---- BOM, line ends, line counts

TEST(line_ends, bom_dropped_only_at_the_start) {
    const std::string bom = "\xEF\xBB\xBF";
    auto a = must_tokenize(bom + "ab", config());
    EXPECT_TRUE(same_tokens(sequence(a), {"a", "b"}));
    EXPECT_EQ(a.stats.bytes, 5u);
    EXPECT_EQ(a.stats.code_points, 2u);
    auto mid = must_tokenize("a" + bom + "b", config());
    EXPECT_TRUE(same_tokens(sequence(mid), {"a", bom, "b"})) << "U+FEFF inside the text is text";
    auto twice = must_tokenize(bom + bom + "a", config());
    EXPECT_TRUE(same_tokens(sequence(twice), {bom, "a"})) << "only the first U+FEFF is a BOM";
    auto only = must_tokenize(bom, config());
    EXPECT_EQ(only.stats.tokens, 0u);
    EXPECT_EQ(only.stats.lines, 0u);
    auto le = must_tokenize(bytes({0xFF, 0xFE, 'a', 0, 0xFF, 0xFE, 'b', 0}), config("UTF-16LE"));
    EXPECT_TRUE(same_tokens(sequence(le), {"a", bom, "b"}));
}

TEST(line_ends, crlf_and_cr_become_lf) {
    auto a = must_tokenize("a\r\nb\rc\n\r\r\nd\r", config());
    EXPECT_TRUE(same_tokens(sequence(a), {"a", "\n", "b", "\n", "c", "\n", "\n", "\n", "d", "\n"}));
    EXPECT_EQ(a.stats.lines, 6u);
    EXPECT_EQ(a.stats.code_points, 10u);
    // CR LF straddling the read boundary, CR as the last byte of the first read (k = 1).
    for (size_t k = 0; k <= 3; ++k) {
        const std::string text = filler(chunk - k, false) + "\r\nx";
        auto t = must_tokenize(text, config());
        EXPECT_EQ(t.stats.tokens, chunk - k + 2) << "k = " << k;
        EXPECT_EQ(t.stats.lines, 2u) << "k = " << k;
        EXPECT_EQ(t.tokens.at(t.ids[chunk - k]), "\n") << "k = " << k;
    }
}

TEST(line_ends, line_counts) {
    struct lcase {
        std::string text;
        uint64_t lines;
    };
    for (const auto& c : std::vector<lcase>{{"", 0}, {"\n", 1}, {"a", 1}, {"a\n", 1}, {"a\nb", 2}, {"a\nb\n", 2},
                                            {"\n\n", 2}, {"a\r\n", 1}, {"a\r\nb", 2}})
        EXPECT_EQ(must_tokenize(c.text, config()).stats.lines, c.lines) << describe_code_points(c.text);
}

// ---- text_config

TEST(text_config_names, parse_to_string_round_trip_and_validate) {
    for (auto p : {invalid_policy::error, invalid_policy::replace, invalid_policy::skip})
        EXPECT_EQ(*parse_invalid_policy(to_string(p)), p);
    for (auto n : {normalization::nfc, normalization::nfkc, normalization::none})
        EXPECT_EQ(*parse_normalization(to_string(n)), n);
    for (auto u : {token_unit::grapheme, token_unit::codepoint}) EXPECT_EQ(*parse_token_unit(to_string(u)), u);
    EXPECT_EQ(parse_invalid_policy("ignore").err().code, errc::usage);
    EXPECT_EQ(parse_normalization("nfd").err().code, errc::usage);
    EXPECT_EQ(parse_token_unit("byte").err().code, errc::usage);
    EXPECT_EQ(parse_token_unit("").err().code, errc::usage);
    for (const char* ok : {"utf-8", "UTF-8", "utf8", "auto", "GB18030", "Big5", "Shift_JIS", "UTF-16"})
        EXPECT_TRUE(config(ok).validate().ok()) << ok;
    for (const char* bad : {"no-such-encoding", ""}) {
        auto s = config(bad).validate();
        ASSERT_FALSE(s.ok()) << bad;
        EXPECT_EQ(s.err().code, errc::usage);
        EXPECT_NE(s.err().message.find("'" + std::string(bad) + "'"), std::string::npos) << s.err().message;
        auto r = tokenize_bytes("abc", config(bad), "mem.txt");
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.err().code, errc::usage);
    }
}

// ---- load_text

class load_files : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("charlm_decode_test_" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string write(const std::string& name, const std::string& content) {
        const fs::path p = dir_ / name;
        std::ofstream(p, std::ios::binary) << content;
        return p.string();
    }
    fs::path dir_;
};

TEST_F(load_files, missing_directory_and_empty) {
    const std::string missing = (dir_ / "no-such-file.txt").string();
    auto m = load_text(missing, config());
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.err().code, errc::io);
    EXPECT_NE(m.err().message.find(missing), std::string::npos) << m.err().message;
    auto d = load_text(dir_.string(), config());
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.err().code, errc::io);
    EXPECT_NE(d.err().message.find("directory"), std::string::npos) << d.err().message;
    for (const char* enc : {"utf-8", "auto", "UTF-16LE"}) {
        auto e = load_text(write("empty.txt", ""), config(enc));
        ASSERT_TRUE(e.ok()) << enc << ": " << e.err().message;
        EXPECT_EQ(e->stats.tokens, 0u);
        EXPECT_EQ(e->stats.lines, 0u);
        EXPECT_TRUE(e->tokens.empty());
    }
    auto bad = load_text(write("bad.txt", "ok\n" + bytes({0xC3, '('})), config());
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().message.find("bad.txt"), std::string::npos) << bad.err().message;
    EXPECT_NE(bad.err().message.find("byte offset 3 "), std::string::npos) << bad.err().message;
}

TEST_F(load_files, multibyte_character_at_the_read_boundary) {
    // One 3-byte character at every position around the 4 MiB boundary, and a file that ends
    // exactly at the boundary with it: the file reads as tokenize_bytes of the same bytes.
    for (size_t k = 1; k <= 4; ++k) {
        SCOPED_TRACE("k = " + std::to_string(k));
        const std::string text = filler(chunk - k) + "\xE4\xB8\xAD" + (k == 3 ? "" : "\n");
        auto f = load_text(write("boundary.txt", text), config());
        ASSERT_TRUE(f.ok()) << f.err().message;
        EXPECT_EQ(f->stats.bytes, text.size());
        EXPECT_EQ(f->stats.tokens, chunk - k + (k == 3 ? 1 : 2));
        EXPECT_EQ(f->tokens.at(f->ids[chunk - k]), "\xE4\xB8\xAD");
        auto m = must_tokenize(text, config());
        EXPECT_TRUE(same_tokens(sequence(*f), sequence(m)));
        EXPECT_EQ(f->stats.lines, m.stats.lines);
    }
}

// ---- the shared corpora, when present

TEST(shared_corpora, every_file_loads_and_known_counts_hold) {
    const fs::path dir = CHARLM_SHARED_CORPORA;
    if (!fs::is_directory(dir)) GTEST_SKIP() << "no corpora at " << dir;
    int loaded = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        const std::string path = e.path().string();
        auto t = load_text(path, config());
        ASSERT_TRUE(t.ok()) << path << ": " << t.err().message;
        EXPECT_EQ(t->stats.invalid_sequences, 0u) << path;
        EXPECT_EQ(t->stats.bytes, fs::file_size(e.path())) << path;
        ++loaded;
        const std::string name = e.path().filename().string();
        if (name == "tang300.txt") {
            EXPECT_EQ(t->tokens.size(), 2579u);
        }
        if (name == "tinyshakespeare.txt") {
            EXPECT_EQ(t->tokens.size(), 65u);
            EXPECT_EQ(t->stats.tokens, 1115394u);
            EXPECT_EQ(t->stats.lines, 40000u);
        }
        if (name == "tang_poems_all.txt") {
            EXPECT_EQ(t->stats.code_points, 4489170u);
            EXPECT_EQ(t->stats.lines, 382852u);
        }
    }
    EXPECT_GT(loaded, 0);
}

}  // namespace
}  // namespace charlm
