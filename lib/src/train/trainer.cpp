// The training loop: corpus -> vocabulary -> model -> epochs of minibatches with truncated BPTT,
// clipping and the optimizer. Here: setting a run up (corpus, checks, model, resumption) and
// train(), the loop; what each point of it does is in run.cpp, when in schedule.cpp. Not here:
// the layers (nn/), the file format (io/), the report's text (report.cpp), printing (app/).
#include <fmt/core.h>

#include <cmath>
#include <filesystem>

#include "charlm/files.hpp"
#include "charlm/options.hpp"
#include "charlm/model_file.hpp"
#include "charlm/sample.hpp"
#include "charlm/script.hpp"
#include "charlm/train.hpp"
#include "train/run.h"

namespace charlm {

namespace {

// The --valid text as the model reads it: in the other Chinese script than the corpus's, converted
// to the corpus's (as eval reads a text), or nearly every character would be unknown and the
// validation figure meaningless.
result<tokenized_text> load_valid(const train_config& cfg, text_script corpus_script, const train_callbacks& cb,
                                  const read_progress& progress) {
    auto v = load_text(cfg.valid, cfg.text, progress);
    if (!v || cfg.text.convert != script_conversion::none) return v;
    auto measured = measure_script(v->tokens, v->counts);
    if (!measured) return measured.err();
    const script_conversion c = conversion_between(measured->script, corpus_script);
    if (c == script_conversion::none) return v;
    text_config tc = cfg.text;
    tc.convert = c;
    if (cb.on_info)
        cb.on_info(fmt::format("validation text {} is in {} characters: read as {}, the corpus's ({})", cfg.valid,
                               to_string(measured->script), to_string(corpus_script), to_string(c)));
    return load_text(cfg.valid, tc, progress);
}

// --valid-tokens: validations read the first `limit` tokens of the validation text (0: all); the
// unknown count is of those kept.
void keep_valid_tokens(prepared_corpus& corpus, uint64_t limit) {
    if (limit == 0 || corpus.valid.size() <= limit) return;
    corpus.valid.truncate(limit);
    corpus.valid.shrink_to_fit();
    corpus.valid_unk = 0;
    for (size_t k = 0; k < corpus.valid.size(); ++k) corpus.valid_unk += corpus.valid[k] == vocabulary::unk_id;
}

// Loads training and validation text into one vocabulary; `script` gets the training text's.
result<prepared_corpus> load_corpus(const train_config& cfg, const train_callbacks& cb, text_script& script) {
    auto progress = [&cb](const std::string& path) -> read_progress {
        if (!cb.on_reading) return {};
        return [&cb, path](uint64_t read, uint64_t total) { cb.on_reading(path, read, total); };
    };
    auto text = load_text(cfg.corpus, cfg.text, progress(cfg.corpus));
    if (!text) return text.err();
    auto measured = measure_script(text->tokens, text->counts);
    if (!measured) return measured.err();
    script = measured->script;
    if (cb.on_info) {
        const auto& s = text->stats;
        cb.on_info(fmt::format("corpus {}: {} bytes, {} tokens, {} distinct, encoding {}, script {}{}", cfg.corpus,
                               s.bytes, s.tokens, text->tokens.size(), s.encoding, to_string(script),
                               cfg.text.convert == script_conversion::none
                                   ? ""
                                   : fmt::format(" (converted {} as read)", to_string(cfg.text.convert))));
    }
    std::optional<tokenized_text> valid;
    if (!cfg.valid.empty()) {
        auto v = load_valid(cfg, script, cb, progress(cfg.valid));
        if (!v) return v.err();
        valid = std::move(*v);
    }
    return prepare_corpus(std::move(*text), valid ? &*valid : nullptr, cfg.valid.empty() ? cfg.valid_fraction : 0,
                          cfg.min_count);
}

// Sample prefixes must be spelled with the training text's tokens: checked before the first step,
// with generate's message, rather than after an epoch of training.
status check_prefixes(const train_config& cfg, const vocabulary& vocab) {
    for (const auto& prefix : cfg.prefixes) {
        auto tokens = segment_utf8(prefix, cfg.text);
        if (!tokens) return tokens.err();
        if (const unknown_tokens u = find_unknown_tokens(*tokens, vocab); u.count > 0)
            return make_error(errc::usage,
                              fmt::format("--prefix '{}' has {} token(s) the training text never has: {}; the model "
                                          "could not read it: choose a prefix written with the corpus's characters",
                                          prefix, u.count, u.listed));
    }
    return {};
}

// The files a run reads and writes are different files: --metrics naming <out>.best, or --out
// naming the corpus, would destroy one with the other.
status check_distinct_files(const train_config& cfg) {
    namespace fs = std::filesystem;
    const std::pair<std::string, std::string> files[] = {
        {"--out", cfg.out},
        {"--out's .best", cfg.out.empty() ? "" : cfg.out + ".best"},
        {"--out's .ckpt", cfg.out.empty() ? "" : cfg.out + ".ckpt"},
        {"--metrics", cfg.metrics},
        {"--corpus", cfg.corpus == "-" ? "" : cfg.corpus},
        {"--valid", cfg.valid == "-" ? "" : cfg.valid}};
    auto same = [](const std::string& a, const std::string& b) {
        std::error_code ec;
        if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
        return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
    };
    for (size_t i = 0; i < std::size(files); ++i)
        for (size_t j = i + 1; j < std::size(files); ++j)
            if (!files[i].second.empty() && !files[j].second.empty() && same(files[i].second, files[j].second) &&
                !(files[i].first == "--corpus" && files[j].first == "--valid"))
                return make_error(errc::usage, fmt::format("{} and {} are the same file ('{}'): one would overwrite "
                                                           "the other; choose different paths",
                                                           files[i].first, files[j].first, files[j].second));
    return {};
}

// The settings that act on validation do nothing without a validation text: said, not ignored.
void warn_without_validation(const train_config& cfg, bool has_valid, const train_callbacks& cb) {
    if (has_valid || !cb.on_warning) return;
    std::string unused;
    auto add = [&](bool set, const char* name) {
        if (set) unused += fmt::format("{}{}", unused.empty() ? "" : ", ", name);
    };
    add(cfg.patience > 0, "--patience");
    add(cfg.valid_every_steps > 0 || cfg.valid_every_s > 0, "--valid-every");
    add(cfg.lr_plateau != 1.0f, "--lr-plateau");
    if (!unused.empty())
        cb.on_warning(fmt::format("{} {} no effect: there is no validation text (--valid-fraction is 0 or leaves "
                                  "too little of the corpus); give --valid FILE or a --valid-fraction above 0",
                                  unused, unused.find(',') == std::string::npos ? "has" : "have"));
}

// The settings that decide the loss trajectory (on_resume::fixed in the option table) must be
// the checkpoint's when resuming, and the corpus the same text.
status check_resumable(const train_config& cfg, const checkpoint_info& ck, const std::string& checksum,
                       const std::string& valid_checksum) {
    CHARLM_TRY(check_unchanged(train_options(), cfg, ck.config, cfg.resume));
    if (!ck.corpus_checksum.empty() && ck.corpus_checksum != checksum)
        return make_error(errc::input, fmt::format("--resume {}: the corpus '{}' has changed since the checkpoint was "
                                                   "written (checksum {} then, {} now); resuming needs the same text",
                                                   cfg.resume, cfg.corpus, ck.corpus_checksum, checksum));
    // A best model is the best on one validation text: another text's figures cannot be compared.
    if (!ck.valid_checksum.empty() && ck.valid_checksum != valid_checksum)
        return make_error(errc::input, fmt::format("--resume {}: the validation text '{}' has changed since the "
                                                   "checkpoint was written (checksum {} then, {} now); its best "
                                                   "perplexity could not be compared with this text's: resume with "
                                                   "the same --valid file, or start a new run",
                                                   cfg.resume, cfg.valid, ck.valid_checksum,
                                                   valid_checksum.empty() ? "none" : valid_checksum));
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

}  // namespace

// Sets a run up: the corpus, the checks that need it, the model, the resumed position.
result<std::unique_ptr<detail::training_run>> detail::training_run::start(const train_config& given,
                                                                          const train_callbacks& cb,
                                                                          communicator* world) {
    CHARLM_TRY(given.validate());
    for (const std::string* f : {&given.out, &given.metrics}) CHARLM_TRY(check_output_dir(*f));  // before any work
    CHARLM_TRY(check_distinct_files(given));
    const auto ranks = static_cast<uint32_t>(world->size());
    if (given.batch % ranks != 0)
        return make_error(errc::usage, fmt::format("--batch {} does not divide among {} processes (mpirun -np {}): "
                                                   "each takes an equal share of the streams; choose a multiple "
                                                   "of {}",
                                                   given.batch, ranks, ranks, ranks));
    const bool rank0 = world->rank() == 0;
    std::optional<detail::checkpoint_data> resume;
    if (!given.resume.empty()) {
        auto d = detail::read_checkpoint_data(given.resume);
        if (!d) return d.err();
        resume = std::move(*d);
    }
    train_config cfg = given;  // with the text's measured script, recorded in the model's text settings
    auto corpus = load_corpus(given, cb, cfg.text.script);
    if (!corpus) return corpus.err();
    // The text just read (standard input cannot be read twice: it has no checksum); rank 0's.
    result<std::string> checksum = std::string();
    if (given.corpus != "-" && rank0) checksum = file_checksum(given.corpus);
    if (!checksum) return checksum.err();
    result<std::string> valid_checksum = std::string();
    if (!given.valid.empty() && given.valid != "-" && rank0) valid_checksum = file_checksum(given.valid);
    if (!valid_checksum) return valid_checksum.err();
    if (resume && rank0) CHARLM_TRY(check_resumable(given, resume->info, *checksum, *valid_checksum));

    const batch_config bc{given.batch, given.steps, given.scheme, given.seed};
    const uint64_t need = min_tokens_for_one_batch(bc);
    if (corpus->train.size() < need)
        return make_error(errc::input,
                          fmt::format("the training text of '{}' has {} tokens, fewer than the {} that one batch of "
                                      "--batch {} x --steps {} needs: use more text or a smaller --batch/--steps",
                                      given.corpus, corpus->train.size(), need, given.batch, given.steps));
    const uint64_t held_out = corpus->valid.size();
    keep_valid_tokens(*corpus, given.valid_tokens);
    if (cb.on_info)
        cb.on_info(fmt::format("vocabulary {} tokens ({} folded into <unk>); train {} tokens, valid {} tokens{}{}",
                               corpus->vocab.size(), corpus->train_unk, corpus->train.size(), corpus->valid.size(),
                               corpus->valid.size() < held_out
                                   ? fmt::format(" (the first of {} held out: --valid-tokens)", held_out)
                                   : "",
                               corpus->valid_unk ? fmt::format(" ({} unknown)", corpus->valid_unk) : ""));
    CHARLM_TRY(check_prefixes(given, corpus->vocab));
    if (rank0) warn_without_validation(given, corpus->valid.size() >= 2, cb);

    model_config mc = given.model;
    mc.vocab = corpus->vocab.size();
    if (mc.softmax == softmax_type::adaptive) CHARLM_TRY(choose_cutoffs(mc, *corpus, cb));
    std::unique_ptr<training_run> run(new training_run(cfg, cb, *world, std::move(*corpus), *checksum, mc));
    training_run& r = *run;
    r.valid_checksum_ = *valid_checksum;
    if (cb.on_info)
        cb.on_info(fmt::format("model {} x {} {} (embed {}{}), {} parameters", mc.layers, mc.hidden,
                               to_string(mc.cell), mc.embed,
                               mc.softmax == softmax_type::adaptive ? ", adaptive softmax" : "",
                               r.model_.parameter_count()));
    // A model far larger than its text can memorize it (nanoGPT users meet this on a tiny file).
    if (cb.on_warning && rank0 && r.model_.parameter_count() > 10 * r.corpus_.train.size())
        cb.on_warning(fmt::format("the model has {} parameters for {} training tokens ({:.0f} per token): it can learn "
                                  "the text by heart rather than its patterns; use a smaller model (--hidden, "
                                  "--layers, --embed), dropout (--dropout 0.2) or more text, and watch the validation "
                                  "perplexity",
                                  r.model_.parameter_count(), r.corpus_.train.size(),
                                  static_cast<double>(r.model_.parameter_count()) /
                                      static_cast<double>(std::max<uint64_t>(1, r.corpus_.train.size()))));
    r.set_up_optimizer(mc);
    r.lr_ = given.lr;
    r.run_id_ = new_run_id();
    const bool carried = resume && given.scheme == sampling::consecutive && resume->pos.batch > 0;
    training_session::recurrent_state carried_state;
    if (resume) CHARLM_TRY(r.resume_from(*resume, carried, carried_state));
    r.first_step_ = r.step_;
    CHARLM_TRY(r.sync_start(carried ? &carried_state : nullptr));
    r.sched_ = detail::schedule(r.cfg_, r.corpus_.valid.size() >= 2, resume ? resume->pos.stale_validations : 0);
    if (resume) r.continue_schedule(*resume);
    CHARLM_TRY(r.open_files_and_start_clock(resume ? &resume->pos : nullptr));
    return run;
}

// The optimizer over the session's parameters and, with several ranks or --deterministic-reduce,
// the data-parallel step.
void detail::training_run::set_up_optimizer(const model_config& mc) {
    opt_ = std::make_unique<nn::optimizer>(
        cfg_.optimizer == optimizer_kind::adam ? nn::optimizer_kind::adam : nn::optimizer_kind::sgd, session_.params());
    const auto ranks = static_cast<uint32_t>(world_.size());
    if (ranks == 1 && !cfg_.deterministic_reduce) return;
    dp_ = std::make_unique<data_parallel>(world_, cfg_, mc);
    dp_->bind(session_);
    if (cb_.on_info)
        cb_.on_info(fmt::format("data-parallel: {} process{} x {} of the {} streams of a batch{}", ranks,
                                ranks > 1 ? "es" : "", cfg_.batch / ranks, cfg_.batch,
                                cfg_.deterministic_reduce ? "; gradients summed stream by stream in a fixed order "
                                                            "(--deterministic-reduce)"
                                                          : ", one all-reduce per step"));
}

// Once the weights are in place: rank 0's files, the validation's streams, the first epoch and the
// clock (a resumed run's continues from the checkpoint's `resumed` position).
status detail::training_run::open_files_and_start_clock(const train_position* resumed) {
    if (rank0()) {
        if (!cfg_.out.empty()) remove_stale_temporaries(cfg_.out);
        CHARLM_TRY(metrics_.open(cfg_.metrics, resumed != nullptr, resumed ? resumed->step : 0));
        epoch_files_ = std::make_unique<epoch_checkpoints>(cfg_.out, cfg_.keep_last, run_id_, resumed != nullptr);
    }
    valid_streams_ = std::max<uint32_t>(1, std::min<uint64_t>(cfg_.batch, corpus_.valid.size() / 64 + 1));
    out_.vocab_size = corpus_.vocab.size();
    if (!resumed) it_.start_epoch(0);
    const double before = resumed ? resumed->elapsed_s : 0.0;
    t0_ = clock_type::now() - std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(before));
    agreed_.elapsed_s = before;
    last_report_ = last_validation_ = clock_type::now();
    return {};
}

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

std::vector<std::string> newer_than_checkpoint(const std::string& out, const checkpoint_info& ck) {
    std::vector<std::string> newer;
    if (out.empty()) return newer;
    // Only a checkpoint older than the run's latest (<out>.ckpt) is an older point of the run: from
    // the latest, a later <out> (a kill between the two writes, an epoch --checkpoint-every skipped)
    // is the work the resumed run does again.
    const std::string latest = out + ".ckpt";
    if (!std::filesystem::exists(latest)) return newer;
    auto at = read_model_summary(latest);
    if (at && at->steps <= ck.step) return newer;
    newer.push_back(at ? fmt::format("{} (step {})", latest, at->steps) : fmt::format("{} (not a charlm model file)", latest));
    if (auto model = read_model_summary(out); model && model->steps > ck.step)
        newer.insert(newer.begin(), fmt::format("{} (step {})", out, model->steps));
    return newer;
}

double loss_sum::perplexity() const { return tokens ? std::exp(nll / static_cast<double>(tokens)) : NAN; }

result<train_outcome> train(const train_config& cfg, const train_callbacks& cb, communicator* world) {
    const auto alone = single_process();
    auto started = detail::training_run::start(cfg, cb, world ? world : alone.get());
    if (!started) return started.err();
    detail::training_run& run = **started;
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
