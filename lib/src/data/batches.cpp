// The two minibatch schemes of d2l.ai 8.3 over a token_stream; each epoch's plan is a pure
// function of (seed, epoch) through charlm/random.hpp. Not here: shuffling of anything but window starts, or the
// model's state handling (the iterator only says when a batch does not continue the last).
#include "charlm/batches.hpp"

#include <utility>

namespace charlm {

namespace {

constexpr uint64_t golden_gamma = 0x9e3779b97f4a7c15ULL;  // 2^64 / phi, SplitMix64's increment

// The RNG state for epoch `epoch`: mixed once so that nearby (seed, epoch) pairs start far apart.
uint64_t epoch_state(uint64_t seed, uint64_t epoch) {
    uint64_t s = seed ^ (epoch * golden_gamma);
    return splitmix64(s);
}

}  // namespace

uint64_t min_tokens_for_one_batch(const batch_config& cfg) {
    CHARLM_ASSERT(cfg.steps > 0 && cfg.batch > 0);
    const uint64_t t = cfg.steps, n = cfg.batch;
    // random: worst offset T-1 needs (len - T) / T >= N, i.e. len >= (N + 1) T.
    // consecutive: worst offset T needs (len - T - 1) / N >= T, i.e. len >= (N + 1) T + 1.
    return cfg.scheme == sampling::random ? (n + 1) * t : (n + 1) * t + 1;
}

batch_iterator::batch_iterator(const token_stream& ids, batch_config cfg) : ids_(ids), cfg_(cfg) {
    CHARLM_ASSERT(cfg_.steps > 0 && cfg_.batch > 0);  // callers validate options before this
    start_epoch(0);
}

void batch_iterator::start_epoch(uint64_t epoch) {
    epoch_ = epoch;
    next_ = 0;
    num_batches_ = 0;
    stream_len_ = 0;
    window_starts_.clear();

    const uint64_t len = ids_.size();
    const uint64_t t = cfg_.steps, n = cfg_.batch;
    uint64_t state = epoch_state(cfg_.seed, epoch);

    if (cfg_.scheme == sampling::random) {
        offset_ = uniform_below(state, t);  // [0, T-1]
        // The last window's target needs one token past it, hence the -1.
        const uint64_t num_windows = len > offset_ ? (len - offset_ - 1) / t : 0;
        num_batches_ = num_windows / n;  // leftover windows are dropped
        if (num_batches_ == 0) return;
        // Sized for offset 0, the most windows any epoch has: later epochs reuse the buffer.
        window_starts_.reserve((len - 1) / t);
        window_starts_.resize(num_windows);
        for (uint64_t k = 0; k < num_windows; ++k) window_starts_[k] = offset_ + k * t;
        // Fisher-Yates from the back with our own draw, so every standard library agrees.
        for (uint64_t i = num_windows - 1; i > 0; --i) {
            uint64_t j = uniform_below(state, i + 1);
            std::swap(window_starts_[i], window_starts_[j]);
        }
    } else {
        offset_ = uniform_below(state, t + 1);  // [0, T], inclusive as in the textbook
        stream_len_ = len > offset_ ? (len - offset_ - 1) / n : 0;  // L tokens per stream
        num_batches_ = stream_len_ / t;
    }
}

void batch_iterator::seek(uint64_t batch_index) {
    CHARLM_ASSERT(batch_index <= num_batches_);
    next_ = batch_index;
}

bool batch_iterator::next(minibatch& out) {
    if (next_ >= num_batches_) return false;
    const uint64_t t_len = cfg_.steps, n_len = cfg_.batch;
    // Same size every call: resize() allocates only the first time.
    out.inputs.resize(t_len * n_len);   // (T, N) tnc without C
    out.targets.resize(t_len * n_len);  // (T, N)
    const uint64_t j = next_++;

    for (uint64_t n = 0; n < n_len; ++n) {
        // Row n's first token: a shuffled window start, or stream n's j-th chunk.
        const uint64_t start = cfg_.scheme == sampling::random
                                   ? window_starts_[j * n_len + n]
                                   : offset_ + n * stream_len_ + j * t_len;
        CHARLM_ASSERT(start + t_len < ids_.size());  // the last target exists: no wrap-around
        uint32_t prev = ids_[start];
        for (uint64_t t = 0; t < t_len; ++t) {
            const uint32_t cur = ids_[start + t + 1];
            out.inputs[t * n_len + n] = static_cast<int32_t>(prev);
            out.targets[t * n_len + n] = static_cast<int32_t>(cur);
            prev = cur;
        }
    }
    out.reset_state = cfg_.scheme == sampling::random || j == 0;
    return true;
}

}  // namespace charlm
