// The names of every enum setting as the CLI, config files and model files spell them, and the one
// parse error they share ("unknown cell 'x': use rnn, rnn-relu, gru, lbr-gru or lstm").
// The public to_string()/parse_*() of each enum (model_config.hpp, text.hpp, train.hpp, sample.hpp)
// and the option tables read these lists. Not here: the option tables themselves (tables.cpp).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "charlm/status.hpp"

namespace charlm::detail {

// `what` names the setting in messages; the first name of each value is how it is written,
// later names of the same value are accepted spellings (aliases).
template <class E>
struct enum_table {
    std::string_view what;
    std::vector<std::pair<E, std::string_view>> names;
};

// Defined in names.cpp for cell_type, softmax_type, invalid_policy, normalization, token_unit,
// sampling, optimizer_kind, unknown_policy, tone_rule and rhyme_rule.
template <class E>
const enum_table<E>& enum_names();

template <class E>
std::string enum_to_string(E value) {
    for (const auto& [v, name] : enum_names<E>().names)
        if (v == value) return std::string(name);
    return "?";
}

// The written names, aliases left out: {"rnn", "rnn-relu", ...}.
template <class E>
std::vector<std::string> enum_choices() {
    std::vector<std::string> out;
    std::vector<E> seen;
    for (const auto& [v, name] : enum_names<E>().names) {
        bool dup = false;
        for (E s : seen) dup = dup || s == v;
        if (dup) continue;
        seen.push_back(v);
        out.emplace_back(name);
    }
    return out;
}

// "a, b or c"
std::string or_list(const std::vector<std::string>& items);

template <class E>
result<E> enum_parse(std::string_view text) {
    for (const auto& [v, name] : enum_names<E>().names)
        if (text == name) return v;
    return make_error(errc::usage, "unknown " + std::string(enum_names<E>().what) + " '" + std::string(text) +
                                       "': use " + or_list(enum_choices<E>()));
}

}  // namespace charlm::detail
