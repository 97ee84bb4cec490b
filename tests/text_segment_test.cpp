// Tests of the token half of the text pipeline: NFC/NFKC/none and lowercasing, grapheme clusters
// (combining marks, ZWJ emoji, flags, Hangul jamo, Indic conjuncts) against code points, equality
// with a plain ICU BreakIterator pass over whole random mixed texts, chunk-size independence,
// segment_utf8, and the shared corpora. Not here: decoding errors (text_decode_test).
#include <gtest/gtest.h>
#include <unicode/brkiter.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "charlm/text.hpp"
#include "text/text_impl.h"

namespace charlm {
namespace {

const std::vector<size_t> chunk_sizes = {1, 3, 7, 64, 4096, text_detail::default_chunk_bytes};

text_config make(normalization n, token_unit u, bool lower = false) {
    text_config c;
    c.normalize = n;
    c.unit = u;
    c.lowercase = lower;
    return c;
}

result<tokenized_text> run(std::string_view utf8, const text_config& cfg,
                           size_t chunk = text_detail::default_chunk_bytes) {
    return text_detail::tokenize_bytes_chunked(utf8, cfg, "mem.txt", chunk);
}

std::vector<std::string> tokens_of(const tokenized_text& t) {
    std::vector<std::string> out;
    for (size_t k = 0; k < t.ids.size(); ++k) out.push_back(t.tokens[t.ids[k]]);
    return out;
}

std::vector<std::string> tokens_of(std::string_view utf8, const text_config& cfg, size_t chunk = 1 << 20) {
    auto r = run(utf8, cfg, chunk);
    EXPECT_TRUE(r.ok()) << r.err().message;
    return r.ok() ? tokens_of(*r) : std::vector<std::string>{};
}

std::string utf8_of(const icu::UnicodeString& u) {
    std::string s;
    u.toUTF8String(s);
    return s;
}

// The reference: fold CR LF and CR, normalize and lowercase the whole text at once, then one
// BreakIterator pass.
std::vector<std::string> reference(const std::string& utf8, const text_config& cfg) {
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(utf8);
    u.findAndReplace(u"\r\n", u"\n").findAndReplace(u"\r", u"\n");
    UErrorCode err = U_ZERO_ERROR;
    const icu::Normalizer2* norm = cfg.normalize == normalization::nfc    ? icu::Normalizer2::getNFCInstance(err)
                                   : cfg.normalize == normalization::nfkc ? icu::Normalizer2::getNFKCInstance(err)
                                                                          : nullptr;
    if (norm) u = norm->normalize(u, err);
    if (cfg.lowercase) {  // after normalization, and normalized again
        u.toLower(icu::Locale::getRoot());
        if (norm) u = norm->normalize(u, err);
    }
    EXPECT_TRUE(U_SUCCESS(err));
    std::vector<std::string> out;
    if (cfg.unit == token_unit::codepoint) {
        for (int32_t i = 0; i < u.length(); i = u.moveIndex32(i, 1)) out.push_back(utf8_of(u.tempSubStringBetween(i, u.moveIndex32(i, 1))));
        return out;
    }
    std::unique_ptr<icu::BreakIterator> bi(icu::BreakIterator::createCharacterInstance(icu::Locale::getRoot(), err));
    bi->setText(u);
    for (int32_t b = bi->first(), e = bi->next(); e != icu::BreakIterator::DONE; b = e, e = bi->next())
        out.push_back(utf8_of(u.tempSubStringBetween(b, e)));
    return out;
}

// Names the first token where two sequences part.
::testing::AssertionResult same_tokens(const std::vector<std::string>& got, const std::vector<std::string>& want) {
    const size_t n = std::min(got.size(), want.size());
    for (size_t k = 0; k < n; ++k)
        if (got[k] != want[k])
            return ::testing::AssertionFailure() << "token " << k << " of " << want.size() << ": got "
                                                 << describe_code_points(got[k]) << ", want "
                                                 << describe_code_points(want[k]);
    if (got.size() != want.size())
        return ::testing::AssertionFailure() << "got " << got.size() << " tokens, want " << want.size();
    return ::testing::AssertionSuccess();
}

std::string utf8_cp(UChar32 c) {
    icu::UnicodeString u(c);
    return utf8_of(u);
}

// Random text from code points of every grapheme class (no CR: decoding folds it). Deterministic.
std::string random_mixed_text(size_t code_points, uint64_t seed, bool line_breaks) {
    static const std::vector<UChar32> pool = {
        'a', 'b', 'e', 'Z', ' ', ' ', '.', '1', '\t', 0x01, 0x4E2D, 0x6587, 0x20000,         // Other, Control
        0x0301, 0x0308, 0x0327, 0x0302, 0x200C, 0xFE0F, 0x1F3FB,                              // Extend
        0x200D, 0x200D,                                                                       // ZWJ
        0x1F468, 0x1F469, 0x1F467, 0x2764, 0x1F44D,                                           // Extended_Pictographic
        0x1F1E8, 0x1F1F3, 0x1F1FA, 0x1F1F8, 0x1F1E8, 0x1F1F3,                                 // Regional_Indicator
        0x1100, 0x1161, 0x11A8, 0xAC00, 0xAC01, 0x3131,                                       // Hangul L V T LV LVT
        0x0915, 0x094D, 0x0937, 0x093F, 0x0902, 0x0928, 0x092E, 0x0938, 0x0924, 0x0947,      // Devanagari
        0x0600, 0x110BD,                                                                      // Prepend
        0x0E01, 0x0E33, 0x0E31,                                                               // Thai
        0x03A3, 0x0130, 0x00C5, 0x212B, 0x0958, 0xFB01, 0x2460, 0xFF21, 0x0345, 0x0F73,       // case and norm
        0x200B, 0xFEFF, 0x00AD, 0x034F,                                                       // Control, Cf
    };
    uint64_t s = seed;
    auto next = [&s] {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<uint32_t>(s >> 33);
    };
    std::string out = "x";  // never a leading U+FEFF (that one is a BOM)
    for (size_t k = 1; k < code_points; ++k) {
        if (line_breaks && next() % 23 == 0)
            out += '\n';
        else
            out += utf8_cp(pool[next() % pool.size()]);
    }
    return out;
}

// ---- normalization and case

TEST(text_segment, nfc_makes_precomposed_and_combining_forms_one_token) {
    const std::string precomposed = "\xC3\xA9", combining = "e\xCC\x81";  // U+00E9 and e U+0301
    auto nfc = run(precomposed + " " + combining, text_config{});
    ASSERT_TRUE(nfc.ok());
    EXPECT_EQ(nfc->ids[0], nfc->ids[2]) << "é and e+U+0301 must share an id under NFC";
    EXPECT_EQ(nfc->tokens[nfc->ids[0]], precomposed);
    EXPECT_EQ(nfc->counts[nfc->ids[0]], 2u);
    EXPECT_EQ(nfc->stats.code_points, 3u);  // counted after normalization

    auto none = run(precomposed + " " + combining, make(normalization::none, token_unit::grapheme));
    ASSERT_TRUE(none.ok());
    EXPECT_NE(none->ids[0], none->ids[2]);
    EXPECT_EQ(none->tokens[none->ids[2]], combining);  // still one grapheme
    EXPECT_EQ(none->stats.code_points, 4u);

    EXPECT_EQ(tokens_of(combining, make(normalization::none, token_unit::codepoint)),
              (std::vector<std::string>{"e", "\xCC\x81"}));
    // Hangul jamo compose under NFC: L V T -> U+AC01.
    EXPECT_EQ(tokens_of("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", text_config{}),
              (std::vector<std::string>{"\xEA\xB0\x81"}));
}

TEST(text_segment, nfkc_folds_compatibility_forms) {
    const std::string fi = "\xEF\xAC\x81";  // U+FB01 LATIN SMALL LIGATURE FI
    EXPECT_EQ(tokens_of(fi, make(normalization::nfkc, token_unit::grapheme)), (std::vector<std::string>{"f", "i"}));
    EXPECT_EQ(tokens_of(fi, text_config{}), (std::vector<std::string>{fi}));
    EXPECT_EQ(tokens_of(fi, make(normalization::none, token_unit::grapheme)), (std::vector<std::string>{fi}));
    // Circled one and a full-width A.
    EXPECT_EQ(tokens_of("\xE2\x91\xA0\xEF\xBC\xA1", make(normalization::nfkc, token_unit::codepoint)),
              (std::vector<std::string>{"1", "A"}));
}

// Issue 18 item 10: lowercasing used to run before normalization, so NFKC's capitals stayed.
TEST(text_segment, lowercase_comes_after_normalization) {
    const std::string text = "\xE2\x84\x8C\xE3\x8E\x92\xF0\x9F\x84\xB0";  // U+210C U+3392 U+1F130: H MHz A
    EXPECT_EQ(tokens_of(text, make(normalization::nfkc, token_unit::grapheme, true)),
              (std::vector<std::string>{"h", "m", "h", "z", "a"}));
    EXPECT_EQ(tokens_of(text, make(normalization::nfkc, token_unit::grapheme)),
              (std::vector<std::string>{"H", "M", "H", "z", "A"}));
    auto prefix = segment_utf8(text, make(normalization::nfkc, token_unit::codepoint, true));  // prefixes, stops
    ASSERT_TRUE(prefix.ok()) << prefix.err().message;
    EXPECT_EQ(*prefix, (std::vector<std::string>{"h", "m", "h", "z", "a"}));
    // A long line without line breaks is cut where no rule can see the cut. Before U+3392 (uncased,
    // but its NFKC form MHz is) is no such place: the sigma before it is not final.
    std::string line;
    for (int i = 0; i < 20000; ++i) line += "x\xCE\xA3'\xE3\x8E\x92 ";  // xΣ'㎒ : xσ'mhz
    const text_config lower_nfkc = make(normalization::nfkc, token_unit::grapheme, true);
    for (size_t chunk : {size_t{4096}, size_t{65536}})
        EXPECT_TRUE(same_tokens(tokens_of(line, lower_nfkc, chunk), reference(line, lower_nfkc))) << chunk;
    EXPECT_EQ(reference(line, lower_nfkc)[1], "\xCF\x83") << "the reference's sigma is not final";
}

TEST(text_segment, lowercase_uses_full_root_mappings) {
    const text_config lower = make(normalization::nfc, token_unit::grapheme, true);
    EXPECT_EQ(tokens_of("\xC3\x80" "B", lower), (std::vector<std::string>{"\xC3\xA0", "b"}));  // ÀB -> àb
    // U+0130 lowercases to i U+0307: two code points, one grapheme.
    EXPECT_EQ(tokens_of("\xC4\xB0", lower), (std::vector<std::string>{"i\xCC\x87"}));
    EXPECT_EQ(tokens_of("\xC4\xB0", make(normalization::nfc, token_unit::codepoint, true)),
              (std::vector<std::string>{"i", "\xCC\x87"}));
    // Final sigma: ΟΔΟΣ -> οδος with U+03C2 at the end.
    EXPECT_EQ(tokens_of("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3", lower),
              (std::vector<std::string>{"\xCE\xBF", "\xCE\xB4", "\xCE\xBF", "\xCF\x82"}));
    // A + combining ring, lowercased then composed: U+00E5.
    EXPECT_EQ(tokens_of("A\xCC\x8A", lower), (std::vector<std::string>{"\xC3\xA5"}));
    EXPECT_EQ(tokens_of("AB", text_config{}), (std::vector<std::string>{"A", "B"}));  // off by default
}

// ---- grapheme clusters against code points

TEST(text_segment, grapheme_clusters_and_code_points) {
    struct one {
        const char* label;
        std::string text;
        size_t graphemes, code_points;
    };
    const std::vector<one> cases = {
        {"two combining marks", "e\xCC\x81\xCC\xA3", 1, 3},
        {"ZWJ family", "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7\xE2\x80\x8D\xF0\x9F\x91\xA6", 1, 7},
        {"flags CN US", "\xF0\x9F\x87\xA8\xF0\x9F\x87\xB3\xF0\x9F\x87\xBA\xF0\x9F\x87\xB8", 2, 4},
        {"three regional indicators", "\xF0\x9F\x87\xA8\xF0\x9F\x87\xB3\xF0\x9F\x87\xBA", 2, 3},
        {"Hangul jamo L V T", "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", 1, 3},
        {"Hangul syllables", "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4", 3, 3},
        {"Devanagari conjunct kssi", "\xE0\xA4\x95\xE0\xA5\x8D\xE0\xA4\xB7\xE0\xA4\xBF", 1, 4},
        {"Devanagari namaste", "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87", 3, 6},
        {"Thai sara am", "\xE0\xB8\x81\xE0\xB8\xB3", 1, 2},
        {"thumbs up, skin tone", "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", 1, 2},
        {"keycap one", "1\xEF\xB8\x8F\xE2\x83\xA3", 1, 3},
        {"Arabic prepend", "\xD8\x80" "1", 1, 2},
        {"CJK and ASCII", "\xE4\xB8\xAD\xE6\x96\x87 ok", 5, 5},
        {"CR LF", "a\r\nb", 3, 3},
    };
    for (const auto& c : cases) {
        const auto g = tokens_of(c.text, make(normalization::none, token_unit::grapheme));
        EXPECT_EQ(g.size(), c.graphemes) << c.label;
        EXPECT_TRUE(same_tokens(g, reference(c.text, make(normalization::none, token_unit::grapheme)))) << c.label;
        EXPECT_EQ(tokens_of(c.text, make(normalization::none, token_unit::codepoint)).size(), c.code_points)
            << c.label;
    }
}

TEST(text_segment, simple_code_points_always_break) {
    // The fast path's premise, checked against ICU itself: random code points from the "simple"
    // classes (every plane) form one cluster each.
    std::vector<UChar32> simple;
    for (UChar32 c = 0; c < 0x110000; c += 7)
        if (text_detail::simple_for_graphemes(c) && c != '\n' && !U_IS_SURROGATE(c)) simple.push_back(c);
    ASSERT_GT(simple.size(), 100000u);
    EXPECT_FALSE(text_detail::simple_for_graphemes('\r'));
    EXPECT_FALSE(text_detail::simple_for_graphemes(0x0301));
    EXPECT_FALSE(text_detail::simple_for_graphemes(0x1F1E8));
    EXPECT_TRUE(text_detail::simple_for_graphemes(0x4E2D));
    icu::UnicodeString u;
    uint64_t s = 7;
    for (int k = 0; k < 200000; ++k) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        u.append(simple[(s >> 33) % simple.size()]);
    }
    UErrorCode err = U_ZERO_ERROR;
    std::unique_ptr<icu::BreakIterator> bi(icu::BreakIterator::createCharacterInstance(icu::Locale::getRoot(), err));
    bi->setText(u);
    int32_t clusters = 0;
    for (int32_t b = bi->first(), e = bi->next(); e != icu::BreakIterator::DONE; b = e, e = bi->next()) {
        ++clusters;
        ASSERT_EQ(u.countChar32(b, e - b), 1) << "no break inside U+" << std::hex << u.char32At(b) << " U+"
                                             << u.char32At(u.moveIndex32(b, 1));
    }
    EXPECT_EQ(clusters, 200000);
}

// ---- the fast path equals a plain BreakIterator pass, at every chunk size

TEST(text_segment, random_mixed_text_matches_a_plain_break_iterator_pass) {
    const std::string text = random_mixed_text(30000, 1, true);
    for (auto n : {normalization::none, normalization::nfc, normalization::nfkc}) {
        for (bool lower : {false, true}) {
            for (auto unit : {token_unit::grapheme, token_unit::codepoint}) {
                const text_config cfg = make(n, unit, lower);
                const auto want = reference(text, cfg);
                for (size_t chunk : chunk_sizes) {
                    if (chunk == 1 && (n != normalization::nfc || lower)) continue;  // keep the test quick
                    EXPECT_TRUE(same_tokens(tokens_of(text, cfg, chunk), want))
                        << to_string(n) << " " << to_string(unit) << (lower ? " lowercase" : "") << " chunk "
                        << chunk;
                }
            }
        }
    }
}

TEST(text_segment, long_lines_without_line_breaks_are_cut_safely) {
    // More than 64 Ki units without LF: the pipeline cuts between two simple, inert code points.
    const std::string mixed = random_mixed_text(200000, 2, false);
    for (auto cfg : {text_config{}, make(normalization::nfkc, token_unit::grapheme, true),
                     make(normalization::none, token_unit::grapheme)}) {
        const auto want = reference(mixed, cfg);
        for (size_t chunk : {size_t{997}, size_t{65536}, text_detail::default_chunk_bytes})
            EXPECT_TRUE(same_tokens(tokens_of(mixed, cfg, chunk), want)) << "chunk " << chunk;
    }
    // U+3131 (compatibility jamo, a simple code point) becomes the choseong U+1100 under NFKC, and
    // a run of choseong is one cluster: no cut may fall inside it, however long.
    std::string jamo;
    for (int k = 0; k < 70000; ++k) jamo += "\xE3\x84\xB1";
    const text_config nfkc = make(normalization::nfkc, token_unit::grapheme);
    EXPECT_EQ(tokens_of(jamo, nfkc, 4096).size(), 1u);
    EXPECT_EQ(tokens_of(jamo, text_config{}, 4096).size(), 70000u);
    // Greek capitals with lowercasing: every word-final sigma stays final across cuts.
    std::string greek;
    for (int k = 0; k < 30000; ++k) greek += "\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3 ";  // "ΟΔΟΣ "
    auto g = run(greek, make(normalization::nfc, token_unit::grapheme, true), 1001);
    ASSERT_TRUE(g.ok());
    std::set<std::string> distinct(g->tokens.begin(), g->tokens.end());
    EXPECT_EQ(distinct, (std::set<std::string>{"\xCE\xBF", "\xCE\xB4", "\xCF\x82", " "}));
}

TEST(text_segment, chunk_size_never_changes_ids_counts_or_stats) {
    const std::string text = random_mixed_text(20000, 3, true) + "\r\nend\r";
    for (auto n : {normalization::nfc, normalization::nfkc, normalization::none}) {
        for (auto unit : {token_unit::grapheme, token_unit::codepoint}) {
            for (bool lower : {false, true}) {
                const text_config cfg = make(n, unit, lower);
                auto big = run(text, cfg);
                auto small = run(text, cfg, 7);
                ASSERT_TRUE(big.ok() && small.ok());
                const std::string what = to_string(n) + " " + to_string(unit) + (lower ? " lowercase" : "");
                EXPECT_EQ(small->tokens, big->tokens) << what;
                EXPECT_EQ(small->counts, big->counts) << what;
                ASSERT_EQ(small->ids.size(), big->ids.size()) << what;
                for (size_t k = 0; k < big->ids.size(); ++k)
                    ASSERT_EQ(small->ids[k], big->ids[k]) << what << ": id " << k;
                EXPECT_EQ(small->stats.code_points, big->stats.code_points) << what;
                EXPECT_EQ(small->stats.lines, big->stats.lines) << what;
                EXPECT_EQ(small->stats.tokens, big->ids.size()) << what;
            }
        }
    }
}

TEST(text_segment, ids_are_first_seen_order_with_counts) {
    auto r = run("abca\xE4\xB8\xAD" "b\xF0\x9F\x98\x80" "e\xCC\x81" "a", make(normalization::none, token_unit::grapheme));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->tokens, (std::vector<std::string>{"a", "b", "c", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "e\xCC\x81"}));
    EXPECT_EQ(r->counts, (std::vector<uint64_t>{3, 2, 1, 1, 1, 1}));
    std::vector<uint32_t> ids;
    for (size_t k = 0; k < r->ids.size(); ++k) ids.push_back(r->ids[k]);
    EXPECT_EQ(ids, (std::vector<uint32_t>{0, 1, 2, 0, 3, 1, 4, 5, 0}));
    EXPECT_EQ(r->ids.width(), 1);
}

// ---- prompts

TEST(text_segment, segment_utf8_follows_the_same_rules) {
    auto t = segment_utf8("he\xCC\x81llo \xF0\x9F\x87\xA8\xF0\x9F\x87\xB3", text_config{});
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(*t, (std::vector<std::string>{"h", "\xC3\xA9", "l", "l", "o", " ", "\xF0\x9F\x87\xA8\xF0\x9F\x87\xB3"}));
    auto cp = segment_utf8("\xF0\x9F\x87\xA8\xF0\x9F\x87\xB3", make(normalization::nfc, token_unit::codepoint));
    ASSERT_TRUE(cp.ok());
    EXPECT_EQ(cp->size(), 2u);
    auto empty = segment_utf8("", text_config{});
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->empty());
    auto bad = segment_utf8("ab\xC0", text_config{});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().message.find("byte offset 2"), std::string::npos) << bad.err().message;
}

// ---- the shared corpora

std::string corpus(const char* name) { return std::string(CHARLM_SHARED_CORPORA) + "/" + name; }

TEST(text_segment, tang300_has_2579_distinct_code_points) {
    if (!std::filesystem::exists(corpus("tang300.txt"))) GTEST_SKIP() << corpus("tang300.txt") << " is absent";
    auto r = load_text(corpus("tang300.txt"), make(normalization::nfc, token_unit::codepoint));
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->tokens.size(), 2579u);
    EXPECT_EQ(r->stats.encoding, "UTF-8");
    EXPECT_EQ(r->stats.invalid_sequences, 0u);
    auto g = load_text(corpus("tang300.txt"), text_config{});
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(g->tokens.size(), 2579u);  // no combining sequences in it
    EXPECT_EQ(g->ids.width(), 2);
}

TEST(text_segment, tinyshakespeare_has_65_tokens_and_1115394_in_all) {
    if (!std::filesystem::exists(corpus("tinyshakespeare.txt")))
        GTEST_SKIP() << corpus("tinyshakespeare.txt") << " is absent";
    auto r = load_text(corpus("tinyshakespeare.txt"), text_config{});
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->tokens.size(), 65u);
    EXPECT_EQ(r->stats.tokens, 1115394u);
    EXPECT_EQ(r->ids.size(), 1115394u);
    EXPECT_EQ(r->stats.bytes, 1115394u);
    EXPECT_EQ(r->stats.lines, 40000u);
    EXPECT_EQ(r->ids.width(), 1);
    uint64_t total = 0;
    for (uint64_t c : r->counts) total += c;
    EXPECT_EQ(total, 1115394u);
}

}  // namespace
}  // namespace charlm
