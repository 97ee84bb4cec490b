// Internals of the corpus pipeline (text.hpp), as two streaming stages:
//   decoder:   bytes -> code points (strict UTF-8 or an ICU converter), BOM dropped, CR LF and CR
//              folded to LF, error positions tracked (byte offset, line, column);
//   tokenizer: UTF-16 text -> lowercase -> NFC/NFKC -> grapheme clusters or code points -> ids.
// The decoder hands the tokenizer text cut at safe boundaries (after a LF, or where no cluster,
// normalization or casing context can span), so the chunk size never changes the result.
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

#include "charlm/text.hpp"

namespace charlm::text_detail {

class tokenizer {
public:
    explicit tokenizer(const text_config& cfg);
    ~tokenizer();
    // Consumes a complete piece of text (no cluster spans its end).
    void add(const char16_t* s, int32_t n);
    tokenized_text finish(text_stats stats);
    // Tokens of a piece as UTF-8 strings, without ids (prompts).
    void segment(const char16_t* s, int32_t n, std::vector<std::string>& out);

private:
    // Applies lowercasing and normalization; returns the text to cut (may alias `s`).
    std::u16string_view prepare(const char16_t* s, int32_t n);
    void emit(std::u16string_view token);
    template <class F>
    void cut(std::u16string_view text, F&& on_token);

    struct u16_hash {
        using is_transparent = void;
        size_t operator()(std::u16string_view v) const { return std::hash<std::u16string_view>{}(v); }
    };

    text_config cfg_;
    const icu::Normalizer2* norm_ = nullptr;  // null for `none`
    std::unique_ptr<icu::BreakIterator> breaks_;
    icu::UnicodeString lowered_, normalized_;
    tokenized_text out_;
    std::vector<uint32_t> bmp_;                        // code unit -> id + 1 (0: not seen)
    std::unordered_map<std::u16string, uint32_t, u16_hash, std::equal_to<>> multi_;  // other tokens -> id
    uint64_t code_points_ = 0;
    uint64_t lines_ = 0;
    bool ends_with_lf_ = true;
};

// True when a grapheme boundary before and after `c` is certain whatever its neighbours are
// also "simple" (Grapheme_Cluster_Break Other, Control or LF; never CR, which decoding folds).
bool simple_for_graphemes(UChar32 c);

class decoder {
public:
    // `encoding` already resolved ("auto" handled by the caller); `name` for messages.
    static result<std::unique_ptr<decoder>> open(const std::string& encoding, invalid_policy policy,
                                                 const std::string& name);
    ~decoder();
    // Decodes `n` bytes (`last`: no more follow) and appends UTF-16 to `out`.
    status feed(const char* bytes, size_t n, bool last, std::u16string& out);
    uint64_t invalid() const { return invalid_; }
    std::string canonical_name() const;

private:
    decoder() = default;
    status feed_utf8(const char* bytes, size_t n, bool last, std::u16string& out);
    status feed_icu(const char* bytes, size_t n, bool last, std::u16string& out);
    void put(UChar32 c, std::u16string& out);
    error bad_bytes(uint64_t offset, const uint8_t* p, size_t len, bool at_end) const;

public:  // for the ICU callback
    void count_invalid() { ++invalid_; }
    invalid_policy policy() const { return policy_; }

private:

    std::string name_;
    invalid_policy policy_ = invalid_policy::error;
    UConverter* conv_ = nullptr;  // null: the strict UTF-8 fast path
    std::string carry_;           // UTF-8: an incomplete sequence at the end of the last chunk
    uint64_t offset_ = 0;         // bytes consumed before the current chunk (carry excluded)
    uint64_t line_ = 1, column_ = 1;
    uint64_t invalid_ = 0;
    bool started_ = false;  // a code point has been produced (BOM check)
    bool after_cr_ = false;
};

// Where a decoded buffer may be cut so that no token, normalization or casing context spans the
// cut: after the last LF; in a long text with no LF, before a code point where every rule
// breaks. Returns 0 when no such place is known yet.
size_t safe_cut(const std::u16string& text, const text_config& cfg);

}  // namespace charlm::text_detail
