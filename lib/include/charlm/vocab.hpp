// The vocabulary: a deterministic id for every token of the training text, saved with
// the model. Order: <unk> first (id 0), then by frequency (descending), ties by code
// point order. Not here: how text becomes tokens (text.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "charlm/status.hpp"
#include "charlm/text.hpp"
#include "charlm/token_stream.hpp"

namespace charlm {

class vocabulary {
public:
    static constexpr uint32_t unk_id = 0;
    static constexpr std::string_view unk_token = "<unk>";

    vocabulary() : vocabulary(std::vector<std::string>{std::string(unk_token)}) {}

    // Tokens with fewer than `min_count` occurrences fold into <unk>.
    static vocabulary build(const std::vector<std::string>& tokens,
                            const std::vector<uint64_t>& counts, uint64_t min_count = 1);
    // From a saved list in id order; checks that entry 0 is <unk> and no entry repeats.
    static result<vocabulary> from_tokens(std::vector<std::string> in_id_order);

    uint32_t size() const { return static_cast<uint32_t>(tokens_.size()); }
    const std::string& token(uint32_t id) const { return tokens_.at(id); }
    const std::vector<std::string>& tokens() const { return tokens_; }
    bool contains(std::string_view token) const { return index_.count(std::string(token)) != 0; }
    uint32_t id(std::string_view token) const;  // unk_id when absent

    std::vector<uint32_t> encode(const std::vector<std::string>& tokens) const;
    std::string decode(std::span<const uint32_t> ids) const;  // <unk> decodes to U+FFFD

private:
    explicit vocabulary(std::vector<std::string> tokens);
    std::vector<std::string> tokens_;
    std::unordered_map<std::string, uint32_t> index_;
};

// The tokens of a text that `vocab` lacks, for the one message generate, poems, the server and
// the trainer give: how many, and the first `max` as "'☃' (U+2603), 'é' (U+00E9)" (then ", ...").
struct unknown_tokens {
    uint32_t count = 0;
    std::string listed;
};
unknown_tokens find_unknown_tokens(const std::vector<std::string>& tokens, const vocabulary& vocab,
                                   uint32_t max = 10);

// Training and validation text as ids of one vocabulary built from the training part.
struct prepared_corpus {
    vocabulary vocab;
    token_stream train;      // ids in vocab
    token_stream valid;      // ids in vocab; empty when no validation text
    uint64_t train_unk = 0;  // tokens folded into <unk> by --min-count
    uint64_t valid_unk = 0;  // validation tokens not in the vocabulary
};

// Splits `text` at the token index floor((1 - valid_fraction) * n) unless `valid` is given
// (then all of `text` trains and all of `valid` validates). `text` is consumed.
prepared_corpus prepare_corpus(tokenized_text&& text, const tokenized_text* valid,
                               double valid_fraction, uint64_t min_count);

// Re-maps a text's ids into `vocab` (tokens outside it become <unk>, counted in *unk).
token_stream map_to_vocab(const tokenized_text& text, const vocabulary& vocab, uint64_t* unk);

}  // namespace charlm
