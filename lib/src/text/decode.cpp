// The decoder stage (text_impl.h): bytes -> UTF-16. UTF-8 is validated strictly with ICU's U8_NEXT
// (overlong forms, surrogates, > U+10FFFF, stray continuation bytes and a truncated end are all
// ill-formed; noncharacters are fine); other encodings go through an ICU converter with a callback
// that counts and locates errors. Not here: normalization and tokens (segment.cpp).
#include <fmt/core.h>
#include <unicode/ucnv_cb.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cstring>
#include <vector>
#include <optional>

#include "text/text_impl.h"

namespace charlm::text_detail {

// ---- u16_buffer

char16_t* u16_buffer::room(size_t n) {
    if (size_ + n > cap_) {
        const size_t cap = std::max(size_ + n, cap_ + cap_ / 2);
        std::unique_ptr<char16_t[]> p(new char16_t[cap]);  // not value-initialized: untouched pages stay free
        if (size_) std::memcpy(p.get(), p_.get(), size_ * sizeof(char16_t));
        p_ = std::move(p);
        cap_ = cap;
    }
    return p_.get() + size_;
}

void u16_buffer::drop_front(size_t n) {
    CHARLM_ASSERT(n <= size_);
    if (n < size_) std::memmove(p_.get(), p_.get() + n, (size_ - n) * sizeof(char16_t));
    size_ -= n;
}

// ---- the ICU converter callback

struct icu_callback {
    // Under `error` it records the sequence and leaves *err set, which stops ucnv_toUnicode;
    // otherwise it counts, then substitutes U+FFFD or skips.
    static void U_CALLCONV to_unicode(const void* context, UConverterToUnicodeArgs* args, const char* units,
                                      int32_t length, UConverterCallbackReason reason, UErrorCode* err) {
        if (reason > UCNV_IRREGULAR) return;  // reset, close, clone
        auto* d = static_cast<decoder*>(const_cast<void*>(context));
        if (d->policy_ == invalid_policy::error) {
            // args->source is just past the sequence, which may have begun in the previous chunk.
            const int64_t in_chunk = static_cast<int64_t>(args->source - d->chunk_) - length;
            d->fault_.offset = static_cast<uint64_t>(static_cast<int64_t>(d->fed_) + in_chunk);
            d->fault_.bytes.assign(units, static_cast<size_t>(std::max(length, 0)));
            d->fault_.truncated = *err == U_TRUNCATED_CHAR_FOUND;
            d->fault_.unmappable = reason == UCNV_UNASSIGNED;
            return;
        }
        ++d->invalid_;
        if (args->target == d->empty_target_) d->started_ = true;  // see feed_utf8
        *err = U_ZERO_ERROR;
        if (d->policy_ == invalid_policy::replace) {
            static const UChar fffd = 0xFFFD;
            ucnv_cbToUWriteUChars(args, &fffd, 1, 0, err);
        }
    }
};

namespace {

std::string canonical_name(UConverter* conv) {
    UErrorCode err = U_ZERO_ERROR;
    const char* internal = ucnv_getName(conv, &err);
    if (U_FAILURE(err) || !internal) return "?";
    for (const char* standard : {"MIME", "IANA"}) {
        UErrorCode e = U_ZERO_ERROR;
        const char* n = ucnv_getStandardName(internal, standard, &e);
        if (U_SUCCESS(e) && n) return n;
    }
    return internal;
}

// Why a UTF-8 sequence starting at p is ill-formed (p[1] is read only when avail > 1).
const char* utf8_problem(const uint8_t* p, size_t avail, bool at_end) {
    const uint8_t b = p[0], b1 = avail > 1 ? p[1] : 0;
    if (at_end) return "truncated sequence at end of input";
    if (b >= 0x80 && b <= 0xBF) return "stray continuation byte";
    if (b == 0xC0 || b == 0xC1) return "overlong 2-byte form";
    if (b >= 0xF5) return "byte that never occurs in UTF-8";
    if (b == 0xE0 && b1 >= 0x80 && b1 <= 0x9F) return "overlong 3-byte form";
    if (b == 0xF0 && b1 >= 0x80 && b1 <= 0x8F) return "overlong 4-byte form";
    if (b == 0xED && b1 >= 0xA0 && b1 <= 0xBF) return "encoded surrogate (U+D800..U+DFFF)";
    if (b == 0xF4 && b1 >= 0x90 && b1 <= 0xBF) return "code point beyond U+10FFFF";
    return "incomplete sequence";
}

std::string hex_bytes(const uint8_t* p, size_t n) {
    std::string hex;
    for (size_t k = 0; k < n; ++k) hex += fmt::format("{}{:02X}", k ? " " : "", p[k]);
    return hex;
}

constexpr const char* advice =
    "re-encode the file as UTF-8, pass --encoding NAME (or --encoding auto to detect it), "
    "or --on-invalid replace|skip";

}  // namespace

// ---- decoder

result<std::unique_ptr<decoder>> decoder::open(const std::string& encoding, invalid_policy policy, std::string name) {
    std::unique_ptr<decoder> d(new decoder());
    d->name_ = std::move(name);
    d->policy_ = policy;
    UErrorCode err = U_ZERO_ERROR;
    UConverter* conv = encoding.empty() ? nullptr : ucnv_open(encoding.c_str(), &err);
    if (U_FAILURE(err) || !conv)
        return make_error(errc::usage, fmt::format("--encoding: '{}' is not an encoding ICU knows; use a name such as "
                                                   "UTF-8, GB18030, Big5, Shift_JIS, UTF-16LE, UTF-16BE, UTF-16, or "
                                                   "auto ('uconv -l' lists them all)",
                                                   encoding));
    if (ucnv_getType(conv) == UCNV_COMPOUND_TEXT) {
        // Found by fuzzing: ICU's x11-compound-text converter crashes when cloned (the clone shares
        // its table of sub-converters) and decodes an escape sequence split across two reads
        // differently from a whole one, so no result could be trusted.
        ucnv_close(conv);
        return make_error(errc::usage, fmt::format("--encoding: '{}' (X11 compound text) is not supported: ICU's "
                                                   "converter for it is unreliable; convert the file to UTF-8 "
                                                   "first, e.g. with iconv",
                                                   encoding));
    }
    d->encoding_ = canonical_name(conv);
    if (ucnv_getType(conv) == UCNV_UTF8) {  // every alias of UTF-8 takes the strict fast path
        ucnv_close(conv);
        return d;
    }
    d->conv_ = conv;
    ucnv_setToUCallBack(conv, icu_callback::to_unicode, d.get(), nullptr, nullptr, &err);
    CHARLM_ASSERT(U_SUCCESS(err));
    return d;
}

decoder::~decoder() {
    if (conv_) ucnv_close(conv_);
    if (prev_conv_) ucnv_close(prev_conv_);
}

status decoder::feed(const char* bytes, size_t n, bool last, u16_buffer& out) {
    CHARLM_ASSERT(n < (size_t{1} << 30));
    if (!bytes) bytes = "";  // the final, empty feed
    status s = conv_ ? feed_icu(bytes, n, last, out) : feed_utf8(reinterpret_cast<const uint8_t*>(bytes), n, last, out);
    fed_ += n;
    return s;
}

void decoder::settle(u16_buffer& out, size_t from) {
    char16_t* p = out.data() + from;
    size_t n = out.size() - from;
    if (n == 0) return;
    if (!started_) {
        started_ = true;
        if (p[0] == 0xFEFF) {  // a byte order mark, not text
            std::memmove(p, p + 1, (n - 1) * sizeof(char16_t));
            --n;
        }
    }
    if (after_cr_ && n > 0) {  // a CR ended the last piece: drop the LF of its CR LF
        after_cr_ = false;
        if (p[0] == u'\n') {
            std::memmove(p, p + 1, (n - 1) * sizeof(char16_t));
            --n;
        }
    }
    bool any_cr = false;
    for (size_t k = 0; k < n; ++k) any_cr |= p[k] == u'\r';  // no early exit: vectorizes
    if (any_cr) {
        size_t w = 0;
        for (size_t k = 0; k < n; ++k) {
            char16_t u = p[k];
            if (after_cr_) {
                after_cr_ = false;
                if (u == u'\n') continue;
            }
            if (u == u'\r') {
                u = u'\n';
                after_cr_ = true;
            }
            p[w++] = u;
        }
        n = w;
    }
    out.truncate(from + n);
    // Position for messages: lines and code points (not units) since the last LF.
    const size_t lfs = static_cast<size_t>(std::count(p, p + n, u'\n'));
    size_t tail = 0;
    if (lfs > 0) {
        line_ += lfs;
        column_ = 1;
        tail = n;
        while (p[tail - 1] != u'\n') --tail;
    }
    size_t trails = 0;
    for (size_t k = tail; k < n; ++k) trails += U16_IS_TRAIL(p[k]) ? 1 : 0;
    column_ += n - tail - trails;
}

error decoder::utf8_error(uint64_t offset, const uint8_t* p, size_t avail, size_t bad_len, bool at_end) const {
    // Show the sequence and the continuation bytes right after it, as an editor would.
    size_t shown = std::max<size_t>(bad_len, 1);
    while (shown < avail && shown < 4 && U8_IS_TRAIL(p[shown])) ++shown;
    return make_error(errc::input, fmt::format("'{}': invalid UTF-8 ({}) at byte offset {} (line {}, column {}): "
                                               "bytes {}; {}",
                                               name_, utf8_problem(p, avail, at_end), offset, line_, column_,
                                               hex_bytes(p, shown), advice));
}

error decoder::icu_error(const icu_fault& f) const {
    const char* what = f.truncated ? "truncated sequence at end of input"
                       : f.unmappable ? "byte sequence with no Unicode mapping"
                                      : "ill-formed byte sequence";
    return make_error(errc::input, fmt::format("'{}': invalid {} ({}) at byte offset {} (line {}, column {}): bytes "
                                               "{}; {}",
                                               name_, encoding_, what, f.offset, line_, column_,
                                               hex_bytes(reinterpret_cast<const uint8_t*>(f.bytes.data()),
                                                         f.bytes.size()),
                                               advice));
}

// A sequence is decoded only once the 3 bytes after its start are in memory (or the input has
// ended), so that what an error shows and how it is classified never depend on where a chunk
// ends; the last 3 bytes of a chunk wait in carry_ for the next one.
status decoder::feed_utf8(const uint8_t* s, size_t n, bool last, u16_buffer& out) {
    const size_t base = out.size();
    char16_t* const w0 = out.room(n + 8);  // a unit per byte at most, plus the carried bytes
    char16_t* w = w0;
    struct fault {
        const uint8_t* at;  // the ill-formed sequence, in s or in the joined carry
        uint64_t offset;
        size_t avail, len;
        bool at_end;
    };
    // Decodes sequences starting in [i, stop) of p[0, len); stops at the first error (policy error).
    auto decode = [&](const uint8_t* p, size_t& i, size_t stop, size_t len, uint64_t offset0) -> std::optional<fault> {
        const auto e = static_cast<int32_t>(len);
        while (i < stop) {
            if (i + 8 <= stop) {  // ASCII, eight bytes at a time
                uint64_t v;
                std::memcpy(&v, p + i, 8);
                if ((v & 0x8080808080808080ull) == 0) {
                    for (int k = 0; k < 8; ++k) w[k] = p[i + k];
                    w += 8;
                    i += 8;
                    continue;
                }
            }
            if (p[i] < 0x80) {
                *w++ = p[i++];
                continue;
            }
            auto k = static_cast<int32_t>(i);
            UChar32 c;
            U8_NEXT(p, k, e, c);
            if (c >= 0) {
                if (c <= 0xFFFF) {
                    *w++ = static_cast<char16_t>(c);
                } else {
                    *w++ = U16_LEAD(c);
                    *w++ = U16_TRAIL(c);
                }
            } else if (policy_ == invalid_policy::error) {  // [i, k) is the maximal ill-formed subpart
                return fault{p + i, offset0 + i, len - i, static_cast<size_t>(k) - i, last && k == e && U8_IS_LEAD(p[i])};
            } else {
                ++invalid_;
                // Before any text, it makes a U+FEFF after it no BOM; after some (a BOM, say),
                // settle() must still see the text's first unit (found by fuzzing: a BOM was
                // kept whenever an ill-formed sequence followed it in the same chunk).
                if (w == w0) started_ = true;
                if (policy_ == invalid_policy::replace) *w++ = 0xFFFD;
            }
            i = static_cast<size_t>(k);
        }
        return std::nullopt;
    };
    auto fail = [&](const fault& f) -> status {
        out.commit(static_cast<size_t>(w - w0));
        settle(out, base);
        return utf8_error(f.offset, f.at, f.avail, f.len, f.at_end);
    };
    size_t i = 0;
    if (carry_len_ > 0) {  // the bytes the last chunk held back, with this chunk's first ones
        uint8_t seq[8];
        const size_t take = std::min<size_t>(n, 4);
        std::memcpy(seq, carry_, carry_len_);
        if (take) std::memcpy(seq + carry_len_, s, take);
        const size_t len = carry_len_ + take;
        const size_t stop = last ? len : len >= 3 ? len - 3 : 0;
        size_t pos = 0;
        if (auto f = decode(seq, pos, std::min(stop, carry_len_), len, fed_ - carry_len_)) return fail(*f);
        if (pos < carry_len_) {  // a tiny chunk: still waiting for bytes (then take == n)
            CHARLM_ASSERT(take == n && len - pos <= 3);
            std::memmove(carry_, seq + pos, len - pos);
            carry_len_ = len - pos;
            out.commit(static_cast<size_t>(w - w0));
            settle(out, base);
            return {};
        }
        i = pos - carry_len_;
        carry_len_ = 0;
    }
    const size_t stop = last ? n : n >= 3 ? n - 3 : 0;
    if (auto f = decode(s, i, stop, n, fed_)) return fail(*f);
    CHARLM_ASSERT(last ? i >= n : n - i <= 3 || i >= n);
    carry_len_ = i < n ? n - i : 0;
    if (carry_len_) std::memcpy(carry_, s + i, carry_len_);
    out.commit(static_cast<size_t>(w - w0));
    settle(out, base);
    return {};
}

decoder::icu_fault decoder::relocate(const char* s, size_t n, bool last) const {
    std::string joined = prev_bytes_;
    joined.append(s, n);
    icu_fault f = fault_;
    UErrorCode err = U_ZERO_ERROR;
    UConverter* conv = ucnv_clone(prev_conv_, &err);
    if (U_FAILURE(err) || !conv) return f;
    ucnv_setToUCallBack(conv, UCNV_TO_U_CALLBACK_STOP, nullptr, nullptr, nullptr, &err);
    std::vector<UChar> scratch(joined.size() + 64);  // the text is not kept
    const char* src = joined.data();
    do {
        UChar* t = scratch.data();
        err = U_ZERO_ERROR;
        ucnv_toUnicode(conv, &t, t + scratch.size(), &src, joined.data() + joined.size(), nullptr, last, &err);
    } while (err == U_BUFFER_OVERFLOW_ERROR);
    char bad[32];
    int8_t len = sizeof bad;
    UErrorCode e = U_ZERO_ERROR;
    if (U_FAILURE(err)) ucnv_getInvalidChars(conv, bad, &len, &e);
    if (U_FAILURE(err) && U_SUCCESS(e)) {  // within one buffer ICU un-reads what it looked ahead at
        f.offset = prev_fed_ + static_cast<uint64_t>(src - joined.data()) - static_cast<uint64_t>(len);
        f.bytes.assign(bad, static_cast<size_t>(len));
        f.truncated = err == U_TRUNCATED_CHAR_FOUND;
        f.unmappable = err == U_INVALID_CHAR_FOUND;
    }
    ucnv_close(conv);
    return f;
}

// Some ICU converters (CESU-8, UTF-7, SCSU, BOCU-1, IMAP-mailbox-name) decode a surrogate with no
// partner without complaint, but text cannot hold one: it is ill-formed input like any other
// (found by fuzzing: each became its own U+FFFD token, so the vocabulary held duplicates and the
// model file written from it could not be loaded). A lead ending the output waits for the next
// chunk in held_lead_. No byte offset in the message: the converter does not say which bytes.
status decoder::unpaired_surrogates(u16_buffer& out, size_t from, bool last) {
    char16_t* p = out.data();
    const size_t end = out.size();
    bool any = false;
    for (size_t k = from; k < end; ++k) any |= U16_IS_SURROGATE(p[k]);  // no early exit: vectorizes
    if (!any) return {};
    size_t w = from;
    for (size_t i = from; i < end; ++i) {
        const char16_t u = p[i];
        if (!U16_IS_SURROGATE(u)) {
            p[w++] = u;
        } else if (U16_IS_LEAD(u) && i + 1 < end && U16_IS_TRAIL(p[i + 1])) {
            p[w++] = u;
            p[w++] = p[++i];
        } else if (U16_IS_LEAD(u) && i + 1 == end && !last) {
            held_lead_ = u;
        } else if (policy_ == invalid_policy::error) {
            out.truncate(w);
            settle(out, from);  // line_ and column_ now point at it
            return make_error(errc::input,
                              fmt::format("'{}': invalid {} (unpaired surrogate U+{:04X}, which the converter lets "
                                          "through but text cannot hold) at line {}, column {}; {}",
                                          name_, encoding_, static_cast<unsigned>(u), line_, column_, advice));
        } else {
            ++invalid_;
            if (w == from && !started_) started_ = true;  // as in feed_utf8
            if (policy_ == invalid_policy::replace) p[w++] = 0xFFFD;
        }
    }
    out.truncate(w);
    return {};
}

status decoder::feed_icu(const char* s, size_t n, bool last, u16_buffer& out) {
    const size_t base = out.size();
    if (held_lead_) {  // it goes first: this chunk's output may hold its trail
        *out.room(1) = held_lead_;
        out.commit(1);
        held_lead_ = 0;
    }
    const char* src = s;
    const char* const lim = s + n;
    chunk_ = s;
    UConverter* before = nullptr;  // becomes prev_conv_ (see relocate)
    if (policy_ == invalid_policy::error) {
        UErrorCode e = U_ZERO_ERROR;
        before = ucnv_clone(conv_, &e);
        if (U_FAILURE(e)) before = nullptr;
    }
    for (;;) {
        const size_t cap = static_cast<size_t>(lim - src) + 64;
        char16_t* const w0 = out.room(cap);
        UChar* t = reinterpret_cast<UChar*>(w0);
        UErrorCode err = U_ZERO_ERROR;
        empty_target_ = !started_ && out.size() == base ? t : nullptr;
        ucnv_toUnicode(conv_, &t, t + cap, &src, lim, nullptr, last, &err);
        out.commit(static_cast<size_t>(t - reinterpret_cast<UChar*>(w0)));
        if (err == U_BUFFER_OVERFLOW_ERROR) continue;
        if (U_FAILURE(err)) {
            if (before) ucnv_close(before);
            // An unpaired surrogate before the ill-formed sequence comes first in the text.
            if (auto st = unpaired_surrogates(out, base, true); !st.ok()) return st;
            settle(out, base);
            return icu_error(prev_conv_ ? relocate(s, n, last) : fault_);
        }
        break;
    }
    if (before) {
        if (prev_conv_) ucnv_close(prev_conv_);
        prev_conv_ = before;
        prev_bytes_.assign(s, n);
        prev_fed_ = fed_;
    }
    if (auto st = unpaired_surrogates(out, base, last); !st.ok()) return st;
    settle(out, base);
    return {};
}

}  // namespace charlm::text_detail
