// The tokenizer stage (text_impl.h): lowercasing (ICU root locale), NFC/NFKC with a quick check
// first, then tokens — extended grapheme clusters (ICU BreakIterator) or code points — and ids.
// Lines made only of "simple" code points (whose grapheme breaks are certain) skip the
// BreakIterator, which is what keeps English and Chinese text fast.
#include <unicode/uchar.h>
#include <unicode/utext.h>
#include <unicode/utf16.h>

#include <bitset>

#include "text/text_impl.h"

namespace charlm::text_detail {

namespace {

// One bit per code point: Grapheme_Cluster_Break is Other, Control or LF (not CR, not
// Extend, ZWJ, SpacingMark, Prepend, Regional_Indicator or a Hangul class). Between two such
// code points rules GB4, GB5 and GB999 always break.
const std::bitset<0x110000>& simple_table() {
    static const auto* table = [] {
        auto* t = new std::bitset<0x110000>();
        for (UChar32 c = 0; c < 0x110000; ++c) {
            const int32_t g = u_getIntPropertyValue(c, UCHAR_GRAPHEME_CLUSTER_BREAK);
            if (g == U_GCB_OTHER || g == U_GCB_CONTROL || g == U_GCB_LF) t->set(static_cast<size_t>(c));
        }
        t->reset('\r');
        return t;
    }();
    return *table;
}

std::string to_utf8(std::u16string_view s) {
    std::string out;
    out.reserve(s.size() * 3);
    for (size_t i = 0; i < s.size();) {
        UChar32 c;
        U16_NEXT(s.data(), i, s.size(), c);
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

}  // namespace

bool simple_for_graphemes(UChar32 c) { return c >= 0 && c < 0x110000 && simple_table()[static_cast<size_t>(c)]; }

tokenizer::tokenizer(const text_config& cfg) : cfg_(cfg), bmp_(0x10000, 0) {
    UErrorCode err = U_ZERO_ERROR;
    if (cfg.normalize == normalization::nfc) norm_ = icu::Normalizer2::getNFCInstance(err);
    if (cfg.normalize == normalization::nfkc) norm_ = icu::Normalizer2::getNFKCInstance(err);
    CHARLM_ASSERT(U_SUCCESS(err));
    if (cfg.unit == token_unit::grapheme) {
        breaks_.reset(icu::BreakIterator::createCharacterInstance(icu::Locale::getRoot(), err));
        CHARLM_ASSERT(U_SUCCESS(err) && breaks_);
        (void)simple_table();
    }
}

tokenizer::~tokenizer() = default;

std::u16string_view tokenizer::prepare(const char16_t* s, int32_t n) {
    std::u16string_view text(s, static_cast<size_t>(n));
    if (cfg_.lowercase) {
        lowered_.setTo(reinterpret_cast<const UChar*>(s), n);
        lowered_.toLower(icu::Locale::getRoot());
        text = std::u16string_view(reinterpret_cast<const char16_t*>(lowered_.getBuffer()),
                                   static_cast<size_t>(lowered_.length()));
    }
    if (norm_) {
        UErrorCode err = U_ZERO_ERROR;
        const icu::UnicodeString alias(false, reinterpret_cast<const UChar*>(text.data()),
                                       static_cast<int32_t>(text.size()));
        const int32_t span = norm_->spanQuickCheckYes(alias, err);
        if (U_SUCCESS(err) && span < alias.length()) {
            normalized_.setTo(alias, 0, span);
            norm_->normalizeSecondAndAppend(normalized_, alias.tempSubString(span), err);
            CHARLM_ASSERT(U_SUCCESS(err));
            text = std::u16string_view(reinterpret_cast<const char16_t*>(normalized_.getBuffer()),
                                       static_cast<size_t>(normalized_.length()));
        }
    }
    return text;
}

template <class F>
void tokenizer::cut(std::u16string_view text, F&& on_token) {
    const size_t n = text.size();
    const char16_t* s = text.data();
    size_t line_start = 0;
    while (line_start < n) {
        size_t line_end = line_start;
        bool simple = true;
        while (line_end < n) {
            UChar32 c;
            const size_t at = line_end;
            U16_NEXT(s, line_end, n, c);
            ++code_points_;
            if (cfg_.unit == token_unit::grapheme && simple && !simple_for_graphemes(c)) simple = false;
            if (c == '\n') {
                ++lines_;
                (void)at;
                break;
            }
        }
        ends_with_lf_ = s[line_end - 1] == u'\n';
        if (cfg_.unit == token_unit::codepoint || simple) {
            for (size_t i = line_start; i < line_end;) {
                const size_t b = i;
                U16_FWD_1(s, i, line_end);
                on_token(std::u16string_view(s + b, i - b));
            }
        } else {
            UErrorCode err = U_ZERO_ERROR;
            UText ut = UTEXT_INITIALIZER;
            utext_openUChars(&ut, reinterpret_cast<const UChar*>(s + line_start),
                             static_cast<int64_t>(line_end - line_start), &err);
            breaks_->setText(&ut, err);
            CHARLM_ASSERT(U_SUCCESS(err));
            int32_t b = breaks_->first();
            for (int32_t e = breaks_->next(); e != icu::BreakIterator::DONE; b = e, e = breaks_->next())
                on_token(std::u16string_view(s + line_start + b, static_cast<size_t>(e - b)));
            utext_close(&ut);
        }
        line_start = line_end;
    }
}

void tokenizer::emit(std::u16string_view t) {
    uint32_t id;
    if (t.size() == 1) {
        uint32_t& slot = bmp_[t[0]];
        if (slot == 0) {
            slot = static_cast<uint32_t>(out_.tokens.size()) + 1;
            out_.tokens.push_back(to_utf8(t));
            out_.counts.push_back(0);
        }
        id = slot - 1;
    } else {
        auto it = multi_.find(t);
        if (it == multi_.end()) {
            it = multi_.emplace(std::u16string(t), static_cast<uint32_t>(out_.tokens.size())).first;
            out_.tokens.push_back(to_utf8(t));
            out_.counts.push_back(0);
        }
        id = it->second;
    }
    ++out_.counts[id];
    out_.ids.push_back(id);
}

void tokenizer::add(const char16_t* s, int32_t n) {
    if (n <= 0) return;
    cut(prepare(s, n), [this](std::u16string_view t) { emit(t); });
}

void tokenizer::segment(const char16_t* s, int32_t n, std::vector<std::string>& out) {
    if (n <= 0) return;
    cut(prepare(s, n), [&out](std::u16string_view t) { out.push_back(to_utf8(t)); });
}

tokenized_text tokenizer::finish(text_stats stats) {
    stats.code_points = code_points_;
    stats.tokens = out_.ids.size();
    stats.lines = lines_ + (code_points_ > 0 && !ends_with_lf_ ? 1 : 0);
    out_.stats = std::move(stats);
    out_.ids.shrink_to_fit();
    return std::move(out_);
}

size_t safe_cut(const std::u16string& text, const text_config& cfg) {
    const size_t lf = text.rfind(u'\n');
    if (lf != std::u16string::npos) return lf + 1;
    // No line break: only cut long texts, before a code point where every rule breaks.
    constexpr size_t long_text = 1 << 20, search = 1 << 16;
    if (text.size() < long_text) return 0;
    UErrorCode err = U_ZERO_ERROR;
    const icu::Normalizer2* norm = cfg.normalize == normalization::nfc    ? icu::Normalizer2::getNFCInstance(err)
                                   : cfg.normalize == normalization::nfkc ? icu::Normalizer2::getNFKCInstance(err)
                                                                          : nullptr;
    const char16_t* s = text.data();
    for (size_t i = text.size() - 1; i > 0 && text.size() - i < search; --i) {
        if (U16_IS_TRAIL(s[i]) || U16_IS_LEAD(s[i - 1])) continue;
        const UChar32 c = s[i], p = s[i - 1];
        if (!simple_for_graphemes(c) || !simple_for_graphemes(p)) continue;
        if (norm && !norm->hasBoundaryBefore(c)) continue;
        if (cfg.lowercase && (u_hasBinaryProperty(c, UCHAR_CASED) || u_hasBinaryProperty(p, UCHAR_CASED) ||
                              u_hasBinaryProperty(c, UCHAR_CASE_IGNORABLE)))
            continue;
        return i;
    }
    // Pathological text (a megabyte of combining marks): cut at a code point boundary.
    size_t i = text.size() - 1;
    if (U16_IS_TRAIL(s[i])) --i;
    return i;
}

}  // namespace charlm::text_detail
