// The tokenizing half of the corpus pipeline (text.hpp): normalization, lowercasing, grapheme
// clusters vs code points, the simple-code-point fast path against a plain whole-text ICU pass,
// and independence from the 4 MiB read boundary (with and without line breaks near it).
// Not here: byte decoding and its errors (unicode_decode_test) or the vocabulary (vocab_unit_test).
#include <gtest/gtest.h>
#include <unicode/brkiter.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>
#include <unicode/uvernum.h>

#include <random>
#include <string>
#include <vector>

#include "charlm/text.hpp"

namespace charlm {
namespace {

constexpr size_t chunk = 4u << 20;  // the pipeline's read size (load.cpp)

text_config config(normalization n = normalization::nfc, token_unit u = token_unit::grapheme, bool lower = false) {
    text_config c;
    c.normalize = n;
    c.unit = u;
    c.lowercase = lower;
    return c;
}

std::vector<std::string> sequence(const tokenized_text& t) {
    std::vector<std::string> out;
    out.reserve(t.ids.size());
    for (size_t i = 0; i < t.ids.size(); ++i) out.push_back(t.tokens.at(t.ids[i]));
    return out;
}

std::string show(const std::vector<std::string>& toks, size_t from, size_t n) {
    std::string s;
    for (size_t i = from; i < toks.size() && i < from + n; ++i) s.append("[").append(describe_code_points(toks[i])).append("] ");
    return s;
}

::testing::AssertionResult same_tokens(const std::vector<std::string>& got, const std::vector<std::string>& want) {
    const size_t n = std::min(got.size(), want.size());
    for (size_t i = 0; i < n; ++i)
        if (got[i] != want[i])
            return ::testing::AssertionFailure() << "first difference at token " << i << " of " << want.size()
                                                 << ": got " << show(got, i, 4) << " want " << show(want, i, 4)
                                                 << "; before it: " << show(want, i >= 3 ? i - 3 : 0, i >= 3 ? 3 : i);
    if (got.size() != want.size())
        return ::testing::AssertionFailure() << got.size() << " tokens, want " << want.size()
                                             << "; tail of the longer: " << show(got.size() > n ? got : want, n, 4);
    return ::testing::AssertionSuccess();
}

tokenized_text must_tokenize(std::string_view b, const text_config& c) {
    auto r = tokenize_bytes(b, c, "mem.txt");
    EXPECT_TRUE(r.ok()) << r.err().message;
    return r ? std::move(*r) : tokenized_text{};
}

std::vector<std::string> tokens_of(std::string_view b, const text_config& c) { return sequence(must_tokenize(b, c)); }

// The reference: the whole text at once through ICU (CR LF and CR folded, a leading BOM
// dropped, root-locale lowercasing, Normalizer2, one BreakIterator pass), with no fast path
// and no chunks. Also its code point and line counts.
struct reference {
    std::vector<std::string> tokens;
    uint64_t code_points = 0, lines = 0;
};

reference icu_reference(const std::string& utf8, const text_config& cfg) {
    std::string folded;
    folded.reserve(utf8.size());
    for (size_t i = 0; i < utf8.size(); ++i) {
        if (utf8[i] != '\r') folded += utf8[i];
        else if (i + 1 >= utf8.size() || utf8[i + 1] != '\n') folded += '\n';
    }
    if (folded.rfind("\xEF\xBB\xBF", 0) == 0) folded.erase(0, 3);
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(folded);
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
    reference r;
    auto add = [&](int32_t b, int32_t e) {
        std::string t;
        u.tempSubStringBetween(b, e).toUTF8String(t);
        r.tokens.push_back(std::move(t));
    };
    if (cfg.unit == token_unit::grapheme) {
        std::unique_ptr<icu::BreakIterator> bi(icu::BreakIterator::createCharacterInstance(icu::Locale::getRoot(), err));
        bi->setText(u);
        for (int32_t b = bi->first(), e = bi->next(); e != icu::BreakIterator::DONE; b = e, e = bi->next()) add(b, e);
    } else {
        for (int32_t i = 0; i < u.length(); i = u.moveIndex32(i, 1)) add(i, u.moveIndex32(i, 1));
    }
    r.code_points = static_cast<uint64_t>(u.countChar32());
    for (int32_t i = 0; i < u.length(); ++i) r.lines += u[i] == u'\n';
    if (u.length() > 0 && u[u.length() - 1] != u'\n') ++r.lines;
    return r;
}

// Checks the pipeline against the reference: tokens, counts, and ids consistent with tokens.
::testing::AssertionResult matches_reference(const std::string& utf8, const text_config& cfg) {
    auto got = tokenize_bytes(utf8, cfg, "mem.txt");
    if (!got) return ::testing::AssertionFailure() << got.err().message;
    const reference want = icu_reference(utf8, cfg);
    auto same = same_tokens(sequence(*got), want.tokens);
    if (!same) return same;
    if (got->stats.code_points != want.code_points || got->stats.lines != want.lines)
        return ::testing::AssertionFailure() << "code points " << got->stats.code_points << " want " << want.code_points
                                             << ", lines " << got->stats.lines << " want " << want.lines;
    return ::testing::AssertionSuccess();
}

void append_utf8(std::string& s, UChar32 c) {
    char buf[4];
    int32_t n = 0;
    U8_APPEND_UNSAFE(buf, n, c);
    s.append(buf, static_cast<size_t>(n));
}

// ---- normalization and case

TEST(normalization, nfc_composes_none_keeps_nfkc_folds) {
    const std::string precomposed = "\xC3\xA9", decomposed = "e\xCC\x81";  // é, e + U+0301
    auto nfc = must_tokenize(precomposed + " " + decomposed, config());
    ASSERT_EQ(nfc.ids.size(), 3u);
    EXPECT_EQ(nfc.ids[0], nfc.ids[2]) << "é and e+U+0301 are one token under nfc";
    EXPECT_EQ(nfc.tokens[nfc.ids[2]], precomposed);
    auto none = must_tokenize(precomposed + " " + decomposed, config(normalization::none));
    ASSERT_EQ(none.ids.size(), 3u);
    EXPECT_NE(none.ids[0], none.ids[2]) << "distinct under none";
    EXPECT_EQ(none.tokens[none.ids[2]], decomposed);
    // NFKC: the ligature U+FB01 becomes "f", "i"; full-width U+FF21 becomes "A". NFC keeps both.
    EXPECT_TRUE(same_tokens(tokens_of("\xEF\xAC\x81\xEF\xBC\xA1", config(normalization::nfkc)), {"f", "i", "A"}));
    EXPECT_TRUE(same_tokens(tokens_of("\xEF\xAC\x81\xEF\xBC\xA1", config()), {"\xEF\xAC\x81", "\xEF\xBC\xA1"}));
    // Hangul: U+D55C vs the jamo U+1112 U+1161 U+11AB: one token under nfc, two tokens under none.
    const std::string han = "\xED\x95\x9C", jamo = "\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB";
    auto h = must_tokenize(han + jamo, config());
    ASSERT_EQ(h.ids.size(), 2u);
    EXPECT_EQ(h.ids[0], h.ids[1]);
    EXPECT_EQ(h.stats.code_points, 2u);
    auto hn = must_tokenize(han + jamo, config(normalization::none));
    EXPECT_TRUE(same_tokens(sequence(hn), {han, jamo})) << "one cluster each, not equal";
    // Canonical reordering: marks of different classes in either order give one token.
    auto r = must_tokenize("a\xCC\x81\xCC\xA3 a\xCC\xA3\xCC\x81", config());  // U+0301 U+0323 vs U+0323 U+0301
    ASSERT_EQ(r.ids.size(), 3u);
    EXPECT_EQ(r.ids[0], r.ids[2]);
}

TEST(normalization, lowercase_uses_the_root_locale) {
    EXPECT_TRUE(same_tokens(tokens_of("\xC3\x80" "B", config(normalization::nfc, token_unit::grapheme, true)),
                            {"\xC3\xA0", "b"}));  // ÀB -> àb
    // U+0130 (İ) lowercases to i + U+0307 in the root locale: two code points, one grapheme.
    const char* dotted = "\xC4\xB0";
    auto g = must_tokenize(dotted, config(normalization::nfc, token_unit::grapheme, true));
    EXPECT_TRUE(same_tokens(sequence(g), {"i\xCC\x87"}));
    EXPECT_EQ(g.stats.code_points, 2u);
    EXPECT_TRUE(same_tokens(tokens_of(dotted, config(normalization::nfc, token_unit::codepoint, true)),
                            {"i", "\xCC\x87"}));
    // A Turkish default locale changes nothing: "I" stays "i", not U+0131.
    const icu::Locale saved = icu::Locale::getDefault();
    UErrorCode err = U_ZERO_ERROR;
    icu::Locale::setDefault(icu::Locale("tr", "TR"), err);
    auto tr = tokens_of("I\xC4\xB0", config(normalization::nfc, token_unit::grapheme, true));
    icu::Locale::setDefault(saved, err);
    EXPECT_TRUE(same_tokens(tr, {"i", "i\xCC\x87"}));
    // Final sigma depends on context: ΟΔΟΣ ΣΑΣ -> οδος σας.
    EXPECT_TRUE(matches_reference("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3 \xCE\xA3\xCE\x91\xCE\xA3\n",
                                  config(normalization::nfc, token_unit::grapheme, true)));
    EXPECT_TRUE(same_tokens(tokens_of("\xCE\xA3\xCE\x91\xCE\xA3", config(normalization::nfc, token_unit::grapheme, true)),
                            {"\xCF\x83", "\xCE\xB1", "\xCF\x82"}));
}

// ---- graphemes vs code points

TEST(graphemes, clusters_and_code_points_on_the_same_text) {
    struct gcase {
        const char* what;
        std::string text;
        size_t graphemes, code_points;
    };
    const std::vector<gcase> cases = {
        {"e + combining acute", "e\u0301", 1, 2},
        {"ZWJ family", "\U0001F468\u200D\U0001F469\u200D\U0001F467", 1, 5},
        {"two flags", "\U0001F1E8\U0001F1F3\U0001F1FA\U0001F1F8", 2, 4},
        {"three regional indicators", "\U0001F1E8\U0001F1F3\U0001F1FA", 2, 3},
        {"Hangul jamo L V T", "\u1100\u1161\u11A8", 1, 3},
        {"skin tone", "\U0001F44D\U0001F3FD", 1, 2},
        {"keycap", "1\uFE0F\u20E3", 1, 3},
        {"CJK Ext-B", "\U00020000\U0002A6D6", 2, 2},
    };
    for (const auto& c : cases) {
        auto g = tokens_of(c.text, config(normalization::none));
        auto p = tokens_of(c.text, config(normalization::none, token_unit::codepoint));
        EXPECT_EQ(g.size(), c.graphemes) << c.what << ": " << show(g, 0, 8);
        EXPECT_EQ(p.size(), c.code_points) << c.what << ": " << show(p, 0, 8);
        EXPECT_TRUE(matches_reference(c.text, config(normalization::none))) << c.what;
    }
}

TEST(graphemes, devanagari_conjunct_follows_icu) {
    // क्षि = U+0915 U+094D U+0937 U+093F. Unicode 15.1 made such conjuncts one cluster (rule GB9c);
    // ICU 72 already does so (CLDR 42 root tailoring), so the virama joins the consonants and the
    // whole is one token. ICU before 72 gave "क्" + "षि".
    const std::string ksi = "\u0915\u094D\u0937\u093F";
    auto got = tokens_of(ksi, config());
    EXPECT_TRUE(same_tokens(got, icu_reference(ksi, config()).tokens));
#if U_ICU_VERSION_MAJOR_NUM >= 72
    EXPECT_TRUE(same_tokens(got, {ksi}));
#else
    EXPECT_TRUE(same_tokens(got, {"\u0915\u094D", "\u0937\u093F"}));
#endif
    // Without the virama there is no conjunct: क + षि.
    EXPECT_TRUE(same_tokens(tokens_of("\u0915\u0937\u093F", config()), {"\u0915", "\u0937\u093F"}));
}

// ---- the fast path against a whole-text ICU pass

// Latin with marks, CJK incl. Ext-B, emoji ZWJ sequences, skin tones, keycaps, flags, Hangul
// (syllables and jamo), Devanagari, Thai, Arabic (and its Prepend U+0600), a Brahmi
// SpacingMark and a Kaithi Prepend (outside the BMP), tabs, CR LF, a U+FEFF inside.
const std::string mixed =
    "The caf\u00E9 na\u0131\u0308ve e\u0301 \u1EA0\u0301 A\u030A\u0323 done.\r\n"
    "\u5E8A\u524D\u660E\u6708\u5149\uFF0C\U00020000\U0002A6D6\U0002F800\u3002\n"
    "\U0001F468\u200D\U0001F469\u200D\U0001F467 \U0001F44D\U0001F3FD\U0001F44D 1\uFE0F\u20E3 \u2764\uFE0F\n"
    "\U0001F1E8\U0001F1F3\U0001F1FA\U0001F1F8\U0001F1EF x\U0001F1F5\U0001F1F5\U0001F1F5\n"
    "\uD55C\uAD6D\uC5B4 \u1112\u1161\u11AB\u1100\u1173\u11AF \u1100\u1100\u1161\u11A8\u11A8\n"
    "\u0915\u094D\u0937\u093F \u0928\u092E\u0938\u094D\u0924\u0947 \u0939\u093F\u0928\u094D\u0926\u0940\n"
    "\u0E20\u0E32\u0E29\u0E32\u0E44\u0E17\u0E22 \u0E01\u0E33 \u0E19\u0E49\u0E33\n"
    "\u0627\u0644\u0639\u064E\u0631\u064E\u0628\u0650\u064A\u0651\u064E\u0629 \u0600\u0661\u0662 \U000110BD\u0031\n"
    "\U00011003\U00011000 \tTab\u200Dzwj\u200Czwnj \uFEFF mid\u00AD soft \U0001D165\U0001D16D\n";

TEST(fast_path, equals_icu_on_a_multi_script_text) {
    for (const auto& cfg : {config(), config(normalization::none), config(normalization::nfkc),
                            config(normalization::nfc, token_unit::grapheme, true),
                            config(normalization::nfc, token_unit::codepoint),
                            config(normalization::nfkc, token_unit::codepoint, true)}) {
        SCOPED_TRACE(to_string(cfg.normalize) + " " + to_string(cfg.unit) + (cfg.lowercase ? " lowercase" : ""));
        EXPECT_TRUE(matches_reference(mixed, cfg));
        EXPECT_TRUE(matches_reference(mixed + mixed + "no final newline", cfg));
        auto seg = segment_utf8(mixed, cfg);
        ASSERT_TRUE(seg.ok()) << seg.err().message;
        EXPECT_TRUE(same_tokens(*seg, icu_reference(mixed, cfg).tokens)) << "segment_utf8";
    }
}

// A random text of `bytes` bytes drawn from the pieces that exercise the grapheme rules, and
// from all of Unicode (unassigned code points included; no surrogates; CR only if `lines`).
std::string random_mix(size_t bytes, uint64_t seed, bool lines) {
    std::mt19937_64 rng(seed);
    auto pick = [&](UChar32 lo, UChar32 hi) {
        return static_cast<UChar32>(lo + static_cast<UChar32>(rng() % static_cast<uint64_t>(hi - lo + 1)));
    };
    std::string s = "x";
    while (s.size() < bytes) {
        switch (rng() % 16) {
            case 0: for (int k = pick(1, 8); k > 0; --k) append_utf8(s, pick('a', 'z')); s += ' '; break;
            case 1: if (lines) s += rng() % 4 ? "\n" : rng() % 2 ? "\r\n" : "\r"; else s += ' '; break;
            case 2: append_utf8(s, pick(0x4E00, 0x9FFF)); append_utf8(s, pick(0x20000, 0x2A6DF)); break;
            case 3: append_utf8(s, pick('A', 'z')); for (int k = pick(0, 3); k > 0; --k) append_utf8(s, pick(0x300, 0x36F)); break;
            case 4:  // emoji, maybe with a skin tone, VS16 or a ZWJ to the next one
                append_utf8(s, pick(0x1F300, 0x1F64F));
                if (rng() % 2) append_utf8(s, pick(0x1F3FB, 0x1F3FF));
                if (rng() % 3 == 0) append_utf8(s, 0xFE0F);
                if (rng() % 2) append_utf8(s, 0x200D);
                break;
            case 5: for (int k = pick(1, 5); k > 0; --k) append_utf8(s, pick(0x1F1E6, 0x1F1FF)); break;
            case 6: append_utf8(s, pick(0xAC00, 0xD7A3)); break;
            case 7:  // jamo in any order: L, V, T and syllables mixed
                for (int k = pick(1, 4); k > 0; --k)
                    append_utf8(s, rng() % 3 == 0 ? pick(0x1100, 0x1112) : rng() % 2 ? pick(0x1161, 0x1175) : pick(0x11A8, 0x11C2));
                break;
            case 8: append_utf8(s, pick(0x0915, 0x0939)); if (rng() % 2) append_utf8(s, 0x094D); else append_utf8(s, pick(0x093C, 0x094C)); break;
            case 9: append_utf8(s, pick(0x0E01, 0x0E2E)); if (rng() % 2) append_utf8(s, pick(0x0E31, 0x0E3A)); if (rng() % 3 == 0) append_utf8(s, 0x0E33); break;
            case 10: append_utf8(s, pick(0x0627, 0x064A)); if (rng() % 2) append_utf8(s, pick(0x064B, 0x0652)); break;
            case 11: {  // Prepend, SpacingMark, Extend and format characters, some outside the BMP
                static const UChar32 odd[] = {0x0600, 0x0605, 0x06DD, 0x110BD, 0x111C2, 0x0903, 0x11000, 0x11003, 0x1D165,
                                              0x1D16D, 0xE0061, 0xE0100, 0x200D, 0x200C, 0xFEFF, 0x00AD, 0x0009, 0x0085,
                                              0x2028, 0x20E3, 0xFE0F, 0x034F, 0x1160, 0x115F};
                append_utf8(s, odd[rng() % (sizeof odd / sizeof odd[0])]);
                break;
            }
            case 12: append_utf8(s, pick(0xC0, 0x24F)); break;
            case 13: append_utf8(s, pick(0x3400, 0x4DBF)); break;
            default: {  // anything (no surrogates, no CR or LF)
                UChar32 c = pick(0x20, 0x10FFFF);
                if (U_IS_SURROGATE(c)) c = 0xFFFD;
                append_utf8(s, c);
            }
        }
    }
    return s;
}

TEST(fast_path, equals_icu_on_a_3mb_random_mix) {
    const std::string text = random_mix(3u << 20, 20240601, true);
    EXPECT_TRUE(matches_reference(text, config()));
    const std::string part = text.substr(0, 1u << 20);
    // Cut at a character start: drop a trailing partial sequence.
    size_t end = part.size();
    while (end > 0 && (static_cast<unsigned char>(part[end - 1]) & 0xC0) == 0x80) --end;
    const std::string whole = part.substr(0, end > 0 ? end - 1 : 0);
    for (const auto& cfg : {config(normalization::none), config(normalization::nfkc, token_unit::grapheme, true),
                            config(normalization::nfc, token_unit::codepoint)}) {
        SCOPED_TRACE(to_string(cfg.normalize) + " " + to_string(cfg.unit) + (cfg.lowercase ? " lowercase" : ""));
        EXPECT_TRUE(matches_reference(whole, cfg));
    }
}

TEST(fast_path, equals_icu_on_a_long_line_across_the_read_boundary) {
    // 4.5 MB without a line break: the pipeline must cut inside the line (safe_cut) near 4 MiB.
    for (uint64_t seed : {7u, 8u}) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        EXPECT_TRUE(matches_reference(random_mix(chunk + chunk / 8, seed, false), config()));
    }
}

// ---- the 4 MiB read boundary

// ASCII of period 64: "a".."z" cycling, and with `lf` a LF as the 64th byte.
std::string periodic(size_t n, bool lf) {
    std::string s(n, ' ');
    for (size_t i = 0; i < n; ++i) {
        const size_t j = i % 64;
        s[i] = lf && j == 63 ? '\n' : static_cast<char>('a' + j % 26);
    }
    return s;
}

// Tokenizes periodic(at, lf) + payload + "zz\n", with the payload at byte `at` near the read
// boundary, and again with the filler shortened by a multiple of 64 so that it sits far from any
// boundary. Ids, tokens, counts and stats must agree once shifted; the short run must match ICU.
void expect_boundary_independent(const std::string& payload, size_t at, bool lf, const text_config& cfg) {
    const std::string tail = "zz\n";
    const size_t short_at = 64 + at % 64, d = at - short_at;
    const std::string short_text = periodic(short_at, lf) + payload + tail;
    auto s = must_tokenize(short_text, cfg);
    auto l = must_tokenize(periodic(at, lf) + payload + tail, cfg);
    ASSERT_TRUE(matches_reference(short_text, cfg));
    ASSERT_EQ(l.tokens.size(), s.tokens.size()) << "distinct tokens";
    for (size_t i = 0; i < s.tokens.size(); ++i) ASSERT_EQ(l.tokens[i], s.tokens[i]) << "token id " << i;
    ASSERT_EQ(l.ids.size(), s.ids.size() + d);
    for (size_t i = 0; i < d; ++i)
        if (l.ids[i] != s.ids[i % 64]) FAIL() << "id at " << i << " in the filler: " << l.ids[i] << " want " << s.ids[i % 64];
    for (size_t i = 0; i < s.ids.size(); ++i)
        if (l.ids[d + i] != s.ids[i])
            FAIL() << "token " << d + i << " (" << i << " of the shifted run): "
                   << describe_code_points(l.tokens[l.ids[d + i]]) << " want " << describe_code_points(s.tokens[s.ids[i]]);
    std::vector<uint64_t> period(s.tokens.size(), 0);
    for (size_t i = 0; i < 64; ++i) ++period[s.ids[i]];
    for (size_t t = 0; t < s.tokens.size(); ++t)
        EXPECT_EQ(l.counts[t], s.counts[t] + d / 64 * period[t]) << "count of " << describe_code_points(s.tokens[t]);
    EXPECT_EQ(l.stats.bytes, s.stats.bytes + d);
    EXPECT_EQ(l.stats.code_points, s.stats.code_points + d);
    EXPECT_EQ(l.stats.tokens, s.stats.tokens + d);
    EXPECT_EQ(l.stats.lines, s.stats.lines + (lf ? d / 64 : 0));
    EXPECT_EQ(l.stats.invalid_sequences, 0u);
}

const std::vector<std::string> straddling = {
    "\U0001F600",                                        // 4-byte UTF-8
    "e\u0301",                                           // combining mark (NFC composes across)
    "\r\n",                                              // CR LF
    "\U0001F1E8\U0001F1F3\U0001F1FA",                   // regional indicators (pairing)
    "\U0001F44D\U0001F3FD",                              // skin tone modifier (outside the BMP)
    "\u1100\u1161\u11A8",                                // jamo L V T (NFC composes)
    "\u0915\u094D\u0937\u093F",                          // Devanagari
    "\U0001F468\u200D\U0001F469\u200D\U0001F467",      // ZWJ sequence
};

TEST(read_boundary, payload_straddling_4mib_after_a_line_break) {
    for (const auto& p : straddling)
        for (size_t k = 0; k <= 3; ++k) {
            SCOPED_TRACE(describe_code_points(p) + " at 4 MiB - " + std::to_string(k));
            expect_boundary_independent(p, chunk - k, true, config());
        }
}

TEST(read_boundary, payload_straddling_4mib_in_a_line_without_breaks) {
    // No LF anywhere: the first piece ends where safe_cut finds two code points that always
    // break. Every position of the payload across the boundary, and NFC and lowercase variants.
    for (const auto& p : straddling)
        for (size_t k = 0; k <= p.size(); ++k) {
            SCOPED_TRACE(describe_code_points(p) + " at 4 MiB - " + std::to_string(k));
            expect_boundary_independent(p, chunk - k, false, config());
        }
    const std::string sigma = "\xCE\xA3\xCE\x91\xCE\xA3";  // ΣΑΣ: final sigma needs the context
    for (size_t k = 0; k <= sigma.size() + 1; ++k) {
        SCOPED_TRACE("sigma at 4 MiB - " + std::to_string(k));
        expect_boundary_independent(sigma, chunk - k, false, config(normalization::nfc, token_unit::grapheme, true));
    }
}

// ---- prompts and messages

TEST(prompts, segment_utf8_and_describe_code_points) {
    auto seg = segment_utf8("e\u0301\U0001F468\u200D\U0001F469 \U0001F1E8\U0001F1F3\r\n", config());
    ASSERT_TRUE(seg.ok()) << seg.err().message;
    EXPECT_TRUE(same_tokens(*seg, {"\u00E9", "\U0001F468\u200D\U0001F469", " ", "\U0001F1E8\U0001F1F3", "\n"}));
    auto cp = segment_utf8("e\u0301", config(normalization::none, token_unit::codepoint));
    ASSERT_TRUE(cp.ok());
    EXPECT_TRUE(same_tokens(*cp, {"e", "\u0301"}));
    auto empty = segment_utf8("", config());
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->empty());
    auto bad = segment_utf8("ab\xC3(", config());
    ASSERT_FALSE(bad.ok()) << "invalid UTF-8 in a prompt is an error";
    EXPECT_EQ(bad.err().code, errc::usage) << "a prompt is an option's value: exit 2";
    EXPECT_EQ(bad.err().message.find("--encoding"), std::string::npos) << "no advice for files";
    EXPECT_NE(bad.err().message.find("byte offset 2"), std::string::npos) << bad.err().message;
    EXPECT_NE(bad.err().message.find("C3"), std::string::npos) << bad.err().message;

    EXPECT_EQ(describe_code_points("e\u0301"), "U+0065 U+0301");
    EXPECT_EQ(describe_code_points("\u4E2D\U0001F600\U0010FFFF"), "U+4E2D U+1F600 U+10FFFF");
    EXPECT_EQ(describe_code_points(""), "");
}

}  // namespace
}  // namespace charlm
