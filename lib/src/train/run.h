// One training run: the corpus, the model, its training and evaluation sessions, the optimizer,
// where the run stands, and what it does at each point of the loop in train() (trainer.cpp): a
// step, reports, validation, the files, samples, stopping. The schedule (schedule.h) decides when.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "charlm/model_file.hpp"
#include "charlm/train.hpp"
#include "layers/optimizer.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/output_files.h"
#include "train/report.h"
#include "train/schedule.h"

namespace charlm::detail {

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

class training_run {
public:
    static result<std::unique_ptr<training_run>> start(const train_config& given, const train_callbacks& cb,
                                                       communicator* world);
    ~training_run() { write_pending_record(); }  // a run ended by an error keeps its last record

    bool done() const { return stop_ != stop_reason::none; }
    bool epoch_complete() const { return it_.position() == it_.batches_in_epoch(); }
    stop_reason stop_before_step() const { return sched_.stop_before_step(agreed_elapsed(), agreed_signal()); }
    status step();
    status after_step();
    status end_epoch();
    status stop_in_epoch(stop_reason why, const train_report* validated = nullptr);
    train_outcome outcome();

private:
    training_run(const train_config& cfg, const train_callbacks& cb, communicator& world, prepared_corpus corpus,
                 std::string checksum, const model_config& mc)
        : cfg_(cfg),
          cb_(cb),
          world_(world),
          corpus_(std::move(corpus)),
          checksum_(std::move(checksum)),
          model_(mc, cfg.text, corpus_.vocab, cfg.seed),
          session_(model_, cfg.steps, data_parallel::session_batch(cfg, world.size()), cfg.precision),
          evaluator_(model_),
          it_(corpus_.train, batch_config{cfg.batch, cfg.steps, cfg.scheme, cfg.seed}),
          sched_(cfg_, corpus_.valid.size() >= 2, 0) {}

    void set_up_optimizer(const model_config& mc);
    status open_files_and_start_clock(const train_position* resumed);
    status resume_from(const checkpoint_data& ck, bool carried, training_session::recurrent_state& carried_state);
    status check_same_start();
    void continue_schedule(const checkpoint_data& ck);
    double elapsed() const { return seconds_since(t0_); }
    bool signal() const { return cb_.should_stop && cb_.should_stop(); }
    bool rank0() const { return world_.rank() == 0; }
    // The clock and signal decisions go by: data-parallel, what the last step's reduction agreed
    // (rank 0's clock, any rank's signal), so that every rank decides alike; else this process's.
    double agreed_elapsed() const { return dp_ ? agreed_.elapsed_s : elapsed(); }
    bool agreed_signal() const { return dp_ ? agreed_.signal : signal(); }
    // The rate of the next step: --lr with its per-epoch decay and plateau cuts (lr_), times the
    // warm-up and cosine factor at this step and time.
    double current_lr() const { return lr_ * sched_.lr_factor(step_, agreed_elapsed(), it_.batches_in_epoch()); }
    double agreed_since_validation() const { return dp_ ? agreed_.since_validation_s : seconds_since(last_validation_); }
    status sync_start(training_session::recurrent_state* carried);
    status gather_state(training_session::recurrent_state& whole);
    train_report report(bool end_of_epoch) const;
    void emit(train_report& r);
    void restamp(train_report& r, stop_reason why) const;
    void write_pending_record();
    status validate(train_report& r);
    train_position position(uint64_t epoch, uint64_t batch, double lr, const loss_sum& epoch_so_far);
    training_summary summary() const;
    status save_files(bool model, bool best);
    status checkpoint(const train_position& p, bool carried);
    status diverged(const std::string& why);
    status samples();

    train_config cfg_;  // the run's settings (a budget spent before a resumption dropped)
    const train_callbacks& cb_;
    communicator& world_;          // this process alone, or the ranks of a data-parallel run
    prepared_corpus corpus_;
    std::string checksum_;
    language_model model_;
    training_session session_;     // the training shape, its carried state and gradients
    evaluation_session evaluator_;  // validation: its own shapes and state, the training state untouched
    std::unique_ptr<nn::optimizer> opt_;
    std::unique_ptr<data_parallel> dp_;  // with more than one rank or --deterministic-reduce
    data_parallel::agreed agreed_;
    batch_iterator it_;
    minibatch mb_;
    schedule sched_;
    metrics_writer metrics_;
    std::optional<train_report> pending_record_;  // the last report, its metrics record not yet written
    std::unique_ptr<epoch_checkpoints> epoch_files_;
    train_outcome out_;
    std::string run_id_;
    uint32_t valid_streams_ = 1;
    std::string valid_checksum_;     // of the --valid file, recorded in checkpoints

    uint64_t epoch_ = 0, step_ = 0;  // epoch in progress (0-based), optimizer steps done
    uint64_t first_step_ = 0;        // step_ when this process started (a resumed run's checkpoint's)
    // The step at which the last report was emitted, <out> and the checkpoint written and samples
    // printed: a stop does not do again what its step already has.
    static constexpr uint64_t never = UINT64_MAX;
    uint64_t reported_step_ = never, saved_step_ = never, checkpointed_step_ = never, sampled_step_ = never;
    double lr_ = 0;
    loss_sum epoch_loss_, window_;   // this epoch's, since the last report
    uint64_t window_tokens_ = 0;     // tokens fed since the last report (padding included)
    double last_norm_ = 0;
    bool last_clipped_ = false;
    double first_loss_ = 0;          // the divergence reference: the run's first loss or ln V, the larger
    bool best_file_ours_ = false;    // <out>.best is this run's (or removed as another's)
    bool written_ = false;           // this run has written <out>
    std::optional<double> best_on_disk_;  // <out>.best's figure when it is better than any this run has saved
    stop_reason stop_ = stop_reason::none;
    std::string stop_detail_;        // as the last report said it
    clock_type::time_point t0_, last_report_, last_validation_;
};

}  // namespace charlm::detail
