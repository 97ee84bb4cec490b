// The decoder stage (text_impl.h): bytes -> UTF-16, strict UTF-8 through ICU's U8_NEXT (fast
// path) or any ICU converter; BOM dropped, CR LF / CR -> LF; ill-formed input is an error with
// file, byte offset, line and column, or replaced by U+FFFD, or skipped, and counted.
#include <fmt/core.h>
#include <unicode/ucnv_cb.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include "text/text_impl.h"

namespace charlm::text_detail {

namespace {

bool is_utf8_name(const std::string& name) { return ucnv_compareNames(name.c_str(), "UTF-8") == 0; }

// Counts and substitutes or skips an ill-formed sequence; under the `error` policy it leaves the
// error set so that ucnv_toUnicode stops there.
void U_CALLCONV on_invalid(const void* context, UConverterToUnicodeArgs* args, const char*, int32_t,
                           UConverterCallbackReason reason, UErrorCode* err) {
    if (reason > UCNV_IRREGULAR) return;  // reset, close, clone
    auto* d = static_cast<decoder*>(const_cast<void*>(context));
    if (d->policy() == invalid_policy::error) return;
    d->count_invalid();
    *err = U_ZERO_ERROR;
    if (d->policy() == invalid_policy::replace) {
        static const UChar fffd = 0xFFFD;
        ucnv_cbToUWriteUChars(args, &fffd, 1, 0, err);
    }
}

}  // namespace

result<std::unique_ptr<decoder>> decoder::open(const std::string& encoding, invalid_policy policy,
                                               const std::string& name) {
    std::unique_ptr<decoder> d(new decoder());
    d->name_ = name;
    d->policy_ = policy;
    if (is_utf8_name(encoding)) return d;
    UErrorCode err = U_ZERO_ERROR;
    d->conv_ = ucnv_open(encoding.c_str(), &err);
    if (U_FAILURE(err) || !d->conv_)
        return make_error(errc::usage, fmt::format("--encoding: '{}' is not an encoding ICU knows; use e.g. UTF-8, "
                                                   "GB18030, Big5, Shift_JIS, UTF-16LE, or auto",
                                                   encoding));
    ucnv_setToUCallBack(d->conv_, on_invalid, d.get(), nullptr, nullptr, &err);
    return d;
}

decoder::~decoder() {
    if (conv_) ucnv_close(conv_);
}

std::string decoder::canonical_name() const {
    if (!conv_) return "UTF-8";
    UErrorCode err = U_ZERO_ERROR;
    const char* n = ucnv_getName(conv_, &err);
    return U_SUCCESS(err) && n ? n : "?";
}

status decoder::feed(const char* bytes, size_t n, bool last, std::u16string& out) {
    return conv_ ? feed_icu(bytes, n, last, out) : feed_utf8(bytes, n, last, out);
}

inline void decoder::put(UChar32 c, std::u16string& out) {
    if (!started_) {
        started_ = true;
        if (c == 0xFEFF) return;  // a byte order mark, not text
    }
    if (after_cr_) {
        after_cr_ = false;
        if (c == '\n') return;  // the LF of a CR LF, already emitted
    }
    if (c == '\r') {
        c = '\n';
        after_cr_ = true;
    }
    if (c < 0x10000) {
        out.push_back(static_cast<char16_t>(c));
    } else {
        out.push_back(static_cast<char16_t>(U16_LEAD(c)));
        out.push_back(static_cast<char16_t>(U16_TRAIL(c)));
    }
    if (c == '\n') {
        ++line_;
        column_ = 1;
    } else {
        ++column_;
    }
}

error decoder::bad_bytes(uint64_t offset, const uint8_t* p, size_t len, bool at_end) const {
    std::string hex;
    for (size_t k = 0; k < len; ++k) hex += fmt::format("{}{:02X}", k ? " " : "", p[k]);
    const std::string enc = canonical_name();
    return make_error(errc::input,
                      fmt::format("'{}': {} {} at byte offset {} (line {}, column {}): bytes {}; re-encode the file as "
                                  "UTF-8, name its encoding with --encoding (or --encoding auto), or pass "
                                  "--on-invalid replace or skip",
                                  name_, at_end ? "truncated" : "invalid", enc, offset, line_, column_, hex));
}

status decoder::feed_utf8(const char* bytes, size_t n, bool last, std::u16string& out) {
    std::string joined;
    const uint8_t* s = reinterpret_cast<const uint8_t*>(bytes);
    size_t len = n;
    if (!carry_.empty()) {
        joined = carry_;
        joined.append(bytes, n);
        s = reinterpret_cast<const uint8_t*>(joined.data());
        len = joined.size();
        carry_.clear();
    }
    // Hold back a sequence the next chunk may complete.
    size_t end = len;
    if (!last) {
        for (size_t k = 1; k <= 3 && k <= len; ++k) {
            const uint8_t b = s[len - k];
            if (b < 0x80) break;
            if (b >= 0xC0) {
                if (U8_COUNT_TRAIL_BYTES(b) >= static_cast<int>(k)) end = len - k;
                break;
            }
        }
        carry_.assign(reinterpret_cast<const char*>(s) + end, len - end);
    }
    out.reserve(out.size() + end);
    const int32_t e = static_cast<int32_t>(end);
    for (int32_t i = 0; i < e;) {
        if (s[i] < 0x80) {  // ASCII, the common case
            put(s[i++], out);
            continue;
        }
        const int32_t start = i;
        UChar32 c;
        U8_NEXT(s, i, e, c);
        if (c >= 0) {
            put(c, out);
            continue;
        }
        // i now points past the maximal ill-formed subpart [start, i).
        const uint64_t at = offset_ + static_cast<uint64_t>(start);
        if (policy_ == invalid_policy::error)
            return bad_bytes(at, s + start, static_cast<size_t>(i - start), last && i == e && s[start] >= 0xC2 &&
                                                                              U8_COUNT_TRAIL_BYTES(s[start]) >= e - start);
        ++invalid_;
        if (policy_ == invalid_policy::replace) put(0xFFFD, out);
    }
    offset_ += end;
    return {};
}

status decoder::feed_icu(const char* bytes, size_t n, bool last, std::u16string& out) {
    std::u16string buf(2 * n + 64, u'\0');
    const char* src = bytes;
    const char* lim = bytes + n;
    for (;;) {
        UChar* t = reinterpret_cast<UChar*>(buf.data());
        UChar* tlim = t + buf.size();
        UErrorCode err = U_ZERO_ERROR;
        const char* before = src;
        ucnv_toUnicode(conv_, &t, tlim, &src, lim, nullptr, last, &err);
        const int32_t produced = static_cast<int32_t>(t - reinterpret_cast<UChar*>(buf.data()));
        for (int32_t i = 0; i < produced;) {
            UChar32 c;
            U16_NEXT(buf.data(), i, produced, c);
            put(c, out);
        }
        if (err == U_BUFFER_OVERFLOW_ERROR) continue;
        if (U_FAILURE(err)) {
            char bad[32];
            int8_t bad_len = sizeof bad;
            UErrorCode e2 = U_ZERO_ERROR;
            ucnv_getInvalidChars(conv_, bad, &bad_len, &e2);
            if (U_FAILURE(e2)) bad_len = 0;
            const uint64_t at = offset_ + static_cast<uint64_t>(src - bytes) - static_cast<uint64_t>(bad_len);
            (void)before;
            return bad_bytes(at, reinterpret_cast<const uint8_t*>(bad), static_cast<size_t>(bad_len),
                             err == U_TRUNCATED_CHAR_FOUND);
        }
        break;
    }
    offset_ += n;
    return {};
}

}  // namespace charlm::text_detail
