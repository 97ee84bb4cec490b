// Internals of the corpus pipeline (text.hpp), as two streaming stages:
//   decoder:   bytes -> UTF-16 (strict UTF-8 through U8_NEXT, or an ICU converter); BOM dropped,
//              CR LF and CR folded to LF, positions tracked for messages (byte offset, line, column);
//   tokenizer: UTF-16 -> NFC/NFKC -> lowercase (normalized again) -> grapheme clusters or code
//              points -> ids.
// Between them, safe_cut() hands the tokenizer text cut where no cluster, normalization or casing
// context can span the cut, so the chunk size never changes the result. Not public API.
#pragma once

#include <unicode/brkiter.h>
#include <unicode/normalizer2.h>
#include <unicode/ucnv.h>
#include <unicode/unistr.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "charlm/text.hpp"
#include "text/script_impl.h"

namespace charlm::text_detail {

// A growable UTF-16 buffer that hands out room without zeroing it (decoders write straight in),
// so a 4 MB chunk costs only the pages actually written.
class u16_buffer {
public:
    const char16_t* data() const { return p_.get(); }
    char16_t* data() { return p_.get(); }
    size_t size() const { return size_; }
    char16_t* room(size_t n);     // at least n writable units after size(); commit() what was written
    void commit(size_t n) { size_ += n; }
    void truncate(size_t n) { size_ = n; }
    void drop_front(size_t n);    // removes the first n units (the part handed to the tokenizer)

private:
    std::unique_ptr<char16_t[]> p_;
    size_t size_ = 0, cap_ = 0;
};

// Grapheme_Cluster_Break is Other, Control or LF (not CR): between two such code points rules
// GB4, GB5 and GB999 always break, whatever the surrounding text.
bool simple_for_graphemes(UChar32 c);

class decoder {
public:
    // `encoding` is a converter name ("auto" already resolved); `name` is used in messages.
    static result<std::unique_ptr<decoder>> open(const std::string& encoding, invalid_policy policy,
                                                 std::string name);
    ~decoder();
    // Decodes n bytes (`last`: nothing follows) and appends UTF-16 to `out`.
    status feed(const char* bytes, size_t n, bool last, u16_buffer& out);
    uint64_t invalid() const { return invalid_; }
    const std::string& encoding() const { return encoding_; }  // MIME/IANA name, e.g. "GB18030"

    // What the ICU callback saw of the ill-formed sequence that stopped conversion.
    struct icu_fault {
        uint64_t offset = 0;
        std::string bytes;
        bool truncated = false;
        bool unmappable = false;
    };

private:
    decoder() = default;
    status feed_utf8(const uint8_t* s, size_t n, bool last, u16_buffer& out);
    status feed_icu(const char* s, size_t n, bool last, u16_buffer& out);
    status unpaired_surrogates(u16_buffer& out, size_t from, bool last);
    // BOM, CR folding and position tracking over out[from, size).
    void settle(u16_buffer& out, size_t from);
    error utf8_error(uint64_t offset, const uint8_t* p, size_t avail, size_t bad_len, bool at_end) const;
    error icu_error(const icu_fault& f) const;

    std::string name_, encoding_;
    invalid_policy policy_ = invalid_policy::error;
    UConverter* conv_ = nullptr;  // null: the strict UTF-8 fast path
    uint8_t carry_[4] = {};       // UTF-8: a valid but incomplete sequence ending the last chunk
    size_t carry_len_ = 0;
    uint64_t fed_ = 0;            // bytes fed before the current chunk
    uint64_t line_ = 1, column_ = 1;
    uint64_t invalid_ = 0;
    bool started_ = false;        // the first code point (a possible BOM) has been seen
    bool after_cr_ = false;       // the last unit settled was a CR turned into LF
    char16_t held_lead_ = 0;      // ICU: a lead surrogate that ended the last chunk's output

    // Shared with the ICU callback.
    const char* chunk_ = nullptr;
    const UChar* empty_target_ = nullptr;  // where output starts while nothing is decoded yet
    icu_fault fault_;
    friend struct icu_callback;

    // ICU path under `error`: the converter as it was before the previous chunk, and that chunk.
    // ICU keeps the bytes of a sequence that spans chunks inside the converter and may replay them
    // from there, so the callback cannot always say where a sequence began; relocate() converts
    // the previous chunk and this one as one buffer to find it.
    UConverter* prev_conv_ = nullptr;
    std::string prev_bytes_;
    uint64_t prev_fed_ = 0;
    icu_fault relocate(const char* s, size_t n, bool last) const;
};

class tokenizer {
public:
    explicit tokenizer(const text_config& cfg);
    ~tokenizer();
    // Consumes text that ends at a safe cut (safe_cut()) or at the end of the input.
    void add(const char16_t* s, size_t n);
    // Tokens of a piece as UTF-8 strings, without ids (prompts).
    void segment(const char16_t* s, size_t n, std::vector<std::string>& out);
    // Room for about n ids in all, so that the id stream grows without doubling.
    void expect_tokens(uint64_t n);
    uint64_t tokens() const { return out_.ids.size() + pending_ids_.size(); }
    tokenized_text finish(text_stats stats);

private:
    std::u16string_view prepare(const char16_t* s, size_t n);
    template <class Sink>
    void cut(std::u16string_view text, Sink& sink);
    void flush_ids();

    struct u16_hash {
        using is_transparent = void;
        size_t operator()(std::u16string_view v) const { return std::hash<std::u16string_view>{}(v); }
    };
    struct id_sink;
    struct string_sink;

    text_config cfg_;
    const icu::Normalizer2* norm_ = nullptr;  // null for `none`
    const script_table* script_ = nullptr;     // --convert-corpus; null for none
    std::unique_ptr<icu::BreakIterator> breaks_;
    icu::UnicodeString lowered_, normalized_;
    std::u16string converted_;
    tokenized_text out_;
    std::vector<uint32_t> bmp_;            // (65536) code unit -> id + 1; 0: not seen yet
    std::unordered_map<std::u16string, uint32_t, u16_hash, std::equal_to<>> multi_;  // other tokens
    std::vector<uint32_t> pending_ids_;    // ids not yet appended to out_.ids (block of 64 Ki)
    uint64_t expected_ = 0;
    uint64_t code_points_ = 0, lines_ = 0;
    bool ends_with_lf_ = true;
};

// Where decoded text may be cut so that no token, normalization or casing context spans the cut:
// after the last LF; in a long text without LF, between two code points where every rule breaks.
// Keeps what it has already scanned, so tiny chunks do not rescan a long line again and again.
class cut_finder {
public:
    explicit cut_finder(const text_config& cfg);
    // A cut in `text` (0: none known yet, wait for more). Between calls `text` only grows, or
    // loses exactly the returned prefix.
    size_t find(const u16_buffer& text);

private:
    size_t taken(size_t n, size_t cut);
    text_config cfg_;
    const icu::Normalizer2* norm_ = nullptr;
    size_t lf_done_ = 0;    // leading units known to hold no LF
    size_t pair_done_ = 0;  // positions below this were checked for a safe pair, in vain
};

// The whole pipeline over a byte source; `read(buf, n)` fills up to n bytes and returns how many
// (0 at the end). `size_hint` is the input size when known (0: unknown). load_text and
// tokenize_bytes use 1 MiB chunks (faster than 2-4 MiB here: the UTF-16 copy stays in cache);
// tests pass tiny ones to put boundaries everywhere.
using byte_reader = std::function<result<size_t>(char* buf, size_t n)>;
result<tokenized_text> run_pipeline(const byte_reader& read, const text_config& cfg, const std::string& name,
                                    size_t chunk_bytes, uint64_t size_hint);
result<tokenized_text> tokenize_bytes_chunked(std::string_view bytes, const text_config& cfg,
                                              std::string_view name, size_t chunk_bytes);

constexpr size_t default_chunk_bytes = size_t{1} << 20;

}  // namespace charlm::text_detail
