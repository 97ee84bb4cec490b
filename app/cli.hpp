// Shared plumbing of the charlm subcommands: the library's option tables (charlm/options.hpp)
// bound to Boost.Program_options (so the CLI's options and defaults are the library's),
// config-file parsing, and exit codes.
// Not here: any computation; each subcommand calls one library function and prints.
#pragma once

#include <boost/program_options.hpp>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "charlm/options.hpp"
#include "charlm/status.hpp"
#include "charlm/text.hpp"

namespace charlm::cli {

namespace po = boost::program_options;

enum exit_code : int { exit_ok = 0, exit_failure = 1, exit_usage = 2 };

// --help sections in the order they are first asked for.
class option_groups {
public:
    po::options_description& operator[](const std::string& title);
    po::options_description all() const;

private:
    std::deque<po::options_description> groups_;  // a deque: references stay valid as groups are added
    std::vector<std::string> titles_;
};

// Binds every option of `table` with a name into its group, as text parsed later by take_options()
// (so that every value error has the table's one style); --help shows `defaults` as a person
// writes them (0.8, not 0.800000012) and an enum's names from its one list.
template <class C>
void add_options(option_groups& groups, const option_table<C>& table, const C& defaults);

// Parses the options of `table` given on the command line or in a config file into `cfg`; values
// left at their defaults keep cfg's. `given`, when set, receives the names of those given.
template <class C>
status take_options(const option_table<C>& table, const po::variables_map& vm, C& cfg,
                    std::set<std::string>* given = nullptr);

// Parses argv for one subcommand. `positional` names options that may be given without a flag.
// Handles --help (prints usage, returns exit_ok through *early_exit) and --config FILE, then
// calls `bind` (typically take_options) with the values. Returns a usage error for unknown
// options and malformed values, naming the config file when there is one.
status parse_command(int argc, char** argv, const std::string& usage_line, po::options_description& desc,
                     const po::positional_options_description* positional, po::variables_map& vm,
                     bool* early_exit, const std::function<status(const po::variables_map&)>& bind = {});

// Prints "charlm: <message>" on stderr and returns the exit status for `e`.
int report_error(const error& e);

// Sets the OpenMP thread count: 0 means the cores available; more than the cores is clamped
// with a warning on stderr. Returns the count in use.
int apply_threads(int requested);

bool stdout_is_terminal();
// Where a file of 100 MB or more is read, on a terminal: "reading FILE: 45% (435 of 965 MiB)" on
// stderr, cleared when done. Nothing elsewhere (an empty function).
read_progress reading_progress(const std::string& path);

}  // namespace charlm::cli
