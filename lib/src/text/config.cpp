// text_config: the names of its settings as the CLI and model files spell them, and validation
// (an encoding must be "auto" or a converter ICU knows).
#include <unicode/ucnv.h>

#include <string>

#include "charlm/text.hpp"

namespace charlm {

std::string to_string(invalid_policy p) {
    switch (p) {
        case invalid_policy::error: return "error";
        case invalid_policy::replace: return "replace";
        case invalid_policy::skip: return "skip";
    }
    return "?";
}

std::string to_string(normalization n) {
    switch (n) {
        case normalization::nfc: return "nfc";
        case normalization::nfkc: return "nfkc";
        case normalization::none: return "none";
    }
    return "?";
}

std::string to_string(token_unit u) { return u == token_unit::grapheme ? "grapheme" : "codepoint"; }

result<invalid_policy> parse_invalid_policy(std::string_view s) {
    if (s == "error") return invalid_policy::error;
    if (s == "replace") return invalid_policy::replace;
    if (s == "skip") return invalid_policy::skip;
    return make_error(errc::usage, "unknown value '" + std::string(s) + "': use error, replace or skip");
}

result<normalization> parse_normalization(std::string_view s) {
    if (s == "nfc") return normalization::nfc;
    if (s == "nfkc") return normalization::nfkc;
    if (s == "none") return normalization::none;
    return make_error(errc::usage, "unknown value '" + std::string(s) + "': use nfc, nfkc or none");
}

result<token_unit> parse_token_unit(std::string_view s) {
    if (s == "grapheme") return token_unit::grapheme;
    if (s == "codepoint") return token_unit::codepoint;
    return make_error(errc::usage, "unknown value '" + std::string(s) + "': use grapheme or codepoint");
}

status text_config::validate() const {
    if (encoding == "auto") return {};
    UErrorCode err = U_ZERO_ERROR;
    UConverter* c = ucnv_open(encoding.c_str(), &err);
    if (c) ucnv_close(c);
    if (U_FAILURE(err) || encoding.empty())
        return make_error(errc::usage, "--encoding: '" + encoding +
                                           "' is not an encoding ICU knows; use a name such as UTF-8, GB18030, "
                                           "Big5, Shift_JIS, UTF-16LE, UTF-16BE, or auto to detect it "
                                           "('uconv -l' lists them all)");
    return {};
}

}  // namespace charlm
