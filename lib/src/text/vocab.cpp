// The vocabulary (vocab.hpp): deterministic order (<unk>, then frequency descending, ties by code
// point order), <unk> folding, encode/decode, and the train/validation split into one id space.
#include "charlm/vocab.hpp"

#include <unicode/utf8.h>

#include <algorithm>
#include <numeric>

namespace charlm {

namespace {

bool valid_utf8(std::string_view s) {
    int32_t i = 0;
    const int32_t n = static_cast<int32_t>(s.size());
    while (i < n) {
        UChar32 c;
        U8_NEXT(reinterpret_cast<const uint8_t*>(s.data()), i, n, c);
        if (c < 0) return false;
    }
    return true;
}

}  // namespace

vocabulary::vocabulary(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
    index_.reserve(tokens_.size());
    for (uint32_t i = 0; i < tokens_.size(); ++i) index_.emplace(tokens_[i], i);
}

vocabulary vocabulary::build(const std::vector<std::string>& tokens, const std::vector<uint64_t>& counts,
                             uint64_t min_count) {
    CHARLM_ASSERT(tokens.size() == counts.size());
    std::vector<uint32_t> order;
    order.reserve(tokens.size());
    for (uint32_t i = 0; i < tokens.size(); ++i)
        if (counts[i] >= std::max<uint64_t>(min_count, 1)) order.push_back(i);
    // UTF-8 byte order is code point order, so comparing the strings orders ties by code points.
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
        return make_error(errc::format, "the vocabulary does not start with <unk>");
    for (size_t i = 1; i < in_id_order.size(); ++i) {
        const auto& t = in_id_order[i];
        if (t.empty()) return make_error(errc::format, "vocabulary entry " + std::to_string(i) + " is empty");
        if (!valid_utf8(t))
            return make_error(errc::format, "vocabulary entry " + std::to_string(i) + " is not valid UTF-8");
    }
    vocabulary v(std::move(in_id_order));
    if (v.index_.size() != v.tokens_.size())
        return make_error(errc::format, "the vocabulary lists a token twice");
    return v;
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
    std::string out;
    for (uint32_t i : ids) out += i == unk_id || i >= tokens_.size() ? std::string("\xEF\xBF\xBD") : tokens_[i];
    return out;
}

token_stream map_to_vocab(const tokenized_text& text, const vocabulary& vocab, uint64_t* unk) {
    std::vector<uint32_t> remap(text.tokens.size());
    for (size_t i = 0; i < remap.size(); ++i) remap[i] = vocab.id(text.tokens[i]);
    token_stream out;
    out.widen(vocab.size() <= 0x100 ? 1 : vocab.size() <= 0x10000 ? 2 : 4);
    out.reserve(text.ids.size());
    uint64_t n_unk = 0;
    for (size_t k = 0; k < text.ids.size(); ++k) {
        const uint32_t id = remap[text.ids[k]];
        n_unk += id == vocabulary::unk_id;
        out.push_back(id);
    }
    if (unk) *unk = n_unk;
    return out;
}

prepared_corpus prepare_corpus(tokenized_text&& text, const tokenized_text* valid, double valid_fraction,
                               uint64_t min_count) {
    prepared_corpus out;
    const size_t n = text.ids.size();
    const size_t cut = valid ? n : static_cast<size_t>(static_cast<double>(n) * (1.0 - valid_fraction));
    // Counts over the training part only.
    std::vector<uint64_t> counts(text.tokens.size(), 0);
    for (size_t k = 0; k < cut; ++k) ++counts[text.ids[k]];
    out.vocab = vocabulary::build(text.tokens, counts, min_count);
    std::vector<uint32_t> remap(text.tokens.size());
    for (size_t i = 0; i < remap.size(); ++i) remap[i] = out.vocab.id(text.tokens[i]);

    auto fill = [&](token_stream& dst, size_t begin, size_t end, uint64_t& unk) {
        dst.widen(out.vocab.size() <= 0x100 ? 1 : out.vocab.size() <= 0x10000 ? 2 : 4);
        dst.reserve(end - begin);
        for (size_t k = begin; k < end; ++k) {
            const uint32_t id = remap[text.ids[k]];
            unk += id == vocabulary::unk_id;
            dst.push_back(id);
        }
    };
    fill(out.train, 0, cut, out.train_unk);
    if (valid) {
        out.valid = map_to_vocab(*valid, out.vocab, &out.valid_unk);
    } else {
        fill(out.valid, cut, n, out.valid_unk);
    }
    text.ids = token_stream{};  // release the source ids
    return out;
}

}  // namespace charlm
