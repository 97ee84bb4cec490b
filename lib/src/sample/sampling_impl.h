// Pieces of constrained sampling shared by poems (poem_generate.cpp) and lyrics
// (lyric_generate.cpp): the user's text as token ids, one step's probabilities (the allowed
// tokens' share, the NLL of the chosen one), the thread count for a small model, and the script
// whose readings a model's characters take. Not here: any constraint.
#pragma once

#include <fmt/core.h>
#include <omp.h>

#include <cmath>
#include <limits>

#include "charlm/poem.hpp"
#include "layers/softmax_xent.h"
#include "sample/poem_impl.h"

namespace charlm::sampling {

// Tokens of `text` in the model's vocabulary, or a usage error naming the unknown ones.
inline result<std::vector<uint32_t>> known_tokens(const language_model& model, const std::string& text, std::string_view what,
                                           unknown_policy policy) {
    auto tokens = segment_utf8(text, model.text());
    if (!tokens) return tokens.err();
    if (policy == unknown_policy::error)
        if (const unknown_tokens u = find_unknown_tokens(*tokens, model.vocab()); u.count > 0)
            return make_error(errc::usage, fmt::format("{} has {} character(s) the model never saw: {}; leave them out",
                                                       what, u.count, u.listed));
    std::vector<uint32_t> ids;
    for (const auto& t : *tokens)
        if (model.vocab().contains(t)) ids.push_back(model.vocab().id(t));
        else if (policy == unknown_policy::unk) ids.push_back(vocabulary::unk_id);
    return ids;
}

// One step's probabilities: poem_impl.h's.
using poem::step_probs;

// As generate(): a small model's step runs faster on one thread (see generate.cpp); the count
// the caller had comes back when the guard goes.
struct thread_guard {
    int saved = omp_get_max_threads();
    explicit thread_guard(const language_model& model) {
        const model_config& mc = model.config();
        double step_flops = 2.0 * mc.hidden * model.vocab().size();
        for (uint32_t l = 0; l < mc.layers; ++l)
            step_flops += 2.0 * gate_count(mc.cell) * mc.hidden * ((l == 0 ? mc.input_width() : mc.hidden) + mc.hidden);
        if (step_flops * 3.0 < 6.5e6) omp_set_num_threads(1);
    }
    ~thread_guard() { omp_set_num_threads(saved); }
    thread_guard(const thread_guard&) = delete;
    thread_guard& operator=(const thread_guard&) = delete;
};

// The script of the model's text, which decides the readings of its characters (issue 32): the one
// its file records (issue 26), else (older files, mixed text) guessed from the vocabulary's Han
// characters (guess_script).
inline result<text_script> script_of(const text_config& text, const vocabulary& vocab) {
    if (text.script == text_script::traditional || text.script == text_script::simplified) return text.script;
    std::vector<std::string> han;
    for (uint32_t id = 1; id < vocab.size(); ++id)
        if (poem::is_han(vocab.token(id))) han.push_back(vocab.token(id));
    return guess_script(han);
}

}  // namespace charlm::sampling
