// How a field of a configuration struct becomes an option<C> (charlm/options.hpp): one codec per
// value type (command-line text, JSON, display) and field() binding a codec to a member; nest()
// lifts a table of an inner struct (text_config) into an outer one (train_config).
// Used by tables.cpp only.
#pragma once

#include <fmt/core.h>

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "charlm/options.hpp"
#include "charlm/script.hpp"
#include "config/json_number.h"
#include "config/names.h"

namespace charlm::detail {

using nlohmann::json;

// Numbers: errors worded as Boost.Program_options words its own ("the argument ('x') for option
// '--hidden' is invalid: ..."); the other codecs' errors follow "--cell: ".
template <class T>
struct number_codec {
    static constexpr bool numeric = true;
    static std::string show(T v) { return fmt::format("{}", v); }  // shortest form that reads back: 0.8
    static result<T> parse(std::string_view s) {
        T v{};
        const char* end = s.data() + s.size();
        if constexpr (std::is_unsigned_v<T>) {
            if (!s.empty() && s.front() == '-') return make_error(errc::usage, "it must be a number >= 0");
        }
        auto [p, ec] = std::from_chars(s.data(), end, v);
        if (ec == std::errc::result_out_of_range)
            return make_error(errc::usage, fmt::format("it must be at most {}", std::numeric_limits<T>::max()));
        if (ec != std::errc() || p != end || s.empty())
            return make_error(errc::usage, std::is_integral_v<T> ? "it must be a whole number" : "it must be a number");
        return v;
    }
    static json to_json(T v) { return v; }
    static result<T> from_json(const json& j) {
        if (auto v = json_number<T>(j)) return *v;
        if (!j.is_number()) return make_error(errc::format, fmt::format("it is a {}, not a number", j.type_name()));
        const bool whole = !std::is_integral_v<T> || !j.is_number_float() || std::trunc(j.get<double>()) == j.get<double>();
        return make_error(errc::format, j.dump() + (whole ? " is out of range" : " is not a whole number"));
    }
};

template <class T>
struct codec : number_codec<T> {};

template <>
struct codec<bool> {
    static constexpr bool numeric = false;
    static std::string show(bool v) { return v ? "true" : "false"; }
    static result<bool> parse(std::string_view s) {
        if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
        if (s == "false" || s == "0" || s == "no" || s == "off") return false;
        return make_error(errc::usage, fmt::format("'{}' is not true or false", s));
    }
    static json to_json(bool v) { return v; }
    static result<bool> from_json(const json& j) { return j.get<bool>(); }
};

template <>
struct codec<std::string> {
    static constexpr bool numeric = false;
    static std::string show(const std::string& v) { return v; }
    static result<std::string> parse(std::string_view s) { return std::string(s); }
    static json to_json(const std::string& v) { return v; }
    static result<std::string> from_json(const json& j) { return j.get<std::string>(); }
};

// A repeatable option: every value given, in order.
template <>
struct codec<std::vector<std::string>> {
    static constexpr bool numeric = false;
    static constexpr bool list = true;
    static std::string show(const std::vector<std::string>& v) {
        std::string s;
        for (const auto& x : v) s += fmt::format("{}'{}'", s.empty() ? "" : ", ", x);
        return s;
    }
    static json to_json(const std::vector<std::string>& v) { return v; }
    static result<std::vector<std::string>> from_json(const json& j) { return j.get<std::vector<std::string>>(); }
};

// Token ids written "1000,3000".
template <>
struct codec<std::vector<uint32_t>> {
    static constexpr bool numeric = false;
    static std::string show(const std::vector<uint32_t>& v) {
        std::string s;
        for (uint32_t x : v) s += fmt::format("{}{}", s.empty() ? "" : ",", x);
        return s;
    }
    static result<std::vector<uint32_t>> parse(std::string_view s) { return parse_id_list(s); }
    static json to_json(const std::vector<uint32_t>& v) { return v; }
    static result<std::vector<uint32_t>> from_json(const json& j) {
        std::vector<uint32_t> ids;
        const auto bad = [] { return make_error(errc::format, "it is not a list of token ids"); };
        if (!j.is_array()) return bad();
        for (const json& x : j) {
            auto v = json_number<uint32_t>(x);
            if (!v) return bad();
            ids.push_back(*v);
        }
        return ids;
    }
};

template <class E>
struct enum_codec {
    static constexpr bool numeric = false;
    static std::string show(E v) { return enum_to_string(v); }
    static result<E> parse(std::string_view s) { return enum_parse<E>(s); }
    static json to_json(E v) { return enum_to_string(v); }
    static result<E> from_json(const json& j) { return enum_parse<E>(j.get<std::string>()); }
};

template <> struct codec<cell_type> : enum_codec<cell_type> {};
template <> struct codec<softmax_type> : enum_codec<softmax_type> {};
template <> struct codec<invalid_policy> : enum_codec<invalid_policy> {};
template <> struct codec<normalization> : enum_codec<normalization> {};
template <> struct codec<token_unit> : enum_codec<token_unit> {};
template <> struct codec<sampling> : enum_codec<sampling> {};
template <> struct codec<optimizer_kind> : enum_codec<optimizer_kind> {};
template <> struct codec<lr_schedule> : enum_codec<lr_schedule> {};
template <> struct codec<unknown_policy> : enum_codec<unknown_policy> {};
template <> struct codec<tone_rule> : enum_codec<tone_rule> {};
template <> struct codec<rhyme_rule> : enum_codec<rhyme_rule> {};
template <> struct codec<text_script> : enum_codec<text_script> {};
template <> struct codec<script_conversion> : enum_codec<script_conversion> {};
template <> struct codec<convert_policy> : enum_codec<convert_policy> {};
template <> struct codec<precision> : enum_codec<precision> {  // the name, then whether this CPU runs it
    static result<precision> parse(std::string_view s) { return parse_precision(s); }
    static result<precision> from_json(const json& j) { return parse_precision(j.get<std::string>()); }
};
template <> struct codec<output_script> : enum_codec<output_script> {};

// Seconds, written as a duration on the command line ("1h30m") and as a number in files.
struct duration_codec : number_codec<double> {
    static constexpr bool numeric = false;
    static std::string show(double v) { return fmt::format("{}s", v); }
    static result<double> parse(std::string_view s) { return parse_duration(s); }
};

template <class Codec>
concept list_codec = requires { Codec::list; };

// Command-line text -> value: the last string, or all of them for a list.
template <class Codec, class T>
result<T> parse_text(const std::vector<std::string>& values) {
    if constexpr (list_codec<Codec>) {
        return values;
    } else {
        return Codec::parse(values.back());
    }
}

// An option bound to the field that `get(c)` returns (a generic lambda, so that it serves
// const and non-const structs alike), through `Codec`.
template <class C, class Codec = void, class Get>
option<C> field(option_info info, Get get) {
    using T = std::remove_cvref_t<decltype(get(std::declval<C&>()))>;
    using K = std::conditional_t<std::is_void_v<Codec>, codec<T>, Codec>;
    option<C> o;
    o.info = std::move(info);
    o.flag = std::is_same_v<T, bool>;
    o.info.repeatable = list_codec<K>;
    if constexpr (std::is_enum_v<T>) o.choices = enum_choices<T>();
    const std::string name = o.info.name, key = o.json_key();
    const bool since_v1 = o.info.since_v1;
    o.show = [get](const C& c) { return K::show(get(c)); };
    o.parse = [get, name](C& c, const std::vector<std::string>& values) -> status {
        if (values.empty()) return {};
        auto v = parse_text<K, T>(values);
        if (!v) {
            const std::string& m = v.err().message;
            return make_error(errc::usage, K::numeric ? fmt::format("the argument ('{}') for option '--{}' is invalid: {}",
                                                                    values.back(), name, m)
                                                      : fmt::format("--{}: {}", name, m));
        }
        get(c) = std::move(*v);
        return {};
    };
    o.write = [get, key](const C& c, json& j) { j[key] = K::to_json(get(c)); };
    o.read = [get, key, since_v1](C& c, const json& j) -> status {
        if (!since_v1 && !j.contains(key)) return {};
        auto v = K::from_json(j.at(key));
        if (!v && std::is_enum_v<T>) return v.err();  // "unknown cell type 'x': use ..."
        if (!v) return make_error(v.err().code, fmt::format("'{}': {}", key, v.err().message));
        get(c) = std::move(*v);
        return {};
    };
    o.same = [get](const C& a, const C& b) { return get(a) == get(b); };
    o.copy = [get](const C& from, C& to) { get(to) = get(from); };
    o.number = [get](const C& c) -> std::optional<double> {
        if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) return static_cast<double>(get(c));
        return std::nullopt;
    };
    return o;
}

// Appends the options of the inner struct that `get(outer)` returns, stored in the JSON object `object`.
template <class Outer, class Inner, class Get>
void nest(option_table<Outer>& out, const option_table<Inner>& inner, const std::string& object, Get get) {
    for (const option<Inner>& in : inner) {
        option<Outer> o;
        o.info = in.info;
        o.info.json_key = in.json_key();
        o.flag = in.flag;
        o.choices = in.choices;
        o.show = [f = in.show, get](const Outer& c) { return f(get(c)); };
        o.parse = [f = in.parse, get](Outer& c, const std::vector<std::string>& v) { return f(get(c), v); };
        o.write = [f = in.write, get, object](const Outer& c, json& j) { f(get(c), j[object]); };
        o.read = [f = in.read, get, object](Outer& c, const json& j) { return f(get(c), j.at(object)); };
        o.same = [f = in.same, get](const Outer& a, const Outer& b) { return f(get(a), get(b)); };
        o.copy = [f = in.copy, get](const Outer& from, Outer& to) { f(get(from), get(to)); };
        o.number = [f = in.number, get](const Outer& c) { return f(get(c)); };
        if (in.written) o.written = [f = in.written, get](const Outer& c) { return f(get(c)); };
        out.push_back(std::move(o));
    }
}

}  // namespace charlm::detail
