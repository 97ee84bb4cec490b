// Shared plumbing of the charlm subcommands: option groups bound to the library's config
// structs (so the CLI's defaults are the library's), config-file parsing, and exit codes.
// Not here: any computation; each subcommand calls one library function and prints.
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "charlm/status.hpp"
#include "charlm/text.hpp"

namespace charlm::cli {

namespace po = boost::program_options;

enum exit_code : int { exit_ok = 0, exit_failure = 1, exit_usage = 2 };

// Text options as strings first, parsed into text_config by `finish()`, so that a bad value is
// reported with the option's name.
struct text_options {
    std::string encoding;
    std::string on_invalid;
    std::string normalize;
    std::string unit;
    bool lowercase = false;

    explicit text_options(const text_config& defaults);
    void add_to(po::options_description& desc);
    result<text_config> finish() const;
};

// Parses argv for one subcommand. `positional` names options that may be given without a flag.
// Handles --help (prints usage, returns exit_ok through *early_exit) and --config FILE.
// Returns a usage error for unknown options and malformed values.
status parse_command(int argc, char** argv, const std::string& usage_line, po::options_description& desc,
                     const po::positional_options_description* positional, po::variables_map& vm,
                     bool* early_exit);

// Prints "charlm: <message>" on stderr and returns the exit status for `e`.
int report_error(const error& e);

// Sets the OpenMP thread count: 0 means the cores available; more than the cores is clamped
// with a warning on stderr. Returns the count in use.
int apply_threads(int requested);

// A comma-separated list of non-negative integers, e.g. "1000,3000".
result<std::vector<uint32_t>> parse_id_list(const std::string& text);

// Durations like "45s", "10m", "1h30m", "90" (seconds).
result<double> parse_duration(const std::string& text);

bool stdout_is_terminal();

}  // namespace charlm::cli
