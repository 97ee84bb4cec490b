// The `charlm corpus` command and the CLI's conventions through the real binary: exit statuses
// (0 ok, 2 usage, 1 other), one-line messages that say what and where, and the JSON output.
#include <gtest/gtest.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli_support.h"

namespace charlm::test {
namespace {

TEST(cli, version_and_help) {
    auto v = run_charlm({"--version"});
    EXPECT_EQ(v.status, 0);
    EXPECT_NE(v.out.find("charlm "), std::string::npos);
    // The version, the commit, the libraries and the CPU paths (issue 28).
    for (const char* row : {"(commit ", "\noneDNN   2.", "\nICU      ", "\nOpenCC   1.", "\nMPI      ",
                            "\nCPU      avx2+fma ", "\nkernels  "})
        EXPECT_NE(v.out.find(row), std::string::npos) << row << " in:\n" << v.out;
    auto h = run_charlm({"--help"});
    EXPECT_EQ(h.status, 0);
    for (const char* cmd : {"corpus", "train", "generate", "eval", "info"}) EXPECT_NE(h.out.find(cmd), std::string::npos) << cmd;
    auto ch = run_charlm({"corpus", "--help"});
    EXPECT_EQ(ch.status, 0);
    EXPECT_NE(ch.out.find("--encoding"), std::string::npos);
    EXPECT_NE(ch.out.find("(=utf-8)"), std::string::npos) << "defaults are shown";
}

// The commit is read at build time, not when CMake configured the tree: a build after a new commit
// named the old one.
TEST(cli, version_names_the_commit_built) {
    std::string head;
    if (FILE* git = popen("git -C " CHARLM_SOURCE_DIR " rev-parse --short=12 HEAD 2>/dev/null", "r")) {
        char buf[64] = {};
        if (fgets(buf, sizeof buf, git)) head = buf;
        pclose(git);
    }
    if (head.size() < 12) GTEST_SKIP() << "the source is not a git checkout";
    auto v = run_charlm({"--version"});
    EXPECT_NE(v.out.find("(commit " + head.substr(0, 12)), std::string::npos) << v.out;
}

TEST(cli, usage_errors_exit_2) {
    auto none = run_charlm({});
    EXPECT_EQ(none.status, 2);
    auto unknown = run_charlm({"frobnicate"});
    EXPECT_EQ(unknown.status, 2);
    EXPECT_NE(unknown.err.find("unknown command 'frobnicate'"), std::string::npos) << unknown.err;
    std::string f = write_file("ok.txt", "hello\n");
    auto bad_norm = run_charlm({"corpus", f, "--normalize", "nfd"});
    EXPECT_EQ(bad_norm.status, 2);
    EXPECT_NE(bad_norm.err.find("--normalize"), std::string::npos) << bad_norm.err;
    auto bad_unit = run_charlm({"corpus", f, "--unit", "byte"});
    EXPECT_EQ(bad_unit.status, 2);
    auto bad_enc = run_charlm({"corpus", f, "--encoding", "no-such-encoding"});
    EXPECT_EQ(bad_enc.status, 2) << bad_enc.err;
    auto bad_opt = run_charlm({"corpus", f, "--no-such-option"});
    EXPECT_EQ(bad_opt.status, 2);
    auto no_file = run_charlm({"corpus"});
    EXPECT_EQ(no_file.status, 2);
    for (const auto& r : {bad_norm, bad_unit, bad_enc, bad_opt, no_file}) {
        EXPECT_EQ(r.err.rfind("charlm: ", 0), 0u) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one-line message: " << r.err;
    }
}

TEST(cli, missing_file_and_directory_exit_1) {
    auto missing = run_charlm({"corpus", scratch_dir() + "/does-not-exist.txt"});
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.err.find("does-not-exist.txt"), std::string::npos) << missing.err;
    auto dir = run_charlm({"corpus", scratch_dir()});
    EXPECT_EQ(dir.status, 1);
    EXPECT_NE(dir.err.find("directory"), std::string::npos) << dir.err;
}

TEST(cli, invalid_utf8_names_place_and_bytes) {
    // Line 2, column 3 (code points), byte offset 8: "ab\nc\xC3(" has a truncated 2-byte sequence.
    std::string f = write_file("bad.txt", std::string("hello\nab\xC3(x\n"));
    auto r = run_charlm({"corpus", f});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("bad.txt"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("column 3"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("8"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("C3"), std::string::npos) << "shows the bad bytes: " << r.err;
    auto rep = run_charlm({"corpus", f, "--on-invalid", "replace", "--json"});
    ASSERT_EQ(rep.status, 0) << rep.err;
    auto j = nlohmann::json::parse(rep.out);
    EXPECT_EQ(j["invalid_sequences"], 1);
}

TEST(cli, corpus_json_keys_and_counts) {
    // "e" + combining acute is one grapheme and NFC-composes to U+00E9.
    std::string f = write_file("mix.txt", "caf\x65\xCC\x81 caf\xC3\xA9\r\n\xE6\x98\xA5\xE7\x9C\xA0\n");
    auto r = run_charlm({"corpus", f, "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    for (const char* k : {"bytes", "code_points", "tokens", "distinct_tokens", "lines", "invalid_sequences",
                          "encoding", "unit", "top_tokens"})
        EXPECT_TRUE(j.contains(k)) << k;
    EXPECT_EQ(j["bytes"], 21);
    EXPECT_EQ(j["tokens"], 13);  // c a f é ␠ c a f é \n 春 眠 \n (NFC, CRLF -> LF)
    EXPECT_EQ(j["code_points"], 13);
    EXPECT_EQ(j["distinct_tokens"], 8);  // c a f é ␠ \n 春 眠
    EXPECT_EQ(j["lines"], 2);
    EXPECT_EQ(j["unit"], "grapheme");
    auto cp = run_charlm({"corpus", f, "--json", "--normalize", "none", "--unit", "codepoint"});
    ASSERT_EQ(cp.status, 0) << cp.err;
    EXPECT_EQ(nlohmann::json::parse(cp.out)["tokens"], 14);  // the combining accent stays separate
}

TEST(cli, stdin_and_empty_file) {
    auto r = run_charlm({"corpus", "-", "--json"}, "abc\n");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["tokens"], 4);
    std::string empty = write_file("empty.txt", "");
    auto e = run_charlm({"corpus", empty, "--json"});
    ASSERT_EQ(e.status, 0) << e.err;
    EXPECT_EQ(nlohmann::json::parse(e.out)["tokens"], 0);
}

TEST(cli, corpus_on_shared_corpora) {
    const std::string dir = CHARLM_SHARED_CORPORA;
    if (!std::filesystem::exists(dir + "/tang300.txt")) GTEST_SKIP() << "no shared corpora at " << dir;
    auto r = run_charlm({"corpus", dir + "/tang300.txt", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["bytes"], 83605);
    EXPECT_EQ(j["code_points"], 29577);
    EXPECT_EQ(j["distinct_tokens"], 2579);
    EXPECT_EQ(j["lines"], 2544);
    EXPECT_EQ(j["encoding"], "UTF-8");
}

}  // namespace
}  // namespace charlm::test
