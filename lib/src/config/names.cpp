// The one list of names per enum setting (see names.h) and the public to_string()/parse_*()
// functions the headers declare, all defined from those lists.
#include "config/names.h"
#include "layers/simd.h"

#include "charlm/batches.hpp"
#include "charlm/model_config.hpp"
#include "charlm/poem.hpp"
#include "charlm/sample.hpp"
#include "charlm/script.hpp"
#include "charlm/text.hpp"
#include "charlm/train.hpp"

namespace charlm {

namespace detail {

std::string or_list(const std::vector<std::string>& items) {
    std::string s;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) s += i + 1 == items.size() ? " or " : ", ";
        s += items[i];
    }
    return s;
}

template <>
const enum_table<cell_type>& enum_names() {
    static const enum_table<cell_type> t{"cell",
                                         {{cell_type::rnn_tanh, "rnn"},
                                          {cell_type::rnn_relu, "rnn-relu"},
                                          {cell_type::gru, "gru"},
                                          {cell_type::lbr_gru, "lbr-gru"},
                                          {cell_type::lstm, "lstm"},
                                          {cell_type::rnn_tanh, "rnn-tanh"}}};
    return t;
}

template <>
const enum_table<softmax_type>& enum_names() {
    static const enum_table<softmax_type> t{"softmax", {{softmax_type::full, "full"}, {softmax_type::adaptive, "adaptive"}}};
    return t;
}

template <>
const enum_table<invalid_policy>& enum_names() {
    static const enum_table<invalid_policy> t{
        "policy for ill-formed input",
        {{invalid_policy::error, "error"}, {invalid_policy::replace, "replace"}, {invalid_policy::skip, "skip"}}};
    return t;
}

template <>
const enum_table<normalization>& enum_names() {
    static const enum_table<normalization> t{
        "normalization", {{normalization::nfc, "nfc"}, {normalization::nfkc, "nfkc"}, {normalization::none, "none"}}};
    return t;
}

template <>
const enum_table<token_unit>& enum_names() {
    static const enum_table<token_unit> t{"token unit",
                                          {{token_unit::grapheme, "grapheme"}, {token_unit::codepoint, "codepoint"}}};
    return t;
}

template <>
const enum_table<lr_schedule>& enum_names() {
    static const enum_table<lr_schedule> t{"learning-rate schedule",
                                           {{lr_schedule::constant, "constant"}, {lr_schedule::cosine, "cosine"}}};
    return t;
}

template <>
const enum_table<sampling>& enum_names() {
    static const enum_table<sampling> t{"sampling",
                                        {{sampling::random, "random"}, {sampling::consecutive, "consecutive"}}};
    return t;
}

template <>
const enum_table<optimizer_kind>& enum_names() {
    static const enum_table<optimizer_kind> t{"optimizer",
                                              {{optimizer_kind::sgd, "sgd"}, {optimizer_kind::adam, "adam"}}};
    return t;
}

template <>
const enum_table<unknown_policy>& enum_names() {
    static const enum_table<unknown_policy> t{
        "policy for unknown tokens",
        {{unknown_policy::error, "error"}, {unknown_policy::skip, "skip"}, {unknown_policy::unk, "unk"}}};
    return t;
}

template <>
const enum_table<tone_rule>& enum_names() {
    static const enum_table<tone_rule> t{
        "tone rule", {{tone_rule::strict, "strict"}, {tone_rule::loose, "loose"}, {tone_rule::off, "off"}}};
    return t;
}

template <>
const enum_table<rhyme_rule>& enum_names() {
    static const enum_table<rhyme_rule> t{"rhyme rule",
                                          {{rhyme_rule::even, "even"},
                                           {rhyme_rule::first_and_even, "first"},
                                           {rhyme_rule::off, "off"},
                                           {rhyme_rule::even, ""}}};  // "--rhyme=": even, as --rhyme alone
    return t;
}

template <>
const enum_table<text_script>& enum_names() {
    static const enum_table<text_script> t{"script",
                                           {{text_script::unknown, "unknown"},
                                            {text_script::none, "none"},
                                            {text_script::traditional, "traditional"},
                                            {text_script::simplified, "simplified"},
                                            {text_script::mixed, "mixed"}}};
    return t;
}

template <>
const enum_table<script_conversion>& enum_names() {
    static const enum_table<script_conversion> t{
        "script conversion",
        {{script_conversion::none, "none"}, {script_conversion::t2s, "t2s"}, {script_conversion::s2t, "s2t"}}};
    return t;
}

template <>
const enum_table<precision>& enum_names() {
    static const enum_table<precision> t{"precision", {{precision::f32, "f32"}, {precision::int8, "int8"}, {precision::bf16, "bf16"}}};
    return t;
}

template <>
const enum_table<convert_policy>& enum_names() {
    static const enum_table<convert_policy> t{
        "conversion policy", {{convert_policy::automatic, "auto"}, {convert_policy::off, "off"}}};
    return t;
}

template <>
const enum_table<output_script>& enum_names() {
    static const enum_table<output_script> t{"output script",
                                             {{output_script::model, "model"},
                                              {output_script::simplified, "simplified"},
                                              {output_script::traditional, "traditional"},
                                              {output_script::simplified, "简"},
                                              {output_script::traditional, "繁"}}};
    return t;
}

}  // namespace detail

using detail::enum_parse;
using detail::enum_to_string;

std::string to_string(cell_type v) { return enum_to_string(v); }
std::string to_string(softmax_type v) { return enum_to_string(v); }
std::string to_string(invalid_policy v) { return enum_to_string(v); }
std::string to_string(normalization v) { return enum_to_string(v); }
std::string to_string(token_unit v) { return enum_to_string(v); }
std::string to_string(sampling v) { return enum_to_string(v); }
std::string to_string(optimizer_kind v) { return enum_to_string(v); }
std::string to_string(lr_schedule v) { return enum_to_string(v); }
std::string to_string(unknown_policy v) { return enum_to_string(v); }
std::string to_string(tone_rule v) { return enum_to_string(v); }
std::string to_string(rhyme_rule v) { return enum_to_string(v); }

std::string to_string(text_script v) { return enum_to_string(v); }
std::string to_string(script_conversion v) { return enum_to_string(v); }
std::string to_string(convert_policy v) { return enum_to_string(v); }
std::string to_string(precision v) { return enum_to_string(v); }
result<precision> parse_precision(std::string_view s) {
    auto p = enum_parse<precision>(s);
    if (!p) return p;
    if (std::string why = precision_unavailable(*p); !why.empty()) return make_error(errc::usage, why);
    return p;
}
std::string precision_unavailable(precision p, bool training) {
    if (p != precision::bf16 || nn::simd::cpu_has_avx512_bf16()) return {};
    return std::string(nn::simd::force_scalar ? "bf16 needs a CPU with avx512_bf16, hidden here by CHARLM_FORCE_SCALAR "
                                                "(tests); use f32"
                                              : "bf16 needs a CPU with avx512_bf16, which this one lacks (lscpu's "
                                                "flags); use f32") +
           (training ? "" : " or int8");
}
std::string to_string(output_script v) { return enum_to_string(v); }
result<text_script> parse_text_script(std::string_view s) { return enum_parse<text_script>(s); }
result<script_conversion> parse_script_conversion(std::string_view s) { return enum_parse<script_conversion>(s); }
result<convert_policy> parse_convert_policy(std::string_view s) { return enum_parse<convert_policy>(s); }
result<output_script> parse_output_script(std::string_view s) { return enum_parse<output_script>(s); }

result<cell_type> parse_cell_type(std::string_view s) { return enum_parse<cell_type>(s); }
result<softmax_type> parse_softmax_type(std::string_view s) { return enum_parse<softmax_type>(s); }
result<invalid_policy> parse_invalid_policy(std::string_view s) { return enum_parse<invalid_policy>(s); }
result<normalization> parse_normalization(std::string_view s) { return enum_parse<normalization>(s); }
result<token_unit> parse_token_unit(std::string_view s) { return enum_parse<token_unit>(s); }
result<sampling> parse_sampling(std::string_view s) { return enum_parse<sampling>(s); }
result<optimizer_kind> parse_optimizer(std::string_view s) { return enum_parse<optimizer_kind>(s); }
result<lr_schedule> parse_lr_schedule(std::string_view s) { return enum_parse<lr_schedule>(s); }
result<unknown_policy> parse_unknown_policy(std::string_view s) { return enum_parse<unknown_policy>(s); }
result<tone_rule> parse_tone_rule(std::string_view s) { return enum_parse<tone_rule>(s); }
result<rhyme_rule> parse_rhyme_rule(std::string_view s) { return enum_parse<rhyme_rule>(s); }

}  // namespace charlm
