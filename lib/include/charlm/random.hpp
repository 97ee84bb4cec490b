// The deterministic random numbers every part of charlm draws: SplitMix64 and what is built on it
// (an unbiased bounded draw, uniform and normal floats for initialization), independent of the
// standard library's choices so that a seed means the same on every platform.
// Not here: the counter-based generator of dropout masks (dnnl/rnn_stack.cpp), samplers (sample.hpp).
#pragma once

#include <cstdint>

namespace charlm {

uint64_t splitmix64(uint64_t& state);                 // advances state, returns the next value
uint64_t uniform_below(uint64_t& state, uint64_t n);  // in [0, n), n > 0, exactly uniform
float uniform_pm(uint64_t& state, float a);           // in [-a, a), 53 random bits before rounding
float normal01(uint64_t& state);                      // N(0, 1) by Box-Muller, two draws

}  // namespace charlm
