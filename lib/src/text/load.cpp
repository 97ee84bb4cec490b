// The pipeline's public face (text.hpp): reading a file or standard input in chunks, encoding
// detection, feeding the decoder and the tokenizer at safe cuts, and the helpers for prompts.
#include <fmt/core.h>
#include <sys/stat.h>
#include <unicode/ucsdet.h>
#include <unicode/utf8.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "text/text_impl.h"

namespace charlm {

namespace {

using text_detail::decoder;
using text_detail::tokenizer;

constexpr size_t chunk_bytes = 4u << 20;

// ICU charset detection over the first bytes of the input.
result<std::pair<std::string, int32_t>> detect(const char* bytes, size_t n, const std::string& name) {
    UErrorCode err = U_ZERO_ERROR;
    UCharsetDetector* det = ucsdet_open(&err);
    ucsdet_setText(det, bytes, static_cast<int32_t>(std::min<size_t>(n, 1u << 16)), &err);
    const UCharsetMatch* m = ucsdet_detect(det, &err);
    std::pair<std::string, int32_t> out;
    if (U_SUCCESS(err) && m) {
        out.first = ucsdet_getName(m, &err);
        out.second = ucsdet_getConfidence(m, &err);
    }
    ucsdet_close(det);
    if (U_FAILURE(err) || out.first.empty())
        return make_error(errc::input, fmt::format("'{}': could not detect the encoding; name it with --encoding", name));
    return out;
}

// Runs bytes from `read` (returns bytes read, 0 at the end, -1 on error) through the pipeline.
template <class Reader>
result<tokenized_text> run(Reader&& read, const text_config& cfg, const std::string& name) {
    CHARLM_TRY(cfg.validate());
    std::string buf(chunk_bytes, '\0');
    text_stats stats;
    std::string encoding = cfg.encoding;
    // The first chunk is read before the decoder opens, for detection.
    long got = read(buf.data(), buf.size());
    if (got < 0) return make_error(errc::io, fmt::format("cannot read '{}': {}", name, std::strerror(errno)));
    if (cfg.encoding == "auto") {
        if (got == 0) {
            encoding = "UTF-8";
        } else {
            auto d = detect(buf.data(), static_cast<size_t>(got), name);
            if (!d) return d.err();
            encoding = d->first;
            stats.confidence = d->second;
        }
    }
    auto dec = decoder::open(encoding, cfg.on_invalid, name);
    if (!dec) return dec.err();
    tokenizer tok(cfg);
    std::u16string pending;
    for (;;) {
        stats.bytes += static_cast<uint64_t>(got);
        long next = 0;
        bool last = got == 0;
        if (!last) {
            // Look ahead one chunk so the decoder knows when the input ends.
            next = read(nullptr, 0);  // probe: returns 1 if more input may follow
            if (next < 0) return make_error(errc::io, fmt::format("cannot read '{}': {}", name, std::strerror(errno)));
            last = next == 0;
        }
        CHARLM_TRY((*dec)->feed(buf.data(), static_cast<size_t>(got), last, pending));
        const size_t cut = last ? pending.size() : text_detail::safe_cut(pending, cfg);
        if (cut > 0) {
            tok.add(pending.data(), static_cast<int32_t>(cut));
            pending.erase(0, cut);
        }
        if (last) break;
        got = read(buf.data(), buf.size());
        if (got < 0) return make_error(errc::io, fmt::format("cannot read '{}': {}", name, std::strerror(errno)));
        if (got == 0) {  // the probe was optimistic: flush what the decoder holds
            CHARLM_TRY((*dec)->feed(buf.data(), 0, true, pending));
            tok.add(pending.data(), static_cast<int32_t>(pending.size()));
            break;
        }
    }
    stats.invalid_sequences = (*dec)->invalid();
    stats.encoding = (*dec)->canonical_name();
    return tok.finish(std::move(stats));
}

}  // namespace

result<tokenized_text> load_text(const std::string& path, const text_config& cfg) {
    const bool use_stdin = path == "-";
    const std::string name = use_stdin ? "standard input" : path;
    FILE* f = stdin;
    if (!use_stdin) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0)
            return make_error(errc::io, fmt::format("cannot open '{}': {}; check the path", path, std::strerror(errno)));
        if (S_ISDIR(st.st_mode))
            return make_error(errc::io, fmt::format("'{}' is a directory; give a text file", path));
        f = std::fopen(path.c_str(), "rb");
        if (!f) return make_error(errc::io, fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
    }
    auto read = [f](char* out, size_t n) -> long {
        if (out == nullptr) {  // probe for more input
            const int c = std::fgetc(f);
            if (c == EOF) return std::ferror(f) ? -1 : 0;
            std::ungetc(c, f);
            return 1;
        }
        const size_t got = std::fread(out, 1, n, f);
        if (got < n && std::ferror(f)) return -1;
        return static_cast<long>(got);
    };
    auto r = run(read, cfg, name);
    if (!use_stdin) std::fclose(f);
    return r;
}

result<tokenized_text> tokenize_bytes(std::string_view bytes, const text_config& cfg, std::string_view source_name) {
    size_t at = 0;
    auto read = [&](char* out, size_t n) -> long {
        if (out == nullptr) return at < bytes.size() ? 1 : 0;
        const size_t k = std::min(n, bytes.size() - at);
        std::memcpy(out, bytes.data() + at, k);
        at += k;
        return static_cast<long>(k);
    };
    return run(read, cfg, std::string(source_name));
}

result<std::vector<std::string>> segment_utf8(std::string_view utf8, const text_config& cfg) {
    auto dec = decoder::open("UTF-8", invalid_policy::error, "the prefix");
    if (!dec) return dec.err();
    std::u16string text;
    CHARLM_TRY((*dec)->feed(utf8.data(), utf8.size(), true, text));
    text_config c = cfg;
    tokenizer tok(c);
    std::vector<std::string> out;
    tok.segment(text.data(), static_cast<int32_t>(text.size()), out);
    return out;
}

std::string describe_code_points(std::string_view utf8) {
    std::string out;
    const auto* s = reinterpret_cast<const uint8_t*>(utf8.data());
    const int32_t n = static_cast<int32_t>(utf8.size());
    for (int32_t i = 0; i < n;) {
        UChar32 c;
        U8_NEXT(s, i, n, c);
        out += fmt::format("{}U+{:04X}", out.empty() ? "" : " ", c < 0 ? 0xFFFD : c);
    }
    return out;
}

}  // namespace charlm
