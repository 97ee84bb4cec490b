// Implementation of the CLI plumbing declared in cli.hpp: the option tables bound to
// Boost.Program_options, config files, errors to exit codes, threads.
#include "cli.hpp"

#include "charlm/distributed.hpp"

#include <fmt/core.h>
#include <omp.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <thread>
#include <typeinfo>

namespace charlm::cli {

po::options_description& option_groups::operator[](const std::string& title) {
    for (size_t i = 0; i < titles_.size(); ++i)
        if (titles_[i] == title) return groups_[i];
    titles_.push_back(title);
    return groups_.emplace_back(title);
}

po::options_description option_groups::all() const {
    po::options_description all;
    for (const auto& g : groups_) all.add(g);
    return all;
}

template <class C>
void add_options(option_groups& groups, const option_table<C>& table, const C& defaults) {
    for (const auto& o : table) {
        const option_info& i = o.info;
        if (i.name.empty()) continue;
        std::string help = i.help;
        if (!o.choices.empty()) {
            help += ":";
            for (size_t k = 0; k < o.choices.size(); ++k) help += (k ? " | " : " ") + o.choices[k];
        }
        auto add = groups[i.group].add_options();
        if (o.flag) {
            add(i.name.c_str(), po::bool_switch(), help.c_str());
        } else if (i.repeatable) {
            add(i.name.c_str(), po::value<std::vector<std::string>>()->composing(), help.c_str());
        } else {
            const std::string shown = o.show(defaults);
            auto* v = po::value<std::string>();
            if (i.show_default && !shown.empty()) v->default_value(shown, shown);
            if (!i.implicit.empty()) v->implicit_value(i.implicit, i.implicit);
            add(i.name.c_str(), v, help.c_str());
        }
    }
}

// A bound option's value as the table's parse() takes it: text, one string per occurrence.
static std::vector<std::string> value_texts(const po::variable_value& v, bool flag, bool repeatable) {
    if (flag) return {v.as<bool>() ? "true" : "false"};
    if (repeatable) return v.as<std::vector<std::string>>();
    return {v.as<std::string>()};
}

template <class C>
status take_options(const option_table<C>& table, const po::variables_map& vm, C& cfg, std::set<std::string>* given) {
    for (const auto& o : table) {
        const std::string& name = o.info.name;
        const auto it = vm.find(name);
        if (name.empty() || it == vm.end() || it->second.empty() || it->second.defaulted()) continue;
        CHARLM_TRY(o.parse(cfg, value_texts(it->second, o.flag, o.info.repeatable)));
        if (given) given->insert(o.info.name);
    }
    return {};
}

template void add_options(option_groups&, const option_table<text_config>&, const text_config&);
template void add_options(option_groups&, const option_table<train_config>&, const train_config&);
template void add_options(option_groups&, const option_table<sample_config>&, const sample_config&);
template void add_options(option_groups&, const option_table<poem_config>&, const poem_config&);
template void add_options(option_groups&, const option_table<lyric_config>&, const lyric_config&);
template void add_options(option_groups&, const option_table<eval_options>&, const eval_options&);
template status take_options(const option_table<text_config>&, const po::variables_map&, text_config&,
                             std::set<std::string>*);
template status take_options(const option_table<train_config>&, const po::variables_map&, train_config&,
                             std::set<std::string>*);
template status take_options(const option_table<sample_config>&, const po::variables_map&, sample_config&,
                             std::set<std::string>*);
template status take_options(const option_table<poem_config>&, const po::variables_map&, poem_config&,
                             std::set<std::string>*);
template status take_options(const option_table<lyric_config>&, const po::variables_map&, lyric_config&,
                             std::set<std::string>*);
template status take_options(const option_table<eval_options>&, const po::variables_map&, eval_options&,
                             std::set<std::string>*);

namespace {

// Boost reads "-1" into an unsigned option as its wrapped value (4294967295): `--epochs -1` would
// train for ever and `--length -3` ask for 4294967293 tokens. Refuses a negative number given to
// an option whose value is unsigned, on the command line or in a config file.
void refuse_negative_unsigned(const po::parsed_options& parsed, const po::variables_map& vm) {
    for (const auto& o : parsed.options) {
        auto it = vm.find(o.string_key);
        if (it == vm.end() || it->second.empty()) continue;
        const std::type_info& t = it->second.value().type();
        if (t != typeid(unsigned short) && t != typeid(unsigned) && t != typeid(unsigned long) &&
            t != typeid(unsigned long long))
            continue;
        for (const auto& v : o.value) {
            const size_t at = v.find_first_not_of(" \t");
            if (at != std::string::npos && v[at] == '-')
                throw po::error(fmt::format("the argument ('{}') for option '--{}' is invalid: it must be a number >= 0",
                                            v, o.string_key));
        }
    }
}

}  // namespace

status parse_command(int argc, char** argv, const std::string& usage_line, po::options_description& desc,
                     const po::positional_options_description* positional, po::variables_map& vm,
                     bool* early_exit, const std::function<status(const po::variables_map&)>& bind) {
    *early_exit = false;
    std::string config_file;
    po::options_description common("Common options");
    common.add_options()
        ("help,h", "show this help")
        ("config", po::value(&config_file), "read options from FILE (name = value lines, as the long options)");
    po::options_description all;
    all.add(desc).add(common);
    try {
        po::command_line_parser parser(argc, argv);
        parser.options(all);
        if (positional) parser.positional(*positional);
        const po::parsed_options parsed = parser.run();
        po::store(parsed, vm);
        refuse_negative_unsigned(parsed, vm);
        if (vm.count("help")) {
            fmt::print("usage: {}\n\n", usage_line);
            std::ostringstream os;
            os << desc << "\n" << common;
            const std::string text = os.str();  // (nested groups start with blank lines)
            fmt::print("{}", std::string_view(text).substr(std::min(text.find_first_not_of('\n'), text.size())));
            *early_exit = true;
            return {};
        }
        if (vm.count("config")) {
            config_file = vm["config"].as<std::string>();
            std::ifstream in(config_file);
            if (!in || std::filesystem::is_directory(config_file)) {
                return make_error(errc::io, fmt::format("cannot read config file '{}': check the path", config_file));
            }
            // Command-line values win: a setting given there is dropped from the file's. (store()
            // keeps the first value of a single option, but a repeatable one would compose the two.)
            po::parsed_options from_file = po::parse_config_file(in, desc);
            std::erase_if(from_file.options, [&](const po::option& o) {
                const auto it = vm.find(o.string_key);
                return it != vm.end() && !it->second.defaulted();
            });
            po::store(from_file, vm);
            refuse_negative_unsigned(from_file, vm);
        }
        po::notify(vm);
        if (bind)  // its errors are reported as Boost's own, below
            if (status s = bind(vm); !s.ok()) throw po::error(s.err().message);
    } catch (const po::error& e) {
        std::string where = config_file.empty() ? "" : fmt::format(" (config file '{}')", config_file);
        return make_error(errc::usage, fmt::format("{}{}; see '{} --help'", e.what(), where,
                                                   usage_line.substr(0, usage_line.find(' ', 7))));
    }
    return {};
}

int report_error(const error& e) {
    fmt::print(stderr, "charlm: {}\n", e.message);
    return e.code == errc::usage ? exit_usage : exit_failure;
}

int apply_threads(int requested) {
    int cores = static_cast<int>(std::thread::hardware_concurrency());
    if (cores <= 0) cores = 1;
    int n = requested <= 0 ? cores : requested;
    if (n > cores) {
        fmt::print(stderr, "charlm: warning: --threads {} is more than the {} cores available; using {}\n",
                   requested, cores, cores);
        n = cores;
    }
    omp_set_num_threads(n);
    return n;
}

bool stdout_is_terminal() { return isatty(STDOUT_FILENO) != 0; }

read_progress reading_progress(const std::string& path) {
    constexpr uint64_t shown_from = uint64_t{100} << 20;  // smaller files read in a second or two
    if (isatty(STDERR_FILENO) == 0 || launched_by_mpi()) return {};
    return [path, shown = -1](uint64_t done, uint64_t total) mutable {
        if (total < shown_from) return;
        const int percent = static_cast<int>(100 * std::min(done, total) / total);
        if (percent == shown) return;
        shown = percent;
        if (done >= total) {
            fmt::print(stderr, "\r\033[K");
        } else {
            fmt::print(stderr, "\rreading {}: {}% ({} of {} MiB)\033[K", path, percent, done >> 20, total >> 20);
        }
        std::fflush(stderr);
    };
}

}  // namespace charlm::cli
