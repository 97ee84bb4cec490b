// The pipeline's public face (text.hpp): reading a file or standard input in chunks, encoding
// detection, handing decoded text to the tokenizer at safe cuts, and the helpers for prompts.
// Not here: decoding (decode.cpp), normalization and tokens (segment.cpp).
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unicode/ucsdet.h>
#include <unicode/utf8.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "text/text_impl.h"

namespace charlm {

namespace text_detail {

namespace {

constexpr size_t detect_bytes = size_t{1} << 16;

struct detected {
    std::string encoding;
    int32_t confidence = -1;
};

bool converter_exists(const std::string& name) {
    if (name.empty()) return false;  // "" would open ICU's default converter
    UErrorCode err = U_ZERO_ERROR;
    UConverter* conv = ucnv_open(name.c_str(), &err);
    if (conv) ucnv_close(conv);
    return U_SUCCESS(err) && conv;
}

// ICU charset detection over the first 64 KiB. A pure-ASCII start is taken as UTF-8, its superset
// that real files use, rather than ICU's first guess (ISO-8859-1), which would garble any UTF-8
// further on; the confidence reported is ICU's for UTF-8.
result<detected> detect(const char* bytes, size_t n, const std::string& name) {
    n = std::min(n, detect_bytes);
    const bool ascii = std::all_of(bytes, bytes + n, [](char b) { return static_cast<unsigned char>(b) < 0x80; });
    UErrorCode err = U_ZERO_ERROR;
    UCharsetDetector* det = ucsdet_open(&err);
    ucsdet_setText(det, bytes, static_cast<int32_t>(n), &err);
    int32_t found = 0;
    const UCharsetMatch** all = ucsdet_detectAll(det, &found, &err);
    detected out;
    for (int32_t k = 0; U_SUCCESS(err) && k < found; ++k) {
        const char* enc = ucsdet_getName(all[k], &err);
        if (!enc || (ascii && std::strcmp(enc, "UTF-8") != 0)) continue;
        // The detector also names display orders that are no converter ("IBM424_rtl", "IBM420_ltr":
        // found by fuzzing, it ended as "--encoding: 'IBM424_rtl' is not an encoding ICU knows"):
        // the bytes decode with the base code page.
        std::string usable = enc;
        if (!converter_exists(usable)) usable = usable.substr(0, usable.find('_'));
        if (!converter_exists(usable)) continue;
        out = {usable, ucsdet_getConfidence(all[k], &err)};
        break;
    }
    ucsdet_close(det);
    if (ascii && out.encoding.empty()) out = {"UTF-8", 0};
    if (U_FAILURE(err) || out.encoding.empty())
        return make_error(errc::input, fmt::format("'{}': could not detect the encoding; name it with --encoding "
                                                   "(e.g. UTF-8, GB18030, UTF-16LE)",
                                                   name));
    return out;
}

// Whether the encoding writes some characters in one byte, so that a 0x00 byte is a NUL character
// (UTF-16 and UTF-32 text has 0x00 bytes everywhere).
bool byte_oriented(const std::string& encoding) {
    UErrorCode err = U_ZERO_ERROR;
    UConverter* conv = ucnv_open(encoding.c_str(), &err);
    if (U_FAILURE(err) || !conv) return true;
    const bool one = ucnv_getMinCharSize(conv) == 1;
    ucnv_close(conv);
    return one;
}

// The binary-file test of grep and git: a NUL byte in the first block of a file read in a byte
// encoding. No text corpus holds one, while images, archives and UTF-16 text read as UTF-8 do.
// (U+0000 later in a text, or from tokenize_bytes, is a code point like any other.)
status refuse_binary(const char* bytes, size_t n, const text_config& cfg, const std::string& name) {
    if (cfg.on_invalid != invalid_policy::error || cfg.encoding == "auto" || !byte_oriented(cfg.encoding))
        return {};
    const char* z = static_cast<const char*>(std::memchr(bytes, 0, n));
    if (!z) return {};
    uint64_t line = 1;
    for (const char* p = bytes; p < z; ++p) line += *p == '\n' || (*p == '\r' && (p + 1 == z || p[1] != '\n'));
    return make_error(errc::input, fmt::format("'{}' looks like a binary file, not text: NUL byte at byte offset {} "
                                               "(line {}); if it is UTF-16 or UTF-32 text, name the encoding with "
                                               "--encoding (e.g. UTF-16LE) or use --encoding auto; to read it anyway, "
                                               "--on-invalid replace|skip",
                                               name, z - bytes, line));
}

}  // namespace

result<tokenized_text> run_pipeline(const byte_reader& read, const text_config& cfg, const std::string& name,
                                    size_t chunk_bytes, uint64_t size_hint) {
    CHARLM_TRY(cfg.validate());
    CHARLM_ASSERT(chunk_bytes > 0);
    // The first block is read whole for detection, then fed in chunks like the rest.
    std::string buf(std::max(chunk_bytes, detect_bytes), '\0');
    auto first = read(buf.data(), buf.size());
    if (!first) return first.err();
    text_stats stats;
    std::string encoding = cfg.encoding;
    if (encoding == "auto") {
        if (*first == 0) {
            encoding = "UTF-8";
        } else {
            auto d = detect(buf.data(), *first, name);
            if (!d) return d.err();
            encoding = d->encoding;
            stats.confidence = d->confidence;
        }
    }
    auto dec = decoder::open(encoding, cfg.on_invalid, name);
    if (!dec) return dec.err();
    tokenizer tok(cfg);
    cut_finder cuts(cfg);
    u16_buffer pending;
    uint64_t fed = 0;
    auto process = [&](const char* p, size_t n, bool last) -> status {
        CHARLM_TRY((*dec)->feed(p, n, last, pending));
        fed += n;
        const size_t cut = last ? pending.size() : cuts.find(pending);
        if (cut > 0) {
            tok.add(pending.data(), cut);
            pending.drop_front(cut);
        }
        // Reserve the id stream for the projected total once a first megabyte has been seen.
        if (size_hint > fed && fed >= std::min<uint64_t>(size_hint / 2, uint64_t{1} << 20) && tok.tokens() > 0) {
            const double per_byte = static_cast<double>(tok.tokens()) / static_cast<double>(fed);
            tok.expect_tokens(static_cast<uint64_t>(per_byte * static_cast<double>(size_hint)) + 4096);
        }
        return {};
    };
    for (size_t at = 0; at < *first; at += chunk_bytes)
        CHARLM_TRY(process(buf.data() + at, std::min(chunk_bytes, *first - at), false));
    for (;;) {
        auto got = read(buf.data(), chunk_bytes);
        if (!got) return got.err();
        if (*got == 0) break;
        CHARLM_TRY(process(buf.data(), *got, false));
    }
    CHARLM_TRY(process(nullptr, 0, true));
    stats.bytes = fed;
    stats.invalid_sequences = (*dec)->invalid();
    stats.encoding = (*dec)->encoding();
    return tok.finish(std::move(stats));
}

result<tokenized_text> tokenize_bytes_chunked(std::string_view bytes, const text_config& cfg, std::string_view name,
                                              size_t chunk_bytes) {
    size_t at = 0;
    auto read = [&](char* out, size_t n) -> result<size_t> {
        const size_t k = std::min(n, bytes.size() - at);
        if (k) std::memcpy(out, bytes.data() + at, k);
        at += k;
        return k;
    };
    return run_pipeline(read, cfg, std::string(name), chunk_bytes, bytes.size());
}

}  // namespace text_detail

result<tokenized_text> load_text(const std::string& path, const text_config& cfg, const read_progress& progress) {
    const bool use_stdin = path == "-";
    const std::string name = use_stdin ? "standard input" : path;
    int fd = STDIN_FILENO;
    uint64_t size_hint = 0;
    if (!use_stdin) {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            const int e = errno;
            return make_error(errc::io, fmt::format("cannot open '{}': {}{}", path, std::strerror(e),
                                                    e == ENOENT ? "; check the path" : ""));
        }
        struct stat st {};
        if (::fstat(fd, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                ::close(fd);
                return make_error(errc::io, fmt::format("'{}' is a directory; give a text file", path));
            }
            if (S_ISREG(st.st_mode)) size_hint = static_cast<uint64_t>(st.st_size);
        }
    }
    // Fills the buffer unless the input ends first, so that chunks are full on pipes too.
    bool first = true;
    uint64_t read_so_far = 0;
    auto read = [&](char* out, size_t n) -> result<size_t> {
        size_t got = 0;
        while (got < n) {
            const ssize_t k = ::read(fd, out + got, n - got);
            if (k == 0) break;
            if (k < 0) {
                if (errno == EINTR) continue;
                return make_error(errc::io, fmt::format("cannot read '{}': {}", name, std::strerror(errno)));
            }
            got += static_cast<size_t>(k);
        }
        if (first) {
            first = false;
            CHARLM_TRY(text_detail::refuse_binary(out, got, cfg, name));
        }
        read_so_far += got;
        if (progress) progress(read_so_far, size_hint);
        return got;
    };
    auto r = text_detail::run_pipeline(read, cfg, name, text_detail::default_chunk_bytes, size_hint);
    if (!use_stdin) ::close(fd);
    return r;
}

result<tokenized_text> tokenize_bytes(std::string_view bytes, const text_config& cfg, std::string_view source_name) {
    return text_detail::tokenize_bytes_chunked(bytes, cfg, source_name, text_detail::default_chunk_bytes);
}

result<std::vector<std::string>> segment_utf8(std::string_view utf8, const text_config& cfg) {
    auto dec = text_detail::decoder::open("UTF-8", invalid_policy::error, "the prompt");
    if (!dec) return dec.err();
    text_detail::u16_buffer text;
    // A prompt is an option's value, not a file: a usage error, without the advice for files.
    if (status s = (*dec)->feed(utf8.data(), utf8.size(), true, text); !s.ok()) {
        const std::string& m = s.err().message;
        return make_error(errc::usage, m.substr(0, m.find("; re-encode")) + "; give the text in UTF-8");
    }
    if (cfg.convert != script_conversion::none)
        if (auto t = text_detail::script_table::get(cfg.convert); !t) return t.err();
    text_detail::tokenizer tok(cfg);
    std::vector<std::string> out;
    tok.segment(text.data(), text.size(), out);
    return out;
}

std::string describe_code_points(std::string_view utf8) {
    std::string out;
    const auto* s = reinterpret_cast<const uint8_t*>(utf8.data());
    const auto n = static_cast<int32_t>(utf8.size());
    for (int32_t i = 0; i < n;) {
        const int32_t at = i;
        UChar32 c;
        U8_NEXT(s, i, n, c);
        if (!out.empty()) out += ' ';
        if (c >= 0) {
            out += fmt::format("U+{:04X}", c);
        } else {  // show ill-formed bytes as bytes
            for (int32_t k = at; k < i; ++k) out += fmt::format("{}<{:02X}>", k > at ? " " : "", s[k]);
        }
    }
    return out;
}

}  // namespace charlm
