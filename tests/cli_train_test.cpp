// `charlm train`, `generate`, `eval` and `info` through the real binary: a tiny run end to end
// (report lines, --metrics JSON lines, the model file, a config file), and the error cases with
// their exit statuses.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_support.h"

namespace charlm::test {
namespace {

std::string toy_text() {
    std::string s;
    const char* lines[] = {"spring rain on the river\n", "autumn moon over the hills\n", "a crane in the pines\n",
                           "snow on the far mountain\n"};
    for (int i = 0; i < 120; ++i) s += lines[(i * 7 + i / 3) % 4];
    return s;
}

std::vector<std::string> tiny_args(const std::string& corpus) {
    return {"train",     "--corpus",  corpus, "--cell", "gru", "--layers", "1", "--hidden", "32", "--embed", "8",
            "--batch",   "4",         "--steps", "16",  "--epochs", "2",  "--threads", "1", "--lr", "0.01"};
}

TEST(cli_train, end_to_end_train_generate_eval_info) {
    const std::string corpus = write_file("cli_toy.txt", toy_text());
    const std::string model = scratch_dir() + "/cli_toy.safetensors";
    const std::string metrics = scratch_dir() + "/cli_toy.jsonl";
    auto args = tiny_args(corpus);
    for (const char* a : {"--out", model.c_str(), "--metrics", metrics.c_str(), "--prefix", "spring", "--sample-length", "20"})
        args.push_back(a);
    auto r = run_charlm(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("epoch 2 | step "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("valid ppl"), std::string::npos);
    EXPECT_NE(r.out.find("sample: spring"), std::string::npos) << r.out;

    // --metrics: one JSON object per report with the documented keys.
    std::istringstream lines(slurp(metrics));
    std::string line;
    int n = 0;
    while (std::getline(lines, line)) {
        auto j = nlohmann::json::parse(line);
        for (const char* k : {"epoch", "step", "train_ppl", "valid_ppl", "bpc", "grad_norm", "clipped", "lr",
                              "chars_per_sec", "elapsed_s"})
            EXPECT_TRUE(j.contains(k)) << k << " in " << line;
        ++n;
    }
    EXPECT_GE(n, 2);

    auto g = run_charlm({"generate", "--model", model, "--prefix", "autumn", "--length", "30", "--seed", "3"});
    ASSERT_EQ(g.status, 0) << g.err;
    EXPECT_EQ(g.out.rfind("autumn", 0), 0u) << g.out;
    auto g2 = run_charlm({"generate", "--model", model, "--prefix", "autumn", "--length", "30", "--seed", "3"});
    EXPECT_EQ(g.out, g2.out) << "same seed, same text";
    auto greedy = run_charlm({"generate", "--model", model, "--prefix", "a", "--length", "10", "--greedy"});
    EXPECT_EQ(greedy.status, 0) << greedy.err;

    auto e = run_charlm({"eval", "--model", model, "--text", corpus, "--json"});
    ASSERT_EQ(e.status, 0) << e.err;
    auto ej = nlohmann::json::parse(e.out);
    for (const char* k : {"tokens", "perplexity", "bpc", "nll_stddev"}) EXPECT_TRUE(ej.contains(k)) << k;
    EXPECT_EQ(ej["tokens"].get<uint64_t>(), toy_text().size() - 1);
    EXPECT_GT(ej["perplexity"].get<double>(), 1.0);

    auto i = run_charlm({"info", "--model", model, "--json"});
    ASSERT_EQ(i.status, 0) << i.err;
    auto ij = nlohmann::json::parse(i.out);
    EXPECT_EQ(ij["cell"], "gru");
    EXPECT_GT(ij["parameters"].get<uint64_t>(), 0u);
    auto it = run_charlm({"info", model});
    EXPECT_EQ(it.status, 0);
    EXPECT_NE(it.out.find("rnn.weight_hh_l0"), std::string::npos) << it.out;
}

// The adaptive softmax through the CLI: the cutoffs it is given are saved, shown by info (text and
// JSON), and the model generates and evaluates; resuming with other cutoffs is refused.
TEST(cli_train, adaptive_softmax_train_info_generate_eval) {
    const std::string corpus = write_file("cli_adaptive.txt", toy_text());
    const std::string model = scratch_dir() + "/cli_adaptive.safetensors";
    auto args = tiny_args(corpus);
    for (const char* a : {"--out", model.c_str(), "--force", "--cutoffs", "6,12", "--div-value", "2"}) args.push_back(a);
    auto r = run_charlm(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("adaptive softmax: head 6 tokens"), std::string::npos) << r.out;

    auto i = run_charlm({"info", "--json", model});
    ASSERT_EQ(i.status, 0) << i.err;
    auto ij = nlohmann::json::parse(i.out);
    EXPECT_EQ(ij["softmax"], "adaptive");
    EXPECT_EQ(ij["cutoffs"], nlohmann::json::array({6, 12}));
    EXPECT_EQ(ij["div_value"].get<double>(), 2.0);
    auto it = run_charlm({"info", model});
    EXPECT_NE(it.out.find("AdaptiveLogSoftmax"), std::string::npos) << it.out;
    EXPECT_NE(it.out.find("adaptive softmax: head ids 0..5 and 2 cluster entries; cluster 1 ids 6..11 through 16 "
                          "units; cluster 2 ids 12.."),
              std::string::npos)
        << it.out;
    EXPECT_NE(it.out.find("decoder.tail.1.1.weight"), std::string::npos) << it.out;

    auto g = run_charlm({"generate", "--model", model, "--prefix", "snow", "--length", "30", "--seed", "3"});
    ASSERT_EQ(g.status, 0) << g.err;
    EXPECT_EQ(g.out.rfind("snow", 0), 0u) << g.out;
    auto e = run_charlm({"eval", "--model", model, "--text", corpus, "--json"});
    ASSERT_EQ(e.status, 0) << e.err;
    const double ppl = nlohmann::json::parse(e.out)["perplexity"].get<double>();
    EXPECT_GT(ppl, 1.0);
    EXPECT_LT(ppl, 12.0) << "the toy text is learnable";

    auto resumed = run_charlm({"train", "--resume", model + ".ckpt", "--cutoffs", "5,12", "--epochs", "3"});
    EXPECT_EQ(resumed.status, 2) << resumed.err;
    EXPECT_NE(resumed.err.find("the output layer"), std::string::npos) << resumed.err;
}

TEST(cli_train, config_file_gives_the_same_options) {
    const std::string corpus = write_file("cli_cfg.txt", toy_text());
    const std::string cfg = write_file("tiny.ini", "cell = lstm\nlayers = 1\nhidden = 16\nembed = 4\nbatch = 4\n"
                                                   "steps = 8\nepochs = 1\nthreads = 1\n");
    auto r = run_charlm({"train", "--config", cfg, "--corpus", corpus});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("1 x 16 lstm"), std::string::npos) << r.out;
    const std::string bad = write_file("bad.ini", "cell = transformer\n");
    auto b = run_charlm({"train", "--config", bad, "--corpus", corpus});
    EXPECT_EQ(b.status, 2) << b.err;
    EXPECT_NE(b.err.find("transformer"), std::string::npos) << b.err;
}

TEST(cli_train, errors_and_exit_statuses) {
    const std::string corpus = write_file("cli_err.txt", toy_text());
    struct bad_case {
        std::vector<std::string> extra;
        int status;
        const char* says;
    };
    const bad_case cases[] = {
        {{"--cell", "transformer"}, 2, "--cell"},
        {{"--batch", "0"}, 2, "--batch"},
        {{"--lr", "-1"}, 2, "--lr"},
        {{"--dropout", "1.5"}, 2, "--dropout"},
        {{"--valid-fraction", "1"}, 2, "--valid-fraction"},
        {{"--sampling", "sequential"}, 2, "--sampling"},
        {{"--optimizer", "rmsprop"}, 2, "--optimizer"},
        {{"--time-budget", "soon"}, 2, "duration"},
        {{"--hidden", "many"}, 2, "hidden"},
    };
    for (const auto& c : cases) {
        auto args = tiny_args(corpus);
        args.insert(args.end(), c.extra.begin(), c.extra.end());
        auto r = run_charlm(args);
        EXPECT_EQ(r.status, c.status) << c.extra[0] << ": " << r.err;
        EXPECT_NE(r.err.find(c.says), std::string::npos) << c.extra[0] << ": " << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
    // A corpus shorter than one window: a runtime error, not a usage error.
    auto short_run = run_charlm(tiny_args(write_file("cli_short.txt", "spring rain\n")));
    EXPECT_EQ(short_run.status, 1) << short_run.err;
    EXPECT_NE(short_run.err.find("fewer than"), std::string::npos) << short_run.err;
    auto empty_run = run_charlm(tiny_args(write_file("cli_empty.txt", "")));
    EXPECT_EQ(empty_run.status, 1) << empty_run.err;

    auto missing = run_charlm({"train", "--epochs", "1"});
    EXPECT_EQ(missing.status, 2);
    auto no_file = run_charlm({"train", "--corpus", scratch_dir() + "/nope.txt"});
    EXPECT_EQ(no_file.status, 1);
    EXPECT_NE(no_file.err.find("nope.txt"), std::string::npos);

    // An existing output is never overwritten without --force.
    const std::string out = write_file("precious.safetensors", "keep me");
    auto args = tiny_args(corpus);
    args.insert(args.end(), {"--out", out});
    auto r = run_charlm(args);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(out), "keep me");

    // Bad model files.
    auto g = run_charlm({"generate", "--model", out});
    EXPECT_EQ(g.status, 1);
    EXPECT_NE(g.err.find("precious.safetensors"), std::string::npos) << g.err;
    auto t = run_charlm({"generate", "--model", out, "--temperature", "-1"});
    EXPECT_EQ(t.status, 2);
}

// Checkpoints through the CLI: --resume continues with the checkpoint's settings, `info` says
// where a checkpoint stands, changed settings and existing files are refused, and eval's --logits
// keeps an existing file unless --force.
TEST(cli_train, resume_info_and_refusals) {
    const std::string corpus = write_file("cli_resume.txt", toy_text());
    const std::string dir = scratch_dir() + "/cli_resume";
    std::filesystem::create_directories(dir);
    const std::string model = dir + "/m.safetensors";
    auto args = tiny_args(corpus);
    for (const char* a : {"--out", model.c_str(), "--keep-last", "1"}) args.push_back(a);
    auto r = run_charlm(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(std::filesystem::exists(model + ".ckpt"));
    EXPECT_TRUE(std::filesystem::exists(model + ".epoch2.ckpt"));
    EXPECT_FALSE(std::filesystem::exists(model + ".epoch1.ckpt"));

    // A new run onto the same files needs --force (the checkpoint counts too).
    std::filesystem::remove(model);
    std::filesystem::remove(model + ".best");
    auto again = run_charlm(args);
    EXPECT_EQ(again.status, 1);
    EXPECT_NE(again.err.find("m.safetensors.ckpt' exists; pass --force"), std::string::npos) << again.err;

    auto info = run_charlm({"info", "--json", model + ".ckpt"});
    ASSERT_EQ(info.status, 0) << info.err;
    auto j = nlohmann::json::parse(info.out);
    EXPECT_EQ(j["checkpoint"]["epoch"], 3);
    EXPECT_EQ(j["checkpoint"]["batch"], 0);
    EXPECT_EQ(j["training"]["corpus_checksum"].get<std::string>().rfind("fnv1a64:", 0), 0u);
    EXPECT_EQ(j["layers"].size(), 3u);  // embedding, rnn_l0, decoder
    auto plain = run_charlm({"info", "--json", dir + "/m.safetensors.epoch2.ckpt"});
    ASSERT_EQ(plain.status, 0) << plain.err;

    // Settings that would change the run are refused; --epochs extends it.
    auto changed = run_charlm({"train", "--resume", model + ".ckpt", "--epochs", "3", "--hidden", "64"});
    EXPECT_EQ(changed.status, 2);
    EXPECT_NE(changed.err.find("the model is"), std::string::npos) << changed.err;
    auto done = run_charlm({"train", "--resume", model + ".ckpt"});
    EXPECT_EQ(done.status, 2);
    EXPECT_NE(done.err.find("larger --epochs"), std::string::npos) << done.err;
    auto resumed = run_charlm({"train", "--resume", model + ".ckpt", "--epochs", "3"});
    ASSERT_EQ(resumed.status, 0) << resumed.err;
    EXPECT_NE(resumed.out.find("resuming from " + model + ".ckpt: epoch 3, batch 0"), std::string::npos) << resumed.out;
    EXPECT_NE(resumed.out.find("epoch 3 | step"), std::string::npos) << resumed.out;
    EXPECT_TRUE(std::filesystem::exists(model + ".epoch3.ckpt"));
    EXPECT_FALSE(std::filesystem::exists(model + ".epoch2.ckpt"));

    // eval --logits does not overwrite without --force.
    const std::string logits = write_file("cli_resume.logits", "keep me");
    auto ev = run_charlm({"eval", "--model", model, "--text", corpus, "--logits", logits});
    EXPECT_EQ(ev.status, 1);
    EXPECT_EQ(slurp(logits), "keep me");
    auto evf = run_charlm({"eval", "--model", model, "--text", corpus, "--logits", logits, "--force"});
    ASSERT_EQ(evf.status, 0) << evf.err;
    EXPECT_GT(slurp(logits).size(), 1000u);
}

// `args` with "--epochs N".
std::vector<std::string> with_epochs(std::vector<std::string> args, const char* n) {
    for (size_t i = 0; i + 1 < args.size(); ++i)
        if (args[i] == "--epochs") args[i + 1] = n;
    return args;
}

// The lines of `text` that contain `what`.
std::vector<std::string> lines_with(const std::string& text, const std::string& what) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.find(what) != std::string::npos) out.push_back(line);
    return out;
}

// The figure after `key` in a report line ("step 12 | ..." -> 12 for "step ").
double figure_after(const std::string& line, const std::string& key) {
    const auto at = line.find(key);
    return at == std::string::npos ? -1 : std::stod(line.substr(at + key.size()));
}

// A run that ended on its time budget resumes with --epochs: the spent budget is said and dropped,
// and the epoch it stopped in is trained to its end, not skipped (it trained one step and exited).
TEST(cli_train, resuming_a_run_that_ended_on_its_budget_trains_the_rest) {
    const std::string corpus = write_file("cli_budget.txt", toy_text());
    const std::string dir = scratch_dir() + "/cli_budget";
    std::filesystem::create_directories(dir);
    // Steps per epoch, from a plain one-epoch run.
    auto plain = with_epochs(tiny_args(corpus), "1");
    auto p = run_charlm(plain);
    ASSERT_EQ(p.status, 0) << p.err;
    const auto done = lines_with(p.out, "done: 1 epochs, ");
    ASSERT_EQ(done.size(), 1u) << p.out;
    const double per_epoch = figure_after(done[0], "epochs, ");
    ASSERT_GT(per_epoch, 2);

    const std::string model = dir + "/m.safetensors";
    auto a = with_epochs(tiny_args(corpus), "0");  // the budget alone
    for (const char* x : {"--time-budget", "0.001s", "--out", model.c_str(), "--force"}) a.push_back(x);
    auto ra = run_charlm(a);
    ASSERT_EQ(ra.status, 0) << ra.err;
    EXPECT_NE(ra.out.find("stopped (budget): time budget of 0.001s spent"), std::string::npos) << ra.out;
    auto ck = run_charlm({"info", "--json", model + ".ckpt"});
    ASSERT_EQ(ck.status, 0) << ck.err;
    EXPECT_EQ(nlohmann::json::parse(ck.out)["checkpoint"]["epoch"], 1) << "continues in epoch 1, not after it";

    auto refused = run_charlm({"train", "--resume", model + ".ckpt"});
    EXPECT_EQ(refused.status, 2) << refused.err;
    EXPECT_NE(refused.err.find("already spent its time budget"), std::string::npos) << refused.err;

    auto rb = run_charlm({"train", "--resume", model + ".ckpt", "--epochs", "1"});
    ASSERT_EQ(rb.status, 0) << rb.err;
    EXPECT_NE(rb.out.find("the time budget of 0.001s was spent before the checkpoint"), std::string::npos) << rb.out;
    const auto end = lines_with(rb.out, "epoch 1 | step ");
    ASSERT_FALSE(end.empty()) << rb.out;
    EXPECT_EQ(figure_after(end.back(), "step "), per_epoch) << rb.out;
    EXPECT_NE(rb.out.find("stopped (epochs): all 1 epochs done"), std::string::npos) << rb.out;
}

// --keep-last prunes only the epoch checkpoints of the run that wrote them, and --force says
// which files it replaces.
TEST(cli_train, keep_last_prunes_only_this_runs_checkpoints) {
    const std::string corpus = write_file("cli_keep.txt", toy_text());
    const std::string dir = scratch_dir() + "/cli_keep";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string model = dir + "/m.safetensors";
    auto a = with_epochs(tiny_args(corpus), "5");
    for (const char* x : {"--keep-last", "2", "--out", model.c_str()}) a.push_back(x);
    ASSERT_EQ(run_charlm(a).status, 0);
    auto b = tiny_args(corpus);
    for (const char* x : {"--keep-last", "2", "--out", model.c_str(), "--force", "--seed", "5"}) b.push_back(x);
    auto rb = run_charlm(b);
    ASSERT_EQ(rb.status, 0) << rb.err;
    EXPECT_NE(rb.out.find("--force: replacing " + model + ", " + model + ".best, " + model + ".ckpt"),
              std::string::npos)
        << rb.out;
    for (int e : {1, 2, 4, 5})
        EXPECT_TRUE(std::filesystem::exists(model + ".epoch" + std::to_string(e) + ".ckpt")) << "epoch " << e;
    // Resumed, run B prunes its own: epochs 1 and 2 go as 3 and 4 come; A's epoch 4 is replaced
    // by B's (same name), A's epoch 5 stays.
    auto rc = run_charlm({"train", "--resume", model + ".ckpt", "--epochs", "4"});
    ASSERT_EQ(rc.status, 0) << rc.err;
    for (int e : {1, 2}) EXPECT_FALSE(std::filesystem::exists(model + ".epoch" + std::to_string(e) + ".ckpt")) << e;
    for (int e : {3, 4, 5}) EXPECT_TRUE(std::filesystem::exists(model + ".epoch" + std::to_string(e) + ".ckpt")) << e;
}

// The end-of-epoch "train ppl" is the whole epoch's, whatever the in-epoch reports took: the same
// figure as the model file's summary (it was the loss since the last in-epoch report).
TEST(cli_train, end_of_epoch_train_ppl_covers_the_whole_epoch) {
    const std::string corpus = write_file("cli_epoch_ppl.txt", toy_text());
    const std::string model = scratch_dir() + "/cli_epoch_ppl.safetensors";
    const std::string metrics = scratch_dir() + "/cli_epoch_ppl.jsonl";
    auto args = tiny_args(corpus);
    for (const char* x : {"--report-every", "7", "--out", model.c_str(), "--metrics", metrics.c_str(), "--force"})
        args.push_back(x);
    auto r = run_charlm(args);
    ASSERT_EQ(r.status, 0) << r.err;
    std::istringstream lines(slurp(metrics));
    double last_epoch_ppl = 0;
    int in_epoch = 0;
    for (std::string line; std::getline(lines, line);) {
        auto j = nlohmann::json::parse(line);
        if (j["end_of_epoch"].get<bool>()) last_epoch_ppl = j["train_ppl"].get<double>();
        else ++in_epoch;
    }
    EXPECT_GE(in_epoch, 2) << "the test needs in-epoch reports";
    auto info = run_charlm({"info", "--json", model});
    ASSERT_EQ(info.status, 0) << info.err;
    const double whole = nlohmann::json::parse(info.out)["training"]["train_ppl"].get<double>();
    EXPECT_NEAR(last_epoch_ppl, whole, whole * 1e-5);
}

// --patience with --valid-every through the CLI: the run stops early, its last report line and
// closing line say why, and the last --metrics line carries the reason.
TEST(cli_train, patience_stops_the_run_and_says_why) {
    std::string text, other;
    for (int i = 0; i < 300; ++i) text += "abcabd\n";
    for (int i = 0; i < 60; ++i) other += "dcbadc\n";
    const std::string corpus = write_file("cli_patience.txt", text);
    const std::string valid = write_file("cli_patience_valid.txt", other);
    const std::string metrics = scratch_dir() + "/cli_patience.jsonl";
    auto args = with_epochs(tiny_args(corpus), "100");
    for (const char* x : {"--valid", valid.c_str(), "--patience", "2", "--valid-every", "3", "--metrics", metrics.c_str(),
                          "--force"})
        args.push_back(x);
    auto r = run_charlm(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("| stopped: 2 validations in a row without a new best (--patience 2)"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("stopped (patience): 2 validations in a row"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("epoch 100 |"), std::string::npos) << "ran to its epoch count";
    std::istringstream lines(slurp(metrics));
    std::string line, last;
    while (std::getline(lines, line)) last = line;
    EXPECT_EQ(nlohmann::json::parse(last)["stop"], "patience") << last;
}

}  // namespace
}  // namespace charlm::test
