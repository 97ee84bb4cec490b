// Test support: runs the built charlm binary with arguments and captures exit status, stdout
// and stderr; makes scratch files. For the CLI tests only.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace charlm::test {

struct run_result {
    int status = -1;  // exit status, or 128 + signal
    std::string out, err;
};

inline std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A directory of this test process's own, removed when it exits (CHARLM_KEEP_TEST_FILES=1 keeps it;
// a forked child, such as a death test's, never removes its parent's).
struct scratch_directory {
    std::string path;
    pid_t owner = ::getpid();
    scratch_directory() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "charlm_test_XXXXXX").string();
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        path = ::mkdtemp(buf.data());
    }
    ~scratch_directory() {
        if (::getpid() != owner || std::getenv("CHARLM_KEEP_TEST_FILES")) return;
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

inline std::string scratch_dir() {
    static scratch_directory dir;
    return dir.path;
}

inline std::string write_file(const std::string& name, const std::string& bytes) {
    std::string path = scratch_dir() + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

inline std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
        if (c == '\'') q.append("'\\''");
        else q.push_back(c);
    }
    q.push_back('\'');
    return q;
}

// Runs CHARLM_BINARY with `args`; `stdin_bytes` is fed on standard input.
inline run_result run_charlm(const std::vector<std::string>& args, const std::string& stdin_bytes = "") {
    static int counter = 0;
    const std::string base = scratch_dir() + "/run" + std::to_string(++counter);
    std::string cmd = shell_quote(CHARLM_BINARY);
    for (const auto& a : args) {
        cmd.append(" ");
        cmd.append(shell_quote(a));
    }
    std::string in_path = base;
    in_path.append(".in");
    std::ofstream(in_path, std::ios::binary) << stdin_bytes;
    cmd.append(" <").append(in_path).append(" >").append(base).append(".out 2>").append(base).append(".err");
    int raw = std::system(cmd.c_str());
    run_result r;
    if (WIFEXITED(raw)) r.status = WEXITSTATUS(raw);
    else if (WIFSIGNALED(raw)) r.status = 128 + WTERMSIG(raw);
    r.out = slurp(base + ".out");
    r.err = slurp(base + ".err");
    return r;
}

}  // namespace charlm::test
