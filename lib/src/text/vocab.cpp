// The vocabulary (vocab.hpp): deterministic order (<unk>, then frequency descending, ties by code
// point order), <unk> folding, encode/decode, and the train/validation split into one id space.
// Not here: how text becomes tokens (the pipeline in load.cpp / segment.cpp).
#include "charlm/vocab.hpp"

#include <fmt/core.h>
#include <unicode/utf8.h>

#include <algorithm>

namespace charlm {

namespace {

bool valid_utf8(std::string_view s) {
    int32_t i = 0;
    const auto n = static_cast<int32_t>(s.size());
    while (i < n) {
        UChar32 c;
        U8_NEXT(reinterpret_cast<const uint8_t*>(s.data()), i, n, c);
        if (c < 0) return false;
    }
    return true;
}

int width_for(uint32_t vocab_size) { return vocab_size <= 0x100 ? 1 : vocab_size <= 0x10000 ? 2 : 4; }

// text token index -> vocabulary id (unk_id for tokens the vocabulary lacks).
std::vector<uint32_t> remap_table(const std::vector<std::string>& tokens, const vocabulary& vocab) {
    std::vector<uint32_t> remap(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) remap[i] = vocab.id(tokens[i]);
    return remap;
}

// Rewrites ids through `remap` in place, widening first if the new ids need it; returns the
// number of <unk>.
uint64_t remap_in_place(token_stream& ids, const std::vector<uint32_t>& remap, uint32_t vocab_size) {
    ids.widen(width_for(vocab_size));
    uint64_t unk = 0;
    for (size_t k = 0; k < ids.size(); ++k) {
        const uint32_t id = remap[ids[k]];
        unk += id == vocabulary::unk_id;
        ids.set(k, id);
    }
    return unk;
}

}  // namespace

vocabulary::vocabulary(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
    index_.reserve(tokens_.size());
    for (uint32_t i = 0; i < tokens_.size(); ++i) index_.emplace(tokens_[i], i);
}

vocabulary vocabulary::build(const std::vector<std::string>& tokens, const std::vector<uint64_t>& counts,
                             uint64_t min_count) {
    CHARLM_ASSERT(tokens.size() == counts.size());
    const uint64_t keep = std::max<uint64_t>(min_count, 1);  // a token never seen has no place
    std::vector<uint32_t> order;
    order.reserve(tokens.size());
    for (uint32_t i = 0; i < tokens.size(); ++i)
        if (counts[i] >= keep && tokens[i] != unk_token) order.push_back(i);
    // std::string compares as unsigned bytes, and UTF-8 byte order is code point order.
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        return counts[a] != counts[b] ? counts[a] > counts[b] : tokens[a] < tokens[b];
    });
    std::vector<std::string> out;
    out.reserve(order.size() + 1);
    out.emplace_back(unk_token);
    for (uint32_t i : order) out.push_back(tokens[i]);
    return vocabulary(std::move(out));
}

result<vocabulary> vocabulary::from_tokens(std::vector<std::string> in_id_order) {
    if (in_id_order.empty() || in_id_order[0] != unk_token)
        return make_error(errc::format, fmt::format("the vocabulary must start with {} (id 0), but starts with '{}'",
                                                    unk_token, in_id_order.empty() ? "" : in_id_order[0]));
    std::unordered_map<std::string_view, size_t> seen;
    seen.reserve(in_id_order.size());
    for (size_t i = 0; i < in_id_order.size(); ++i) {
        const std::string& t = in_id_order[i];
        if (t.empty()) return make_error(errc::format, fmt::format("vocabulary entry {} is empty", i));
        if (!valid_utf8(t))
            return make_error(errc::format, fmt::format("vocabulary entry {} is not valid UTF-8 ({})", i,
                                                        describe_code_points(t)));
        auto [it, fresh] = seen.emplace(t, i);
        if (!fresh)
            return make_error(errc::format, fmt::format("vocabulary entries {} and {} are the same token '{}' ({})",
                                                        it->second, i, t, describe_code_points(t)));
    }
    return vocabulary(std::move(in_id_order));
}

uint32_t vocabulary::id(std::string_view token) const {
    auto it = index_.find(std::string(token));
    return it == index_.end() ? unk_id : it->second;
}

std::vector<uint32_t> vocabulary::encode(const std::vector<std::string>& tokens) const {
    std::vector<uint32_t> out;
    out.reserve(tokens.size());
    for (const auto& t : tokens) out.push_back(id(t));
    return out;
}

std::string vocabulary::decode(std::span<const uint32_t> ids) const {
    static constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD
    std::string out;
    for (uint32_t i : ids) {
        if (i == unk_id || i >= tokens_.size())
            out += replacement;
        else
            out += tokens_[i];
    }
    return out;
}

token_stream map_to_vocab(const tokenized_text& text, const vocabulary& vocab, uint64_t* unk) {
    const std::vector<uint32_t> remap = remap_table(text.tokens, vocab);
    token_stream out;
    out.widen(width_for(vocab.size()));
    out.reserve(text.ids.size());
    uint64_t n_unk = 0;
    std::vector<uint32_t> block;
    block.reserve(1 << 16);
    for (size_t k = 0; k < text.ids.size(); ++k) {
        const uint32_t id = remap[text.ids[k]];
        n_unk += id == vocabulary::unk_id;
        block.push_back(id);
        if (block.size() == block.capacity()) {
            out.append(block.data(), block.size());
            block.clear();
        }
    }
    out.append(block.data(), block.size());
    if (unk) *unk = n_unk;
    return out;
}

prepared_corpus prepare_corpus(tokenized_text&& text, const tokenized_text* valid, double valid_fraction,
                               uint64_t min_count) {
    CHARLM_ASSERT(valid_fraction >= 0 && valid_fraction <= 1);
    prepared_corpus out;
    const size_t n = text.ids.size();
    const size_t cut = valid ? n : static_cast<size_t>(static_cast<double>(n) * (1.0 - valid_fraction));
    // The vocabulary sees the training part only: a token first met in validation is <unk>.
    std::vector<uint64_t> counts(text.tokens.size(), 0);
    for (size_t k = 0; k < cut; ++k) ++counts[text.ids[k]];
    out.vocab = vocabulary::build(text.tokens, counts, min_count);
    const std::vector<uint32_t> remap = remap_table(text.tokens, out.vocab);

    // Ids are rewritten in place: the validation tail is copied out, the rest becomes `train`.
    if (valid) {
        out.valid = map_to_vocab(*valid, out.vocab, &out.valid_unk);
    } else {
        out.valid = text.ids.slice(cut, n);
        out.valid_unk = remap_in_place(out.valid, remap, out.vocab.size());
    }
    out.train = std::move(text.ids);
    out.train.truncate(cut);
    if (out.train.memory_bytes() > 2 * cut * static_cast<size_t>(out.train.width()) + 4096) out.train.shrink_to_fit();
    out.train_unk = remap_in_place(out.train, remap, out.vocab.size());
    text.ids = token_stream{};
    return out;
}

unknown_tokens find_unknown_tokens(const std::vector<std::string>& tokens, const vocabulary& vocab, uint32_t max) {
    unknown_tokens u;
    for (const auto& t : tokens) {
        if (vocab.contains(t)) continue;
        if (u.count++ < max) u.listed += fmt::format("{}'{}' ({})", u.listed.empty() ? "" : ", ", t, describe_code_points(t));
    }
    if (u.count > max) u.listed += ", ...";
    return u;
}

}  // namespace charlm
