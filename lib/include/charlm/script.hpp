// Chinese scripts: which one a text is written in (traditional or simplified characters), and
// conversion between them with OpenCC's dictionaries (phrases first, so 头发 -> 頭髮 and
// 发现 -> 發現, 干杯 -> 乾杯 and 树干 -> 樹幹, which a character table cannot tell apart). The
// dictionaries are read at run time from Debian's libopencc-data (/usr/share/opencc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "charlm/status.hpp"

namespace charlm {

// The script of a model's text, measured when it is trained (model files written before it:
// unknown, and no conversion is made for them).
enum class text_script { unknown, none, traditional, simplified, mixed };
// --convert-corpus: a conversion applied to every text the model reads, recorded with it.
enum class script_conversion { none, t2s, s2t };
// --convert: input in the other script is converted to the model's (auto) or kept as typed (off).
enum class convert_policy { automatic, off };
// --script: the script of the text a reader gets.
enum class output_script { model, simplified, traditional };

std::string to_string(text_script);
std::string to_string(script_conversion);
std::string to_string(convert_policy);
std::string to_string(output_script);
result<text_script> parse_text_script(std::string_view);
result<script_conversion> parse_script_conversion(std::string_view);
result<convert_policy> parse_convert_policy(std::string_view);
result<output_script> parse_output_script(std::string_view);

// Converts UTF-8 text as OpenCC's t2s.json / s2t.json do (greedy longest phrase, else the
// character's first reading); none returns the text as it is. errc::io when OpenCC's data is
// not installed.
result<std::string> convert_script(std::string_view utf8, script_conversion conversion);

// Every variant OpenCC's character table gives `ch` (one character, UTF-8) in the other script,
// the character itself included when the table lists it (后 -> 後, 后); empty when it has none.
result<std::vector<std::string>> script_variants(std::string_view ch, script_conversion conversion);

// Which script a text is in, from its distinct tokens and their counts: the share of its Han
// characters that only the traditional script uses (t2s changes them) against those only the
// simplified one uses (s2t changes them). `none` with fewer than 10% Han characters.
struct script_measure {
    uint64_t han = 0;               // Han characters in the text
    uint64_t traditional_only = 0;  // of them, those t2s changes
    uint64_t simplified_only = 0;   // those s2t changes
    text_script script = text_script::unknown;
};
result<script_measure> measure_script(const std::vector<std::string>& tokens, const std::vector<uint64_t>& counts);

// The conversion that takes text in `from` to `to` (none when either is not one of the two scripts).
script_conversion conversion_between(text_script from, text_script to);

// An input (a prefix, acrostic heads, a mood, a stop string, a text to evaluate) as a model reads it.
struct model_input {
    std::string text;  // as the model reads it
    script_conversion converted = script_conversion::none;  // none: as typed
};

class vocabulary;
struct text_config;
// `text` in the script of a model with text settings `model` and vocabulary `vocab`. It is read as
// the other script, and converted, when it has a token the model never saw that the conversion
// turns into one it knows (text in the model's own script, or a model of no known script, is
// left as typed). Converted by phrases; with `standalone`, character by character, each taking
// of its variants those in the vocabulary, and of those the most frequent in the training text
// (the lowest id), as acrostic heads need (发 -> 發 or 髮, 后 -> 後 or 后, 干 -> 幹, 乾 or 干).
result<model_input> to_model_script(std::string_view text, const text_config& model, const vocabulary& vocab,
                                    bool standalone);

}  // namespace charlm
