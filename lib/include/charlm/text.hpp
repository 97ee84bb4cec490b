// The Unicode corpus pipeline: bytes -> code points (strict UTF-8 or an ICU converter)
// -> normalized text -> tokens (extended grapheme clusters or code points) -> ids.
// Not here: the vocabulary ordering (vocab.hpp) and minibatches (batches.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "charlm/script.hpp"
#include "charlm/status.hpp"
#include "charlm/token_stream.hpp"

namespace charlm {

enum class invalid_policy { error, replace, skip };
enum class normalization { nfc, nfkc, none };
enum class token_unit { grapheme, codepoint };

// How raw text becomes tokens. Saved with every model so generation and evaluation
// see text exactly as training did.
struct text_config {
    std::string encoding = "utf-8";  // an ICU converter name, or "auto" (ICU charset detection)
    invalid_policy on_invalid = invalid_policy::error;
    normalization normalize = normalization::nfc;
    token_unit unit = token_unit::grapheme;
    bool lowercase = false;  // ICU root-locale lowercasing, after normalization
    script_conversion convert = script_conversion::none;  // --convert-corpus, after lowercasing (OpenCC)
    text_script script = text_script::unknown;            // measured at training: the model's script

    status validate() const;  // checks that the encoding names an ICU converter
};

// Names as the CLI and model files spell them.
std::string to_string(invalid_policy);
std::string to_string(normalization);
std::string to_string(token_unit);
result<invalid_policy> parse_invalid_policy(std::string_view);
result<normalization> parse_normalization(std::string_view);
result<token_unit> parse_token_unit(std::string_view);

struct text_stats {
    uint64_t bytes = 0;              // input bytes, BOM included
    uint64_t code_points = 0;        // after decoding, CR/LF folding and normalization
    uint64_t tokens = 0;
    uint64_t lines = 0;              // LF count, plus one if the text does not end with LF
    uint64_t invalid_sequences = 0;  // replaced or skipped ill-formed sequences
    std::string encoding;            // canonical name of the encoding used
    int32_t confidence = -1;         // ICU detection confidence 0..100 with "auto", else -1
};

// A text as tokens: `ids` index `tokens` (distinct tokens, UTF-8, in first-seen order).
struct tokenized_text {
    token_stream ids;
    std::vector<std::string> tokens;
    std::vector<uint64_t> counts;  // occurrences of each entry of `tokens`
    text_stats stats;
};

// Reads a whole file ("-" for standard input), streaming it in chunks so that memory
// stays near the size of the id stream. Errors name the file, byte offset, line and
// column (1-based) of an ill-formed sequence and show its bytes.
// `progress`, when given, hears the bytes read so far and the file's size (0 when not known: a
// pipe) after each chunk (1 MiB).
using read_progress = std::function<void(uint64_t bytes_read, uint64_t bytes_total)>;
result<tokenized_text> load_text(const std::string& path, const text_config& cfg, const read_progress& progress = {});

// The same pipeline over bytes already in memory; `source_name` is used in messages.
result<tokenized_text> tokenize_bytes(std::string_view bytes, const text_config& cfg,
                                      std::string_view source_name);

// Segments an in-memory UTF-8 string (a prompt, say) into tokens with the same
// normalization and unit rules; the encoding setting is ignored (input is UTF-8).
result<std::vector<std::string>> segment_utf8(std::string_view utf8, const text_config& cfg);

// Code points of a UTF-8 token as "U+4E00 U+0301" for messages.
std::string describe_code_points(std::string_view utf8);

}  // namespace charlm
