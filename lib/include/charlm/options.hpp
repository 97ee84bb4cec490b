// The configuration schema: every setting of text_config, model_config, train_config and
// sample_config, poem_config and lyric_config declared once (command-line name, JSON key, type, default, help, --help group,
// range, what --resume may do with it) in lib/src/config/tables.cpp. The CLI binds these tables
// (app/cli.cpp), model files and checkpoints write and read their JSON through them, --resume
// merges and refuses by them, and each validate() checks their ranges.
// Not here: checks across settings (each struct's validate()) and options of a command that are
// not settings of a run (--threads, --force, --model).
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "charlm/evaluate.hpp"
#include "charlm/lyrics.hpp"
#include "charlm/model_config.hpp"
#include "charlm/poem.hpp"
#include "charlm/sample.hpp"
#include "charlm/status.hpp"
#include "charlm/text.hpp"
#include "charlm/train.hpp"

namespace charlm {

// What `charlm train --resume` does with a setting given again on the command line.
enum class on_resume {
    may_change,  // the new value applies (--epochs, --lr, --out, ...)
    fixed,       // it decides the loss trajectory: a different value is refused (exit 2)
    none,        // not a setting a checkpoint keeps (--resume itself, the vocabulary size)
};

// Bounds of a number; a missing bound is no bound. NaN and infinities are always outside.
struct value_range {
    std::optional<double> lo, hi;
    bool lo_open = false, hi_open = false;  // (lo, ...  /  ..., hi)
    bool empty() const { return !lo && !hi; }
};

struct option_info {
    std::string name{};        // on the command line, without "--"; empty: stored only (the vocabulary size)
    std::string group{};       // the --help section
    std::string help{};        // one line; a choice's names are appended from the enum's one list
    on_resume resume = on_resume::may_change;
    std::string part{};        // what a refusal names ("the model"); empty: the option alone
    value_range range{};
    std::string json_key{};    // key in the metadata JSON; empty: the name with '_' for '-'
    bool stored = true;      // written to model files and checkpoints
    bool since_v1 = true;    // in every file since format version 1; false: a missing key means the default
    bool show_default = true;  // --help prints the default
    bool repeatable = false;   // may be given several times (--prefix), values collected in order
    std::string implicit{};    // the value when given without one (--rhyme alone is "even"); empty: none
};

// One setting of the configuration struct C, with its value's operations bound to C's field.
template <class C>
struct option {
    option_info info;
    bool flag = false;                    // a switch without a value (bool fields)
    std::vector<std::string> choices;     // an enum's names, in order
    std::function<std::string(const C&)> show;  // as a person writes it: 0.8, adam, 1000,3000
    // From command-line or config-file text (one string unless repeatable); errc::usage naming the option.
    std::function<status(C&, const std::vector<std::string>&)> parse;
    std::function<void(const C&, nlohmann::json&)> write;  // into a JSON object
    // From a JSON object; a wrong JSON type throws nlohmann::json::exception, an unknown name is an error.
    std::function<status(C&, const nlohmann::json&)> read;
    std::function<bool(const C&, const C&)> same;
    std::function<void(const C& from, C& to)> copy;
    std::function<std::optional<double>(const C&)> number;  // for the range check; nullopt: not a number
    std::function<bool(const C&)> written;                  // stored only when this holds; empty: always

    std::string json_key() const;
};

template <class C>
using option_table = std::vector<option<C>>;

// The tables. train_options() holds train_config's own settings followed by text_options() and
// model_options() nested under the JSON objects "text" and "model".
const option_table<text_config>& text_options();
const option_table<model_config>& model_options();
const option_table<train_config>& train_options();
const option_table<sample_config>& sample_options();
const option_table<poem_config>& poem_options();
const option_table<lyric_config>& lyric_options();
const option_table<eval_options>& eval_option_table();  // `charlm eval`'s shared settings (--precision)

// Explicitly instantiated for the five configuration structs.
template <class C>
const option<C>* find_option(const option_table<C>& table, std::string_view name);

// "--batch must be between 1 and 65536, got 0" for the first value outside its range.
template <class C>
status check_ranges(const option_table<C>& table, const C& c);

// The stored settings as one JSON object (model files, checkpoints), and back: keys absent from
// files written before a setting existed keep the default.
template <class C>
nlohmann::json to_json(const option_table<C>& table, const C& c);
template <class C>
status from_json(const option_table<C>& table, const nlohmann::json& j, C& c);

// Copies the settings named in `given` (command-line names) from `from` into `to`: the resume merge.
template <class C>
void copy_given(const option_table<C>& table, const std::set<std::string>& given, const C& from, C& to);

// errc::usage naming the first fixed setting that differs between `now` and `then` (the checkpoint's).
template <class C>
status check_unchanged(const option_table<C>& table, const C& now, const C& then, const std::string& checkpoint);

// After train_config's options were parsed: --cutoffs implies --softmax adaptive (refused with an
// explicit --softmax full), --time-budget without --epochs means no epoch limit. `given` gains
// the settings so implied.
status apply_implied(train_config& c, std::set<std::string>& given);

// Durations like "45s", "10m", "1h30m", "90" (seconds), > 0.
result<double> parse_duration(std::string_view text);
// A comma-separated list of non-negative integers, e.g. "1000,3000".
result<std::vector<uint32_t>> parse_id_list(std::string_view text);

}  // namespace charlm
