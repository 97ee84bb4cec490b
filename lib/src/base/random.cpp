// SplitMix64 and the draws built on it (see charlm/random.hpp).
#include "charlm/random.hpp"

#include <cmath>

#include "charlm/status.hpp"

namespace charlm {

uint64_t splitmix64(uint64_t& state) {
    state += 0x9e3779b97f4a7c15ULL;  // 2^64 / phi
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t uniform_below(uint64_t& state, uint64_t n) {
    CHARLM_ASSERT(n > 0);
    // Reject the lowest (2^64 mod n) values so that the remaining range is a multiple of n
    // and `r % n` is exactly uniform; at most half the draws are rejected (n > 2^63).
    const uint64_t reject_below = (0 - n) % n;
    for (;;) {
        uint64_t r = splitmix64(state);
        if (r >= reject_below) return r % n;
    }
}

float uniform_pm(uint64_t& state, float a) {
    return static_cast<float>((static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53 * 2.0 - 1.0) * a);
}

float normal01(uint64_t& state) {
    double u1 = (static_cast<double>(splitmix64(state) >> 11) + 0.5) * 0x1.0p-53;
    double u2 = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

}  // namespace charlm
