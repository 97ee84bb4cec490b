// Errors as values at the library boundary: `status` and `result<T>`.
// A failure carries a message that says what went wrong, where, and what to do;
// the CLI maps `errc` to an exit status. Invariants use CHARLM_ASSERT instead.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace charlm {

// usage: a bad option value (exit 2); everything else is a runtime failure (exit 1).
enum class errc { usage, io, input, format, numeric, interrupted, internal };

struct error {
    errc code = errc::internal;
    std::string message;
};

inline error make_error(errc code, std::string message) { return error{code, std::move(message)}; }

class [[nodiscard]] status {
public:
    status() = default;
    status(error e) : err_(std::move(e)) {}  // NOLINT: implicit by design
    static status success() { return {}; }
    bool ok() const { return !err_.has_value(); }
    explicit operator bool() const { return ok(); }
    const error& err() const { return *err_; }

private:
    std::optional<error> err_;
};

template <class T>
class [[nodiscard]] result {
public:
    result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
    result(error e) : v_(std::move(e)) {}      // NOLINT
    result(status s) : v_(s.err()) {}          // NOLINT: only from a failed status
    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() & { return std::get<0>(v_); }
    const T& operator*() const& { return std::get<0>(v_); }
    T&& operator*() && { return std::get<0>(std::move(v_)); }
    const error& err() const { return std::get<1>(v_); }
    status to_status() const { return ok() ? status{} : status{err()}; }

private:
    std::variant<T, error> v_;
};

// An allocation the library asked for and did not get: a std::bad_alloc that names the size, so
// that the caller's message can say how much (a model too large for the machine, not a crash).
class out_of_memory : public std::bad_alloc {
public:
    explicit out_of_memory(size_t bytes)
        : bytes_(bytes),
          what_("cannot allocate " + std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB (" +
                std::to_string(bytes) + " bytes)") {}
    size_t bytes() const { return bytes_; }
    const char* what() const noexcept override { return what_.c_str(); }

private:
    size_t bytes_;
    std::string what_;
};

[[noreturn]] inline void assert_fail(const char* expr, const char* file, int line) {
    std::fprintf(stderr, "charlm: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
    std::abort();
}

}  // namespace charlm

#define CHARLM_ASSERT(cond) \
    ((cond) ? (void)0 : ::charlm::assert_fail(#cond, __FILE__, __LINE__))

// Propagate a failed status or result from the current function.
#define CHARLM_TRY(expr)                                        \
    do {                                                        \
        auto&& charlm_try_tmp_ = (expr);                        \
        if (!charlm_try_tmp_.ok()) return charlm_try_tmp_.err(); \
    } while (0)
