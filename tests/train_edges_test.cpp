// Issue 24: the edges of a training run — where it stops (budget, patience, a signal, a
// validation, saving) and where it resumes, the files it writes and the options that decide them.
// Each test failed on the code before the fix it names. Library runs where a stop must land on an
// exact point (a signal from should_stop at a chosen poll), the real binary for what a user sees.
#include <gtest/gtest.h>
#include <omp.h>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "charlm/model_file.hpp"
#include "charlm/sample.hpp"
#include "charlm/train.hpp"
#include "cli_support.h"

namespace charlm::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string toy_text() {
    std::string s;
    const char* lines[] = {"spring rain on the river\n", "autumn moon over the hills\n", "a crane in the pines\n",
                           "snow on the far mountain\n"};
    for (int i = 0; i < 160; ++i) s += lines[(i * 7 + i / 3) % 4];
    return s;
}

// A tiny run's arguments; an option in `more` replaces the base's.
std::vector<std::string> tiny(const std::string& corpus, std::vector<std::string> more) {
    const std::vector<std::pair<std::string, std::string>> base = {
        {"--cell", "gru"}, {"--hidden", "32"}, {"--embed", "8"}, {"--batch", "4"},
        {"--steps", "16"}, {"--threads", "1"}, {"--lr", "0.01"}};
    std::vector<std::string> a = {"train", "--corpus", corpus};
    for (const auto& [k, v] : base)
        if (std::find(more.begin(), more.end(), k) == more.end()) a.insert(a.end(), {k, v});
    a.insert(a.end(), more.begin(), more.end());
    return a;
}

// A fresh directory under the scratch directory.
std::string fresh_dir(const std::string& name) {
    const std::string d = scratch_dir() + "/" + name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

std::vector<json> metrics_records(const std::string& path) {
    std::vector<json> out;
    std::istringstream in(slurp(path));
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(json::parse(line));
    return out;
}

// No step has two records (a stop right after a report used to repeat it).
void expect_one_record_per_step(const std::vector<json>& records) {
    std::map<uint64_t, int> per_step;
    for (const auto& r : records) ++per_step[r["step"].get<uint64_t>()];
    for (const auto& [step, n] : per_step) EXPECT_EQ(n, 1) << "step " << step << " has " << n << " records";
}

json info_json(const std::string& path) {
    auto r = run_charlm({"info", "--json", path});
    EXPECT_EQ(r.status, 0) << r.err;
    return r.status == 0 ? json::parse(r.out) : json();
}

// --- library runs: a signal at an exact poll of should_stop

train_config lib_config(const std::string& corpus, const std::string& out) {
    omp_set_num_threads(1);  // as the CLI runs with --threads 1
    train_config c;
    c.corpus = corpus;
    c.model.cell = cell_type::gru;
    c.model.hidden = 16;
    c.model.embed = 8;
    c.batch = 4;
    c.steps = 16;
    c.epochs = 3;
    c.lr = 0.01f;
    c.out = out;
    c.metrics = out + ".jsonl";
    return c;
}

// Item 3: a stop found right after an in-epoch validation ends the run with that validation's
// report: one record for the step, validated, carrying the stop; no second validation.
TEST(train_edges, a_stop_right_after_an_in_epoch_validation_uses_it) {
    const std::string corpus = write_file("edges_valid.txt", toy_text());
    const std::string dir = fresh_dir("edges_valid");
    train_config c = lib_config(corpus, dir + "/m");
    c.valid_every_steps = 3;
    int polls = 0;
    train_callbacks cb;
    // Polled before steps 1, 2, 3, then after the validation at step 3: stop there.
    cb.should_stop = [&] { return ++polls >= 4; };
    auto r = train(c, cb);
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->steps, 3u);
    EXPECT_EQ(r->stop, stop_reason::signal);
    const auto records = metrics_records(c.metrics);
    expect_one_record_per_step(records);
    ASSERT_FALSE(records.empty());
    EXPECT_EQ(records.back()["step"], 3);
    EXPECT_TRUE(records.back()["valid_ppl"].is_number()) << records.back();
    EXPECT_EQ(records.back()["stop"], "signal");
    EXPECT_TRUE(fs::exists(c.out + ".ckpt"));
}

// Item 12: a stop found right after an epoch's end (the budget or a signal while it validated or
// saved) does not report the epoch again; the checkpoint is there to resume.
TEST(train_edges, a_stop_right_after_an_epoch_end_reports_it_once) {
    const std::string corpus = write_file("edges_epoch.txt", toy_text());
    const std::string dir = fresh_dir("edges_epoch");
    train_config c = lib_config(corpus, dir + "/m");
    c.checkpoint_every = 2;  // epoch 1's end writes no checkpoint: the stop must
    // Steps in an epoch, from a one-epoch run.
    train_config one = lib_config(corpus, "");
    one.metrics = "";
    one.epochs = 1;
    auto plain = train(one, {});
    ASSERT_TRUE(plain.ok()) << plain.err().message;
    const uint64_t per_epoch = plain->steps;
    int polls = 0;
    train_callbacks cb;
    cb.should_stop = [&] { return ++polls > static_cast<int>(per_epoch); };  // the first poll of epoch 2
    std::vector<train_report> reports;
    cb.on_report = [&](const train_report& rep) { reports.push_back(rep); };
    auto r = train(c, cb);
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->steps, per_epoch);
    EXPECT_EQ(r->stop, stop_reason::signal);
    EXPECT_NE(r->stop_detail.find("after epoch 1"), std::string::npos) << r->stop_detail;
    ASSERT_EQ(reports.size(), 1u) << "the epoch was reported twice";
    expect_one_record_per_step(metrics_records(c.metrics));
    ASSERT_TRUE(fs::exists(c.out + ".ckpt"));
    auto ck = read_checkpoint(c.out + ".ckpt");
    ASSERT_TRUE(ck.ok()) << ck.err().message;
    EXPECT_EQ(ck->epoch, 1u);
    EXPECT_EQ(ck->batch, 0u);
}

// Item 12 with the budget: decided after the epoch's validation, so a budget that ends during it
// ends the run with that epoch's report (one record, with the reason).
TEST(train_edges, a_budget_spent_during_the_epoch_validation_ends_with_that_report) {
    std::string text = toy_text();
    const std::string corpus = write_file("edges_epoch_budget.txt", text + text + text + text);
    const std::string dir = fresh_dir("edges_epoch_budget");
    for (int attempt = 0; attempt < 3; ++attempt) {
        train_config c = lib_config(corpus, dir + "/m");
        c.valid_fraction = 0.7f;  // a long validation: the budget ends in it
        c.epochs = 0;
        c.time_budget_s = 0.05;
        c.batch = 1;
        c.steps = 4;
        auto r = train(c, {});
        ASSERT_TRUE(r.ok()) << r.err().message;
        const auto records = metrics_records(c.metrics);
        expect_one_record_per_step(records);
        ASSERT_FALSE(records.empty());
        EXPECT_EQ(records.back()["stop"], "budget") << records.back();
        EXPECT_TRUE(records.back()["valid_ppl"].is_number()) << records.back();
    }
}

// Item 9: a best model saved at an in-epoch validation records the epoch's training perplexity so
// far (it recorded 0).
TEST(train_edges, a_best_saved_inside_an_epoch_records_its_train_ppl) {
    const std::string corpus = write_file("edges_best.txt", toy_text());
    const std::string dir = fresh_dir("edges_best");
    train_config c = lib_config(corpus, dir + "/m");
    c.valid_every_steps = 2;
    int polls = 0;
    train_callbacks cb;
    cb.should_stop = [&] { return ++polls > 4; };
    ASSERT_TRUE(train(c, cb).ok());
    auto s = read_model_summary(c.out + ".best");
    ASSERT_TRUE(s.ok()) << s.err().message;
    EXPECT_GT(s->train_ppl, 1.0);
    EXPECT_LE(s->steps, 4u);
}

// The smaller ones: the divergence's record names the step its message names.
TEST(train_edges, a_divergence_record_and_message_name_the_same_step) {
    const std::string corpus = write_file("edges_diverge.txt", toy_text());
    const std::string dir = fresh_dir("edges_diverge");
    train_config c = lib_config(corpus, dir + "/m");
    c.optimizer = optimizer_kind::sgd;
    c.lr = 1e30f;
    c.clip = 0;
    auto r = train(c, {});
    ASSERT_FALSE(r.ok());
    const auto records = metrics_records(c.metrics);
    ASSERT_FALSE(records.empty());
    EXPECT_EQ(records.back()["stop"], "divergence");
    const std::string at = fmt::format("diverged at step {} ", records.back()["step"].get<uint64_t>());
    EXPECT_NE(r.err().message.find(at), std::string::npos) << r.err().message << " / " << records.back();
}

// A budget spent before the first step trains and writes nothing and says so.
TEST(train_edges, a_budget_spent_before_the_first_step_writes_nothing) {
    const std::string corpus = write_file("edges_none.txt", toy_text());
    const std::string dir = fresh_dir("edges_none");
    auto r = run_charlm(tiny(corpus, {"--time-budget", "0.000001s", "--out", dir + "/m"}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("before the first step; nothing was trained or written"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("train ppl nan"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("after epoch 1"), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(dir + "/m.best"));
    EXPECT_FALSE(fs::exists(dir + "/m"));
}

// Item 4: a run that ends inside an epoch (the budget, patience) prints its --prefix samples; one
// stopped by a signal does not.
TEST(train_edges, a_run_ending_inside_an_epoch_prints_its_samples) {
    std::string text;
    for (int i = 0; i < 40; ++i) text += toy_text();  // an epoch far longer than the budget
    const std::string corpus = write_file("edges_samples.txt", text);
    auto budget = run_charlm(tiny(corpus, {"--time-budget", "0.2s", "--batch", "1", "--prefix", "spring",
                                           "--sample-length", "20"}));
    ASSERT_EQ(budget.status, 0) << budget.err;
    ASSERT_NE(budget.out.find("| stopped: time budget of 0.2s spent in epoch"), std::string::npos) << budget.out;
    EXPECT_NE(budget.out.find("sample: spring"), std::string::npos) << budget.out;

    std::string other;
    for (int i = 0; i < 60; ++i) other += "zzqq xx\n";
    const std::string valid = write_file("edges_samples_valid.txt", other);
    const std::string small = write_file("edges_samples_small.txt", toy_text());
    auto patience = run_charlm(tiny(small, {"--epochs", "50", "--valid", valid, "--patience", "1", "--valid-every",
                                             "2", "--lr", "0.05", "--prefix", "spring", "--sample-length", "20"}));
    ASSERT_EQ(patience.status, 0) << patience.err;
    ASSERT_NE(patience.out.find("stopped (patience)"), std::string::npos) << patience.out;
    EXPECT_NE(patience.out.find("sample: spring"), std::string::npos) << patience.out;
}

// Item 3 through the binary: validating every step under a budget, the run never validates the
// same weights twice nor counts it as a validation without improvement.
TEST(train_edges, a_budget_ending_during_a_validation_does_not_validate_again) {
    std::string text = toy_text();
    const std::string corpus = write_file("edges_valid_budget.txt", text + text + text);
    const std::string dir = fresh_dir("edges_valid_budget");
    for (int attempt = 0; attempt < 3; ++attempt) {
        auto r = run_charlm(tiny(corpus, {"--valid-fraction", "0.6", "--valid-every", "1", "--batch", "1",
                                          "--lr-plateau", "0.5", "--patience", "1000", "--time-budget", "0.3s",
                                          "--out", dir + "/m", "--metrics", dir + "/m.jsonl", "--force"}));
        ASSERT_EQ(r.status, 0) << r.err;
        const auto records = metrics_records(dir + "/m.jsonl");
        expect_one_record_per_step(records);
        ASSERT_FALSE(records.empty());
        EXPECT_EQ(records.back()["stop"], "budget");
    }
}

// Item 1: resuming an older checkpoint of a run does not replace its later files without --force,
// and never replaces its .best with a worse model.
TEST(train_edges, resuming_an_older_checkpoint_keeps_the_newer_files) {
    const std::string corpus = write_file("edges_older.txt", toy_text());
    const std::string dir = fresh_dir("edges_older");
    const std::string m = dir + "/m";
    auto a = run_charlm(tiny(corpus, {"--epochs", "4", "--keep-last", "4", "--out", m}));
    ASSERT_EQ(a.status, 0) << a.err;
    const std::string model = slurp(m), best = slurp(m + ".best"), ckpt = slurp(m + ".ckpt");
    const double best_ppl = info_json(m + ".best")["training"]["valid_ppl"].get<double>();

    auto refused = run_charlm({"train", "--threads", "1", "--resume", m + ".epoch1.ckpt", "--epochs", "2"});
    EXPECT_EQ(refused.status, 1) << refused.out;
    EXPECT_NE(refused.err.find("hold later steps of the run"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("--force"), std::string::npos) << refused.err;
    EXPECT_EQ(refused.out.find("epoch 2 |"), std::string::npos) << "trained before refusing";
    EXPECT_EQ(slurp(m), model);
    EXPECT_EQ(slurp(m + ".best"), best);
    EXPECT_EQ(slurp(m + ".ckpt"), ckpt);

    auto forced = run_charlm({"train", "--threads", "1", "--resume", m + ".epoch1.ckpt", "--epochs", "2", "--force"});
    ASSERT_EQ(forced.status, 0) << forced.err;
    EXPECT_NE(slurp(m), model) << "--force replaces the model";
    EXPECT_EQ(info_json(m + ".best")["training"]["valid_ppl"].get<double>(), best_ppl)
        << "the better .best was replaced by a worse one";
    EXPECT_NE(forced.out.find("(kept from a later point of this run)"), std::string::npos) << forced.out;
}

// Item 2: a missing output directory is found before the first step (it was found when the first
// file was written, an epoch later).
TEST(train_edges, a_missing_output_directory_fails_before_training) {
    const std::string corpus = write_file("edges_missing.txt", toy_text());
    for (const std::string opt : {"--out", "--metrics"}) {
        auto r = run_charlm(tiny(corpus, {"--epochs", "1", opt, scratch_dir() + "/no-such-dir/m"}));
        EXPECT_EQ(r.status, 1) << opt;
        EXPECT_NE(r.err.find("no-such-dir' does not exist"), std::string::npos) << r.err;
        EXPECT_EQ(r.out.find("epoch 1 |"), std::string::npos) << opt << ": trained before failing";
    }
}

// Item 11: a changed --valid file is refused on resumption, and an unrelated existing --metrics
// file is not appended to without --force.
TEST(train_edges, resume_refuses_a_changed_validation_text_and_foreign_metrics) {
    const std::string corpus = write_file("edges_valid_changed.txt", toy_text());
    const std::string valid = write_file("edges_valid_changed_v.txt", "a crane in the pines\nsnow on the hills\n");
    const std::string dir = fresh_dir("edges_valid_changed");
    const std::string m = dir + "/m";
    auto a = run_charlm(tiny(corpus, {"--epochs", "1", "--valid", valid, "--out", m, "--metrics", m + ".jsonl"}));
    ASSERT_EQ(a.status, 0) << a.err;
    write_file("edges_valid_changed_v.txt", "spring rain on the river\nautumn moon\n");
    auto changed = run_charlm({"train", "--threads", "1", "--resume", m + ".ckpt", "--epochs", "2"});
    EXPECT_EQ(changed.status, 1) << changed.out;
    EXPECT_NE(changed.err.find("the validation text"), std::string::npos) << changed.err;
    EXPECT_NE(changed.err.find("has changed"), std::string::npos) << changed.err;

    write_file("edges_valid_changed_v.txt", "a crane in the pines\nsnow on the hills\n");
    const std::string foreign = write_file("edges_foreign.jsonl", "{\"mine\": true}\n");
    auto appended = run_charlm({"train", "--threads", "1", "--resume", m + ".ckpt", "--epochs", "2", "--metrics", foreign});
    EXPECT_EQ(appended.status, 1) << appended.out;
    EXPECT_NE(appended.err.find("exists; pass --force"), std::string::npos) << appended.err;
    EXPECT_EQ(slurp(foreign), "{\"mine\": true}\n");
    auto own = run_charlm({"train", "--threads", "1", "--resume", m + ".ckpt", "--epochs", "2"});
    EXPECT_EQ(own.status, 0) << own.err;
}

// Item 13: resuming a cosine run whose budget is spent, with --epochs, goes on from the rate it
// had reached (it jumped back up 30-60x).
TEST(train_edges, a_spent_cosine_run_resumed_with_epochs_keeps_its_rate) {
    std::string text;
    for (int i = 0; i < 60; ++i) text += toy_text();  // an epoch far longer than the budget, on a fast machine too
    const std::string corpus = write_file("edges_cosine.txt", text);
    const std::string dir = fresh_dir("edges_cosine");
    const std::string m = dir + "/m";
    auto a = run_charlm(tiny(corpus, {"--lr-schedule", "cosine", "--lr-final", "0.01", "--time-budget", "0.3s",
                                      "--batch", "1", "--out", m, "--metrics", m + ".jsonl"}));
    ASSERT_EQ(a.status, 0) << a.err;
    const double last_lr = metrics_records(m + ".jsonl").back()["lr"].get<double>();
    auto b = run_charlm({"train", "--threads", "1", "--resume", m + ".ckpt", "--epochs", "1", "--report-every", "200"});
    ASSERT_EQ(b.status, 0) << b.err;
    EXPECT_NE(b.out.find("the cosine schedule goes on from where the checkpoint left it"), std::string::npos) << b.out;
    const auto records = metrics_records(m + ".jsonl");
    ASSERT_GT(records.size(), 2u);
    double max_after = 0;
    for (const auto& r : records)
        if (r["elapsed_s"].get<double>() > 0.3)
            max_after = std::max(max_after, r["lr"].get<double>());
    EXPECT_LE(max_after, last_lr * 1.5) << "the rate jumped from " << last_lr << " to " << max_after;
}

// Item 14: --time-budget alone on --resume means what it means on a fresh run: no epoch limit.
TEST(train_edges, time_budget_alone_on_resume_trains_for_the_budget) {
    const std::string corpus = write_file("edges_budget_resume.txt", toy_text());
    const std::string dir = fresh_dir("edges_budget_resume");
    auto a = run_charlm(tiny(corpus, {"--epochs", "1", "--out", dir + "/m", "--metrics", dir + "/m.jsonl"}));
    ASSERT_EQ(a.status, 0) << a.err;
    // A budget half a second past what the run has spent (a slow machine or a sanitizer build spends more).
    const double spent = metrics_records(dir + "/m.jsonl").back()["elapsed_s"].get<double>();
    auto b = run_charlm({"train", "--threads", "1", "--resume", dir + "/m.ckpt", "--time-budget",
                         fmt::format("{:.3f}s", spent + 0.5)});
    ASSERT_EQ(b.status, 0) << b.err;
    EXPECT_NE(b.out.find("stopped (budget)"), std::string::npos) << b.out;
}

// Item 15: a repeatable option on the command line replaces the config file's values.
TEST(train_edges, a_repeatable_option_on_the_command_line_replaces_the_config_files) {
    const std::string corpus = write_file("edges_compose.txt", toy_text());
    const std::string ini = write_file("edges_compose.ini", "epochs = 1\nprefix = autumn\nprefix = snow\n");
    auto r = run_charlm(tiny(corpus, {"--config", ini, "--prefix", "spring", "--sample-length", "10"}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("sample: spring"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("sample: autumn"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("sample: snow"), std::string::npos) << r.out;
    auto file_only = run_charlm(tiny(corpus, {"--config", ini, "--sample-length", "10"}));
    ASSERT_EQ(file_only.status, 0) << file_only.err;
    EXPECT_NE(file_only.out.find("sample: autumn"), std::string::npos) << file_only.out;
    EXPECT_NE(file_only.out.find("sample: snow"), std::string::npos) << file_only.out;
}

// Item 16: settings that act on validation say so when there is none.
TEST(train_edges, validation_settings_without_a_validation_text_warn) {
    const std::string corpus = write_file("edges_novalid.txt", toy_text());
    auto r = run_charlm(tiny(corpus, {"--epochs", "1", "--valid-fraction", "0", "--patience", "3", "--valid-every",
                                      "5", "--lr-plateau", "0.5"}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("warning: --patience, --valid-every, --lr-plateau have no effect"), std::string::npos)
        << r.err;
    auto quiet = run_charlm(tiny(corpus, {"--epochs", "1", "--patience", "3"}));
    EXPECT_EQ(quiet.err.find("no effect"), std::string::npos) << quiet.err;
}

// Issue 28: a model far larger than its text says so once, in words, with what to do; a model of
// the text's size does not.
TEST(train_edges, a_model_far_larger_than_its_text_warns) {
    const std::string corpus = write_file("edges_big.txt", toy_text());
    auto big = run_charlm(tiny(corpus, {"--epochs", "1", "--hidden", "256", "--layers", "2"}));
    ASSERT_EQ(big.status, 0) << big.err;
    EXPECT_NE(big.err.find("warning: the model has"), std::string::npos) << big.err;
    EXPECT_NE(big.err.find("a smaller model"), std::string::npos) << big.err;
    auto fits = run_charlm(tiny(corpus, {"--epochs", "1", "--hidden", "16"}));
    ASSERT_EQ(fits.status, 0) << fits.err;
    EXPECT_EQ(fits.err.find("warning"), std::string::npos) << fits.err;
}

// ... and the main job does not: its recipe on all Tang poems (the text corpora/prepare.sh tang
// makes) starts without a warning. A budget spent before the first step trains nothing.
TEST(train_edges, the_main_job_starts_without_a_warning) {
    const std::string corpus = std::string(CHARLM_SHARED_CORPORA) + "/tang_poems_all.txt";
    if (!fs::exists(corpus)) GTEST_SKIP() << corpus << " is not there";
    const std::string dir = fresh_dir("edges_main_job");
    auto r = run_charlm({"train", "--config", std::string(CHARLM_SOURCE_DIR) + "/models/tang-lstm.ini", "--corpus",
                         corpus, "--out", dir + "/m.safetensors", "--time-budget", "0.001s", "--threads", "1"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("model 1 x 512 lstm"), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
}

// --- found by trying to break the above

// Runs charlm in `dir` (for a bare --out); the exit status.
int run_in(const std::string& dir, const std::vector<std::string>& args) {
    std::string cmd = "cd ";
    cmd.append(shell_quote(dir)).append(" && ").append(shell_quote(CHARLM_BINARY));
    for (const auto& a : args) cmd.append(" ").append(shell_quote(a));
    cmd.append(" >/dev/null 2>&1");
    const int raw = std::system(cmd.c_str());
    return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128;
}

// --keep-last with a bare --out (in the current directory) counted a rewritten epoch twice and
// pruned one file too many: the resumed checkpoint among them.
TEST(train_edges, keep_last_with_a_bare_out_keeps_the_resumed_checkpoint) {
    const std::string corpus = write_file("edges_bare.txt", toy_text());
    const std::string dir = fresh_dir("edges_bare");
    ASSERT_EQ(run_in(dir, tiny(corpus, {"--epochs", "2", "--out", "m.st", "--keep-last", "2"})), 0);
    ASSERT_EQ(run_in(dir, {"train", "--threads", "1", "--resume", "m.st.epoch1.ckpt", "--epochs", "2", "--force"}), 0);
    EXPECT_TRUE(fs::exists(dir + "/m.st.epoch1.ckpt"));
    EXPECT_TRUE(fs::exists(dir + "/m.st.epoch2.ckpt"));
}

// Two outputs on one file: refused before training (--metrics on .best destroyed one or the other).
TEST(train_edges, outputs_and_inputs_must_be_different_files) {
    const std::string corpus = write_file("edges_same.txt", toy_text());
    const std::string dir = fresh_dir("edges_same");
    for (const std::string& metrics : {dir + "/x.best", dir + "/x", dir + "/x.ckpt", corpus}) {
        auto r = run_charlm(tiny(corpus, {"--epochs", "1", "--out", dir + "/x", "--metrics", metrics, "--force"}));
        EXPECT_EQ(r.status, 2) << metrics;
        EXPECT_NE(r.err.find("are the same file"), std::string::npos) << r.err;
    }
    auto r = run_charlm(tiny(corpus, {"--epochs", "1", "--out", corpus, "--force"}));
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(slurp(corpus), toy_text()) << "the corpus was overwritten";
}

// Resuming an older checkpoint (with --force) cuts the metrics records after it: one per step, in order.
TEST(train_edges, resuming_an_older_checkpoint_cuts_the_later_metrics) {
    const std::string corpus = write_file("edges_cut.txt", toy_text());
    const std::string dir = fresh_dir("edges_cut");
    const std::string m = dir + "/m";
    ASSERT_EQ(run_charlm(tiny(corpus, {"--epochs", "3", "--keep-last", "3", "--out", m, "--metrics", m + ".jsonl"})).status, 0);
    auto r = run_charlm({"train", "--threads", "1", "--resume", m + ".epoch1.ckpt", "--epochs", "2", "--force"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto records = metrics_records(m + ".jsonl");
    expect_one_record_per_step(records);
    for (size_t i = 1; i < records.size(); ++i) EXPECT_LT(records[i - 1]["step"], records[i]["step"]) << i;
}

// A run that trains nothing leaves no metrics file (an empty one blocked the next run without --force).
TEST(train_edges, a_run_that_trains_nothing_leaves_no_metrics_file) {
    const std::string corpus = write_file("edges_nometrics.txt", toy_text());
    const std::string dir = fresh_dir("edges_nometrics");
    auto r = run_charlm(tiny(corpus, {"--time-budget", "0.000001s", "--metrics", dir + "/m.jsonl"}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(fs::exists(dir + "/m.jsonl"));
}

// A signal during the end-of-run samples stops them at once.
TEST(train_edges, a_signal_stops_the_samples) {
    const std::string corpus = write_file("edges_sigsample.txt", toy_text());
    const std::string dir = fresh_dir("edges_sigsample");
    train_config one = lib_config(corpus, "");
    one.metrics = "";
    one.epochs = 1;
    auto plain = train(one, {});
    ASSERT_TRUE(plain.ok()) << plain.err().message;
    train_config c = lib_config(corpus, dir + "/m");
    c.epochs = 1;
    c.prefixes = {"spring"};
    c.sample_length = sample_config::max_length;  // minutes of sampling, unless the signal ends it
    int polls = 0, samples = 0;
    train_callbacks cb;
    cb.should_stop = [&] { return ++polls > static_cast<int>(plain->steps) + 20; };
    cb.on_sample = [&](const std::string&, const std::string&) { ++samples; };
    const auto t0 = std::chrono::steady_clock::now();
    auto r = train(c, cb);
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
    EXPECT_EQ(r->stop, stop_reason::epochs) << "the run ended on its epochs; the signal came after";
    EXPECT_EQ(samples, 0) << "a sample cut short is not printed";
}

// A run stopped by its budget, resumed with neither a larger budget nor other epochs, is refused
// (it trained every remaining epoch without a limit), and so is a --time-budget already spent.
TEST(train_edges, a_spent_budget_resumed_without_a_new_horizon_is_refused) {
    std::string text;
    for (int i = 0; i < 12; ++i) text += toy_text();
    const std::string corpus = write_file("edges_spent.txt", text);
    const std::string dir = fresh_dir("edges_spent");
    ASSERT_EQ(run_charlm(tiny(corpus, {"--epochs", "2", "--time-budget", "0.2s", "--batch", "1", "--out",
                                       dir + "/b"})).status, 0);
    auto again = run_charlm({"train", "--threads", "1", "--resume", dir + "/b.ckpt"});
    EXPECT_EQ(again.status, 2) << again.out;
    EXPECT_NE(again.err.find("already spent its time budget"), std::string::npos) << again.err;
    auto tiny_budget = run_charlm({"train", "--threads", "1", "--resume", dir + "/b.ckpt", "--epochs", "3",
                                   "--time-budget", "0.01s"});
    EXPECT_EQ(tiny_budget.status, 2) << tiny_budget.out;
    EXPECT_NE(tiny_budget.err.find("is already spent"), std::string::npos) << tiny_budget.err;
}

// A finished cosine run resumed for more epochs goes on from its rate (it jumped 5x back up).
TEST(train_edges, a_finished_cosine_run_resumed_for_more_epochs_keeps_its_rate) {
    const std::string corpus = write_file("edges_cos_epochs.txt", toy_text());
    const std::string dir = fresh_dir("edges_cos_epochs");
    const std::string m = dir + "/m";
    ASSERT_EQ(run_charlm(tiny(corpus, {"--epochs", "2", "--lr-schedule", "cosine", "--lr-final", "0.1", "--out", m,
                                       "--metrics", m + ".jsonl", "--report-every", "5"})).status, 0);
    const auto before = metrics_records(m + ".jsonl");
    const double last_lr = before.back()["lr"].get<double>();
    auto r = run_charlm({"train", "--resume", m + ".ckpt", "--epochs", "4"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("the cosine schedule goes on"), std::string::npos) << r.out;
    const auto after = metrics_records(m + ".jsonl");
    for (size_t i = before.size(); i < after.size(); ++i)
        EXPECT_LE(after[i]["lr"].get<double>(), last_lr * 1.0001) << after[i];
    // The command a stopped run prints continues with the checkpoint's threads: no warning.
    EXPECT_EQ(r.err.find("this run uses"), std::string::npos) << r.err;
}

// Item 10 and the step count of --valid-every: out of range at once, before any training.
TEST(train_edges, numbers_out_of_range_are_refused_before_training) {
    const std::string corpus = write_file("edges_range.txt", toy_text());
    auto len = run_charlm(tiny(corpus, {"--epochs", "1", "--sample-length", "20000000", "--prefix", "a"}));
    EXPECT_EQ(len.status, 2);
    EXPECT_NE(len.err.find("--sample-length"), std::string::npos) << len.err;
    EXPECT_EQ(len.out.find("epoch 1 |"), std::string::npos);
    auto big = run_charlm(tiny(corpus, {"--epochs", "1", "--valid-every", "99999999999"}));
    EXPECT_EQ(big.status, 2);
    EXPECT_NE(big.err.find("a step count must be at most"), std::string::npos) << big.err;
    const std::string dir = fresh_dir("edges_range");
    auto ten = run_charlm(tiny(corpus, {"--epochs", "1", "--valid-every", "1000000000", "--out", dir + "/m"}));
    ASSERT_EQ(ten.status, 0) << ten.err;
    auto ck = read_checkpoint(dir + "/m.ckpt");
    ASSERT_TRUE(ck.ok()) << ck.err().message;
    EXPECT_EQ(ck->config.valid_every_steps, 1000000000u);
    EXPECT_EQ(ck->config.valid_every_s, 0);
}

// Item 17: a model too large for the memory is an error naming the size, not an abort.
// Issue 28: 2% of a 1 GB corpus is 7 million tokens, and each validation read them all (12 minutes
// on 2 cores, while the run had a 60 s budget): validations read the first --valid-tokens of it.
TEST(train_edges, validations_read_at_most_valid_tokens) {
    // Digits only at the very end: unknown to the vocabulary, and past the first 500 held out.
    const std::string corpus = write_file("edges_valid_tokens.txt", toy_text() + "0123456789\n");
    const std::string dir = fresh_dir("edges_valid_tokens");
    train_config c = lib_config(corpus, dir + "/m");
    c.epochs = 1;
    c.valid_fraction = 0.25;
    c.valid_tokens = 500;
    std::string infos;
    train_callbacks cb;
    cb.on_info = [&](const std::string& s) { infos += s + "\n"; };
    auto r = train(c, cb);
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_NE(infos.find("valid 500 tokens (the first of "), std::string::npos) << infos;
    EXPECT_EQ(infos.find("unknown)"), std::string::npos) << "the unknown digits are not among the tokens kept";
    // The figure is that of the first 500 held-out tokens: the same as eval on that text.
    const std::string all = slurp(corpus);
    const size_t cut = static_cast<size_t>(static_cast<double>(all.size()) * 0.75);  // one byte per token here
    const std::string held = write_file("edges_valid_tokens_held.txt", all.substr(cut, 500));
    auto e = run_charlm({"eval", "--model", c.out, "--text", held, "--json", "--streams", "1"});
    ASSERT_EQ(e.status, 0) << e.err;
    ASSERT_TRUE(r->valid_ppl.has_value());
    EXPECT_NEAR(json::parse(e.out)["perplexity"].get<double>(), *r->valid_ppl, 1e-3 * *r->valid_ppl);

    c.valid_tokens = 0;  // all of it
    infos.clear();
    c.out = dir + "/all";
    c.metrics = c.out + ".jsonl";
    ASSERT_TRUE(train(c, cb).ok());
    EXPECT_EQ(infos.find("the first of"), std::string::npos) << infos;
    EXPECT_NE(infos.find("(10 unknown)"), std::string::npos) << infos;
}

TEST(train_edges, a_model_too_large_for_memory_is_an_error) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "ASan reserves more address space than the limit this test sets";
#endif
    const std::string corpus = write_file("edges_oom.txt", toy_text());
    std::string cmd = "ulimit -v 3000000; ";
    cmd.append(shell_quote(CHARLM_BINARY));
    for (const auto& a : tiny(corpus, {"--epochs", "1", "--layers", "16", "--hidden", "8192", "--embed", "8192"}))
        cmd.append(" ").append(shell_quote(a));
    const std::string err = scratch_dir() + "/edges_oom.err";
    cmd.append(" >/dev/null 2>").append(shell_quote(err));
    const int raw = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(raw)) << "killed by a signal";
    EXPECT_EQ(WEXITSTATUS(raw), 1) << slurp(err);
    EXPECT_NE(slurp(err).find("out of memory in 'train' (cannot allocate"), std::string::npos) << slurp(err);
}

}  // namespace
}  // namespace charlm::test
