// Training: truncated BPTT over minibatches, global-norm clipping, SGD or Adam, perplexity on
// training and validation text, a report per epoch/interval, samples, and the model file.
// The library never prints: progress, reports and samples reach the caller through callbacks.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "charlm/batches.hpp"
#include "charlm/distributed.hpp"
#include "charlm/model.hpp"
#include "charlm/model_config.hpp"
#include "charlm/text.hpp"

namespace charlm {

enum class optimizer_kind { sgd, adam };
std::string to_string(optimizer_kind);
// The learning rate's shape over the run, on top of --lr-decay and --lr-plateau: constant, or a
// half cosine from --lr down to --lr-final x --lr at the end of the run (its epochs or its budget).
enum class lr_schedule { constant, cosine };
std::string to_string(lr_schedule);
result<lr_schedule> parse_lr_schedule(std::string_view);
result<optimizer_kind> parse_optimizer(std::string_view);
std::string to_string(sampling);
result<sampling> parse_sampling(std::string_view);

struct train_config {
    std::string corpus;           // training text
    std::string valid;            // separate validation text, or empty
    double valid_fraction = 0.1;  // last part of `corpus` when `valid` is empty; 0 = none
    uint64_t valid_tokens = 1000000;  // validations read at most the first this many tokens of it; 0 = all
    uint64_t min_count = 1;       // rarer tokens fold into <unk>
    text_config text;
    model_config model;

    uint32_t batch = 32;
    uint32_t steps = 35;
    sampling scheme = sampling::random;
    uint32_t epochs = 10;         // 0 with a time budget: until the budget is spent
    double time_budget_s = 0;     // 0: no budget
    optimizer_kind optimizer = optimizer_kind::adam;
    float lr = 2e-3f;
    float lr_decay = 1.0f;        // multiplied into lr after every epoch
    lr_schedule schedule = lr_schedule::constant;
    float lr_final = 0.1f;        // cosine: the rate at the end of the run, as a fraction of lr
    uint32_t warmup = 0;          // steps over which the rate rises linearly from lr / warmup to lr
    float clip = 1.0f;            // global L2 norm threshold theta; 0 disables
    float weight_decay = 0.0f;    // decoupled (AdamW): w *= 1 - lr * weight_decay each step; 0: none
    // The recurrent layers' arithmetic: f32, or bf16 (avx512_bf16 only; f32 master weights, Adam's
    // moments and gradients, the layers' forward and backward on oneDNN's bf16 primitives).
    charlm::precision precision = charlm::precision::f32;
    bool deterministic_reduce = false;  // data-parallel: gradients summed in stream order, the same bits for any rank count
    uint64_t seed = 1;
    uint32_t report_every = 0;    // steps between reports inside an epoch; 0: about 10 s apart
    uint32_t valid_every_steps = 0;  // also validate every this many steps inside an epoch; 0: not by steps
    double valid_every_s = 0;     // also validate this often (seconds) inside an epoch; 0: not by time
    uint32_t patience = 0;        // stop after this many validations in a row without a new best; 0: never
    float lr_plateau = 1.0f;      // multiplied into lr after a validation without a new best; 1: off
    std::vector<std::string> prefixes;  // samples printed every `sample_every` epochs and at the end
    uint32_t sample_every = 0;    // 0: only at the end
    uint32_t sample_length = 100;
    float sample_temperature = 0.8f;
    std::string out;              // model file; empty: not saved
    std::string metrics;          // JSON lines file, or empty
    uint32_t checkpoint_every = 1;  // epochs between writes of <out>.ckpt (and at the end, always)
    uint32_t keep_last = 0;       // also keep the K newest as <out>.epoch<E>.ckpt; 0: none
    std::string resume;           // checkpoint to continue from; empty: a new run

    status validate() const;
};

// Why a run ended. `none` only while it runs.
enum class stop_reason { none, epochs, budget, patience, signal, divergence };
std::string to_string(stop_reason);  // "epochs", "budget", "patience", "signal", "divergence"

struct train_report {
    uint64_t epoch = 0;   // 1-based; a report inside an epoch carries the epoch in progress
    uint64_t step = 0;    // optimizer steps so far
    bool end_of_epoch = false;
    double train_ppl = 0;           // since the last report
    std::optional<double> valid_ppl;  // end of epoch, with validation text
    bool best = false;              // the lowest validation perplexity so far (saved as <out>.best)
    double bpc = 0;                 // bits per token of valid (or train when there is no valid)
    double grad_norm = 0;           // before clipping, of the last step
    bool clipped = false;
    double lr = 0;
    double chars_per_sec = 0;       // training tokens per second since the last report
    double elapsed_s = 0;
    stop_reason stop = stop_reason::none;  // set on the run's last report
    std::string stop_detail;        // with `stop`: a sentence for people, e.g. "5 validations without a new best"
};

// The report line people read ("epoch 12 | step 276 | train ppl 61.402 | ..."), and the same
// figures as one JSON object for --metrics: the one place either is built.
std::string report_line(const train_report& r);
std::string metrics_json_line(const train_report& r);

// After every step, for a progress display.
struct train_progress {
    uint64_t batch = 0;           // batches of this epoch done
    uint64_t batches = 0;         // batches in the epoch
    double loss = 0;              // the step's mean NLL per token
    double chars_per_sec = 0;     // training tokens per second over the last few seconds
    double epoch_left_s = 0;      // estimated time to the end of the epoch at that rate
    std::optional<double> budget_left_s;  // with a time budget: what is left of it
};

struct train_callbacks {
    std::function<void(const std::string& what)> on_info;         // one-line facts at start
    std::function<void(const std::string& path, uint64_t read, uint64_t total)> on_reading;  // the texts, per MiB
    std::function<void(const std::string& what)> on_warning;      // settings that will not do what they say
    std::function<void(const train_progress&)> on_progress;  // after each step
    std::function<void(const train_report&)> on_report;
    std::function<void(const std::string& prefix, const std::string& text)> on_sample;
    std::function<bool()> should_stop;  // polled between steps (signals)
};

struct train_outcome {
    bool interrupted = false;      // should_stop() ended the run mid-epoch; the checkpoint resumes it
    stop_reason stop = stop_reason::none;
    std::string stop_detail;       // as in the last report
    std::string checkpoint;        // the last checkpoint written, or empty
    uint64_t epochs = 0;
    uint64_t steps = 0;
    uint64_t steps_run = 0;        // of them, those this call ran (a resumed run's are counted from its checkpoint)
    double train_ppl = 0;
    std::optional<double> valid_ppl;
    std::optional<double> best_valid_ppl;
    uint64_t best_epoch = 0;
    double seconds = 0;
    uint32_t vocab_size = 0;
};

// Cutoffs for the adaptive softmax from token counts indexed by id (ids in frequency order, as
// the vocabulary assigns them): the head takes the most frequent tokens up to 80% of the text,
// the first cluster up to 98%, the second the rest. Error when the vocabulary is too small for
// a head and a cluster of at least 8 tokens each (the full softmax is as fast there).
result<std::vector<uint32_t>> default_cutoffs(const std::vector<uint64_t>& counts_by_id);

// The whole training run. Writes `cfg.out` after every epoch (atomically) when set, and
// `cfg.out + ".best"` whenever the validation perplexity is the lowest so far (at the end of an
// epoch or at a --valid-every validation); a `.best` of another run is removed at the first write.
// Divergence (a non-finite loss, gradient norm or validation perplexity, or a loss above 3 times
// the first step's or 3 ln V) stops the run with an errc::numeric error and leaves the files
// written before it in place. The outcome and the last report say why the run stopped.
//
// Checkpoints: `cfg.out + ".ckpt"` every `checkpoint_every` epochs, at the end, and when
// should_stop() ends the run mid-epoch (then without validation). A checkpoint is a model file
// with the optimizer state ("optimizer.exp_avg.<tensor>", "optimizer.exp_avg_sq.<tensor>", in the
// tensor's PyTorch layout), the carried recurrent state ("training.state_h", "training.state_c")
// and, in the metadata key "checkpoint", the whole train_config and the position (epoch, batch,
// step, learning rate, dropout draws, best perplexity, elapsed time). With `cfg.resume` set, the
// run continues from that checkpoint and, with the same thread count, computes the same losses,
// bit for bit, as a run never stopped. The corpus must be the same text (its checksum is kept);
// `epochs` and `time_budget_s` count the whole run, the part before the checkpoint included; a
// budget already spent is dropped when `epochs` asks for more (said through on_info) and refused
// otherwise. The budget is checked before each step; a run stopped by it inside an epoch is
// validated and checkpointed at that batch. With `keep_last`, only the epoch checkpoints of this
// run (its id is in them and carries over on resumption) are pruned.
//
// Data-parallel (charlm/distributed.hpp): every rank of `world` calls train() with the same
// configuration; rank r of N trains on streams r*B/N .. (r+1)*B/N - 1 of each batch and one
// reduction per step makes the ranks take the same step as one process with the whole batch.
// Rank 0 alone reads the corpus checksum and writes files and metrics; callbacks are the caller's
// to give to rank 0 only (should_stop is asked on every rank). Without `world`: this process alone.
result<train_outcome> train(const train_config& cfg, const train_callbacks& cb, communicator* world = nullptr);

// What a checkpoint says about its run, without loading its tensors' values into a model: the
// configuration it was trained with (for `charlm train --resume` to start from) and where it stopped.
struct checkpoint_info {
    train_config config;
    uint64_t epoch = 0;   // 0-based epoch it continues in
    uint64_t batch = 0;   // batches of that epoch already done
    uint64_t step = 0;    // optimizer steps done
    int threads = 0;      // threads it ran with (bit-identical resumption needs the same)
    std::string corpus_checksum;
    std::string valid_checksum;  // of its --valid file, when it had one
};
result<checkpoint_info> read_checkpoint(const std::string& path);

// The files a run with output `out` writes (<out>.ckpt, and <out> with it) that hold more steps
// than the checkpoint `ck` when `ck` is older than the run's latest checkpoint: resuming from it
// would replace later work. Each as "<path> (step N)"; a file that is not a charlm file is listed
// as such. (<out>.best is guarded apart: a resumed run replaces it only with a model at least as good.)
std::vector<std::string> newer_than_checkpoint(const std::string& out, const checkpoint_info& ck);

// "fnv1a64:<16 hex digits>" over a file's bytes (corpus identity for checkpoints and summaries).
result<std::string> file_checksum(const std::string& path);

}  // namespace charlm
