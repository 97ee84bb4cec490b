// libFuzzer target for the corpus pipeline (text.hpp): bytes -> tokens under every text_config.
// Input layout: byte 0 picks the options (bits 0-1 on_invalid, 2-3 normalize, 4 unit, 5 lowercase),
// byte 1 the encoding (index into `encodings`), byte 2 a small chunk size (1..256); the rest is the
// text. Not a test of what the tokens should be (tests/*decode*_test.cpp do that): it checks the
// invariants that hold for every input, and that a tiny chunk size never changes the outcome.
#include <unicode/normalizer2.h>
#include <unicode/utf8.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "charlm/text.hpp"
#include "text/text_impl.h"

namespace {

using namespace charlm;

// ICU converters of every kind: the strict UTF-8 path (and an alias of it), detection, UTF-16/32
// with and without BOM handling, multi-byte CJK, stateful ISO-2022/HZ/UTF-7, compressing SCSU and
// BOCU-1, single-byte and EBCDIC tables.
constexpr const char* encodings[] = {
    "utf-8",     "UTF8",        "auto",        "UTF-16LE",   "UTF-16BE",     "UTF-16",           "UTF-32",
    "UTF-32LE",  "GB18030",     "Big5",        "Shift_JIS",  "EUC-JP",       "EUC-KR",           "ISO-2022-JP",
    "ISO-2022-KR", "ISO-2022-CN", "HZ",        "UTF-7",      "windows-1252", "ISO-8859-1",       "KOI8-R",
    "SCSU",      "BOCU-1",      "CESU-8",      "IMAP-mailbox-name", "ibm-1047", "LMBCS-1",     "ISCII,version=0",
    "x-compound-text", "ibm-930", "gbk",
};
constexpr size_t encoding_count = sizeof encodings / sizeof encodings[0];

const std::string source_name = "fuzz input";

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
    std::fprintf(stderr, "fuzz_decode: invariant broken: %s%s%s\n", what, detail.empty() ? "" : ": ", detail.c_str());
    std::abort();
}
#define CHECK(cond, ...) ((cond) ? (void)0 : fail(#cond __VA_OPT__(, ) __VA_ARGS__))

// Well-formed UTF-8 (no surrogates, no overlong forms); returns the code point count, -1 if not.
long code_points(std::string_view s) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    const auto n = static_cast<int32_t>(s.size());
    long count = 0;
    for (int32_t i = 0; i < n; ++count) {
        UChar32 c;
        U8_NEXT(p, i, n, c);
        if (c < 0) return -1;
    }
    return count;
}

bool is_utf8_family(const std::string& enc) { return enc == "utf-8" || enc == "UTF8"; }

// What the decoder promises for valid UTF-8 with nothing changed: the text minus a leading BOM,
// with CR LF and lone CR folded to LF.
std::string folded(std::string_view s) {
    if (s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r') {
            out += '\n';
            if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
        } else {
            out += s[i];
        }
    }
    return out;
}

void check_text(const tokenized_text& t, const text_config& cfg, std::string_view bytes) {
    const auto& st = t.stats;
    CHECK(t.tokens.size() == t.counts.size());
    CHECK(st.tokens == t.ids.size());
    CHECK(st.bytes == bytes.size());
    CHECK(!st.encoding.empty());
    if (cfg.on_invalid == invalid_policy::error) CHECK(st.invalid_sequences == 0);
    // Tokens: distinct, non-empty, well-formed UTF-8 without CR; one code point each for `codepoint`.
    std::vector<long> cps(t.tokens.size());
    std::set<std::string> distinct;
    for (size_t k = 0; k < t.tokens.size(); ++k) {
        const std::string& tok = t.tokens[k];
        cps[k] = code_points(tok);
        CHECK(cps[k] > 0, "token " + std::to_string(k) + " is empty or ill-formed: " + describe_code_points(tok));
        CHECK(tok.find('\r') == std::string::npos, "token " + std::to_string(k));
        if (cfg.unit == token_unit::codepoint) CHECK(cps[k] == 1, describe_code_points(tok));
        CHECK(distinct.insert(tok).second, "token " + std::to_string(k) + " repeats an earlier one");
    }
    // Ids and counts agree; every token is used; the stats count what the ids hold.
    std::vector<uint64_t> seen(t.tokens.size(), 0);
    uint64_t total_cps = 0, lfs = 0;
    std::string joined;
    for (size_t i = 0; i < t.ids.size(); ++i) {
        const uint32_t id = t.ids[i];
        CHECK(id < t.tokens.size());
        ++seen[id];
        total_cps += static_cast<uint64_t>(cps[id]);
        lfs += t.tokens[id] == "\n";
        joined += t.tokens[id];
    }
    for (size_t k = 0; k < seen.size(); ++k) CHECK(seen[k] == t.counts[k] && seen[k] > 0);
    CHECK(st.code_points == total_cps);
    CHECK(joined.find('\n') == std::string::npos || lfs > 0);
    const bool open_last_line = !t.ids.empty() && t.tokens[t.ids[t.ids.size() - 1]] != "\n";
    CHECK(st.lines == lfs + (open_last_line ? 1 : 0),
          std::to_string(st.lines) + " lines, " + std::to_string(lfs) + " LF tokens");
    // Normalization holds for the whole text, not only inside tokens.
    if (cfg.normalize != normalization::none) {
        UErrorCode err = U_ZERO_ERROR;
        const icu::Normalizer2* n = cfg.normalize == normalization::nfc ? icu::Normalizer2::getNFCInstance(err)
                                                                        : icu::Normalizer2::getNFKCInstance(err);
        CHECK(U_SUCCESS(err));
        const bool ok = n->isNormalized(icu::UnicodeString::fromUTF8(joined), err);
        CHECK(U_SUCCESS(err) && ok, "the token text is not " + to_string(cfg.normalize));
    }
    // Tokens partition the text: with nothing changed, they join back to the input.
    if (is_utf8_family(cfg.encoding) && cfg.on_invalid == invalid_policy::error &&
        cfg.normalize == normalization::none && !cfg.lowercase)
        CHECK(joined == folded(bytes), "the tokens do not join back to the input");
}

bool same(const tokenized_text& a, const tokenized_text& b) {
    const auto &x = a.stats, &y = b.stats;
    if (a.tokens != b.tokens || a.counts != b.counts || a.ids.size() != b.ids.size()) return false;
    for (size_t i = 0; i < a.ids.size(); ++i)
        if (a.ids[i] != b.ids[i]) return false;
    return x.bytes == y.bytes && x.code_points == y.code_points && x.tokens == y.tokens && x.lines == y.lines &&
           x.invalid_sequences == y.invalid_sequences && x.encoding == y.encoding && x.confidence == y.confidence;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    text_config cfg;
    const uint8_t opt = data[0];
    constexpr invalid_policy policies[4] = {invalid_policy::error, invalid_policy::replace, invalid_policy::skip,
                                            invalid_policy::error};
    constexpr normalization forms[4] = {normalization::nfc, normalization::nfkc, normalization::none,
                                        normalization::nfc};
    cfg.on_invalid = policies[opt & 3];
    cfg.normalize = forms[(opt >> 2) & 3];
    cfg.unit = (opt >> 4) & 1 ? token_unit::codepoint : token_unit::grapheme;
    cfg.lowercase = (opt >> 5) & 1;
    cfg.encoding = encodings[data[1] % encoding_count];
    const size_t chunk = size_t{1} + data[2];
    const std::string_view bytes(reinterpret_cast<const char*>(data + 3), size - 3);

    // One chunk (inputs stay far below 64 KiB) against many; 64 KiB rather than load_text's 1 MiB
    // only to keep each run cheap.
    auto whole = text_detail::tokenize_bytes_chunked(bytes, cfg, source_name, size_t{1} << 16);
    auto pieces = text_detail::tokenize_bytes_chunked(bytes, cfg, source_name, chunk);
    CHECK(whole.ok() == pieces.ok(), "chunk size " + std::to_string(chunk) + " changes the outcome: " +
                                         (whole.ok() ? pieces.err().message : whole.err().message));
    if (cfg.encoding == "x-compound-text") {  // refused: ICU's converter is unreliable (decode.cpp)
        CHECK(!whole.ok() && whole.err().code == errc::usage);
        return 0;
    }
    if (!whole.ok()) {
        const error& e = whole.err();
        CHECK(e.code == errc::input, e.message);
        CHECK(e.message.find("'" + source_name + "'") != std::string::npos, e.message);
        // Replacing or skipping never fails once the encoding is known.
        CHECK(cfg.on_invalid == invalid_policy::error || cfg.encoding == "auto", e.message);
        // The same error, at the same place. An ICU converter may hold a sequence that spans chunks
        // and replay it later; relocation finds where it began when it spans two chunks, which
        // load_text's 1 MiB chunks guarantee, not when chunks are shorter than a sequence.
        if (is_utf8_family(cfg.encoding) || chunk >= 16)
            CHECK(e.message == pieces.err().message,
                  "chunk size " + std::to_string(chunk) + " changes the message:\n  " + e.message + "\n  " +
                      pieces.err().message);
        return 0;
    }
    check_text(*whole, cfg, bytes);
    CHECK(same(*whole, *pieces), "chunk size " + std::to_string(chunk) + " changes the tokens");
    // A prompt is segmented exactly as the same text in a corpus.
    if (is_utf8_family(cfg.encoding) && cfg.on_invalid == invalid_policy::error) {
        auto seg = segment_utf8(bytes, cfg);
        CHECK(seg.ok(), seg.ok() ? "" : seg.err().message);
        std::vector<std::string> expected;
        for (size_t i = 0; i < whole->ids.size(); ++i) expected.push_back(whole->tokens[whole->ids[i]]);
        CHECK(*seg == expected, "segment_utf8 cuts the text differently");
    }
    return 0;
}
