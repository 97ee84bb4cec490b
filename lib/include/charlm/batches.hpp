// Minibatches over a token stream with the textbook's two schemes (d2l.ai 8.3):
//   random:      non-overlapping windows of `steps` tokens from a random offset each epoch,
//                shuffled; the model resets its state every batch.
//   consecutive: `batch` parallel streams; batch k+1's rows continue batch k's rows, so the
//                state carries over (gradient cut at the edge); state resets each epoch.
// Targets are inputs shifted by one; no wrap-around; a tail that fills no window is dropped.
// Every epoch's plan is a pure function of (seed, epoch), so resuming needs only
// (epoch, batch index). Not here: the model or any state it carries.
#pragma once

#include <cstdint>
#include <vector>

#include "charlm/random.hpp"
#include "charlm/status.hpp"
#include "charlm/token_stream.hpp"

namespace charlm {

enum class sampling { random, consecutive };

struct batch_config {
    uint32_t batch = 32;  // N
    uint32_t steps = 35;  // T
    sampling scheme = sampling::random;
    uint64_t seed = 0;
};

// One minibatch, time-major like oneDNN's tnc: element (t, n) is at [t * N + n].
struct minibatch {
    std::vector<int32_t> inputs;   // (T, N)
    std::vector<int32_t> targets;  // (T, N)
    bool reset_state = true;       // true when no earlier batch continues into this one
};

class batch_iterator {
public:
    batch_iterator(const token_stream& ids, batch_config cfg);

    // Plans epoch `epoch` (0-based) and rewinds to its first batch.
    void start_epoch(uint64_t epoch);
    uint64_t epoch() const { return epoch_; }
    uint64_t batches_in_epoch() const { return num_batches_; }
    uint64_t position() const { return next_; }  // index of the batch next() returns
    void seek(uint64_t batch_index);               // within the current epoch, <= batches_in_epoch()
    uint64_t offset() const { return offset_; }     // this epoch's start offset (for tests and logs)

    // Fills `out` (buffers sized once, reused) and returns false at the end of the epoch.
    bool next(minibatch& out);

    const batch_config& config() const { return cfg_; }

private:
    const token_stream& ids_;
    batch_config cfg_;
    uint64_t epoch_ = 0;
    uint64_t offset_ = 0;       // random start offset of this epoch
    uint64_t num_batches_ = 0;
    uint64_t next_ = 0;
    uint64_t stream_len_ = 0;   // consecutive: tokens per stream
    std::vector<uint64_t> window_starts_;  // random: shuffled window starts
};

// The smallest corpus (in tokens) that yields at least one batch under `cfg`.
uint64_t min_tokens_for_one_batch(const batch_config& cfg);


}  // namespace charlm
