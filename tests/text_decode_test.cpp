// Tests of the decoding half of the text pipeline: strict UTF-8 (each kind of ill-formed sequence
// located by byte offset, line and column), replace/skip with the maximal-subpart rule, chunk
// boundaries anywhere, ICU converters (GB18030, UTF-16, Big5, Shift_JIS), detection, BOM, CR/LF,
// file errors and the settings' names. Not here: normalization, tokens, vocabulary.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unicode/ucnv.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "charlm/text.hpp"
#include "text/text_impl.h"

namespace charlm {
namespace {

// Chunk sizes that put boundaries inside every kind of sequence, plus the default.
const std::vector<size_t> chunk_sizes = {1, 2, 3, 5, 7, 64, text_detail::default_chunk_bytes};

result<tokenized_text> run(std::string_view bytes, const text_config& cfg, size_t chunk) {
    return text_detail::tokenize_bytes_chunked(bytes, cfg, "mem.txt", chunk);
}

text_config with_policy(invalid_policy p) {
    text_config c;
    c.on_invalid = p;
    return c;
}

// The text as the pipeline sees it: its tokens in order, joined.
std::string joined(const tokenized_text& t) {
    std::string s;
    for (size_t k = 0; k < t.ids.size(); ++k) s += t.tokens[t.ids[k]];
    return s;
}

// `utf8` in another encoding, through ICU.
std::string encode_as(std::string_view utf8, const char* encoding) {
    std::string out(utf8.size() * 4 + 16, '\0');
    UErrorCode err = U_ZERO_ERROR;
    const int32_t n = ucnv_convert(encoding, "UTF-8", out.data(), static_cast<int32_t>(out.size()), utf8.data(),
                                   static_cast<int32_t>(utf8.size()), &err);
    EXPECT_TRUE(U_SUCCESS(err)) << "cannot convert to " << encoding << ": " << u_errorName(err);
    out.resize(static_cast<size_t>(n));
    return out;
}

class temp_dir {
public:
    temp_dir() {
        char tmpl[] = "/tmp/charlm_text_test_XXXXXX";
        path_ = ::mkdtemp(tmpl);
    }
    ~temp_dir() { std::filesystem::remove_all(path_); }
    std::string file(const std::string& name, std::string_view bytes) const {
        const std::string p = path_ + "/" + name;
        std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        return p;
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// ---- strict UTF-8: every kind of error, located

struct bad_case {
    const char* label;
    std::string bytes;
    const char* where;  // "byte offset N (line L, column C)"
    const char* shown;  // the bytes the message shows
    const char* kind;
};

void PrintTo(const bad_case& b, std::ostream* os) { *os << b.label; }

class utf8_errors : public ::testing::TestWithParam<bad_case> {};

TEST_P(utf8_errors, are_located_at_every_chunk_size) {
    const bad_case& b = GetParam();
    for (size_t chunk : chunk_sizes) {
        auto r = run(b.bytes, text_config{}, chunk);
        ASSERT_FALSE(r.ok()) << b.label << ": accepted at chunk " << chunk;
        const std::string& m = r.err().message;
        EXPECT_EQ(r.err().code, errc::input);
        EXPECT_NE(m.find("'mem.txt'"), std::string::npos) << m;
        EXPECT_NE(m.find(b.where), std::string::npos) << b.label << " chunk " << chunk << ": want '" << b.where
                                                      << "' in: " << m;
        EXPECT_NE(m.find(std::string("bytes ") + b.shown + ";"), std::string::npos)
            << b.label << " chunk " << chunk << ": want bytes " << b.shown << " in: " << m;
        EXPECT_NE(m.find(b.kind), std::string::npos) << b.label << " chunk " << chunk << ": " << m;
        EXPECT_NE(m.find("--on-invalid replace|skip"), std::string::npos) << m;
        EXPECT_NE(m.find("--encoding"), std::string::npos) << m;
    }
}

INSTANTIATE_TEST_SUITE_P(
    text, utf8_errors,
    ::testing::Values(
        bad_case{"overlong2", "ab\xC0\xAF", "byte offset 2 (line 1, column 3)", "C0 AF", "overlong 2-byte"},
        bad_case{"overlong2_c1", "\xC1\xBF", "byte offset 0 (line 1, column 1)", "C1 BF", "overlong 2-byte"},
        bad_case{"overlong3", "x\n\xE0\x80\xAF", "byte offset 2 (line 2, column 1)", "E0 80 AF", "overlong 3-byte"},
        bad_case{"overlong4", "\xF0\x80\x80\xAFz", "byte offset 0 (line 1, column 1)", "F0 80 80 AF", "overlong 4-byte"},
        bad_case{"surrogate_lead", "ok \xED\xA0\x80", "byte offset 3 (line 1, column 4)", "ED A0 80", "surrogate"},
        bad_case{"surrogate_trail", "\xED\xBF\xBF.", "byte offset 0 (line 1, column 1)", "ED BF BF", "surrogate"},
        bad_case{"truncated_end", "abc\xE4\xB8", "byte offset 3 (line 1, column 4)", "E4 B8", "truncated"},
        bad_case{"truncated_end4", "\n\n\xF0\x9F\x98", "byte offset 2 (line 3, column 1)", "F0 9F 98", "truncated"},
        bad_case{"truncated_mid", "\xE4\xB8z", "byte offset 0 (line 1, column 1)", "E4 B8", "incomplete"},
        bad_case{"stray", "a\x80" "b", "byte offset 1 (line 1, column 2)", "80", "stray continuation"},
        bad_case{"stray_after_valid", "\xC3\xA9\xA9", "byte offset 2 (line 1, column 2)", "A9", "stray continuation"},
        bad_case{"beyond_10ffff", "\xF4\x90\x80\x80", "byte offset 0 (line 1, column 1)", "F4 90 80 80",
                 "beyond U+10FFFF"},
        bad_case{"f5", "a\xF5\x80", "byte offset 1 (line 1, column 2)", "F5 80", "never occurs"},
        bad_case{"ff", "\xFF", "byte offset 0 (line 1, column 1)", "FF", "never occurs"},
        // Columns count code points, not bytes: 'é' and '中' are one column each.
        bad_case{"column_in_code_points", "\xC3\xA9\xE4\xB8\xAD\xC0", "byte offset 5 (line 1, column 3)", "C0",
                 "overlong 2-byte"},
        bad_case{"astral_column", "\xF0\x9F\x98\x80x\xFE", "byte offset 5 (line 1, column 3)", "FE", "never occurs"},
        // CR LF and a lone CR are one line break each.
        bad_case{"after_crlf_cr", "a\r\nb\rc\r\n\x80", "byte offset 8 (line 4, column 1)", "80", "stray"},
        // A BOM is not a column.
        bad_case{"after_bom", "\xEF\xBB\xBFx\x80", "byte offset 4 (line 1, column 2)", "80", "stray"}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(text_decode, noncharacters_and_the_extremes_are_accepted) {
    // U+FFFE, U+FDD0, U+10FFFF, U+FFFF, U+0000, U+007F, U+0080, U+07FF, U+0800, U+FFFD, U+10000
    const std::string s = "\xEF\xBF\xBE\xEF\xB7\x90\xF4\x8F\xBF\xBF\xEF\xBF\xBF" + std::string(1, '\0') +
                          "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBD\xF0\x90\x80\x80";
    text_config c;
    c.unit = token_unit::codepoint;
    c.normalize = normalization::none;
    for (size_t chunk : chunk_sizes) {
        auto r = run(s, c, chunk);
        ASSERT_TRUE(r.ok()) << "chunk " << chunk << ": " << r.err().message;
        EXPECT_EQ(r->stats.code_points, 11u) << "chunk " << chunk;
        EXPECT_EQ(joined(*r), s) << "chunk " << chunk;
        EXPECT_EQ(r->stats.invalid_sequences, 0u);
    }
}

// ---- replace and skip

TEST(text_decode, replace_follows_the_maximal_subpart_rule) {
    // Unicode 15, table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 -> a FFFD FFFD FFFD b FFFD c FFFD FFFD d
    const std::string in = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
    const std::string want = "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD" "d";
    for (size_t chunk : chunk_sizes) {
        auto r = run(in, with_policy(invalid_policy::replace), chunk);
        ASSERT_TRUE(r.ok()) << r.err().message;
        EXPECT_EQ(joined(*r), want) << "chunk " << chunk;
        EXPECT_EQ(r->stats.invalid_sequences, 6u) << "chunk " << chunk;
        auto k = run(in, with_policy(invalid_policy::skip), chunk);
        ASSERT_TRUE(k.ok()) << k.err().message;
        EXPECT_EQ(joined(*k), "abcd") << "chunk " << chunk;
        EXPECT_EQ(k->stats.invalid_sequences, 6u) << "chunk " << chunk;
        EXPECT_EQ(k->stats.tokens, 4u);
    }
}

TEST(text_decode, replace_counts_each_kind_once) {
    struct one {
        std::string in;
        uint64_t invalid;
        std::string want;
    };
    const std::string r = "\xEF\xBF\xBD";
    const std::vector<one> cases = {
        {"ab\xC0\xAF", 2, "ab" + r + r},              // C0 and AF: two subparts
        {"\xE0\x80\xAF", 3, r + r + r},                 // overlong 3-byte: each byte alone
        {"\xED\xA0\x80", 3, r + r + r},                 // surrogate: each byte alone
        {"abc\xE4\xB8", 1, "abc" + r},                  // truncated at the end: one
        {"\xF0\x9F\x98z", 1, r + "z"},                  // truncated inside: one
        {"\xF4\x90\x80\x80", 4, r + r + r + r},         // beyond U+10FFFF
        {"\xFF\xFE", 2, r + r},
    };
    for (const auto& c : cases) {
        for (size_t chunk : chunk_sizes) {
            auto t = run(c.in, with_policy(invalid_policy::replace), chunk);
            ASSERT_TRUE(t.ok()) << t.err().message;
            EXPECT_EQ(t->stats.invalid_sequences, c.invalid) << "input bytes " << c.in.size() << " chunk " << chunk;
            EXPECT_EQ(joined(*t), c.want) << "chunk " << chunk;
        }
    }
}

// ---- chunk boundaries inside valid sequences, BOM, CR/LF

TEST(text_decode, sequences_split_anywhere_decode_the_same) {
    const std::string s = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF" "b\xE2\x82\xAC\n";
    for (size_t chunk : chunk_sizes) {
        auto r = run(s, text_config{}, chunk);
        ASSERT_TRUE(r.ok()) << "chunk " << chunk << ": " << r.err().message;
        EXPECT_EQ(joined(*r), s) << "chunk " << chunk;
        EXPECT_EQ(r->stats.code_points, 8u);
        EXPECT_EQ(r->stats.bytes, s.size());
    }
}

TEST(text_decode, bom_is_dropped_only_at_the_start) {
    for (size_t chunk : chunk_sizes) {
        auto r = run("\xEF\xBB\xBF" "ab\xEF\xBB\xBF", text_config{}, chunk);
        ASSERT_TRUE(r.ok()) << r.err().message;
        EXPECT_EQ(joined(*r), "ab\xEF\xBB\xBF") << "chunk " << chunk;  // U+FEFF inside is text (ZWNBSP)
        EXPECT_EQ(r->stats.bytes, 8u);
        EXPECT_EQ(r->stats.code_points, 3u);
    }
    auto only = run("\xEF\xBB\xBF", text_config{}, 1);
    ASSERT_TRUE(only.ok());
    EXPECT_EQ(only->stats.tokens, 0u);
    EXPECT_EQ(only->stats.lines, 0u);
}

TEST(text_decode, crlf_and_lone_cr_become_lf_across_chunks) {
    const std::string in = "a\r\nb\rc\r\r\nd\n\re\r";
    for (size_t chunk : chunk_sizes) {
        auto r = run(in, text_config{}, chunk);
        ASSERT_TRUE(r.ok()) << r.err().message;
        EXPECT_EQ(joined(*r), "a\nb\nc\n\nd\n\ne\n") << "chunk " << chunk;
        EXPECT_EQ(r->stats.lines, 7u) << "chunk " << chunk;
    }
}

TEST(text_decode, stats_count_lines_code_points_and_bytes) {
    struct one {
        std::string in;
        uint64_t lines, code_points;
    };
    for (const auto& c : std::vector<one>{{"", 0, 0}, {"ab", 1, 2}, {"ab\n", 1, 3}, {"ab\ncd", 2, 5},
                                          {"\n\n", 2, 2}, {"\xE4\xB8\xAD\n\xE6\x96\x87", 2, 3}}) {
        auto r = run(c.in, text_config{}, 2);
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(r->stats.lines, c.lines) << "'" << c.in << "'";
        EXPECT_EQ(r->stats.code_points, c.code_points) << "'" << c.in << "'";
        EXPECT_EQ(r->stats.tokens, c.code_points);
        EXPECT_EQ(r->stats.bytes, c.in.size());
        EXPECT_EQ(r->stats.encoding, "UTF-8");
        EXPECT_EQ(r->stats.confidence, -1);
    }
}

// ---- other encodings through ICU converters

const std::string chinese =
    "\xE5\xBA\x8A\xE5\x89\x8D\xE6\x98\x8E\xE6\x9C\x88\xE5\x85\x89\xEF\xBC\x8C\xE7\x96\x91\xE6\x98\xAF\xE5\x9C\xB0"
    "\xE4\xB8\x8A\xE9\x9C\x9C\xE3\x80\x82\n\xE4\xB8\xBE\xE5\xA4\xB4\xE6\x9C\x9B\xE6\x98\x8E\xE6\x9C\x88\xEF\xBC"
    "\x8C\xE4\xBD\x8E\xE5\xA4\xB4\xE6\x80\x9D\xE6\x95\x85\xE4\xB9\xA1\xE3\x80\x82\n";  // 床前明月光，... (Li Bai)

TEST(text_decode, gb18030_decodes_like_utf8_at_every_chunk_size) {
    const std::string utf8 = chinese + "\xF0\x9F\x98\x80 \xE2\x82\xAC\n";  // a 4-byte GB18030 sequence, and €
    const std::string gb = encode_as(utf8, "GB18030");
    ASSERT_NE(gb, utf8);
    text_config c;
    c.encoding = "GB18030";
    for (size_t chunk : chunk_sizes) {
        auto r = run(gb, c, chunk);
        ASSERT_TRUE(r.ok()) << r.err().message;
        EXPECT_EQ(joined(*r), utf8) << "chunk " << chunk;
        EXPECT_EQ(r->stats.encoding, "GB18030");
        EXPECT_EQ(r->stats.bytes, gb.size());
    }
}

TEST(text_decode, utf16_le_be_and_bom_decode_like_utf8) {
    const std::string utf8 = "h\xC3\xA9llo \xF0\x9F\x98\x80\r\n" + chinese;
    const std::string want = "h\xC3\xA9llo \xF0\x9F\x98\x80\n" + chinese;
    struct one {
        const char* encoding;
        std::string bytes;
        const char* reported;
    };
    const std::string le = encode_as(utf8, "UTF-16LE"), be = encode_as(utf8, "UTF-16BE");
    const std::vector<one> cases = {{"UTF-16LE", le, "UTF-16LE"},
                                    {"UTF-16BE", be, "UTF-16BE"},
                                    {"UTF-16LE", "\xFF\xFE" + le, "UTF-16LE"},  // its BOM is dropped too
                                    {"UTF-16", "\xFF\xFE" + le, "UTF-16"},
                                    {"UTF-16", "\xFE\xFF" + be, "UTF-16"}};
    for (const auto& c : cases) {
        text_config cfg;
        cfg.encoding = c.encoding;
        for (size_t chunk : chunk_sizes) {
            auto r = run(c.bytes, cfg, chunk);
            ASSERT_TRUE(r.ok()) << c.encoding << ": " << r.err().message;
            EXPECT_EQ(joined(*r), want) << c.encoding << " chunk " << chunk;
            EXPECT_EQ(r->stats.encoding, c.reported);
        }
    }
}

TEST(text_decode, big5_and_shift_jis_decode) {
    const std::string zh = "\xE4\xB8\xAD\xE6\x96\x87\xE7\xB9\x81\xE9\xAB\x94\n";    // 中文繁體
    const std::string ja = "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\x8B\xE3\x81\xAA\n";  // 日本語かな
    for (auto [enc, text] : {std::pair<const char*, std::string>{"Big5", zh}, {"Shift_JIS", ja}}) {
        text_config c;
        c.encoding = enc;
        auto r = run(encode_as(text, enc), c, 3);
        ASSERT_TRUE(r.ok()) << enc << ": " << r.err().message;
        EXPECT_EQ(joined(*r), text) << enc;
        EXPECT_EQ(r->stats.encoding, enc);
    }
}

TEST(text_decode, converter_errors_are_located_replaced_or_skipped) {
    // GB18030: 0x81 must be followed by 0x30-0x39 or 0x40-0xFE; 0x81 0x20 is ill-formed.
    const std::string gb = encode_as("\xE4\xB8\xAD\n\xE6\x96\x87", "GB18030") + "\x81\x20" "x";
    text_config c;
    c.encoding = "gb18030";
    for (size_t chunk : chunk_sizes) {
        auto r = run(gb, c, chunk);
        ASSERT_FALSE(r.ok()) << "chunk " << chunk;
        EXPECT_EQ(r.err().code, errc::input);
        EXPECT_NE(r.err().message.find("invalid GB18030"), std::string::npos) << r.err().message;
        EXPECT_NE(r.err().message.find("byte offset 5 (line 2, column 2)"), std::string::npos)
            << "chunk " << chunk << ": " << r.err().message;
        EXPECT_NE(r.err().message.find("bytes 81"), std::string::npos) << r.err().message;
    }
    c.on_invalid = invalid_policy::replace;
    auto rep = run(gb, c, 3);
    ASSERT_TRUE(rep.ok()) << rep.err().message;
    EXPECT_EQ(rep->stats.invalid_sequences, 1u);
    EXPECT_EQ(joined(*rep), "\xE4\xB8\xAD\n\xE6\x96\x87\xEF\xBF\xBD x");
    c.on_invalid = invalid_policy::skip;
    auto skip = run(gb, c, 3);
    ASSERT_TRUE(skip.ok()) << skip.err().message;
    EXPECT_EQ(skip->stats.invalid_sequences, 1u);
    EXPECT_EQ(joined(*skip), "\xE4\xB8\xAD\n\xE6\x96\x87 x");

    // UTF-16LE: an odd byte at the end is a truncated unit; a lone surrogate is ill-formed.
    text_config u;
    u.encoding = "UTF-16LE";
    for (size_t chunk : chunk_sizes) {
        auto odd = run(std::string("a\0b\0c", 5), u, chunk);
        ASSERT_FALSE(odd.ok());
        EXPECT_NE(odd.err().message.find("truncated"), std::string::npos) << odd.err().message;
        EXPECT_NE(odd.err().message.find("byte offset 4 (line 1, column 3)"), std::string::npos)
            << "chunk " << chunk << ": " << odd.err().message;
    }
    u.on_invalid = invalid_policy::replace;
    auto lone = run(std::string("a\0\x00\xD8" "b\0", 6), u, 1);
    ASSERT_TRUE(lone.ok()) << lone.err().message;
    EXPECT_EQ(lone->stats.invalid_sequences, 1u);
    EXPECT_EQ(joined(*lone), "a\xEF\xBF\xBD" "b");
}

TEST(text_decode, auto_detects_utf16_with_bom_gb18030_and_utf8) {
    text_config a;
    a.encoding = "auto";
    auto le = run("\xFF\xFE" + encode_as("hello, world\n" + chinese, "UTF-16LE"), a, 7);
    ASSERT_TRUE(le.ok()) << le.err().message;
    EXPECT_EQ(le->stats.encoding, "UTF-16LE");
    EXPECT_EQ(le->stats.confidence, 100);
    EXPECT_EQ(joined(*le), "hello, world\n" + chinese);

    std::string many;
    while (many.size() < 20000) many += chinese;
    auto gb = run(encode_as(many, "GB18030"), a, text_detail::default_chunk_bytes);
    ASSERT_TRUE(gb.ok()) << gb.err().message;
    EXPECT_EQ(gb->stats.encoding, "GB18030");
    EXPECT_GE(gb->stats.confidence, 50);
    EXPECT_EQ(joined(*gb), many);

    auto u8 = run(many, a, 64);
    ASSERT_TRUE(u8.ok());
    EXPECT_EQ(u8->stats.encoding, "UTF-8");
    EXPECT_GE(u8->stats.confidence, 50);

    // Plain ASCII is read as UTF-8 (its superset), so UTF-8 after the first 64 KiB still decodes.
    const std::string ascii = std::string(70000, 'a') + "\n\xC3\xA9\n";
    auto as = run(ascii, a, 4096);
    ASSERT_TRUE(as.ok()) << as.err().message;
    EXPECT_EQ(as->stats.encoding, "UTF-8");
    EXPECT_EQ(joined(*as), ascii);

    auto empty = run("", a, 7);
    ASSERT_TRUE(empty.ok());
    EXPECT_EQ(empty->stats.tokens, 0u);
}

// ---- settings and files

TEST(text_decode, unknown_encoding_is_a_usage_error_that_says_where_to_look) {
    text_config c;
    c.encoding = "no-such-charset";
    const status s = c.validate();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.err().code, errc::usage);
    EXPECT_NE(s.err().message.find("no-such-charset"), std::string::npos);
    EXPECT_NE(s.err().message.find("uconv -l"), std::string::npos) << s.err().message;
    auto r = run("abc", c, 7);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::usage);
    for (const char* ok : {"auto", "UTF-8", "utf8", "GB18030", "Big5", "Shift_JIS", "UTF-16LE", "latin1"}) {
        c.encoding = ok;
        EXPECT_TRUE(c.validate().ok()) << ok;
    }
    c.encoding = "";
    EXPECT_FALSE(c.validate().ok());
}

TEST(text_decode, enum_names_round_trip_and_bad_values_list_the_choices) {
    for (auto p : {invalid_policy::error, invalid_policy::replace, invalid_policy::skip})
        EXPECT_EQ(*parse_invalid_policy(to_string(p)), p);
    for (auto n : {normalization::nfc, normalization::nfkc, normalization::none})
        EXPECT_EQ(*parse_normalization(to_string(n)), n);
    for (auto u : {token_unit::grapheme, token_unit::codepoint}) EXPECT_EQ(*parse_token_unit(to_string(u)), u);
    EXPECT_EQ(to_string(invalid_policy::replace), "replace");
    EXPECT_EQ(to_string(normalization::nfkc), "nfkc");
    EXPECT_EQ(to_string(token_unit::codepoint), "codepoint");
    auto p = parse_invalid_policy("ignore");
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.err().code, errc::usage);
    EXPECT_NE(p.err().message.find("error, replace or skip"), std::string::npos) << p.err().message;
    auto n = parse_normalization("NFD");
    ASSERT_FALSE(n.ok());
    EXPECT_NE(n.err().message.find("nfc, nfkc or none"), std::string::npos) << n.err().message;
    auto u = parse_token_unit("byte");
    ASSERT_FALSE(u.ok());
    EXPECT_NE(u.err().message.find("grapheme or codepoint"), std::string::npos) << u.err().message;
}

// Issue 28: a large corpus reports its reading (the CLI draws it on a terminal): a call per MiB
// read, rising, the last at the file's size, and the text the same as without a listener.
TEST(text_decode, reading_progress_rises_to_the_file_size) {
    temp_dir dir;
    std::string text;
    while (text.size() < (size_t{5} << 20) / 2) text += "春眠不覺曉，處處聞啼鳥。\nspring sleep knows no dawn\n";
    const std::string path = dir.file("big.txt", text);
    std::vector<std::pair<uint64_t, uint64_t>> calls;
    auto t = load_text(path, text_config{}, [&](uint64_t read, uint64_t total) { calls.emplace_back(read, total); });
    ASSERT_TRUE(t.ok()) << t.err().message;
    ASSERT_GE(calls.size(), 3u);
    for (size_t k = 1; k < calls.size(); ++k) EXPECT_GE(calls[k].first, calls[k - 1].first);
    EXPECT_EQ(calls.back().first, text.size());
    for (const auto& c : calls) EXPECT_EQ(c.second, text.size());
    auto plain = load_text(path, text_config{});
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(plain->ids.size(), t->ids.size());
    EXPECT_EQ(plain->tokens, t->tokens);
}

TEST(text_decode, files_missing_directories_and_empty_files) {
    temp_dir dir;
    auto missing = load_text(dir.path() + "/nope.txt", text_config{});
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.err().code, errc::io);
    EXPECT_NE(missing.err().message.find("nope.txt"), std::string::npos);
    EXPECT_NE(missing.err().message.find("No such file"), std::string::npos) << missing.err().message;

    auto isdir = load_text(dir.path(), text_config{});
    ASSERT_FALSE(isdir.ok());
    EXPECT_EQ(isdir.err().code, errc::io);
    EXPECT_NE(isdir.err().message.find("is a directory"), std::string::npos) << isdir.err().message;

    auto empty = load_text(dir.file("empty.txt", ""), text_config{});
    ASSERT_TRUE(empty.ok()) << empty.err().message;
    EXPECT_EQ(empty->stats.tokens, 0u);
    EXPECT_EQ(empty->stats.lines, 0u);
    EXPECT_EQ(empty->stats.bytes, 0u);
    EXPECT_TRUE(empty->tokens.empty());

    const std::string bad_path = dir.file("bad.txt", "line one\nline \xE4\xB8\xAD\xC3\n");
    auto bad = load_text(bad_path, text_config{});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().message.find("'" + bad_path + "'"), std::string::npos) << bad.err().message;
    EXPECT_NE(bad.err().message.find("byte offset 17 (line 2, column 7)"), std::string::npos) << bad.err().message;

    if (::geteuid() != 0) {  // root reads anything
        const std::string locked = dir.file("locked.txt", "x");
        ::chmod(locked.c_str(), 0);
        auto denied = load_text(locked, text_config{});
        ASSERT_FALSE(denied.ok());
        EXPECT_EQ(denied.err().code, errc::io);
        EXPECT_NE(denied.err().message.find("Permission denied"), std::string::npos) << denied.err().message;
    }
}

TEST(text_decode, reads_standard_input_as_dash) {
    temp_dir dir;
    const std::string path = dir.file("in.txt", "from stdin\n\xE4\xB8\xAD\n");
    const int saved = ::dup(STDIN_FILENO);
    const int fd = ::open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ::dup2(fd, STDIN_FILENO);
    ::close(fd);
    auto r = load_text("-", text_config{});
    ::dup2(saved, STDIN_FILENO);
    ::close(saved);
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(joined(*r), "from stdin\n\xE4\xB8\xAD\n");
    EXPECT_EQ(r->stats.lines, 2u);
}

TEST(text_decode, describe_code_points_names_each_one) {
    EXPECT_EQ(describe_code_points("\xE4\xB8\x80\xCC\x81"), "U+4E00 U+0301");
    EXPECT_EQ(describe_code_points("a\xF0\x9F\x98\x80"), "U+0061 U+1F600");
    EXPECT_EQ(describe_code_points(""), "");
    EXPECT_EQ(describe_code_points("\xC0" "a"), "<C0> U+0061");
}

}  // namespace
}  // namespace charlm
