// Implementation of the CLI plumbing declared in cli.hpp: option parsing, config files,
// errors to exit codes, threads and durations.
#include "cli.hpp"

#include <fmt/core.h>
#include <omp.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <thread>
#include <typeinfo>

namespace charlm::cli {

text_options::text_options(const text_config& d)
    : encoding(d.encoding),
      on_invalid(to_string(d.on_invalid)),
      normalize(to_string(d.normalize)),
      unit(to_string(d.unit)),
      lowercase(d.lowercase) {}

void text_options::add_to(po::options_description& desc) {
    desc.add_options()
        ("encoding", po::value(&encoding)->default_value(encoding),
         "input encoding: an ICU converter name (UTF-8, GB18030, Big5, Shift_JIS, UTF-16LE, ...) or auto")
        ("on-invalid", po::value(&on_invalid)->default_value(on_invalid),
         "ill-formed input: error | replace (U+FFFD) | skip")
        ("normalize", po::value(&normalize)->default_value(normalize), "Unicode normalization: nfc | nfkc | none")
        ("unit", po::value(&unit)->default_value(unit), "token unit: grapheme (cluster) | codepoint")
        ("lowercase", po::bool_switch(&lowercase), "lowercase the text (ICU, locale-independent)");
}

result<text_config> text_options::finish() const {
    text_config cfg;
    cfg.encoding = encoding;
    auto inv = parse_invalid_policy(on_invalid);
    if (!inv) return make_error(errc::usage, "--on-invalid: " + inv.err().message);
    auto norm = parse_normalization(normalize);
    if (!norm) return make_error(errc::usage, "--normalize: " + norm.err().message);
    auto u = parse_token_unit(unit);
    if (!u) return make_error(errc::usage, "--unit: " + u.err().message);
    cfg.on_invalid = *inv;
    cfg.normalize = *norm;
    cfg.unit = *u;
    cfg.lowercase = lowercase;
    CHARLM_TRY(cfg.validate());
    return cfg;
}

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
                     bool* early_exit) {
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
            os << all;
            fmt::print("{}", os.str());
            *early_exit = true;
            return {};
        }
        if (vm.count("config")) {
            config_file = vm["config"].as<std::string>();
            std::ifstream in(config_file);
            if (!in) {
                return make_error(errc::io, fmt::format("cannot read config file '{}': check the path", config_file));
            }
            // Command-line values win: store() keeps the first value it sees.
            const po::parsed_options from_file = po::parse_config_file(in, desc);
            po::store(from_file, vm);
            refuse_negative_unsigned(from_file, vm);
        }
        po::notify(vm);
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

result<double> parse_duration(const std::string& text) {
    auto bad = [&] {
        return make_error(errc::usage, fmt::format("bad duration '{}': use e.g. 45s, 10m, 1h or 1h30m", text));
    };
    if (text.empty()) return bad();
    double total = 0;
    size_t i = 0;
    while (i < text.size()) {
        size_t start = i;
        while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
        if (i == start) return bad();
        double v = 0;
        try {
            v = std::stod(text.substr(start, i - start));
        } catch (...) {
            return bad();
        }
        double unit = 1;
        if (i < text.size()) {
            char c = text[i++];
            if (c == 's') unit = 1;
            else if (c == 'm') unit = 60;
            else if (c == 'h') unit = 3600;
            else return bad();
        } else if (start != 0) {
            return bad();  // "1h30" is ambiguous
        }
        total += v * unit;
    }
    if (!(total > 0)) return bad();
    return total;
}

result<std::vector<uint32_t>> parse_id_list(const std::string& text) {
    std::vector<uint32_t> out;
    size_t i = 0;
    while (true) {
        size_t j = i;
        while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
        const std::string item = text.substr(i, j - i);
        if (item.empty() || item.size() > 9)
            return make_error(errc::usage, fmt::format("bad list '{}': use numbers separated by commas, e.g. 1000,3000",
                                                       text));
        out.push_back(static_cast<uint32_t>(std::stoul(item)));
        if (j == text.size()) break;
        if (text[j] != ',')
            return make_error(errc::usage, fmt::format("bad list '{}': use numbers separated by commas, e.g. 1000,3000",
                                                       text));
        i = j + 1;
    }
    return out;
}

bool stdout_is_terminal() { return isatty(STDOUT_FILENO) != 0; }

}  // namespace charlm::cli
