// What every option table supports (charlm/options.hpp): range checks with one message style,
// the JSON of model files and checkpoints both ways, the resume merge and its refusals, and the
// two value formats that are not plain numbers or names (durations, id lists).
#include "charlm/options.hpp"

#include <fmt/core.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace charlm {

template <class C>
std::string option<C>::json_key() const {
    if (!info.json_key.empty()) return info.json_key;
    std::string k = info.name;
    for (char& ch : k)
        if (ch == '-') ch = '_';
    return k;
}

namespace {

// A bound as a person writes it: 65536, 10000000, 0.5.
std::string bound_text(double v) {
    if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{:.0f}", v);
    return fmt::format("{}", v);
}

std::string range_text(const value_range& r) {
    if (r.lo && r.hi) {
        if (!r.lo_open && !r.hi_open) return fmt::format("between {} and {}", bound_text(*r.lo), bound_text(*r.hi));
        return fmt::format("in {}{}, {}{}", r.lo_open ? '(' : '[', bound_text(*r.lo), bound_text(*r.hi),
                           r.hi_open ? ')' : ']');
    }
    if (r.lo) return fmt::format("{} {}", r.lo_open ? ">" : ">=", bound_text(*r.lo));
    return fmt::format("{} {}", r.hi_open ? "<" : "<=", bound_text(*r.hi));
}

bool inside(const value_range& r, double v) {
    if (!std::isfinite(v)) return false;
    if (r.lo && (r.lo_open ? !(v > *r.lo) : !(v >= *r.lo))) return false;
    if (r.hi && (r.hi_open ? !(v < *r.hi) : !(v <= *r.hi))) return false;
    return true;
}

// A value in a sentence: an empty one reads "not set".
std::string value_text(const std::string& s) { return s.empty() ? "not set" : s; }

}  // namespace

template <class C>
const option<C>* find_option(const option_table<C>& table, std::string_view name) {
    for (const auto& o : table)
        if (o.info.name == name) return &o;
    return nullptr;
}

template <class C>
status check_ranges(const option_table<C>& table, const C& c) {
    for (const auto& o : table) {
        if (o.info.range.empty()) continue;
        const std::optional<double> v = o.number(c);
        if (!v || inside(o.info.range, *v)) continue;
        return make_error(errc::usage, fmt::format("--{} must be {}, got {}", o.info.name, range_text(o.info.range),
                                                   o.show(c)));
    }
    return {};
}

template <class C>
nlohmann::json to_json(const option_table<C>& table, const C& c) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& o : table)
        if (o.info.stored && (!o.written || o.written(c))) o.write(c, j);
    return j;
}

template <class C>
status from_json(const option_table<C>& table, const nlohmann::json& j, C& c) {
    for (const auto& o : table)
        if (o.info.stored) CHARLM_TRY(o.read(c, j));
    return {};
}

template <class C>
void copy_given(const option_table<C>& table, const std::set<std::string>& given, const C& from, C& to) {
    for (const auto& o : table)
        if (!o.info.name.empty() && given.count(o.info.name)) o.copy(from, to);
}

template <class C>
status check_unchanged(const option_table<C>& table, const C& now, const C& then, const std::string& checkpoint) {
    for (const auto& o : table) {
        if (o.info.resume != on_resume::fixed || o.same(now, then)) continue;
        const std::string part = o.info.part.empty() ? "" : o.info.part + " is not the checkpoint's: ";
        return make_error(errc::usage, fmt::format("--resume {}: {}--{} is {} in the checkpoint but {} now; a resumed "
                                                   "run keeps the settings it was started with",
                                                   checkpoint, part, o.info.name, value_text(o.show(then)),
                                                   value_text(o.show(now))));
    }
    return {};
}

#define CHARLM_OPTIONS_FOR(C)                                                                                   \
    template struct option<C>;                                                                                  \
    template const option<C>* find_option(const option_table<C>&, std::string_view);                           \
    template status check_ranges(const option_table<C>&, const C&);                                            \
    template nlohmann::json to_json(const option_table<C>&, const C&);                                         \
    template status from_json(const option_table<C>&, const nlohmann::json&, C&);                              \
    template void copy_given(const option_table<C>&, const std::set<std::string>&, const C&, C&);              \
    template status check_unchanged(const option_table<C>&, const C&, const C&, const std::string&);
CHARLM_OPTIONS_FOR(text_config)
CHARLM_OPTIONS_FOR(model_config)
CHARLM_OPTIONS_FOR(train_config)
CHARLM_OPTIONS_FOR(sample_config)
CHARLM_OPTIONS_FOR(poem_config)
CHARLM_OPTIONS_FOR(lyric_config)
CHARLM_OPTIONS_FOR(eval_options)
#undef CHARLM_OPTIONS_FOR

status apply_implied(train_config& c, std::set<std::string>& given) {
    if (given.count("cutoffs")) {
        if (given.count("softmax") && c.model.softmax == softmax_type::full)
            return make_error(errc::usage, "--cutoffs needs --softmax adaptive, not full");
        c.model.softmax = softmax_type::adaptive;
        given.insert("softmax");
    }
    // --time-budget alone: the budget ends the run, on a fresh run and on a resumed one alike (the
    // checkpoint's --epochs is replaced as if --epochs 0 were given).
    if (given.count("time-budget") && !given.count("epochs")) {
        c.epochs = 0;
        given.insert("epochs");
    }
    return {};
}

result<double> parse_duration(std::string_view text) {
    auto bad = [&] {
        return make_error(errc::usage, fmt::format("bad duration '{}': use e.g. 45s, 10m, 1h or 1h30m", text));
    };
    if (text.empty()) return bad();
    double total = 0;
    size_t i = 0;
    while (i < text.size()) {
        const size_t start = i;
        while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
        double v = 0;
        const auto [p, ec] = std::from_chars(text.data() + start, text.data() + i, v);
        if (i == start || ec != std::errc() || p != text.data() + i) return bad();
        double unit = 1;
        if (i < text.size()) {
            const char c = text[i++];
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

result<std::vector<uint32_t>> parse_id_list(std::string_view text) {
    auto bad = [&] {
        return make_error(errc::usage,
                          fmt::format("bad list '{}': use numbers separated by commas, e.g. 1000,3000", text));
    };
    std::vector<uint32_t> out;
    size_t i = 0;
    while (true) {
        size_t j = i;
        while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
        if (j == i || j - i > 9) return bad();
        out.push_back(static_cast<uint32_t>(std::stoul(std::string(text.substr(i, j - i)))));
        if (j == text.size()) break;
        if (text[j] != ',') return bad();
        i = j + 1;
    }
    return out;
}

}  // namespace charlm
