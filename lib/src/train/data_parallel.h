// Data-parallel training (issue 15): the world's ranks each run the same model on their share of
// every batch's streams, and one reduction per step sums the gradients, the loss, the token count
// and the figures the ranks must agree on (a stop signal, rank 0's clock). After it every rank
// holds the same gradient of the mean NLL over all the world's tokens, and takes the same
// optimizer step. The trainer (run.cpp) uses this unit when there is more than one rank or
// when --deterministic-reduce asks for a sum that does not depend on the number of ranks.
//
// Rank r of N owns streams r*B/N .. (r+1)*B/N - 1 of each (T, B) batch. With --deterministic-reduce
// each stream's gradient is computed on its own (a batch-1 pass) and the world adds them in stream
// order (communicator::ordered_sum): the same bits for any N, one process included, at the cost of
// batch-1 speed. Dropout masks are drawn per stream of the whole batch either way.
#pragma once

#include <cstdint>
#include <vector>

#include "charlm/batches.hpp"
#include "charlm/distributed.hpp"
#include "charlm/model.hpp"
#include "charlm/train.hpp"

namespace charlm::detail {

class data_parallel {
public:
    data_parallel(communicator& world, const train_config& cfg, const model_config& mc);

    // The batch a rank's training session is built with: its share, or 1 stream per pass.
    static uint32_t session_batch(const train_config& cfg, int world_size);
    void bind(training_session& session);

    // What rank 0 and any rank put in, and what every rank reads after the step's reduction.
    struct agreed {
        bool signal = false;         // some rank was asked to stop
        double elapsed_s = 0;        // rank 0's run time when the step's reduction started
        double since_validation_s = 0;  // rank 0's time since its last validation
    };
    // One step's forward and backward over this rank's streams of `mb` (the whole batch) and the
    // reduction: `session`'s gradient arena then holds the world's gradient; the loss is the
    // world's. `mine` is this rank's (signal) or rank 0's (times) view before the reduction.
    result<loss_sum> step(training_session& session, const minibatch& mb, const agreed& mine, agreed& out);

    // The carried recurrent state of the whole batch ((L, B, H) each) on rank 0, for a checkpoint
    // (a collective: every rank calls it); and this rank's part of one, read from a checkpoint.
    status gather_state(training_session& session, training_session::recurrent_state& whole);
    void set_state(training_session& session, const training_session::recurrent_state& whole);

    uint32_t first_stream() const { return first_; }
    uint32_t streams() const { return count_; }

private:
    void slice(const minibatch& mb, uint32_t first, uint32_t count);
    result<loss_sum> reduce(training_session& session, agreed& out);
    result<loss_sum> ordered_step(training_session& session, const minibatch& mb, const agreed& mine, agreed& out);
    void write_figures(float* tail, bool packed, const loss_sum& l, const agreed& mine) const;
    loss_sum read_figures(const float* tail, bool packed, agreed& out) const;

    communicator& world_;
    bool ordered_;               // --deterministic-reduce
    sampling scheme_;
    uint32_t T_, B_, first_, count_, L_, H_;
    size_t P_ = 0;               // floats in the gradient arena
    bool lstm_;
    std::vector<int32_t> in_, tg_;              // this rank's (T, count) columns, or one stream's
    std::vector<std::vector<float>> shards_;    // --deterministic-reduce: each stream's gradient
    std::vector<training_session::recurrent_state> stream_state_;  // and each stream's carried state
    std::vector<loss_sum> shard_loss_;
};

}  // namespace charlm::detail
