// The tokenizer stage (text_impl.h): lowercasing (ICU root locale), NFC/NFKC after a quick check,
// then tokens — extended grapheme clusters or code points — and their ids. A boundary between two
// "simple" code points is certain, so the ICU BreakIterator only sees the regions around other
// code points (combining marks, ZWJ, regional indicators, Hangul jamo, ...): that keeps English
// and Chinese near memory speed. Also safe_cut(), which decides where decoded text may be cut.
#include <unicode/uchar.h>
#include <unicode/ucpmap.h>
#include <unicode/utext.h>
#include <unicode/utf16.h>

#include <algorithm>

#include "text/text_impl.h"

namespace charlm::text_detail {

namespace {

// One bit per code point, set when Grapheme_Cluster_Break is Other, Control or LF (never CR).
// Built from ICU's property map range by range: about a millisecond, once per process.
const uint64_t* simple_bits() {
    static const std::vector<uint64_t> bits = [] {
        std::vector<uint64_t> b(0x110000 / 64, 0);
        UErrorCode err = U_ZERO_ERROR;
        const UCPMap* map = u_getIntPropertyMap(UCHAR_GRAPHEME_CLUSTER_BREAK, &err);
        CHARLM_ASSERT(U_SUCCESS(err) && map);
        uint32_t v = 0;
        for (UChar32 start = 0, end; start < 0x110000; start = end + 1) {
            end = ucpmap_getRange(map, start, UCPMAP_RANGE_NORMAL, 0, nullptr, nullptr, &v);
            CHARLM_ASSERT(end >= start);
            if (v == U_GCB_OTHER || v == U_GCB_CONTROL || v == U_GCB_LF)
                for (UChar32 c = start; c <= end; ++c) b[static_cast<size_t>(c) >> 6] |= uint64_t{1} << (c & 63);
        }
        b['\r' >> 6] &= ~(uint64_t{1} << ('\r' & 63));
        return b;
    }();
    return bits.data();
}

inline bool is_simple(const uint64_t* bits, UChar32 c) {
    return (bits[static_cast<uint32_t>(c) >> 6] >> (c & 63)) & 1;
}

std::string to_utf8(const char16_t* s, size_t n) {
    std::string out;
    out.reserve(n * 3);
    for (size_t i = 0; i < n;) {
        UChar32 c;
        U16_NEXT(s, i, n, c);
        if (U_IS_SURROGATE(c)) c = 0xFFFD;  // cannot happen after decoding; stay valid anyway
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else if (c < 0x800) {
            out += static_cast<char>(0xC0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out += static_cast<char>(0xE0 | (c >> 12));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (c >> 18));
            out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        }
    }
    return out;
}

const icu::Normalizer2* normalizer_for(normalization n) {
    UErrorCode err = U_ZERO_ERROR;
    const icu::Normalizer2* norm = n == normalization::nfc    ? icu::Normalizer2::getNFCInstance(err)
                                   : n == normalization::nfkc ? icu::Normalizer2::getNFKCInstance(err)
                                                              : nullptr;
    CHARLM_ASSERT(U_SUCCESS(err));
    return norm;
}

constexpr size_t id_block = size_t{1} << 16;

}  // namespace

bool simple_for_graphemes(UChar32 c) { return c >= 0 && c < 0x110000 && is_simple(simple_bits(), c); }

// ---- sinks: what cut() does with each token

// Ids: one-unit tokens through a direct table, everything else through a hash map.
struct tokenizer::id_sink {
    tokenizer& t;

    uint32_t add_token(const char16_t* p, size_t len) {
        const auto id = static_cast<uint32_t>(t.out_.tokens.size());
        t.out_.tokens.push_back(to_utf8(p, len));
        t.out_.counts.push_back(0);
        return id;
    }
    void push(uint32_t id) {
        ++t.out_.counts[id];
        t.pending_ids_.push_back(id);
        if (t.pending_ids_.size() == id_block) t.flush_ids();
    }
    void unit(const char16_t* p) {
        uint32_t& slot = t.bmp_[*p];
        if (slot == 0) slot = add_token(p, 1) + 1;
        push(slot - 1);
    }
    void token(const char16_t* p, size_t len) {
        if (len == 1) return unit(p);
        auto it = t.multi_.find(std::u16string_view(p, len));
        if (it == t.multi_.end()) it = t.multi_.emplace(std::u16string(p, len), add_token(p, len)).first;
        push(it->second);
    }
};

struct tokenizer::string_sink {
    std::vector<std::string>& out;
    void token(const char16_t* p, size_t len) { out.push_back(to_utf8(p, len)); }
};

// ---- tokenizer

tokenizer::tokenizer(const text_config& cfg) : cfg_(cfg), norm_(normalizer_for(cfg.normalize)), bmp_(0x10000, 0) {
    if (cfg.unit == token_unit::grapheme) {
        UErrorCode err = U_ZERO_ERROR;
        breaks_.reset(icu::BreakIterator::createCharacterInstance(icu::Locale::getRoot(), err));
        CHARLM_ASSERT(U_SUCCESS(err) && breaks_);
    }
    pending_ids_.reserve(id_block);
    if (cfg.convert != script_conversion::none) {  // the pipeline's entry points checked that it loads
        auto t = script_table::get(cfg.convert);
        CHARLM_ASSERT(t.ok());
        script_ = *t;
    }
}

tokenizer::~tokenizer() = default;

namespace {

// Normalizes `text` in place of the view when it is not already normalized: text that passes the
// quick check (nearly all real text) is used as it is. `buffer` holds the result otherwise.
std::u16string_view normalize_view(std::u16string_view text, const icu::Normalizer2* norm, icu::UnicodeString& buffer) {
    UErrorCode err = U_ZERO_ERROR;
    const icu::UnicodeString alias(false, reinterpret_cast<const UChar*>(text.data()), static_cast<int32_t>(text.size()));
    const int32_t span = norm->spanQuickCheckYes(alias, err);
    CHARLM_ASSERT(U_SUCCESS(err));
    if (span == alias.length()) return text;
    buffer.setTo(alias, 0, span);
    norm->normalizeSecondAndAppend(buffer, alias.tempSubString(span), err);
    CHARLM_ASSERT(U_SUCCESS(err));
    return {reinterpret_cast<const char16_t*>(buffer.getBuffer()), static_cast<size_t>(buffer.length())};
}

}  // namespace

// Normalization first, then lowercasing, so that what normalization makes of a character is
// lowercased too (NFKC: U+210C, U+3392, U+1F130 become H, MHz, A, then h, mhz, a). Lowercasing
// can leave text that is not normalized (a capital with a compatibility lowercase form), so the
// lowered text is normalized once more: the result is a fixed point of the whole step.
std::u16string_view tokenizer::prepare(const char16_t* s, size_t n) {
    std::u16string_view text(s, n);
    if (norm_) text = normalize_view(text, norm_, normalized_);
    if (cfg_.lowercase) {
        lowered_.setTo(reinterpret_cast<const UChar*>(text.data()), static_cast<int32_t>(text.size()));
        lowered_.toLower(icu::Locale::getRoot());
        text = std::u16string_view(reinterpret_cast<const char16_t*>(lowered_.getBuffer()),
                                   static_cast<size_t>(lowered_.length()));
        if (norm_) text = normalize_view(text, norm_, normalized_);
    }
    if (script_) {  // OpenCC maps Han characters to Han characters: the text stays normalized
        converted_.clear();
        script_->convert(text, converted_);
        text = converted_;
    }
    return text;
}

// Cuts `text` (which begins and ends at certain boundaries) into tokens for `sink`.
template <class Sink>
void tokenizer::cut(std::u16string_view text, Sink& sink) {
    const char16_t* s = text.data();
    const size_t n = text.size();
    if (n == 0) return;
    uint64_t lfs = 0, cps = 0;
    if (cfg_.unit == token_unit::codepoint) {
        for (size_t i = 0; i < n;) {
            const size_t at = i;
            UChar32 c;
            U16_NEXT(s, i, n, c);
            ++cps;
            lfs += c == '\n';
            sink.token(s + at, i - at);
        }
    } else {
        const uint64_t* bits = simple_bits();
        bool text_set = false;
        UText ut = UTEXT_INITIALIZER;
        // [a, b) holds whole clusters, at least one code point not simple: ask the BreakIterator,
        // set once per piece (its boundaries from the piece's start are the true ones).
        auto complex = [&](size_t a, size_t b) {
            if (!text_set) {
                UErrorCode err = U_ZERO_ERROR;
                utext_openUChars(&ut, reinterpret_cast<const UChar*>(s), static_cast<int64_t>(n), &err);
                breaks_->setText(&ut, err);
                CHARLM_ASSERT(U_SUCCESS(err));
                text_set = true;
            }
            for (size_t p = a; p < b;) {
                int32_t q = breaks_->following(static_cast<int32_t>(p));
                size_t e = q == icu::BreakIterator::DONE || static_cast<size_t>(q) > b ? b : static_cast<size_t>(q);
                sink.token(s + p, e - p);
                p = e;
            }
        };
        size_t open = 0;     // start of the text not handed out yet (a certain boundary)
        size_t prev_at = 0;  // where the previous code point starts
        bool prev_simple = false;
        for (size_t i = 0; i < n;) {
            const size_t at = i;
            UChar32 c = s[i++];
            if (U16_IS_LEAD(c) && i < n && U16_IS_TRAIL(s[i])) c = U16_GET_SUPPLEMENTARY(c, s[i++]);
            ++cps;
            lfs += c == '\n';
            const bool simple = is_simple(bits, c);
            if (simple && prev_simple) {  // a certain boundary at `at`
                if (open == prev_at)
                    sink.token(s + prev_at, at - prev_at);
                else
                    complex(open, at);
                open = at;
            }
            prev_simple = simple;
            prev_at = at;
        }
        if (open == prev_at)
            sink.token(s + prev_at, n - prev_at);
        else
            complex(open, n);
        if (text_set) utext_close(&ut);
    }
    code_points_ += cps;
    lines_ += lfs;
    ends_with_lf_ = s[n - 1] == u'\n';
}

void tokenizer::add(const char16_t* s, size_t n) {
    if (n == 0) return;
    id_sink sink{*this};
    cut(prepare(s, n), sink);
}

void tokenizer::segment(const char16_t* s, size_t n, std::vector<std::string>& out) {
    if (n == 0) return;
    string_sink sink{out};
    cut(prepare(s, n), sink);
}

void tokenizer::flush_ids() {
    out_.ids.append(pending_ids_.data(), pending_ids_.size());
    pending_ids_.clear();
    if (expected_ > out_.ids.capacity()) out_.ids.reserve(expected_);
}

void tokenizer::expect_tokens(uint64_t n) {
    // A little headroom so that a drifting estimate does not reallocate at every chunk.
    if (n <= out_.ids.capacity()) return;
    expected_ = n + n / 16;
    out_.ids.reserve(expected_);
}

tokenized_text tokenizer::finish(text_stats stats) {
    flush_ids();
    stats.code_points = code_points_;
    stats.tokens = out_.ids.size();
    stats.lines = lines_ + (code_points_ > 0 && !ends_with_lf_ ? 1 : 0);
    out_.stats = std::move(stats);
    // Shrinking copies the stream: worth it only for a clear overestimate.
    if (out_.ids.capacity() > out_.ids.size() + out_.ids.size() / 8 + 4096) out_.ids.shrink_to_fit();
    return std::move(out_);
}

// ---- safe cuts

namespace {

// A cut between p and c is invisible to every stage: both simple for graphemes; p unchanged by
// normalization and c starting a normalization segment; with lowercasing, neither cased (so
// neither changes) and c not case-ignorable (Final_Sigma's context stops there), and c unchanged
// by normalization too (lowercasing sees normalized text: U+3392 is uncased, its NFKC "MHz" is).
bool safe_between(UChar32 p, UChar32 c, const icu::Normalizer2* norm, bool lowercase) {
    if (!simple_for_graphemes(p) || !simple_for_graphemes(c)) return false;
    if (norm && (!norm->isInert(p) || !norm->hasBoundaryBefore(c))) return false;
    if (lowercase && (u_hasBinaryProperty(p, UCHAR_CASED) || u_hasBinaryProperty(c, UCHAR_CASED) ||
                      u_hasBinaryProperty(c, UCHAR_CASE_IGNORABLE) || (norm && !norm->isInert(c))))
        return false;
    return true;
}

}  // namespace

cut_finder::cut_finder(const text_config& cfg) : cfg_(cfg), norm_(normalizer_for(cfg.normalize)) {}

size_t cut_finder::taken(size_t n, size_t cut) {
    // What stays, [cut, n), was scanned for LFs and safe pairs already.
    lf_done_ = pair_done_ = n - cut;
    return cut;
}

size_t cut_finder::find(const u16_buffer& text) {
    const char16_t* s = text.data();
    const size_t n = text.size();
    for (size_t i = n; i > lf_done_; --i)
        if (s[i - 1] == u'\n') return taken(n, i);
    lf_done_ = n;
    // No line break: cut a long text between two code points where every rule breaks.
    constexpr size_t long_text = size_t{1} << 16, hopeless = size_t{1} << 24;
    if (n < long_text) return 0;
    for (size_t i = n - 1, lo = std::max<size_t>(pair_done_, 1); i >= lo; --i) {
        if (U16_IS_TRAIL(s[i])) continue;
        UChar32 c, p;
        size_t k = i;
        U16_GET(s, 0, k, n, c);
        k = i;
        U16_PREV(s, 0, k, p);
        if (safe_between(p, c, norm_, cfg_.lowercase)) return taken(n, i);
    }
    pair_done_ = n;
    if (n < hopeless) return 0;
    // Pathological text (16 Mi units without a safe pair, e.g. endless combining marks): cut at
    // the last grapheme boundary that starts a normalization segment. The text begins at a safe
    // cut, so the BreakIterator's boundaries are the true ones; only lowercasing's Final_Sigma
    // context could differ here.
    UErrorCode err = U_ZERO_ERROR;
    std::unique_ptr<icu::BreakIterator> bi(icu::BreakIterator::createCharacterInstance(icu::Locale::getRoot(), err));
    CHARLM_ASSERT(U_SUCCESS(err));
    icu::UnicodeString alias(false, reinterpret_cast<const UChar*>(s), static_cast<int32_t>(n));
    bi->setText(alias);
    size_t last = n - 1;
    if (U16_IS_TRAIL(s[last])) --last;
    for (int32_t b = bi->preceding(static_cast<int32_t>(last)); b > 0; b = bi->preceding(b)) {
        UChar32 c;
        U16_GET(s, 0, b, static_cast<int32_t>(n), c);
        if (!norm_ || norm_->hasBoundaryBefore(c)) return taken(n, static_cast<size_t>(b));
    }
    return taken(n, last);  // one unbroken cluster of 16 Mi units: give up on exactness
}

}  // namespace charlm::text_detail
