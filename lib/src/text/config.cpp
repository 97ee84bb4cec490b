// text_config validation: an encoding must be "auto" or a converter ICU knows. (The names of
// its settings are in lib/src/config/names.cpp with every other enum's.)
#include <unicode/ucnv.h>

#include <string>

#include "charlm/text.hpp"
#include "text/script_impl.h"

namespace charlm {

status text_config::validate() const {
    // The conversion's tables are read here, so that a missing OpenCC is found before any text is.
    if (convert != script_conversion::none)
        if (auto t = text_detail::script_table::get(convert); !t) return t.err();
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
