// Numbers read from JSON that comes from outside (model files, checkpoints, HTTP requests).
// nlohmann's get<T>() converts a number of another kind with a plain static_cast, and a float too
// large for the target (1e30 read as uint32_t, 1e300 read as float) is undefined behaviour; the model
// file fuzzer found one. Every such read goes through json_number, which refuses what T cannot hold.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace charlm::detail {

// `j` as T, or nullopt when it is not a number, not whole (for an integral T) or outside T's range.
template <class T>
std::optional<T> json_number(const nlohmann::json& j) {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);
    using lim = std::numeric_limits<T>;
    if constexpr (std::is_integral_v<T>) {
        if (j.is_number_unsigned()) {
            const uint64_t v = j.get<uint64_t>();
            if (v > static_cast<uint64_t>(lim::max())) return std::nullopt;
            return static_cast<T>(v);
        }
        if (j.is_number_integer()) {
            const int64_t v = j.get<int64_t>();
            if (v < 0 ? (!lim::is_signed || v < static_cast<int64_t>(lim::min()))
                      : static_cast<uint64_t>(v) > static_cast<uint64_t>(lim::max()))
                return std::nullopt;
            return static_cast<T>(v);
        }
        if (j.is_number_float()) {  // 3.0 is 3; the range is [min, 2^digits) exactly in double
            const double d = j.get<double>();
            const double top = std::ldexp(1.0, lim::digits);
            if (!std::isfinite(d) || d != std::trunc(d) || d >= top || d < (lim::is_signed ? -top : 0.0))
                return std::nullopt;
            return static_cast<T>(d);
        }
        return std::nullopt;
    } else {
        if (!j.is_number()) return std::nullopt;
        const double d = j.get<double>();
        if (std::isfinite(d) && std::fabs(d) > static_cast<double>(lim::max())) return std::nullopt;
        return static_cast<T>(d);
    }
}

// j[key] as T; throws std::out_of_range (the readers' catch reports it) when it is missing or unfit.
template <class T>
T json_number_at(const nlohmann::json& j, const std::string& key) {
    if (auto v = json_number<T>(j.at(key))) return *v;
    throw std::out_of_range("'" + key + "' is " + j.at(key).dump() + ", not a number this field can hold");
}

// j[key] as T, `fallback` when absent.
template <class T>
T json_number_or(const nlohmann::json& j, const std::string& key, T fallback) {
    return j.contains(key) ? json_number_at<T>(j, key) : fallback;
}

}  // namespace charlm::detail
