// The training loop: corpus -> vocabulary -> model -> epochs of minibatches with truncated BPTT,
// clipping and the optimizer. train() is the loop; a training_run does each of its steps (a step,
// a validation, the files, samples) and the schedule (schedule.h) decides when. Not here: the
// layers (nn/), the file format (io/), the report's text (report.cpp), printing (app/).
#include <fmt/core.h>

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "charlm/model_file.hpp"
#include "charlm/sample.hpp"
#include "charlm/train.hpp"
#include "layers/optimizer.h"
#include "train/checkpoint.h"
#include "train/report.h"
#include "train/schedule.h"

namespace charlm {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Loads training and validation text into one vocabulary.
result<prepared_corpus> load_corpus(const train_config& cfg, const train_callbacks& cb) {
    auto text = load_text(cfg.corpus, cfg.text);
    if (!text) return text.err();
    if (cb.on_info) {
        const auto& s = text->stats;
        cb.on_info(fmt::format("corpus {}: {} bytes, {} tokens, {} distinct, encoding {}", cfg.corpus, s.bytes,
                               s.tokens, text->tokens.size(), s.encoding));
    }
    std::optional<tokenized_text> valid;
    if (!cfg.valid.empty()) {
        auto v = load_text(cfg.valid, cfg.text);
        if (!v) return v.err();
        valid = std::move(*v);
    }
    return prepare_corpus(std::move(*text), valid ? &*valid : nullptr, cfg.valid.empty() ? cfg.valid_fraction : 0,
                          cfg.min_count);
}

// Whether `name` is one of the files a run with output `stem` writes: <stem>, <stem>.best,
// <stem>.ckpt or <stem>.epoch<E>.ckpt.
bool is_output_name(const std::string& name, const std::string& stem) {
    if (name.compare(0, stem.size(), stem) != 0) return false;
    const std::string rest = name.substr(stem.size());
    if (rest.empty() || rest == ".best" || rest == ".ckpt") return true;
    if (rest.rfind(".epoch", 0) != 0 || rest.size() <= 11 || rest.compare(rest.size() - 5, 5, ".ckpt") != 0)
        return false;
    const std::string num = rest.substr(6, rest.size() - 11);
    return num.find_first_not_of("0123456789") == std::string::npos;
}

// A process killed while saving leaves its temporary file (<file>.tmp.<pid>) beside the file; the
// complete file is untouched. Removes those of the files this run writes (is_output_name) whose
// process is gone, and nothing else: `--out r4/m` leaves `r4/mynotes.txt.tmp.<pid>` alone.
void remove_stale_temporaries(const std::string& out) {
    namespace fs = std::filesystem;
    const fs::path base(out);
    const fs::path dir = base.has_parent_path() ? base.parent_path() : fs::path(".");
    const std::string stem = base.filename().string();
    std::error_code ec;
    std::vector<fs::path> stale;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        const auto at = name.rfind(".tmp.");
        if (at == std::string::npos || !is_output_name(name.substr(0, at), stem)) continue;
        const std::string pid = name.substr(at + 5);
        if (pid.empty() || pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) continue;
        if (::kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH) stale.push_back(e.path());
    }
    for (const auto& p : stale) fs::remove(p, ec);
}

// The epoch checkpoints (<out>.epoch<E>.ckpt) that --keep-last may prune: only the run's own. A
// fresh run starts with none; a resumed one finds those of its earlier part by the run id in
// their metadata (files of other runs under the same name are never touched).
class epoch_checkpoints {
public:
    epoch_checkpoints(const std::string& out, uint32_t keep, const std::string& run_id, bool resumed)
        : keep_(keep) {
        namespace fs = std::filesystem;
        if (keep == 0 || !resumed || out.empty()) return;
        const fs::path base(out);
        const fs::path dir = base.has_parent_path() ? base.parent_path() : fs::path(".");
        const std::string stem = base.filename().string();
        std::vector<std::pair<uint64_t, std::string>> found;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(dir, ec)) {
            const std::string name = e.path().filename().string();
            if (!is_output_name(name, stem) || name.rfind(stem + ".epoch", 0) != 0) continue;
            auto d = detail::read_checkpoint_data(e.path().string());
            if (d && !run_id.empty() && d->pos.run_id == run_id) found.emplace_back(d->pos.epoch, e.path().string());
        }
        std::sort(found.begin(), found.end());
        for (auto& f : found) own_.push_back(std::move(f.second));
    }
    // `path` was just written: keeps the `keep` newest of the run's own and removes the others.
    void written(const std::string& path) {
        std::erase(own_, path);
        own_.push_back(path);
        std::error_code ec;
        while (own_.size() > keep_) {
            std::filesystem::remove(own_.front(), ec);
            own_.erase(own_.begin());
        }
    }

private:
    size_t keep_;
    std::vector<std::string> own_;  // oldest first
};

// An id for a new run: the clock and the process, mixed.
std::string new_run_id() {
    uint64_t s = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) ^
                 (static_cast<uint64_t>(::getpid()) << 40);
    return fmt::format("{:016x}", splitmix64(s));
}

// Sample prefixes must be spelled with the training text's tokens: checked before the first step,
// with generate's message, rather than after an epoch of training.
status check_prefixes(const train_config& cfg, const vocabulary& vocab) {
    for (const auto& prefix : cfg.prefixes) {
        auto tokens = segment_utf8(prefix, cfg.text);
        if (!tokens) return tokens.err();
        std::string unknown;
        uint32_t count = 0;
        for (const auto& t : *tokens)
            if (!vocab.contains(t) && count++ < 10)
                unknown += fmt::format("{}'{}' ({})", unknown.empty() ? "" : ", ", t, describe_code_points(t));
        if (count > 0)
            return make_error(errc::input,
                              fmt::format("--prefix '{}' has {} token(s) the training text never has: {}{}; the model "
                                          "could not read it: choose a prefix written with the corpus's characters",
                                          prefix, count, unknown, count > 10 ? ", ..." : ""));
    }
    return {};
}

// The settings that decide the loss trajectory must be the checkpoint's when resuming.
status check_resumable(const train_config& cfg, const checkpoint_info& ck, const std::string& checksum) {
    const train_config& c = ck.config;
    auto differs = [&](const char* what, const std::string& now, const std::string& then) {
        return make_error(errc::usage, fmt::format("--resume {}: {} is {} in the checkpoint but {} now; a resumed run "
                                                   "keeps the settings it was started with",
                                                   cfg.resume, what, then, now));
    };
    const model_config &a = cfg.model, &b = c.model;
    auto output_layer = [](const model_config& m) {
        if (m.softmax == softmax_type::full) return std::string("a full softmax");
        std::string cut;
        for (uint32_t c : m.cutoffs) {
            if (!cut.empty()) cut += ',';
            cut += std::to_string(c);
        }
        return fmt::format("an adaptive softmax (cutoffs {}, div-value {:g})", cut.empty() ? "from the corpus" : cut,
                           m.div_value);
    };
    if (a.softmax != b.softmax || a.cutoffs != b.cutoffs || a.div_value != b.div_value)
        return differs("the output layer", output_layer(a), output_layer(b));
    if (a.cell != b.cell || a.layers != b.layers || a.hidden != b.hidden || a.embed != b.embed || a.dropout != b.dropout)
        return differs("the model", fmt::format("{} x {} {} embed {} dropout {:g}", a.layers, a.hidden,
                                                to_string(a.cell), a.embed, a.dropout),
                       fmt::format("{} x {} {} embed {} dropout {:g}", b.layers, b.hidden, to_string(b.cell), b.embed,
                                   b.dropout));
    if (cfg.batch != c.batch) return differs("--batch", std::to_string(cfg.batch), std::to_string(c.batch));
    if (cfg.steps != c.steps) return differs("--steps", std::to_string(cfg.steps), std::to_string(c.steps));
    if (cfg.scheme != c.scheme) return differs("--sampling", to_string(cfg.scheme), to_string(c.scheme));
    if (cfg.optimizer != c.optimizer) return differs("--optimizer", to_string(cfg.optimizer), to_string(c.optimizer));
    if (cfg.seed != c.seed) return differs("--seed", std::to_string(cfg.seed), std::to_string(c.seed));
    if (cfg.min_count != c.min_count) return differs("--min-count", std::to_string(cfg.min_count), std::to_string(c.min_count));
    if (cfg.valid != c.valid || cfg.valid_fraction != c.valid_fraction)
        return differs("the validation text", cfg.valid.empty() ? fmt::format("fraction {:g}", cfg.valid_fraction) : cfg.valid,
                       c.valid.empty() ? fmt::format("fraction {:g}", c.valid_fraction) : c.valid);
    const text_config &ta = cfg.text, &tb = c.text;
    if (ta.encoding != tb.encoding || ta.on_invalid != tb.on_invalid || ta.normalize != tb.normalize ||
        ta.unit != tb.unit || ta.lowercase != tb.lowercase)
        return differs("the text preprocessing", "different", "another");
    if (!ck.corpus_checksum.empty() && ck.corpus_checksum != checksum)
        return make_error(errc::input, fmt::format("--resume {}: the corpus '{}' has changed since the checkpoint was "
                                                   "written (checksum {} then, {} now); resuming needs the same text",
                                                   cfg.resume, cfg.corpus, ck.corpus_checksum, checksum));
    return {};
}

// Adaptive softmax: the cutoffs from the corpus unless given, checked against the vocabulary, and
// said (how much of the text each group covers).
status choose_cutoffs(model_config& mc, const prepared_corpus& corpus, const train_callbacks& cb) {
    std::vector<uint64_t> counts(mc.vocab, 0);
    for (size_t i = 0; i < corpus.train.size(); ++i) ++counts[corpus.train[i]];
    if (mc.cutoffs.empty()) {
        auto cut = default_cutoffs(counts);
        if (!cut) return cut.err();
        mc.cutoffs = std::move(*cut);
    }
    CHARLM_TRY(mc.validate());  // the cutoffs against the vocabulary size
    if (!cb.on_info) return {};
    std::string groups;
    uint64_t total = corpus.train.size(), from = 0;
    for (size_t k = 0; k <= mc.cutoffs.size(); ++k) {
        const uint32_t to = k < mc.cutoffs.size() ? mc.cutoffs[k] : mc.vocab;
        uint64_t n = 0;
        for (uint32_t i = static_cast<uint32_t>(from); i < to; ++i) n += counts[i];
        groups += fmt::format("{}{} {} tokens ({:.1f}% of the text)", k ? ", " : "",
                              k ? fmt::format("cluster {}", k) : std::string("head"), to - from,
                              total ? 100.0 * static_cast<double>(n) / static_cast<double>(total) : 0.0);
        from = to;
    }
    cb.on_info(fmt::format("adaptive softmax: {}", groups));
    return {};
}

// One training run: the corpus, the model and optimizer, where the run stands, and what it does at
// each point of the loop in train(). The schedule decides when; this class does it.
class training_run {
public:
    static result<std::unique_ptr<training_run>> start(const train_config& given, const train_callbacks& cb);

    bool done() const { return stop_ != stop_reason::none; }
    bool epoch_complete() const { return it_.position() == it_.batches_in_epoch(); }
    stop_reason stop_before_step() const { return sched_.stop_before_step(elapsed(), signal()); }
    status step();
    status after_step();
    status end_epoch();
    status stop_in_epoch(stop_reason why);
    train_outcome outcome();

private:
    training_run(const train_config& cfg, const train_callbacks& cb, prepared_corpus corpus, std::string checksum,
                 const model_config& mc)
        : cfg_(cfg),
          cb_(cb),
          corpus_(std::move(corpus)),
          checksum_(std::move(checksum)),
          model_(mc, cfg.text, corpus_.vocab, cfg.seed),
          session_(model_, cfg.steps, cfg.batch),
          evaluator_(model_),
          it_(corpus_.train, batch_config{cfg.batch, cfg.steps, cfg.scheme, cfg.seed}),
          sched_(cfg_, corpus_.valid.size() >= 2, cfg.time_budget_s, 0) {}

    status resume_from(const detail::checkpoint_data& ck);
    double elapsed() const { return seconds_since(t0_); }
    bool signal() const { return cb_.should_stop && cb_.should_stop(); }
    train_report report(bool end_of_epoch) const;
    void emit(train_report& r);
    status validate(train_report& r);
    detail::train_position position(uint64_t epoch, uint64_t batch, double lr, const loss_sum& epoch_so_far);
    training_summary summary() const;
    status save_files(bool model, bool best);
    status checkpoint(const detail::train_position& p, bool carried);
    status diverged(const std::string& why);

    train_config cfg_;  // the run's settings (a budget spent before a resumption dropped)
    const train_callbacks& cb_;
    prepared_corpus corpus_;
    std::string checksum_;
    language_model model_;
    training_session session_;     // the training shape, its carried state and gradients
    evaluation_session evaluator_;  // validation: its own shapes and state, the training state untouched
    std::unique_ptr<nn::optimizer> opt_;
    batch_iterator it_;
    minibatch mb_;
    detail::schedule sched_;
    detail::metrics_writer metrics_;
    std::unique_ptr<epoch_checkpoints> epoch_files_;
    train_outcome out_;
    std::string run_id_;
    uint32_t valid_streams_ = 1;

    uint64_t epoch_ = 0, step_ = 0;  // epoch in progress (0-based), optimizer steps done
    double lr_ = 0;
    loss_sum epoch_loss_, window_;   // this epoch's, since the last report
    uint64_t window_tokens_ = 0;     // tokens fed since the last report (padding included)
    double last_norm_ = 0;
    bool last_clipped_ = false;
    double first_loss_ = 0;          // the divergence reference: the run's first loss or ln V, the larger
    bool best_file_ours_ = false;    // <out>.best is this run's (or removed as another's)
    bool written_ = false;           // this run has written <out>
    stop_reason stop_ = stop_reason::none;
    std::string stop_detail_;        // as the last report said it
    clock_type::time_point t0_, last_report_, last_validation_;
};

result<std::unique_ptr<training_run>> training_run::start(const train_config& given, const train_callbacks& cb) {
    CHARLM_TRY(given.validate());
    std::optional<detail::checkpoint_data> resume;
    if (!given.resume.empty()) {
        auto d = detail::read_checkpoint_data(given.resume);
        if (!d) return d.err();
        resume = std::move(*d);
    }
    auto corpus = load_corpus(given, cb);
    if (!corpus) return corpus.err();
    // The text just read (standard input cannot be read twice: it has no checksum).
    result<std::string> checksum = std::string();
    if (given.corpus != "-") checksum = file_checksum(given.corpus);
    if (!checksum) return checksum.err();
    if (resume) CHARLM_TRY(check_resumable(given, resume->info, *checksum));

    const batch_config bc{given.batch, given.steps, given.scheme, given.seed};
    const uint64_t need = min_tokens_for_one_batch(bc);
    if (corpus->train.size() < need)
        return make_error(errc::input,
                          fmt::format("the training text of '{}' has {} tokens, fewer than the {} that one batch of "
                                      "--batch {} x --steps {} needs: use more text or a smaller --batch/--steps",
                                      given.corpus, corpus->train.size(), need, given.batch, given.steps));
    if (cb.on_info)
        cb.on_info(fmt::format("vocabulary {} tokens ({} folded into <unk>); train {} tokens, valid {} tokens{}",
                               corpus->vocab.size(), corpus->train_unk, corpus->train.size(), corpus->valid.size(),
                               corpus->valid_unk ? fmt::format(" ({} unknown)", corpus->valid_unk) : ""));
    CHARLM_TRY(check_prefixes(given, corpus->vocab));

    model_config mc = given.model;
    mc.vocab = corpus->vocab.size();
    if (mc.softmax == softmax_type::adaptive) CHARLM_TRY(choose_cutoffs(mc, *corpus, cb));
    std::unique_ptr<training_run> run(new training_run(given, cb, std::move(*corpus), *checksum, mc));
    training_run& r = *run;
    if (cb.on_info)
        cb.on_info(fmt::format("model {} x {} {} (embed {}{}), {} parameters", mc.layers, mc.hidden,
                               to_string(mc.cell), mc.embed,
                               mc.softmax == softmax_type::adaptive ? ", adaptive softmax" : "",
                               r.model_.parameter_count()));
    r.opt_ = std::make_unique<nn::optimizer>(
        given.optimizer == optimizer_kind::adam ? nn::optimizer_kind::adam : nn::optimizer_kind::sgd,
        nn::to_buffers(r.session_.params()));
    r.lr_ = given.lr;
    r.run_id_ = new_run_id();
    if (resume) CHARLM_TRY(r.resume_from(*resume));
    r.sched_ = detail::schedule(r.cfg_, r.corpus_.valid.size() >= 2, r.cfg_.time_budget_s,
                                resume ? resume->pos.stale_validations : 0);

    if (!given.out.empty()) remove_stale_temporaries(given.out);
    CHARLM_TRY(r.metrics_.open(given.metrics, resume.has_value()));
    r.epoch_files_ = std::make_unique<epoch_checkpoints>(given.out, given.keep_last, r.run_id_, resume.has_value());
    r.valid_streams_ = std::max<uint32_t>(1, std::min<uint64_t>(given.batch, r.corpus_.valid.size() / 64 + 1));
    r.out_.vocab_size = r.corpus_.vocab.size();
    if (!resume) r.it_.start_epoch(0);
    const double before = resume ? resume->pos.elapsed_s : 0.0;
    r.t0_ = clock_type::now() - std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(before));
    r.last_report_ = r.last_validation_ = clock_type::now();
    return run;
}

// Continues the checkpoint's run: weights, optimizer, position; a time budget already spent is
// dropped when --epochs asks for more (said so), refused when nothing else would end the run.
status training_run::resume_from(const detail::checkpoint_data& ck) {
    if (ck.info.config.model.vocab != model_.config().vocab)
        return make_error(errc::input, fmt::format("--resume {}: the corpus gives a vocabulary of {} tokens but the "
                                                   "checkpoint has {}",
                                                   cfg_.resume, model_.config().vocab, ck.info.config.model.vocab));
    detail::train_position pos = ck.pos;
    if (cfg_.epochs != 0 && pos.epoch >= cfg_.epochs)
        return make_error(errc::usage, fmt::format("--resume {}: the run already completed its {} epochs; pass a "
                                                   "larger --epochs to train on",
                                                   cfg_.resume, pos.epoch));
    if (cfg_.time_budget_s > 0 && pos.elapsed_s >= cfg_.time_budget_s) {
        if (cfg_.epochs == 0)
            return make_error(errc::usage, fmt::format("--resume {}: the run already spent its time budget of {} "
                                                       "({} trained); --time-budget counts the whole run: pass a "
                                                       "larger one, or --epochs N to train up to epoch N",
                                                       cfg_.resume, detail::format_duration(cfg_.time_budget_s),
                                                       detail::format_duration(pos.elapsed_s)));
        if (cb_.on_info)
            cb_.on_info(fmt::format("the time budget of {} was spent before the checkpoint; this run trains up to "
                                    "epoch {} without one (--time-budget counts the whole run: give a larger one "
                                    "to limit it)",
                                    detail::format_duration(cfg_.time_budget_s), cfg_.epochs));
        cfg_.time_budget_s = 0;
    }
    // An --lr given on resumption scales the schedule; unchanged, the factor is exactly 1.
    pos.lr = pos.lr * (static_cast<double>(cfg_.lr) / static_cast<double>(ck.info.config.lr));
    const bool carried = cfg_.scheme == sampling::consecutive && pos.batch > 0;
    CHARLM_TRY(detail::restore_checkpoint(cfg_.resume, model_, session_, *opt_, pos, carried));
    if (cb_.on_info)
        cb_.on_info(fmt::format("resuming from {}: epoch {}, batch {}, step {}", cfg_.resume, pos.epoch + 1,
                                pos.batch, pos.step));
    epoch_ = pos.epoch;
    step_ = pos.step;
    lr_ = pos.lr;
    out_.best_valid_ppl = pos.best_valid_ppl;
    out_.best_epoch = pos.best_epoch;
    if (!pos.run_id.empty()) run_id_ = pos.run_id;
    best_file_ours_ = ck.info.config.out == cfg_.out;
    it_.start_epoch(epoch_);
    if (pos.batch > 0) {
        it_.seek(pos.batch);
        epoch_loss_ = {pos.epoch_nll, pos.epoch_tokens};
    }
    return {};
}

status training_run::step() {
    it_.next(mb_);
    if (mb_.reset_state) session_.reset_state();
    const loss_sum l = session_.train_step(mb_.inputs.data(), mb_.targets.data());
    const double norm = nn::global_norm(opt_->buffers());
    const double loss = l.nll / static_cast<double>(std::max<uint64_t>(1, l.tokens));
    if (first_loss_ == 0) first_loss_ = std::max(loss, std::log(static_cast<double>(corpus_.vocab.size())));
    window_.nll += l.nll;  // counted before the checks, so a divergence's report shows the step
    window_.tokens += l.tokens;
    if (!std::isfinite(l.nll) || !std::isfinite(norm))
        return diverged(fmt::format("the {} is not finite", std::isfinite(l.nll) ? "gradient norm" : "loss"));
    // char-rnn's rule: a loss three times the first is an explosion, long before it overflows.
    if (loss > 3 * first_loss_)
        return diverged(fmt::format("the loss rose to {:.4g} nats a token, more than 3 times the first step's "
                                    "{:.4g}",
                                    loss, first_loss_));
    last_clipped_ = cfg_.clip > 0 && nn::clip_global_norm(opt_->buffers(), cfg_.clip, norm);
    last_norm_ = norm;
    opt_->step(static_cast<float>(lr_));
    if (cfg_.scheme == sampling::consecutive) session_.carry_state();
    ++step_;
    epoch_loss_.nll += l.nll;
    epoch_loss_.tokens += l.tokens;
    window_tokens_ += static_cast<uint64_t>(cfg_.steps) * cfg_.batch;
    if (cb_.on_progress) {
        train_progress p;
        p.batch = it_.position();
        p.batches = it_.batches_in_epoch();
        p.loss = loss;
        p.chars_per_sec = static_cast<double>(window_tokens_) / std::max(1e-9, seconds_since(last_report_));
        p.epoch_left_s = static_cast<double>((p.batches - p.batch) * cfg_.steps * cfg_.batch) /
                         std::max(1e-9, p.chars_per_sec);
        if (cfg_.time_budget_s > 0) p.budget_left_s = std::max(0.0, cfg_.time_budget_s - elapsed());
        cb_.on_progress(p);
    }
    return {};
}

// Inside an epoch (its last batch leaves this to end_epoch): the reports and validations due.
status training_run::after_step() {
    if (epoch_complete()) return {};
    if (sched_.validation_due(step_, seconds_since(last_validation_))) {
        train_report r = report(false);
        CHARLM_TRY(validate(r));
        if (r.best) CHARLM_TRY(save_files(false, true));
        if (!sched_.out_of_patience()) {
            emit(r);
            return {};
        }
        stop_ = stop_reason::patience;
        r.stop = stop_;
        r.stop_detail = sched_.describe(stop_, epoch_ + 1, it_.position(), it_.batches_in_epoch());
        emit(r);
        CHARLM_TRY(save_files(true, false));
        return checkpoint(position(epoch_, it_.position(), lr_, epoch_loss_), cfg_.scheme == sampling::consecutive);
    }
    if (sched_.report_due(step_, seconds_since(last_report_))) {
        train_report r = report(false);
        emit(r);
    }
    return {};
}

status training_run::end_epoch() {
    const uint64_t done = epoch_ + 1;  // 1-based, complete
    stop_reason why = sched_.stop_at_epoch_end(done, elapsed(), signal());
    train_report r = report(true);
    CHARLM_TRY(validate(r));
    if (why == stop_reason::none && sched_.out_of_patience()) why = stop_reason::patience;
    const bool last = why != stop_reason::none;
    if (last) {
        r.stop = why;
        r.stop_detail = sched_.describe(why, done, 0, it_.batches_in_epoch());
    }
    emit(r);
    out_.epochs = done;
    out_.train_ppl = epoch_loss_.perplexity();
    const double next_lr = lr_ * cfg_.lr_decay;
    CHARLM_TRY(save_files(true, r.best));
    if (sched_.checkpoint_due(done, last)) CHARLM_TRY(checkpoint(position(done, 0, next_lr, {}), false));
    if (cb_.on_sample && sched_.samples_due(done, last)) {
        for (const auto& prefix : cfg_.prefixes) {
            auto text = generate_text(model_, prefix, cfg_.sample_length, cfg_.sample_temperature, cfg_.seed + epoch_);
            if (!text) return text.err();
            cb_.on_sample(prefix, *text);
        }
    }
    lr_ = next_lr;
    if (last) {
        stop_ = why;
        return {};
    }
    epoch_ = done;
    epoch_loss_ = {};
    it_.start_epoch(epoch_);
    return {};
}

// Stopped between two steps of an epoch: by a signal (the user wants out: no validation) or by the
// budget (validated, so the run ends with its figure). The checkpoint continues from this batch.
status training_run::stop_in_epoch(stop_reason why) {
    stop_ = why;
    if (it_.position() == 0 && epoch_ > 0) {
        // Right after an epoch's end, whose files are written: its figures again, with the reason.
        train_report r = report(true);
        r.epoch = epoch_;
        r.train_ppl = out_.train_ppl;
        r.valid_ppl = out_.valid_ppl;
        r.bpc = std::log2(r.valid_ppl ? *r.valid_ppl : r.train_ppl);
        r.stop = why;
        r.stop_detail = sched_.describe(why, epoch_, 0, it_.batches_in_epoch());
        emit(r);
        out_.epochs = epoch_;
        return {};
    }
    train_report r = report(false);
    if (why == stop_reason::budget) CHARLM_TRY(validate(r));
    r.stop = why;
    r.stop_detail = sched_.describe(why, epoch_ + 1, it_.position(), it_.batches_in_epoch());
    emit(r);
    out_.interrupted = why == stop_reason::signal;
    out_.epochs = epoch_;
    out_.train_ppl = epoch_loss_.perplexity();
    CHARLM_TRY(save_files(true, r.best));
    return checkpoint(position(epoch_, it_.position(), lr_, epoch_loss_), cfg_.scheme == sampling::consecutive);
}

train_outcome training_run::outcome() {
    out_.steps = step_;
    out_.seconds = elapsed();
    out_.stop = stop_;
    out_.stop_detail = stop_detail_;
    return out_;
}

// The one report builder: the loss since the last report inside an epoch, the whole epoch's at its end.
train_report training_run::report(bool end_of_epoch) const {
    train_report r;
    r.epoch = epoch_ + 1;
    r.step = step_;
    r.end_of_epoch = end_of_epoch;
    r.train_ppl = (end_of_epoch ? epoch_loss_ : window_).perplexity();
    r.bpc = std::log2(r.train_ppl);
    r.grad_norm = last_norm_;
    r.clipped = last_clipped_;
    r.lr = lr_;
    r.chars_per_sec = static_cast<double>(window_tokens_) / std::max(1e-9, seconds_since(last_report_));
    r.elapsed_s = elapsed();
    return r;
}

void training_run::emit(train_report& r) {
    if (r.stop != stop_reason::none) stop_detail_ = r.stop_detail;
    if (cb_.on_report) cb_.on_report(r);
    metrics_.write(r);
    window_ = {};
    window_tokens_ = 0;
    last_report_ = clock_type::now();
}

// Validation over the whole validation text (its own session: the training state stays as it is);
// the best so far, patience and the plateau rate follow from it.
status training_run::validate(train_report& r) {
    if (corpus_.valid.size() < 2) return {};
    const loss_sum v = evaluator_.evaluate(corpus_.valid, valid_streams_, cfg_.steps);
    last_validation_ = clock_type::now();
    const double ppl = v.perplexity();
    if (!std::isfinite(ppl)) return diverged("the validation perplexity is not finite");
    r.valid_ppl = ppl;
    r.bpc = std::log2(ppl);
    r.best = sched_.record_validation(ppl, out_.best_valid_ppl);
    if (r.best) {
        out_.best_valid_ppl = ppl;
        out_.best_epoch = epoch_ + 1;
    }
    out_.valid_ppl = ppl;
    lr_ = sched_.lr_after_validation(lr_, r.best);
    return {};
}

// Where the run stands, to continue in `epoch` after `batch` of its batches.
detail::train_position training_run::position(uint64_t epoch, uint64_t batch, double lr,
                                              const loss_sum& epoch_so_far) {
    detail::train_position p;
    p.epoch = epoch;
    p.batch = batch;
    p.step = step_;
    p.lr = lr;
    p.dropout_calls = session_.dropout_calls();
    p.best_valid_ppl = out_.best_valid_ppl;
    p.best_epoch = out_.best_epoch;
    p.elapsed_s = elapsed();
    p.epoch_nll = epoch_so_far.nll;
    p.epoch_tokens = epoch_so_far.tokens;
    p.stale_validations = sched_.stale_validations();
    p.run_id = run_id_;
    return p;
}

training_summary training_run::summary() const {
    training_summary ts;
    ts.corpus = cfg_.corpus;
    ts.corpus_checksum = checksum_;
    ts.epochs = out_.epochs;
    ts.steps = step_;
    ts.train_ppl = out_.train_ppl;
    ts.valid_ppl = out_.valid_ppl;
    return ts;
}

// <out> when `model`, <out>.best when `best`. A <out>.best of another run is removed at this run's
// first write: it would sit beside a different model.
status training_run::save_files(bool model, bool best) {
    if (cfg_.out.empty()) return {};
    const std::string best_path = cfg_.out + ".best";
    if (model) {
        CHARLM_TRY(save_model(cfg_.out, model_, summary()));
        written_ = true;
    }
    if (best) {
        CHARLM_TRY(save_model(best_path, model_, summary()));
    } else if (!best_file_ours_) {
        std::error_code ec;
        if (std::filesystem::remove(best_path, ec) && cb_.on_info)
            cb_.on_info(fmt::format("removed {}: it was another run's best model", best_path));
    }
    best_file_ours_ = true;
    return {};
}

// Checkpoint at `p` (and, with --keep-last, a copy named after the epoch it completes).
status training_run::checkpoint(const detail::train_position& p, bool carried) {
    if (cfg_.out.empty()) return {};
    const std::string ckpt = cfg_.out + ".ckpt";
    if (cfg_.keep_last > 0 && p.batch == 0) {
        const std::string copy = fmt::format("{}.epoch{}.ckpt", cfg_.out, p.epoch);
        CHARLM_TRY(detail::save_checkpoint(copy, model_, session_, *opt_, summary(), cfg_, p, carried));
        epoch_files_->written(copy);
    }
    CHARLM_TRY(detail::save_checkpoint(ckpt, model_, session_, *opt_, summary(), cfg_, p, carried));
    out_.checkpoint = ckpt;
    return {};
}

// Divergence ends the run with an error; the files written before it stay as they were.
status training_run::diverged(const std::string& why) {
    stop_ = stop_reason::divergence;
    train_report r = report(false);
    r.stop = stop_;
    r.stop_detail = sched_.describe(stop_, epoch_ + 1, it_.position(), it_.batches_in_epoch());
    emit(r);
    return make_error(errc::numeric,
                      fmt::format("training diverged at step {} (epoch {}): {}. Try a lower --lr (now {:g}) or a "
                                  "smaller --clip (now {:g}); {}",
                                  step_ + 1, epoch_ + 1, why, lr_, cfg_.clip,
                                  cfg_.out.empty() ? std::string("no model file was written")
                                  : written_       ? fmt::format("'{}' holds the last good model", cfg_.out)
                                                   : fmt::format("this run wrote no model: files at '{}' are as "
                                                                 "they were",
                                                                 cfg_.out)));
}

}  // namespace

result<std::vector<uint32_t>> default_cutoffs(const std::vector<uint64_t>& counts_by_id) {
    constexpr uint32_t k_min_group = 8;
    const auto V = static_cast<uint32_t>(counts_by_id.size());
    uint64_t total = 0;
    for (uint64_t c : counts_by_id) total += c;
    // The smallest id count whose tokens cover `share` of the text.
    auto covering = [&](double share) {
        uint64_t acc = 0;
        uint32_t k = 0;
        while (k < V && static_cast<double>(acc) < share * static_cast<double>(total)) acc += counts_by_id[k++];
        return k;
    };
    // 80%: on tang_poems_3mb_simplified (LSTM 1 x 256, 3 epochs) heads of 75/80/85% gave validation
    // perplexity 184.4/181.5/182.3 against 183.5 for the full softmax, at 3.6/3.4/3.2x its speed.
    const uint32_t head = std::max(covering(0.80), k_min_group);
    if (V < head + k_min_group)
        return make_error(errc::usage, fmt::format("--softmax adaptive: the vocabulary ({} tokens) is too small to "
                                                   "split into a head and clusters; use --softmax full",
                                                   V));
    std::vector<uint32_t> cut{head};
    const uint32_t second = covering(0.98);
    if (second >= head + k_min_group && V >= second + k_min_group) cut.push_back(second);
    return cut;
}

double loss_sum::perplexity() const { return tokens ? std::exp(nll / static_cast<double>(tokens)) : NAN; }

result<train_outcome> train(const train_config& cfg, const train_callbacks& cb) {
    auto started = training_run::start(cfg, cb);
    if (!started) return started.err();
    training_run& run = **started;
    while (!run.done()) {
        if (run.epoch_complete()) {
            CHARLM_TRY(run.end_epoch());  // validation, report, files, samples; may end the run
            continue;
        }
        if (const stop_reason why = run.stop_before_step(); why != stop_reason::none) {
            CHARLM_TRY(run.stop_in_epoch(why));  // the files and a checkpoint where it stands
            break;
        }
        CHARLM_TRY(run.step());        // one minibatch: forward, backward, clipping, update
        CHARLM_TRY(run.after_step());  // progress, and the reports and validations that are due
    }
    return run.outcome();
}

}  // namespace charlm
