// Checkpoints (see train.hpp): writing one from a training run in progress and restoring a run
// from one. The trainer decides when; this file decides what is in it and checks it on the way back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "charlm/model_file.hpp"
#include "charlm/train.hpp"
#include "layers/optimizer.h"

namespace charlm::detail {

// Where a run stands between two optimizer steps: everything the loss trajectory depends on
// besides the weights, the optimizer state and the carried recurrent state.
struct train_position {
    uint64_t epoch = 0;          // 0-based epoch to continue in
    uint64_t batch = 0;          // batches of that epoch already done
    uint64_t step = 0;           // optimizer steps done
    double lr = 0;               // learning rate in effect for `epoch`
    uint64_t dropout_calls = 0;  // training forwards run (the dropout masks' counter)
    std::optional<double> best_valid_ppl;
    uint64_t best_epoch = 0;
    double elapsed_s = 0;
    double epoch_nll = 0;        // the epoch's loss so far (for its report)
    uint64_t epoch_tokens = 0;
    uint32_t stale_validations = 0;  // validations in a row without a new best (--patience)
    std::string run_id;          // the run that wrote it (its --keep-last files are its own); "" before
    std::string valid_checksum;  // of the --valid file ("" for a held-out share of the corpus, or before)
};

// Writes `path` atomically. `carried`: the recurrent state of the whole batch ((L, batch, H) each)
// carried into the next batch (consecutive scheme, mid-epoch), or null.
status save_checkpoint(const std::string& path, const language_model& model, nn::optimizer& opt,
                       const training_summary& summary, const train_config& cfg, const train_position& pos,
                       const training_session::recurrent_state* carried, uint32_t batch);

struct checkpoint_data {
    checkpoint_info info;
    train_position pos;
};
result<checkpoint_data> read_checkpoint_data(const std::string& path);

// Puts the checkpoint's weights into `model` (built with the run's configuration and vocabulary)
// and the optimizer's moments into `opt`; with `carried`, the carried state of the whole batch
// ((L, batch, H) each) into it. The step count and dropout counter are the position's.
status restore_checkpoint(const std::string& path, language_model& model, nn::optimizer& opt,
                          training_session::recurrent_state* carried, uint32_t batch);

}  // namespace charlm::detail
