// The option schema (charlm/options.hpp) walked entry by entry: the tables are consistent; the
// JSON written before the tables existed reads back and is written again byte for byte; and,
// through the real binary, every setting of `charlm train` given a non-default value appears in
// the checkpoint, survives --resume (or is refused, exit 2, when it may not change), and is
// refused with exit 2 out of its range. Also: repeating one text option on resume keeps the
// others (issue 18 item 12), and --help prints defaults as a person writes them (item 14).
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "charlm/options.hpp"
#include "cli_support.h"

namespace charlm::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- the tables themselves

template <class C>
void expect_consistent(const option_table<C>& table) {
    std::set<std::string> names;
    for (const auto& o : table) {
        SCOPED_TRACE(o.info.name.empty() ? o.json_key() : o.info.name);
        if (!o.info.name.empty()) {
            EXPECT_TRUE(names.insert(o.info.name).second) << "declared twice";
        }
        EXPECT_FALSE(o.info.group.empty());
        EXPECT_FALSE(o.info.help.empty());
        const C defaults{};
        EXPECT_TRUE(check_ranges(table, defaults).ok()) << check_ranges(table, defaults).err().message;
        // The default as --help shows it reads back as the default.
        const std::string shown = o.show(defaults);
        if (o.info.name.empty() || o.info.repeatable || shown.empty() || !o.info.show_default) continue;
        C parsed{};
        ASSERT_TRUE(o.parse(parsed, {shown}).ok()) << shown;
        EXPECT_TRUE(o.same(parsed, defaults)) << shown;
    }
}

TEST(options_table, every_table_is_consistent) {
    expect_consistent(text_options());
    expect_consistent(model_options());
    expect_consistent(train_options());
    expect_consistent(sample_options());
    // train_config's table holds the text and model settings too, once each.
    for (const auto& o : text_options()) EXPECT_NE(find_option(train_options(), o.info.name), nullptr) << o.info.name;
    for (const auto& o : model_options())
        if (!o.info.name.empty()) {
            EXPECT_NE(find_option(train_options(), o.info.name), nullptr) << o.info.name;
        }
}

TEST(options_table, values_are_refused_in_one_style_naming_the_option) {
    train_config c;
    auto parse = [&](const char* name, std::string value) {
        return find_option(train_options(), name)->parse(c, {std::move(value)});
    };
    EXPECT_NE(parse("cell", "transformer").err().message.find("--cell: unknown cell 'transformer': use rnn, "
                                                              "rnn-relu, gru, lbr-gru or lstm"),
              std::string::npos);
    EXPECT_NE(parse("normalize", "nfd").err().message.find("--normalize: unknown normalization 'nfd': use nfc, nfkc "
                                                           "or none"),
              std::string::npos);
    EXPECT_NE(parse("hidden", "-3").err().message.find("'--hidden' is invalid"), std::string::npos);
    EXPECT_NE(parse("hidden", "99999999999").err().message.find("'--hidden' is invalid"), std::string::npos);
    EXPECT_NE(parse("time-budget", "soon").err().message.find("--time-budget: bad duration"), std::string::npos);
    ASSERT_TRUE(parse("cell", "rnn-tanh").ok());  // an accepted alias
    EXPECT_EQ(to_string(c.model.cell), "rnn");
    c.batch = 0;
    EXPECT_EQ(check_ranges(train_options(), c).err().message, "--batch must be between 1 and 65536, got 0");
    c.batch = 1;
    c.model.dropout = 1;
    EXPECT_EQ(check_ranges(train_options(), c).err().message, "--dropout must be in [0, 1), got 1");
}

// ---- files written before the tables (by charlm at commit e9e3673) read back and write the same

const char* const old_checkpoint_config = R"({"batch":4,"checkpoint_every":1,"clip":1.0,"corpus":"c.txt","epochs":1,
"keep_last":0,"lr":0.0020000000949949026,"lr_decay":1.0,"metrics":"m.jsonl","min_count":1,"model":{"cell":"gru",
"cutoffs":[6],"div_value":2.0,"dropout":0.0,"embed":4,"hidden":16,"layers":1,"softmax":"adaptive","vocab":0},
"optimizer":"adam","out":"m","prefixes":["the"],"report_every":0,"sample_every":0,"sample_length":100,
"sample_temperature":0.800000011920929,"sampling":"random","seed":1,"steps":8,"text":{"encoding":"utf-8",
"lowercase":true,"normalize":"nfkc","on_invalid":"error","unit":"grapheme"},"time_budget_s":0.0,"valid":"",
"valid_fraction":0.1})";
const char* const old_full_model = R"({"cell":"lstm","dropout":0.0,"embed":0,"hidden":8,"layers":1,"vocab":20})";

TEST(options_json, files_written_before_the_tables_read_back_and_are_written_the_same) {
    const json ck = json::parse(old_checkpoint_config);
    train_config c;
    ASSERT_TRUE(from_json(train_options(), ck, c).ok());
    EXPECT_EQ(c.model.cell, cell_type::gru);
    EXPECT_EQ(c.model.softmax, softmax_type::adaptive);
    EXPECT_EQ(c.model.cutoffs, std::vector<uint32_t>{6});
    EXPECT_TRUE(c.text.lowercase);
    EXPECT_EQ(c.text.normalize, normalization::nfkc);
    EXPECT_EQ(c.prefixes, std::vector<std::string>{"the"});
    EXPECT_EQ(c.sample_temperature, 0.8f);
    json now = ck;
    now["valid_tokens"] = 1000000;  // keys added since: written with the defaults they were read with
    EXPECT_EQ(to_json(train_options(), c).dump(), now.dump());

    const json full = json::parse(old_full_model);  // no "softmax": every file before the adaptive softmax
    model_config m;
    m.softmax = softmax_type::adaptive;
    ASSERT_TRUE(from_json(model_options(), full, m).ok());
    EXPECT_EQ(m.softmax, softmax_type::adaptive) << "a missing key keeps what the struct holds";
    model_config fresh;
    ASSERT_TRUE(from_json(model_options(), full, fresh).ok());
    EXPECT_EQ(fresh.softmax, softmax_type::full);
    EXPECT_EQ(fresh.hidden, 8u);
    EXPECT_EQ(to_json(model_options(), fresh).dump(), full.dump());

    json bad = ck;
    bad["model"]["cell"] = "transformer";
    EXPECT_NE(from_json(train_options(), bad, c).err().message.find("unknown cell 'transformer'"), std::string::npos);
    json missing = ck;
    missing.erase("batch");
    EXPECT_THROW((void)from_json(train_options(), missing, c), json::exception);
}

// ---- through the binary

std::string corpus_text() {
    static const char* words[] = {"spring", "rain", "on", "the", "river", "autumn", "moon", "over", "hills",
                                  "a",      "crane", "in", "pines", "snow",  "far",    "mountain", "bright"};
    std::string s;
    uint64_t x = 12345;
    for (int line = 0; line < 260; ++line) {
        for (int w = 0; w < 5; ++w) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            s += std::string(w ? " " : "") + words[(x >> 33) % 17];
        }
        s += "\n";
    }
    return s;
}

const std::vector<std::string> tiny{"--threads", "1"};

std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

TEST(options_cli, help_prints_defaults_as_a_person_writes_them) {
    auto gen = run_charlm({"generate", "--help"});
    ASSERT_EQ(gen.status, 0) << gen.err;
    EXPECT_NE(gen.out.find("--temperature arg (=0.8)"), std::string::npos) << gen.out;
    EXPECT_NE(gen.out.find("--top-p arg (=1)"), std::string::npos) << gen.out;
    auto train = run_charlm({"train", "--help"});
    ASSERT_EQ(train.status, 0) << train.err;
    EXPECT_NE(train.out.find("--lr arg (=0.002)"), std::string::npos) << train.out;
    EXPECT_NE(train.out.find("--sample-temperature arg (=0.8)"), std::string::npos) << train.out;
    EXPECT_NE(train.out.find("--valid-fraction arg (=0.1)"), std::string::npos) << train.out;
    EXPECT_NE(train.out.find("--cell arg (=lstm)"), std::string::npos) << train.out;
    EXPECT_NE(train.out.find("recurrent cell: rnn | rnn-relu |"), std::string::npos) << train.out;
    const std::regex float_noise(R"(\(=-?[0-9]*\.[0-9]{6,}\))");  // 0.800000012, 0.00200000009
    for (const char* cmd : {"train", "generate", "eval", "corpus", "info"}) {
        auto r = run_charlm({cmd, "--help"});
        EXPECT_FALSE(std::regex_search(r.out, float_noise)) << cmd << ":\n" << r.out;
    }
    // Every default the tables show, as they show it.
    for (const auto& o : train_options()) {
        const std::string shown = o.show(train_config{});
        if (o.info.name.empty() || o.flag || o.info.repeatable || !o.info.show_default || shown.empty()) continue;
        EXPECT_NE(train.out.find("--" + o.info.name + " arg (=" + shown + ")"), std::string::npos) << o.info.name;
    }
}

// Issue 18 item 12: giving one text option again, identical to the checkpoint's, keeps the others.
TEST(options_cli, resume_with_one_text_option_repeated_keeps_the_others) {
    const std::string dir = scratch_dir() + "/opt_text";
    fs::create_directories(dir);
    const std::string corpus = write_file("opt_text.txt", corpus_text());
    const std::string out = dir + "/m";
    auto first = run_charlm(cat({"train", "--corpus", corpus, "--cell", "gru", "--layers", "1", "--hidden", "12",
                                 "--embed", "4", "--batch", "4", "--steps", "8", "--epochs", "1", "--lowercase",
                                 "--normalize", "nfkc", "--unit", "codepoint", "--out", out},
                                tiny));
    ASSERT_EQ(first.status, 0) << first.err;
    auto again = run_charlm(cat({"train", "--resume", out + ".ckpt", "--epochs", "2", "--lowercase"}, tiny));
    EXPECT_EQ(again.status, 0) << again.err;
    auto changed = run_charlm(cat({"train", "--resume", out + ".ckpt", "--epochs", "3", "--normalize", "nfc"}, tiny));
    EXPECT_EQ(changed.status, 2) << changed.err;
    EXPECT_NE(changed.err.find("the text preprocessing is not the checkpoint's: --normalize is nfkc in the "
                               "checkpoint but nfc now"),
              std::string::npos)
        << changed.err;
    EXPECT_EQ(changed.err.find("another"), std::string::npos) << changed.err;
}


// ---- the walk: every setting of `charlm train`, from the table

// Two values per setting, neither its default: `first` for the run, `second` for --resume.
struct test_value {
    std::string first, second;
};

std::map<std::string, test_value> train_test_values(const std::string& dir, const std::string& corpus) {
    const std::string valid = write_file("opt_walk_valid.txt", corpus_text().substr(0, 2000));
    const std::string valid2 = write_file("opt_walk_valid2.txt", corpus_text().substr(2000, 2000));
    const std::string moved = write_file("opt_walk_moved.txt", slurp(corpus));  // the same text elsewhere
    return {
        {"corpus", {corpus, moved}},
        {"valid", {valid, valid2}},
        {"valid-fraction", {"0.2", "0.3"}},
        {"valid-tokens", {"2000", "3000"}},
        {"min-count", {"2", "3"}},
        {"encoding", {"ISO-8859-1", "UTF-8"}},
        {"on-invalid", {"replace", "skip"}},
        {"normalize", {"nfkc", "none"}},
        {"unit", {"codepoint", "grapheme"}},
        {"lowercase", {"true", "false"}},
        {"convert-corpus", {"t2s", "s2t"}},
        {"cell", {"gru", "lstm"}},
        {"layers", {"3", "1"}},
        {"hidden", {"12", "16"}},
        {"embed", {"6", "0"}},
        {"dropout", {"0.1", "0.2"}},
        {"softmax", {"adaptive", "full"}},
        {"cutoffs", {"8", "9"}},
        {"div-value", {"2", "3"}},
        {"batch", {"3", "4"}},
        {"steps", {"7", "8"}},
        {"sampling", {"consecutive", "random"}},
        {"epochs", {"2", "5"}},
        {"time-budget", {"1h", "2h"}},
        {"optimizer", {"sgd", "adam"}},
        {"lr", {"0.05", "0.04"}},
        {"lr-decay", {"0.9", "0.8"}},
        {"lr-schedule", {"cosine", "constant"}},
        {"lr-final", {"0.2", "0.3"}},
        {"warmup", {"3", "4"}},
        {"clip", {"0.5", "0.25"}},
        {"seed", {"7", "8"}},
        {"deterministic-reduce", {"true", "false"}},
        // Its only other training value, bf16, needs avx512_bf16: walked where the CPU has it.
        {"precision", {"bf16", "f32"}},
        {"dropout-input", {"0.1", "0.2"}},
        {"dropout-output", {"0.1", "0.2"}},
        {"weight-decay", {"0.01", "0.02"}},
        {"report-every", {"3", "4"}},
        {"valid-every", {"50", "60"}},
        {"patience", {"3", "4"}},
        {"lr-plateau", {"0.5", "0.7"}},
        {"out", {dir + "/m1", dir + "/m2"}},
        {"checkpoint-every", {"2", "1"}},
        {"keep-last", {"1", "2"}},
        {"metrics", {dir + "/m1.jsonl", dir + "/m2.jsonl"}},
        {"prefix", {"s", "t"}},
        {"sample-every", {"1", "2"}},
        {"sample-length", {"5", "6"}},
        {"sample-temperature", {"0.5", "0.7"}},
    };
}

// "--name value" for the command line; a flag is given when true (false needs a config file).
std::vector<std::string> args_for(const option<train_config>& o, const std::string& value) {
    if (o.flag) return value == "true" ? std::vector<std::string>{"--" + o.info.name} : std::vector<std::string>{};
    return {"--" + o.info.name, value};
}

// A value outside the range, on the side the option's type can express.
std::string outside(const value_range& r) {
    const double v = r.hi ? (r.hi_open ? *r.hi : *r.hi + 1) : (r.lo_open ? *r.lo : *r.lo - 1);
    return fmt::format("{}", v);
}

// Every stored setting of the checkpoint at `path` is `want`'s, except those named in `except`.
void expect_checkpoint_holds(const std::string& path, const train_config& want) {
    auto ck = read_checkpoint(path);
    ASSERT_TRUE(ck.ok()) << ck.err().message;
    for (const auto& o : train_options()) {
        if (!o.info.stored || o.info.name.empty()) continue;
        EXPECT_EQ(o.show(ck->config), o.show(want)) << "--" << o.info.name << " in " << path;
    }
}

TEST(options_cli, every_train_setting_is_stored_resumed_or_refused_and_range_checked) {
    const std::string dir = scratch_dir() + "/opt_walk";
    fs::create_directories(dir);
    const std::string corpus = write_file("opt_walk.txt", corpus_text());
    auto values = train_test_values(dir, corpus);

    // The test's list and the table name the same settings, and each value really changes one.
    std::vector<std::string> run_args{"train"}, same_args{"train"}, change_args{"train"};
    train_config first, second;
    for (const auto& o : train_options()) {
        if (o.info.name.empty() || o.info.name == "resume") continue;
        SCOPED_TRACE(o.info.name);
        auto it = values.find(o.info.name);
        if (o.info.name == "precision" && !precision_unavailable(precision::bf16, true).empty()) {
            values.erase(it);
            continue;
        }
        ASSERT_NE(it, values.end()) << "a setting without test values: add it to train_test_values()";
        const test_value v = it->second;
        values.erase(it);
        ASSERT_TRUE(o.parse(first, {v.first}).ok());
        EXPECT_FALSE(o.same(first, train_config{})) << "the first value is the default";
        run_args = cat(run_args, args_for(o, v.first));
        if (o.info.name != "epochs") same_args = cat(same_args, args_for(o, v.first));
        if (o.info.resume == on_resume::may_change) {
            ASSERT_TRUE(o.parse(second, {v.second}).ok());
            change_args = cat(change_args, args_for(o, v.second));
        }
    }
    EXPECT_TRUE(values.empty()) << values.begin()->first << " is not in the table";
    for (const auto& o : train_options())
        if (o.info.resume != on_resume::may_change && !o.info.name.empty()) o.copy(first, second);

    auto run = run_charlm(cat(run_args, tiny));
    ASSERT_EQ(run.status, 0) << run.err;
    const std::string ckpt = dir + "/m1.ckpt";
    {
        SCOPED_TRACE("the first run");
        expect_checkpoint_holds(ckpt, first);
    }
    // Resumed without options, every setting is the checkpoint's.
    auto plain = run_charlm(cat({"train", "--resume", ckpt, "--epochs", "3"}, tiny));
    ASSERT_EQ(plain.status, 0) << plain.err;
    first.epochs = 3;
    {
        SCOPED_TRACE("resumed without options");
        expect_checkpoint_holds(ckpt, first);
    }
    // Every setting given again with the checkpoint's value is accepted.
    same_args = cat(same_args, {"--resume", ckpt, "--epochs", "4"});
    auto same = run_charlm(cat(same_args, tiny));
    ASSERT_EQ(same.status, 0) << same.err;
    first.epochs = 4;
    {
        SCOPED_TRACE("resumed with every setting repeated");
        expect_checkpoint_holds(ckpt, first);
    }
    // Every setting that may change takes its new value.
    auto changed = run_charlm(cat(cat(change_args, {"--resume", ckpt}), tiny));
    ASSERT_EQ(changed.status, 0) << changed.err;
    {
        SCOPED_TRACE("resumed with the settings that may change changed");
        expect_checkpoint_holds(dir + "/m2.ckpt", second);
    }
    // Every setting that may not change is refused, naming itself (a flag is turned off in a config file).
    for (const auto& o : train_options()) {
        if (o.info.resume != on_resume::fixed) continue;
        SCOPED_TRACE(o.info.name);
        const std::string v = train_test_values(dir, corpus).at(o.info.name).second;
        std::vector<std::string> args{"train", "--resume", ckpt, "--epochs", "6"};
        if (o.flag) args = cat(args, {"--config", write_file("opt_walk_flag.ini", o.info.name + " = " + v + "\n")});
        else args = cat(args, args_for(o, v));
        auto r = run_charlm(cat(args, tiny));
        EXPECT_EQ(r.status, 2) << r.err;
        EXPECT_NE(r.err.find("--" + o.info.name), std::string::npos) << r.err;
    }
    // Every range is enforced, on a new run and on a resumed one.
    for (const auto& o : train_options()) {
        if (o.info.range.empty()) continue;
        SCOPED_TRACE(o.info.name);
        const std::string bad = outside(o.info.range);
        auto r = run_charlm(cat({"train", "--corpus", corpus, "--" + o.info.name, bad}, tiny));
        EXPECT_EQ(r.status, 2) << r.err;
        EXPECT_NE(r.err.find("--" + o.info.name + " must be "), std::string::npos) << r.err;
        if (o.info.resume != on_resume::may_change) continue;
        auto rr = run_charlm(cat({"train", "--resume", ckpt, "--epochs", "6", "--" + o.info.name, bad}, tiny));
        EXPECT_EQ(rr.status, 2) << rr.err;
        EXPECT_NE(rr.err.find("--" + o.info.name + " must be "), std::string::npos) << rr.err;
    }
    for (const auto& o : sample_options()) {
        if (o.info.range.empty()) continue;
        SCOPED_TRACE(o.info.name);
        auto r = run_charlm({"generate", "--model", dir + "/m1", "--" + o.info.name, outside(o.info.range)});
        EXPECT_EQ(r.status, 2) << r.err;
        EXPECT_NE(r.err.find("--" + o.info.name + " must be "), std::string::npos) << r.err;
    }
}

}  // namespace
}  // namespace charlm::test
