// model_config::validate: the option table's ranges, then what no single range can say (the
// adaptive softmax's cutoffs against each other, the hidden size and the vocabulary).
#include <string>

#include "charlm/options.hpp"

namespace charlm {

status model_config::validate() const {
    CHARLM_TRY(check_ranges(model_options(), *this));
    if (softmax == softmax_type::full && !cutoffs.empty())
        return make_error(errc::usage, "--cutoffs needs --softmax adaptive");
    if (softmax != softmax_type::adaptive) return {};
    if (cutoffs.size() > 16) return make_error(errc::usage, "--cutoffs: at most 16 clusters");
    for (size_t k = 0; k < cutoffs.size(); ++k) {
        if (cutoffs[k] == 0 || (k > 0 && cutoffs[k] <= cutoffs[k - 1]))
            return make_error(errc::usage, "--cutoffs must be positive and strictly increasing, e.g. 1000,3000");
        if (adaptive_tail_width(hidden, div_value, k) < 1)
            return make_error(errc::usage, "--cutoffs: cluster " + std::to_string(k + 1) + "'s projection would be " +
                                               "narrower than 1 (hidden / div-value^" + std::to_string(k + 1) +
                                               "); use fewer clusters or a smaller --div-value");
    }
    if (vocab > 0 && !cutoffs.empty() && cutoffs.back() >= vocab)
        return make_error(errc::usage, "--cutoffs: the last cutoff (" + std::to_string(cutoffs.back()) +
                                           ") must be below the vocabulary size (" + std::to_string(vocab) + ")");
    return {};
}

}  // namespace charlm
