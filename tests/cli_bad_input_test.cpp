// Every input is checked: one table of bad inputs run through the real binary — text files
// (ill-formed UTF-8, binary files, empty, too short, 200 MB without a newline, directories,
// missing and unreadable files), model files (empty, truncated at every section, corrupt
// headers, shapes, NaN, future versions, foreign files), nonsense option values, and outputs
// that cannot be written (devices, FIFOs, read-only places, a full disk). Each row gives the
// exit status and what the one-line message must say, and no row may end by a signal.
// Also: a vocabulary of more than 100 000 tokens (4-byte ids) trains, evaluates and generates.
//
// The binary runs in a forked child (not through the shell) so that a row can set resource
// limits (RLIMIT_AS, RLIMIT_FSIZE with SIGXFSZ ignored), see a signal directly and read the
// child's peak memory (wait4).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "charlm/text.hpp"
#include "cli_support.h"

namespace charlm::test {
namespace {

namespace fs = std::filesystem;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool asan = true;  // ASan reserves terabytes of address space: no RLIMIT_AS, looser memory bounds
#else
constexpr bool asan = false;
#endif

constexpr uint64_t MiB = uint64_t{1} << 20;

// ---- running the binary with limits

struct limits {
    uint64_t address_space = 0;  // RLIMIT_AS in bytes; 0: unchanged
    uint64_t file_size = 0;      // RLIMIT_FSIZE in bytes (SIGXFSZ ignored, so writes fail with EFBIG)
};

struct child_run {
    int status = -1;      // exit status when the child exited
    int signal = 0;       // the signal that ended it, or 0
    bool timed_out = false;
    uint64_t peak_rss = 0;  // bytes (wait4's ru_maxrss)
    std::string out, err;
};

child_run run_limited(const std::vector<std::string>& args, const limits& lim, int timeout_s = 120) {
    static int counter = 0;
    const std::string base = scratch_dir() + "/limited" + std::to_string(++counter);
    const std::string out_path = base + ".out", err_path = base + ".err";
    std::vector<std::string> all{CHARLM_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int in = ::open("/dev/null", O_RDONLY);
        const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0) ::_exit(126);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(err, 2);
        if (lim.address_space) {
            const rlimit r{lim.address_space, lim.address_space};
            if (::setrlimit(RLIMIT_AS, &r) != 0) ::_exit(126);
        }
        if (lim.file_size) {
            ::signal(SIGXFSZ, SIG_IGN);  // kept across exec: a write past the limit fails with EFBIG
            const rlimit r{lim.file_size, lim.file_size};
            if (::setrlimit(RLIMIT_FSIZE, &r) != 0) ::_exit(126);
        }
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    child_run r;
    if (pid < 0) return r;
    int st = 0;
    rusage ru{};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    for (;;) {
        const pid_t w = ::wait4(pid, &st, WNOHANG, &ru);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) return r;
        if (std::chrono::steady_clock::now() > deadline) {  // a hang is a failure, not a stuck suite
            r.timed_out = true;
            ::kill(pid, SIGKILL);
            ::wait4(pid, &st, 0, &ru);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (WIFEXITED(st)) r.status = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) r.signal = WTERMSIG(st);
    r.peak_rss = static_cast<uint64_t>(ru.ru_maxrss) * 1024;
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    fs::remove(out_path);
    fs::remove(err_path);
    return r;
}

// ---- the inputs the rows share: a toy corpus and a real model trained from it

std::string toy_text() {
    std::string s;
    const char* lines[] = {"spring rain on the river\n", "autumn moon over the hills\n", "a crane in the pines\n",
                           "snow on the far mountain\n"};
    for (int i = 0; i < 120; ++i) s += lines[(i * 7 + i / 3) % 4];
    return s;
}

const std::string& toy_corpus() {
    static const std::string path = write_file("bad_input_toy.txt", toy_text());
    return path;
}

// Options of a training run that takes a fraction of a second.
std::vector<std::string> tiny_train(const std::string& corpus = "@corpus") {
    return {"train", "--corpus", corpus, "--cell", "gru", "--layers", "1", "--hidden", "32", "--embed", "8",
            "--batch", "4", "--steps", "16", "--epochs", "1", "--threads", "1"};
}

// A model written by `charlm train` (about 20 KB), as bytes; trained once.
const std::string& good_model_bytes() {
    static const std::string bytes = [] {
        const std::string path = scratch_dir() + "/bad_input_good.safetensors";
        auto args = tiny_train(toy_corpus());
        args.insert(args.end(), {"--out", path, "--force"});
        auto r = run_limited(args, {});
        EXPECT_EQ(r.status, 0) << r.err;
        return slurp(path);
    }();
    return bytes;
}

const std::string& good_model() {
    static const std::string path = [] {
        const std::string p = scratch_dir() + "/bad_input_model.safetensors";
        std::ofstream(p, std::ios::binary) << good_model_bytes();
        return p;
    }();
    return path;
}

uint64_t header_length(const std::string& model) {
    uint64_t n = 0;
    std::memcpy(&n, model.data(), 8);
    return n;
}

// Rebuilds a safetensors file from a header and data, with the 8-byte little-endian length.
std::string assemble(const std::string& header, const std::string& data) {
    const uint64_t n = header.size();
    std::string out(reinterpret_cast<const char*>(&n), 8);
    return out + header + data;
}

// ---- files a row creates in its own directory

using maker = std::function<void(const std::string& path)>;
struct file_spec {
    std::string name;
    maker make;
};

maker bytes(std::string b) {
    return [b = std::move(b)](const std::string& p) { std::ofstream(p, std::ios::binary) << b; };
}
// The good model cut to its first at(size, header length) bytes.
maker model_cut(std::function<size_t(size_t, size_t)> at) {
    return [at = std::move(at)](const std::string& p) {
        const std::string& m = good_model_bytes();
        std::ofstream(p, std::ios::binary) << m.substr(0, at(m.size(), header_length(m)));
    };
}
// The good model with its JSON header (and data) edited.
maker model_edit(std::function<void(nlohmann::json&, std::string&)> edit) {
    return [edit = std::move(edit)](const std::string& p) {
        const std::string& m = good_model_bytes();
        const uint64_t n = header_length(m);
        auto header = nlohmann::json::parse(m.substr(8, n));
        std::string data = m.substr(8 + n);
        edit(header, data);
        std::ofstream(p, std::ios::binary) << assemble(header.dump(), data);
    };
}
// The good model with a metadata entry changed.
maker model_meta(std::function<void(nlohmann::json& meta)> edit) {
    return model_edit([edit = std::move(edit)](nlohmann::json& h, std::string&) { edit(h["__metadata__"]); });
}
// One field of the model configuration (a JSON string in the metadata) set to `v`.
maker model_config_field(const std::string& key, nlohmann::json v) {
    return model_meta([key, v](nlohmann::json& meta) {
        auto mc = nlohmann::json::parse(meta["model_config"].get<std::string>());
        mc[key] = v;
        meta["model_config"] = mc.dump();
    });
}
// A float of a tensor's data set to `v`.
maker model_value(const std::string& tensor, float v) {
    return model_edit([tensor, v](nlohmann::json& h, std::string& data) {
        const size_t at = h[tensor]["data_offsets"][0].get<size_t>() + 4;
        std::memcpy(data.data() + at, &v, 4);
    });
}
maker directory() {
    return [](const std::string& p) { fs::create_directory(p); };
}
maker fifo() {
    return [](const std::string& p) { ASSERT_EQ(::mkfifo(p.c_str(), 0644), 0) << std::strerror(errno); };
}
// A link to /dev/full: a device at the target for root and everyone else alike, and should the
// writer ever rename over it, only this link is replaced, never the device node in /dev.
maker link_to_dev_full() {
    return [](const std::string& p) { fs::create_symlink("/dev/full", p); };
}

// `reps` copies of a line without its newline: the pipeline must cut it without a line break.
constexpr const char* no_newline_piece = "spring rain on the river \xE6\x98\xA5\xE7\x9C\xA0\xE4\xB8\x8D\xE8\xA6\xBA\xE6\x9B\x89 ";
constexpr uint64_t no_newline_piece_bytes = 41, no_newline_piece_tokens = 31;  // 25 ASCII + 5 Han + space
constexpr uint64_t no_newline_reps = 200'000'000 / no_newline_piece_bytes;     // 199 999 968 bytes
maker big_without_newline() {
    return [](const std::string& p) {
        std::string block;
        for (int k = 0; k < 100'000; ++k) block += no_newline_piece;
        std::ofstream f(p, std::ios::binary);
        uint64_t left = no_newline_reps;
        for (; left >= 100'000; left -= 100'000) f << block;
        f << block.substr(0, left * no_newline_piece_bytes);
    };
}

std::vector<std::string> temp_files_in(const std::string& dir) {
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp.") != std::string::npos) found.push_back(e.path().string());
    return found;
}

bool is_root() { return ::geteuid() == 0; }

// Whether a file can be created in `dir` (a probe; removed again).
bool can_create_in(const std::string& dir) {
    const std::string p = dir + "/charlm_probe_" + std::to_string(::getpid());
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) return false;
    ::close(fd);
    ::unlink(p.c_str());
    return true;
}

// ---- the table

struct row {
    std::string name;
    std::vector<std::string> args;  // "@x": file x of the row's directory; "@model", "@corpus": shared ones
    std::vector<file_spec> files;
    int status;                          // expected exit status
    std::vector<std::string> err_says;   // substrings of stderr
    std::vector<std::string> out_says{};  // substrings of stdout
    limits lim{};
    std::function<void(const std::string& dir, const child_run&)> check{};  // further assertions
    std::function<std::string()> skip{};  // a reason this row cannot run here, or ""
};

std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

std::vector<row> table() {
    std::vector<row> t;
    const std::string bad_middle = "hello\nworld\nab\xFF cd\nmore\n";  // FF at byte 14: line 3, column 3
    const std::string png = std::string("\x89PNG\r\n\x1A\n\0\0\0\x0DIHDR\0\0\0\x10", 20);

    // -- text files
    t.push_back({"utf8_invalid_in_the_middle", {"corpus", "@bad.txt"}, {{"bad.txt", bytes(bad_middle)}}, 1,
                 {"bad.txt", "invalid UTF-8", "byte offset 14", "line 3, column 3", "bytes FF", "--on-invalid"}});
    t.push_back({"utf8_truncated_at_the_end", {"corpus", "@bad.txt"}, {{"bad.txt", bytes("hello\nab\xE6\x98")}}, 1,
                 {"bad.txt", "truncated sequence at end of input", "byte offset 8", "line 2, column 3", "E6 98"}});
    t.push_back({"utf8_invalid_in_a_training_corpus", tiny_train("@bad.txt"), {{"bad.txt", bytes(bad_middle + toy_text())}},
                 1, {"bad.txt", "byte offset 14", "line 3"}});
    t.push_back({"utf8_invalid_in_an_eval_text", {"eval", "--model", "@model", "--text", "@bad.txt"},
                 {{"bad.txt", bytes(bad_middle)}}, 1, {"bad.txt", "byte offset 14", "line 3"}});
    t.push_back({"binary_nul_bytes", {"corpus", "@nul.bin"}, {{"nul.bin", bytes(std::string("abc\0\0\0def\n", 10))}}, 1,
                 {"nul.bin", "binary file", "NUL byte at byte offset 3", "--encoding"}});
    t.push_back({"binary_png_header", {"corpus", "@image.png"}, {{"image.png", bytes(png)}}, 1,
                 {"image.png", "binary file", "byte offset 8 (line 3)"}});
    t.push_back({"binary_png_as_training_corpus", tiny_train("@image.png"), {{"image.png", bytes(png)}}, 1,
                 {"image.png", "binary file"}});
    t.push_back({"binary_nul_read_anyway_on_request", {"corpus", "@nul.bin", "--on-invalid", "replace", "--json"},
                 {{"nul.bin", bytes(std::string("abc\0\0\0def\n", 10))}}, 0, {}, {"\"tokens\":10"}});
    t.push_back({"utf16_text_named_is_not_binary", {"corpus", "@u16.txt", "--encoding", "UTF-16LE", "--json"},
                 {{"u16.txt", bytes(std::string("h\0i\0\n\0", 6))}}, 0, {}, {"\"tokens\":3"}});
    t.push_back({"empty_file_shown", {"corpus", "@empty.txt", "--json"}, {{"empty.txt", bytes("")}}, 0, {},
                 {"\"tokens\":0"}});
    t.push_back({"empty_training_corpus", tiny_train("@empty.txt"), {{"empty.txt", bytes("")}}, 1,
                 {"empty.txt", "0 tokens, fewer than"}});
    t.push_back({"corpus_shorter_than_one_window", tiny_train("@short.txt"), {{"short.txt", bytes("spring rain\n")}},
                 1, {"short.txt", "tokens, fewer than the", "--batch"}});
    t.push_back({"eval_text_empty", {"eval", "--model", "@model", "--text", "@empty.txt"}, {{"empty.txt", bytes("")}},
                 1, {"empty.txt", "fewer than 2 tokens"}});
    // 200 MB without a newline. The ids take one byte a token (18 distinct), so the id stream is
    // below the file size; peak memory may add the 4 MiB chunks, their UTF-16 copies and the
    // binary itself: file + 64 MiB. The address space is limited to 3x the file, the
    // pipeline's promise (bench/bench_load.cpp), so a runaway allocation fails the row rather
    // than the machine.
    t.push_back({"file_of_200_MB_without_a_newline",
                 {"corpus", "@big.txt", "--json"},
                 {{"big.txt", big_without_newline()}},
                 0,
                 {},
                 {"\"lines\":1,", "\"tokens\":" + std::to_string(no_newline_reps * no_newline_piece_tokens) + ",",
                  "\"bytes\":" + std::to_string(no_newline_reps * no_newline_piece_bytes) + ","},
                 {asan ? 0 : 3 * no_newline_reps * no_newline_piece_bytes, 0},
                 [](const std::string&, const child_run& r) {
                     const uint64_t file = no_newline_reps * no_newline_piece_bytes;
                     EXPECT_LE(r.peak_rss, asan ? 3 * file : file + 64 * MiB)
                         << "peak RSS " << r.peak_rss / MiB << " MiB for a " << file / MiB << " MiB file";
                     std::printf("peak RSS %.0f MiB for a %.0f MiB file\n", static_cast<double>(r.peak_rss) / MiB,
                                 static_cast<double>(file) / MiB);
                 }});
    // The same file with too little memory: a clean message, not a crash. 192 MiB holds the
    // binary (about 100 MiB of address space at start) but not the 150 M ids.
    t.push_back({"file_of_200_MB_out_of_memory",
                 {"corpus", "@big.txt"},
                 {{"big.txt", big_without_newline()}},
                 1,
                 {"out of memory in 'corpus'"},
                 {},
                 {192 * MiB, 0},
                 {},
                 [] { return std::string(asan ? "ASan needs more address space than any limit here" : ""); }});
    t.push_back({"corpus_is_a_directory", {"corpus", "@dir"}, {{"dir", directory()}}, 1, {"dir", "is a directory"}});
    t.push_back({"training_corpus_is_a_directory", tiny_train("@dir"), {{"dir", directory()}}, 1, {"is a directory"}});
    t.push_back({"corpus_missing", {"corpus", "@nope.txt"}, {}, 1, {"nope.txt", "No such file or directory", "check the path"}});
    t.push_back({"training_corpus_missing", tiny_train("@nope.txt"), {}, 1, {"nope.txt", "No such file or directory"}});
    // Unreadable as root too: a sysctl without read permission refuses open() even to root
    // (EACCES), and /proc/self/mem opens but fails read() at address 0 (EIO).
    auto no_sysctl = [] {
        return fs::exists("/proc/sys/vm/compact_memory") ? std::string() : "no /proc/sys/vm/compact_memory here";
    };
    t.push_back({"corpus_unreadable_open_fails", {"corpus", "/proc/sys/vm/compact_memory"}, {}, 1,
                 {"compact_memory", "Permission denied"}, {}, {}, {}, no_sysctl});
    t.push_back({"corpus_unreadable_read_fails", {"corpus", "/proc/self/mem"}, {}, 1,
                 {"cannot read '/proc/self/mem'", "Input/output error"}});
    t.push_back({"training_corpus_unreadable_read_fails", tiny_train("/proc/self/mem"), {}, 1,
                 {"cannot read '/proc/self/mem'", "Input/output error"}});

    // -- model files: every command that reads one
    const std::vector<std::string> model_cmds[] = {{"info", "--model"},
                                                   {"generate", "--length", "5", "--model"},
                                                   {"eval", "--text", "@corpus", "--model"}};
    const char* cmd_names[] = {"info", "generate", "eval"};
    for (int c = 0; c < 3; ++c) {
        const std::string pre = std::string(cmd_names[c]) + "_model_";
        auto args = [&](const std::string& m) { return plus(model_cmds[c], {m}); };
        t.push_back({pre + "empty", args("@m.st"), {{"m.st", bytes("")}}, 1, {"m.st", "the file is empty"}});
        t.push_back({pre + "directory", args("@dir"), {{"dir", directory()}}, 1, {"dir' is a directory"}});
        t.push_back({pre + "missing", args("@nope.st"), {}, 1, {"nope.st", "No such file or directory"}});
        t.push_back({pre + "device", args("/dev/zero"), {}, 1, {"/dev/zero' is a character device"}});
        t.push_back({pre + "unreadable_open_fails", args("/proc/sys/vm/compact_memory"), {}, 1,
                     {"compact_memory", "Permission denied"}, {}, {}, {}, no_sysctl});
        t.push_back({pre + "unreadable_read_fails", args("/proc/self/mem"), {}, 1,
                     {"cannot read model file '/proc/self/mem'", "Input/output error"}});
        t.push_back({pre + "is_a_text_file", args("@corpus"), {}, 1, {"not a valid charlm model file", "runs past the end"}});
        t.push_back({pre + "cut_inside_the_data", args("@m.st"),
                     {{"m.st", model_cut([](size_t size, size_t n) { return (8 + n + size) / 2; })}}, 1,
                     {"m.st", "lies outside the data", "truncated"}});
    }
    // Truncated at every section, through `info`: inside the 8-byte length, inside the JSON
    // header, at its end, and at several places of the tensor data.
    const std::pair<const char*, std::function<size_t(size_t, size_t)>> cuts[] = {
        {"length_1", [](size_t, size_t) { return 1; }},
        {"length_7", [](size_t, size_t) { return 7; }},
        {"header_0", [](size_t, size_t) { return 8; }},
        {"header_1", [](size_t, size_t) { return 9; }},
        {"header_half", [](size_t, size_t n) { return 8 + n / 2; }},
        {"header_all_but_1", [](size_t, size_t n) { return 8 + n - 1; }},
        {"data_0", [](size_t, size_t n) { return 8 + n; }},
        {"data_1", [](size_t, size_t n) { return 8 + n + 1; }},
        {"data_4", [](size_t, size_t n) { return 8 + n + 4; }},
        {"data_third", [](size_t size, size_t n) { return 8 + n + (size - 8 - n) / 3; }},
        {"data_all_but_4", [](size_t size, size_t) { return size - 4; }},
        {"data_all_but_1", [](size_t size, size_t) { return size - 1; }},
    };
    for (const auto& [label, at] : cuts) {
        const std::string l = label;
        const std::string says = l.rfind("length", 0) == 0   ? "shorter than the 8-byte header length"
                                 : l.rfind("header", 0) == 0 ? "runs past the end of the file"
                                                             : "lies outside the data";
        t.push_back({"model_truncated_at_" + l, {"info", "@m.st"}, {{"m.st", model_cut(at)}}, 1, {"m.st", says}});
    }
    t.push_back({"model_header_length_far_past_the_end", {"info", "@m.st"},
                 {{"m.st", bytes(assemble("", "{}").replace(0, 8, std::string("\0\0\0\0\0\0\0\x40", 8)))}}, 1,
                 {"m.st", "header length (4611686018427387904 bytes) runs past the end"}});
    t.push_back({"model_header_length_one_past_the_end", {"info", "@m.st"},
                 {{"m.st", [](const std::string& p) {
                       std::string m = good_model_bytes();
                       const uint64_t n = m.size() - 8 + 1;
                       std::memcpy(m.data(), &n, 8);
                       std::ofstream(p, std::ios::binary) << m;
                   }}},
                 1, {"m.st", "runs past the end"}});
    t.push_back({"model_header_not_json", {"info", "@m.st"},
                 {{"m.st", bytes(assemble("{\"dtype\": F32, oops", std::string(64, '\0')))}}, 1,
                 {"m.st", "JSON header does not parse"}});
    t.push_back({"model_header_not_an_object", {"info", "@m.st"}, {{"m.st", bytes(assemble("[1, 2, 3]", ""))}}, 1,
                 {"m.st", "not an object"}});
    t.push_back({"model_shapes_disagree_with_the_configuration", {"info", "@m.st"},
                 {{"m.st", model_config_field("hidden", 64)}},
                 1, {"m.st", "has shape", "but the configuration needs"}});
    // nlohmann's get<T> casts a float to an integer unchecked: undefined behaviour the fuzzer found
    t.push_back({"model_configuration_number_out_of_range", {"info", "@m.st"},
                 {{"m.st", model_config_field("hidden", 1e30)}},
                 1, {"m.st", "'hidden': 1e+30 is out of range"}});
    t.push_back({"model_configuration_fraction_for_a_count", {"info", "@m.st"},
                 {{"m.st", model_config_field("layers", 1.5)}},
                 1, {"m.st", "'layers': 1.5 is not a whole number"}});
    t.push_back({"model_training_summary_number_out_of_range", {"info", "@m.st"},
                 {{"m.st", model_meta([](nlohmann::json& meta) {
                       meta["training"] = nlohmann::json{{"epochs", -1e300}}.dump();
                   })}},
                 1, {"m.st", "metadata is malformed", "'epochs' is -1e+300"}});
    t.push_back({"model_tensor_shape_transposed", {"generate", "--model", "@m.st"},
                 {{"m.st", model_edit([](nlohmann::json& h, std::string&) {
                       auto& s = h["decoder.weight"]["shape"];
                       s = nlohmann::json::array({s[1], s[0]});
                   })}},
                 1, {"m.st", "decoder.weight", "has shape", "but the configuration needs"}});
    t.push_back({"model_vocabulary_disagrees", {"info", "@m.st"},
                 {{"m.st", model_meta([](nlohmann::json& meta) {
                       auto v = nlohmann::json::parse(meta["vocab"].get<std::string>());
                       v.erase(v.size() - 1);
                       meta["vocab"] = v.dump();
                   })}},
                 1, {"m.st", "vocabulary has", "but the configuration says"}});
    t.push_back({"model_nan_weights", {"generate", "--model", "@m.st"}, {{"m.st", model_value("rnn.weight_hh_l0", NAN)}},
                 1, {"m.st", "rnn.weight_hh_l0", "non-finite"}});
    t.push_back({"model_inf_weights", {"eval", "--text", "@corpus", "--model", "@m.st"},
                 {{"m.st", model_value("decoder.bias", -INFINITY)}}, 1, {"m.st", "decoder.bias", "non-finite"}});
    t.push_back({"model_future_format_version", {"generate", "--model", "@m.st"},
                 {{"m.st", model_meta([](nlohmann::json& meta) { meta["format_version"] = "99"; })}}, 1,
                 {"m.st", "format version 99", "upgrade charlm"}});
    t.push_back({"model_foreign_safetensors_without_metadata", {"info", "@m.st"},
                 {{"m.st", model_edit([](nlohmann::json& h, std::string&) { h.erase("__metadata__"); })}}, 1,
                 {"m.st", "no \"format\": \"charlm\"", "another program"}});
    t.push_back({"model_foreign_safetensors_with_other_metadata", {"info", "@m.st"},
                 {{"m.st", model_edit([](nlohmann::json& h, std::string&) { h["__metadata__"] = {{"format", "pt"}}; })}},
                 1, {"m.st", "another program"}});

    // -- nonsense option values: exit 2 and a one-line usage error
    struct opt_case {
        const char* name;
        std::vector<std::string> args;
        const char* says;
    };
    const opt_case opts[] = {
        {"generate_negative_temperature", {"generate", "--model", "@model", "--temperature", "-1"}, "--temperature"},
        {"generate_top_p_0", {"generate", "--model", "@model", "--top-p", "0"}, "--top-p must be in (0, 1]"},
        {"generate_top_p_1_5", {"generate", "--model", "@model", "--top-p", "1.5"}, "--top-p must be in (0, 1]"},
        {"generate_negative_top_k", {"generate", "--model", "@model", "--top-k", "-1"}, "'--top-k' is invalid"},
        {"generate_negative_length", {"generate", "--model", "@model", "--length", "-3"}, "'--length' is invalid"},
        {"generate_zero_samples", {"generate", "--model", "@model", "--num-samples", "0"}, "--num-samples"},
        {"generate_non_numeric_temperature", {"generate", "--model", "@model", "--temperature", "warm"}, "'--temperature' is invalid"},
        {"generate_unknown_policy", {"generate", "--model", "@model", "--unknown", "guess"}, "--unknown"},
        {"generate_prefix_not_utf8", {"generate", "--model", "@model", "--prefix", "\xff"}, "give the text in UTF-8"},
        {"generate_bogus_script", {"generate", "--model", "@model", "--script", "klingon"}, "unknown output script"},
        {"generate_bogus_convert", {"generate", "--model", "@model", "--convert", "maybe"}, "unknown conversion policy"},
        // A prefix the model cannot read is a bad option value, exit 2 as with --form (issue 24).
        {"generate_prefix_the_model_never_saw", {"generate", "--model", "@model", "--prefix", "\u2603"}, "U+2603"},
        {"generate_negative_threads", {"generate", "--model", "@model", "--threads", "-2"}, "--threads"},
        {"train_zero_batch", {"train", "--corpus", "@corpus", "--batch", "0"}, "--batch"},
        {"train_unknown_softmax", {"train", "--corpus", "@corpus", "--softmax", "mixture"}, "--softmax: unknown softmax 'mixture'"},
        {"train_cutoffs_not_increasing", {"train", "--corpus", "@corpus", "--cutoffs", "10,5"}, "strictly increasing"},
        {"train_cutoffs_not_a_list", {"train", "--corpus", "@corpus", "--cutoffs", "10;20"}, "--cutoffs: bad list '10;20'"},
        {"train_cutoffs_with_full_softmax", {"train", "--corpus", "@corpus", "--softmax", "full", "--cutoffs", "10"}, "needs --softmax adaptive"},
        {"train_cutoffs_beyond_the_vocabulary", {"train", "--corpus", "@corpus", "--cutoffs", "5,100000"}, "below the vocabulary size"},
        {"train_div_value_zero", {"train", "--corpus", "@corpus", "--softmax", "adaptive", "--div-value", "0"}, "--div-value"},
        {"train_adaptive_projection_narrower_than_1", {"train", "--corpus", "@corpus", "--hidden", "8", "--cutoffs", "2,4,6"}, "narrower than 1"},
        {"train_unknown_cell", {"train", "--corpus", "@corpus", "--cell", "transformer"}, "--cell: unknown cell 'transformer'"},
        {"train_non_numeric_hidden", {"train", "--corpus", "@corpus", "--hidden", "many"}, "'--hidden' is invalid"},
        {"train_hidden_too_large_for_its_type", {"train", "--corpus", "@corpus", "--hidden", "99999999999"}, "'--hidden' is invalid"},
        {"train_negative_epochs", {"train", "--corpus", "@corpus", "--epochs", "-1"}, "'--epochs' is invalid"},  // was: train for ever
        {"train_negative_seed", {"train", "--corpus", "@corpus", "--seed", "-7"}, "'--seed' is invalid"},
        {"train_nan_learning_rate", {"train", "--corpus", "@corpus", "--lr", "nan"}, "--lr"},
        {"train_option_given_twice", {"train", "--corpus", "@corpus", "--hidden", "8", "--hidden", "16"}, "'--hidden' cannot be specified more than once"},
        {"train_unknown_option", {"train", "--corpus", "@corpus", "--bogus"}, "unrecognised option '--bogus'"},
        {"train_missing_corpus", {"train", "--epochs", "1"}, "--corpus"},
        {"train_valid_every_neither_steps_nor_time", {"train", "--corpus", "@corpus", "--valid-every", "often"}, "--valid-every: 'often' is neither a step count"},
        {"train_lr_plateau_zero", {"train", "--corpus", "@corpus", "--lr-plateau", "0"}, "--lr-plateau must be in (0, 1]"},
        {"train_negative_patience", {"train", "--corpus", "@corpus", "--patience", "-1"}, "'--patience' is invalid"},
        {"eval_zero_streams", {"eval", "--model", "@model", "--text", "@corpus", "--streams", "0"}, "--streams"},
        {"eval_non_numeric_steps", {"eval", "--model", "@model", "--text", "@corpus", "--steps", "x"}, "'--steps' is invalid"},
        {"corpus_negative_top", {"corpus", "@corpus", "--top", "-1"}, "'--top' is invalid"},
        {"corpus_unknown_unit", {"corpus", "@corpus", "--unit", "byte"}, "--unit"},
        {"corpus_unknown_encoding", {"corpus", "@corpus", "--encoding", "klingon"}, "--encoding"},
        {"info_without_model", {"info"}, "--model FILE is required"},
        {"unknown_command", {"frobnicate"}, "unknown command 'frobnicate'"},
    };
    for (const auto& o : opts) t.push_back({std::string("option_") + o.name, o.args, {}, 2, {o.says}});
    t.push_back({"option_negative_value_in_a_config_file", {"train", "--corpus", "@corpus", "--config", "@neg.ini"},
                 {{"neg.ini", bytes("epochs = -2\n")}}, 2, {"'--epochs' is invalid", "neg.ini"}});
    t.push_back({"option_threads_above_the_cores_are_clamped", {"generate", "--model", "@model", "--length", "5", "--threads", "100000"},
                 {}, 0, {"warning: --threads 100000 is more than the", "cores available; using"}});

    // -- outputs that cannot be written: fail at the first save, clearly, leaving no temp file
    auto no_temp = [](const std::string& dir, const child_run&) {
        EXPECT_EQ(temp_files_in(dir), std::vector<std::string>{}) << "temporary files left behind";
    };
    t.push_back({"out_is_a_device_dev_full", plus(tiny_train(), {"--out", "@full", "--force"}), {{"full", link_to_dev_full()}},
                 1, {"full': it is a character device, not a regular file"}, {}, {},
                 [no_temp](const std::string& dir, const child_run& r) {
                     EXPECT_TRUE(fs::is_symlink(dir + "/full")) << "the target was replaced";
                     struct stat st {};
                     EXPECT_TRUE(::stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode)) << "/dev/full is no longer a device";
                     no_temp(dir, r);
                 }});
    t.push_back({"out_is_a_fifo", plus(tiny_train(), {"--out", "@pipe", "--force"}), {{"pipe", fifo()}}, 1,
                 {"pipe': it is a FIFO (named pipe), not a regular file"}, {}, {},
                 [no_temp](const std::string& dir, const child_run& r) {
                     struct stat st {};
                     EXPECT_TRUE(::lstat((dir + "/pipe").c_str(), &st) == 0 && S_ISFIFO(st.st_mode));
                     no_temp(dir, r);
                 }});
    t.push_back({"out_is_a_directory", plus(tiny_train(), {"--out", "@dir", "--force"}), {{"dir", directory()}}, 1,
                 {"dir': it is a directory"}});
    t.push_back({"out_directory_missing", plus(tiny_train(), {"--out", "@nope/m.safetensors"}), {}, 1,
                 {"nope/m.safetensors", "does not exist; create it first"}});
    // A place even root cannot write: /sys refuses new files (EACCES).
    // /sys refuses root with EACCES on a host, and is mounted read-only (EROFS) in a container (a
    // Docker or podman build runs this suite): the message names either reason.
    t.push_back({"out_in_a_read_only_place", plus(tiny_train(), {"--out", "/sys/charlm_bad_input_test.safetensors"}), {}, 1,
                 {"cannot write '/sys/charlm_bad_input_test.safetensors': "}, {}, {},
                 [](const std::string&, const child_run& r) {
                     EXPECT_TRUE(r.err.find("permission denied") != std::string::npos ||
                                 r.err.find("(Read-only file system)") != std::string::npos)
                         << "no reason given: " << r.err;
                 },
                 [] { return std::string(can_create_in("/sys") ? "/sys is writable here" : ""); }});
    // chmod 0555 stops only non-root users; for root the /sys row above is the read-only place.
    t.push_back({"out_in_a_read_only_directory", plus(tiny_train(), {"--out", "@ro/m.safetensors"}),
                 {{"ro", [](const std::string& p) {
                       fs::create_directory(p);
                       fs::permissions(p, fs::perms(0555));
                   }}},
                 1, {"ro/m.safetensors", "permission denied"}, {}, {}, {},
                 [] { return std::string(is_root() ? "root writes into a 0555 directory (see out_in_a_read_only_place)" : ""); }});
    // A full disk, simulated: the file size limit stops the new model's temporary file (EFBIG);
    // the earlier model at the target stays as it was, byte for byte.
    t.push_back({"out_disk_full_keeps_the_earlier_model", plus(tiny_train(), {"--out", "@earlier.safetensors", "--force"}),
                 {{"earlier.safetensors", [](const std::string& p) { std::ofstream(p, std::ios::binary) << good_model_bytes(); }}},
                 1, {"cannot write '", "earlier.safetensors", "file size limit"}, {},
                 {0, 8192},
                 [no_temp](const std::string& dir, const child_run& r) {
                     EXPECT_TRUE(slurp(dir + "/earlier.safetensors") == good_model_bytes()) << "the earlier model changed";
                     no_temp(dir, r);
                 }});
    // Not an error: a symbolic link is followed, the file it names replaced and the link kept.
    t.push_back({"out_symbolic_link_is_followed", plus(tiny_train(), {"--out", "@link.st", "--force", "--seed", "9"}),
                 {{"real.st", [](const std::string& p) { std::ofstream(p, std::ios::binary) << good_model_bytes(); }},
                  {"link.st", [](const std::string& p) { fs::create_symlink("real.st", p); }}},
                 0, {}, {"model written to"}, {},
                 [no_temp](const std::string& dir, const child_run& r) {
                     EXPECT_TRUE(fs::is_symlink(dir + "/link.st"));
                     EXPECT_NE(slurp(dir + "/real.st"), good_model_bytes()) << "the linked file was not replaced";
                     no_temp(dir, r);
                 }});

    // -- training runs that must stop, refuse or leave files alone (issue 18)
    // Divergence by overflow: a loss far above the first stops the run with exit 1, and the files
    // of an earlier run at --out stay as they were (the old run wrote "valid ppl inf (best)").
    t.push_back({"train_diverging_keeps_the_earlier_files",
                 {"train", "--corpus", "@corpus", "--cell", "rnn", "--hidden", "64", "--optimizer", "sgd", "--lr", "1e9",
                  "--clip", "0", "--epochs", "3", "--batch", "4", "--steps", "16", "--threads", "1", "--out", "@m",
                  "--force"},
                 {{"m", [](const std::string& p) { std::ofstream(p, std::ios::binary) << good_model_bytes(); }},
                  {"m.best", bytes("an earlier best")}},
                 1, {"training diverged at step", "more than 3 times the first step's", "--lr"}, {"stopped: the loss diverged"}, {},
                 [](const std::string& dir, const child_run& r) {
                     EXPECT_TRUE(slurp(dir + "/m") == good_model_bytes()) << "the earlier model changed";
                     EXPECT_EQ(slurp(dir + "/m.best"), "an earlier best");
                     EXPECT_EQ(r.out.find("(best)"), std::string::npos) << r.out;
                 }});
    // A sample prefix the corpus cannot spell is refused before the first step, not after an epoch.
    t.push_back({"train_prefix_the_corpus_cannot_spell", plus(tiny_train(), {"--prefix", "Zebra", "--sample-every", "1", "--out", "@m"}),
                 {}, 2, {"--prefix 'Zebra'", "'Z' (U+005A)"}, {}, {},
                 [](const std::string& dir, const child_run& r) {
                     EXPECT_EQ(r.out.find("epoch 1 |"), std::string::npos) << "trained before refusing:\n" << r.out;
                     EXPECT_FALSE(fs::exists(dir + "/m")) << "a model was written";
                 }});
    // --force replaces the model; a .best of another run must not stay beside it when this run
    // writes none (no validation text).
    t.push_back({"train_force_removes_another_runs_best", plus(tiny_train(), {"--valid-fraction", "0", "--out", "@m", "--force"}),
                 {{"m", bytes("older model")}, {"m.best", [](const std::string& p) { std::ofstream(p, std::ios::binary) << good_model_bytes(); }}},
                 0, {}, {"--force: replacing ", "removed "}, {},
                 [](const std::string& dir, const child_run&) {
                     EXPECT_TRUE(fs::exists(dir + "/m"));
                     EXPECT_FALSE(fs::exists(dir + "/m.best")) << "another run's .best survived --force";
                 }});
    // Stale temporaries of dead processes: only those of the files charlm writes are removed.
    t.push_back({"train_removes_only_its_own_stale_temporaries", plus(tiny_train(), {"--out", "@m", "--force"}),
                 {{"mynotes.txt.tmp.999999", bytes("notes")}, {"m.tmp.999999", bytes("partial model")},
                  {"m.ckpt.tmp.999999", bytes("partial checkpoint")}, {"m.epoch3.ckpt.tmp.999999", bytes("partial")},
                  {"m.bak.tmp.999999", bytes("someone else's")}},
                 0, {}, {"model written to"}, {},
                 [](const std::string& dir, const child_run&) {
                     EXPECT_EQ(slurp(dir + "/mynotes.txt.tmp.999999"), "notes") << "an unrelated file was deleted";
                     EXPECT_EQ(slurp(dir + "/m.bak.tmp.999999"), "someone else's") << "an unrelated file was deleted";
                     for (const char* gone : {"m.tmp.999999", "m.ckpt.tmp.999999", "m.epoch3.ckpt.tmp.999999"})
                         EXPECT_FALSE(fs::exists(dir + "/" + gone)) << gone;
                 }});
    // -- issue 18: what a new user noticed. Outputs of every command are regular files (eval's
    // --logits too); a rewritten model keeps its permissions.
    t.push_back({"eval_logits_to_dev_null", {"eval", "--model", "@model", "--text", "@corpus", "--logits", "/dev/null", "--force"},
                 {}, 1, {"cannot write '/dev/null': it is a character device, not a regular file"}});
    t.push_back({"eval_logits_to_a_fifo", {"eval", "--model", "@model", "--text", "@corpus", "--logits", "@pipe", "--force"},
                 {{"pipe", fifo()}}, 1, {"pipe': it is a FIFO (named pipe), not a regular file"}});
    t.push_back({"out_rewritten_keeps_its_permissions", plus(tiny_train(), {"--out", "@m.st", "--force"}),
                 {{"m.st", [](const std::string& p) {
                       std::ofstream(p, std::ios::binary) << good_model_bytes();
                       fs::permissions(p, fs::perms(0640));
                   }}},
                 0, {}, {"model written to"}, {},
                 [](const std::string& dir, const child_run&) {
                     EXPECT_EQ(fs::status(dir + "/m.st").permissions() & fs::perms::all, fs::perms(0640));
                     EXPECT_NE(slurp(dir + "/m.st"), good_model_bytes()) << "not rewritten";
                 }});
    // PyTorch warns: "dropout option adds dropout after all but last recurrent layer".
    t.push_back({"train_dropout_with_one_layer_warns", plus(tiny_train(), {"--dropout", "0.3"}), {}, 0,
                 {"charlm: warning: --dropout does nothing with --layers 1", "--layers 2 or more"}});
    // 1 / T overflows below about 2.9e-39: such a temperature is the argmax, never NaN weights
    // falling back to <unk> (printed as U+FFFD).
    t.push_back({"generate_temperature_too_small_for_its_reciprocal",
                 {"generate", "--model", "@model", "--prefix", "spring", "--length", "30", "--temperature", "2e-39"},
                 {}, 0, {}, {"spring"}, {},
                 [](const std::string&, const child_run& r) {
                     EXPECT_EQ(r.out.find("\xEF\xBF\xBD"), std::string::npos) << r.out;
                     auto greedy = run_limited({"generate", "--model", good_model(), "--prefix", "spring", "--length",
                                                "30", "--greedy"},
                                               {});
                     EXPECT_EQ(r.out, greedy.out);
                 }});
    // Normalization before lowercasing: NFKC's capitals are lowercased too (U+210C U+3392 U+1F130).
    t.push_back({"corpus_lowercase_after_nfkc", {"corpus", "@u.txt", "--lowercase", "--normalize", "nfkc", "--json"},
                 {{"u.txt", bytes("\xE2\x84\x8C\xE3\x8E\x92\xF0\x9F\x84\xB0\n")}}, 0, {},
                 {"{\"count\":2,\"token\":\"h\"}", "{\"count\":1,\"token\":\"a\"}", "{\"count\":1,\"token\":\"m\"}"}});
    // `info`: every total is the sum of its rows, stored and trainable counts named apart (a 1 x 32
    // GRU stores a second bias of 96 values for PyTorch that training keeps at zero).
    t.push_back({"info_totals_are_the_sums_of_their_rows", {"info", "@model"}, {}, 0, {},
                 {"stored", "trainable"}, {},
                 [](const std::string&, const child_run& r) {
                     // The tensor table: rows "name shape... stored trainable" between two rules.
                     std::istringstream in(r.out);
                     std::string line;
                     int rules = 0;
                     uint64_t stored = 0, trainable = 0, total_stored = 0, total_trainable = 0;
                     bool in_tensors = false;
                     while (std::getline(in, line)) {
                         if (line.rfind("tensor ", 0) == 0) in_tensors = true;
                         if (!in_tensors) continue;
                         if (line.rfind("---", 0) == 0) {
                             ++rules;
                             continue;
                         }
                         std::istringstream words(line);
                         std::vector<std::string> w;
                         for (std::string x; words >> x;) w.push_back(x);
                         if (rules == 1 && w.size() >= 3) {
                             stored += std::stoull(w[w.size() - 2]);
                             trainable += std::stoull(w.back());
                         } else if (rules == 2 && !w.empty() && w[0] == "total") {
                             total_stored = std::stoull(w[w.size() - 2]);
                             total_trainable = std::stoull(w.back());
                             break;
                         }
                     }
                     EXPECT_EQ(rules, 2) << r.out;
                     EXPECT_EQ(total_stored, stored) << r.out;
                     EXPECT_EQ(total_trainable, trainable) << r.out;
                     EXPECT_EQ(stored - trainable, 96u) << r.out;
                     auto js = run_limited({"info", "--json", good_model()}, {});
                     auto j = nlohmann::json::parse(js.out);
                     uint64_t js_stored = 0, js_trainable = 0, layer_stored = 0;
                     for (const auto& x : j["tensors"]) {
                         js_stored += x["stored"].get<uint64_t>();
                         js_trainable += x["trainable"].get<uint64_t>();
                     }
                     for (const auto& x : j["layers"]) layer_stored += x["stored"].get<uint64_t>();
                     EXPECT_EQ(j["parameters_stored"].get<uint64_t>(), stored);
                     EXPECT_EQ(j["parameters_trainable"].get<uint64_t>(), trainable);
                     EXPECT_EQ(js_stored, stored);
                     EXPECT_EQ(js_trainable, trainable);
                     EXPECT_EQ(layer_stored, stored);
                 }});
    // `eval`: tokens the vocabulary lacks are scored as <unk>, which training never saw as a target
    // (min-count 1); the perplexity over the known tokens is reported beside the whole figure, and
    // the error comes from block means.
    t.push_back({"eval_unknown_tokens_reported_beside_the_known",
                 {"eval", "--model", "@model", "--text", "@snow.txt", "--json"},
                 {{"snow.txt", [](const std::string& p) {
                       std::string text;
                       for (int i = 0; i < 12; ++i) text += "spring rain on the river \xE2\x98\x83\xE2\x98\x83\n";
                       std::ofstream(p, std::ios::binary) << text;
                   }}},
                 0, {}, {"\"unknown_tokens\":24"}, {},
                 [](const std::string& dir, const child_run& r) {
                     auto j = nlohmann::json::parse(r.out);
                     EXPECT_EQ(j["known_tokens"].get<uint64_t>(), j["tokens"].get<uint64_t>() - 24);
                     EXPECT_LT(j["known_perplexity"].get<double>(), j["perplexity"].get<double>());
                     EXPECT_EQ(j["stderr_blocks"].get<uint64_t>(), 3u);
                     EXPECT_GT(j["perplexity_stderr"].get<double>(), 0.0);
                     auto text = run_limited({"eval", "--model", good_model(), "--text", dir + "/snow.txt"}, {});
                     EXPECT_NE(text.out.find("PPL over the 311 known tokens = "), std::string::npos) << text.out;
                     EXPECT_NE(text.out.find("3 blocks of about 111 consecutive tokens"), std::string::npos) << text.out;
                 }});
    return t;
}

std::string resolve(const std::string& a, const std::string& dir) {
    if (a == "@model") return good_model();
    if (a == "@corpus") return toy_corpus();
    if (!a.empty() && a[0] == '@') return dir + "/" + a.substr(1);
    return a;
}

void PrintTo(const row& r, std::ostream* os) { *os << r.name; }

class bad_input : public ::testing::TestWithParam<row> {};

TEST_P(bad_input, exits_with_a_clear_message) {
    const row& c = GetParam();
    if (c.skip) {
        if (std::string why = c.skip(); !why.empty()) GTEST_SKIP() << why;
    }
    const std::string dir = scratch_dir() + "/rows/" + c.name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const auto& f : c.files) f.make(dir + "/" + f.name);
    std::vector<std::string> args;
    for (const auto& a : c.args) args.push_back(resolve(a, dir));

    const child_run r = run_limited(args, c.lim);
    EXPECT_FALSE(r.timed_out) << "did not finish";
    EXPECT_EQ(r.signal, 0) << "ended by signal " << r.signal << " (" << strsignal(r.signal) << "): " << r.err;
    EXPECT_EQ(r.status, c.status) << r.err;
    for (const auto& s : c.err_says) EXPECT_NE(r.err.find(s), std::string::npos) << "stderr lacks '" << s << "':\n" << r.err;
    for (const auto& s : c.out_says)
        EXPECT_NE(r.out.find(s), std::string::npos) << "stdout lacks '" << s << "':\n" << r.out.substr(0, 2000);
    if (c.status != 0) {
        EXPECT_EQ(r.err.rfind("charlm: ", 0), 0u) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
    }
    if (c.check) c.check(dir, r);
    std::error_code ec;
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add, ec);
    for (const auto& e : fs::recursive_directory_iterator(dir, ec))
        if (e.is_directory()) fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir, ec);  // the 200 MB file too
}

INSTANTIATE_TEST_SUITE_P(table, bad_input, ::testing::ValuesIn(table()),
                         [](const ::testing::TestParamInfo<row>& info) { return info.param.name; });

// ---- resource limits: a vocabulary of more than 100 000 tokens

// UTF-8 of a code point from U+0800 up.
std::string utf8(char32_t c) {
    std::string s;
    if (c < 0x10000) {
        s += static_cast<char>(0xE0 | (c >> 12));
    } else {
        s += static_cast<char>(0xF0 | (c >> 18));
        s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    }
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
    return s;
}

// Every CJK Unified Ideograph (base block and Extensions A to H) and every Hangul syllable:
// 108 218 distinct code points, each its own grapheme, a line break after every 64.
std::string huge_vocabulary_text() {
    const std::pair<char32_t, char32_t> ranges[] = {
        {0x4E00, 0x9FFF},   {0x3400, 0x4DBF},   {0x20000, 0x2A6DF}, {0x2A700, 0x2B739}, {0x2B740, 0x2B81D},
        {0x2B820, 0x2CEA1}, {0x2CEB0, 0x2EBE0}, {0x30000, 0x3134A}, {0x31350, 0x323AF}, {0xAC00, 0xD7A3}};
    std::string s;
    size_t n = 0;
    for (auto [a, b] : ranges)
        for (char32_t c = a; c <= b; ++c) {
            s += utf8(c);
            if (++n % 64 == 0) s += '\n';
        }
    return s + "\n";
}

TEST(resource_limits, vocabulary_of_more_than_100000_tokens) {
    const std::string dir = scratch_dir() + "/huge_vocab";
    fs::create_directories(dir);
    const std::string corpus = dir + "/huge_vocab.txt";
    std::ofstream(corpus, std::ios::binary) << huge_vocabulary_text();
    constexpr uint32_t distinct = 108'218 + 1;  // the ideographs and syllables, and "\n"

    // The pipeline stores these ids in 4 bytes.
    auto text = load_text(corpus, text_config{});
    ASSERT_TRUE(text.ok()) << text.err().message;
    EXPECT_EQ(text->tokens.size(), distinct);
    EXPECT_EQ(text->ids.width(), 4);
    EXPECT_EQ(text->ids[text->ids.size() - 2], distinct - 1) << "the last syllable has the largest id";

    // Training: a full epoch costs tokens x vocabulary (1.2e10 logits), so the run is cut by
    // a time budget; what matters is that the model holds every token and reads back.
    const std::string model = dir + "/huge_vocab.safetensors";
    auto tr = run_limited({"train", "--corpus", corpus, "--cell", "gru", "--layers", "1", "--hidden", "8", "--embed", "8",
                           "--batch", "2", "--steps", "8", "--valid-fraction", "0", "--time-budget", "2s",
                           "--threads", "2", "--out", model, "--force"},
                          {});
    ASSERT_EQ(tr.signal, 0) << tr.err;
    ASSERT_EQ(tr.status, 0) << tr.err;
    auto info = run_limited({"info", "--model", model, "--json"}, {});
    ASSERT_EQ(info.status, 0) << info.err;
    EXPECT_EQ(nlohmann::json::parse(info.out)["vocab"].get<uint32_t>(), distinct + 1);  // and <unk>

    // The vocabulary orders tokens of equal count by their UTF-8 bytes, so Extension H (U+31350
    // to U+323AF, F0 B1 ..) holds its last ids, all above 104 000. Evaluate on 600 of them.
    std::string last;
    for (char32_t c = 0x323AF - 599; c <= 0x323AF; ++c) last += utf8(c);
    const std::string tail = dir + "/huge_vocab_tail.txt";
    std::ofstream(tail, std::ios::binary) << last << "\n";
    // With the default 32 streams x 64 steps the logits alone would take 886 MB; evaluation
    // keeps them within 256 MiB (the model, its text and the binary add about 60 MiB).
    auto ev = run_limited({"eval", "--model", model, "--text", tail, "--json"}, {});
    ASSERT_EQ(ev.signal, 0) << ev.err;
    ASSERT_EQ(ev.status, 0) << ev.err;
    if (!asan) {
        EXPECT_LE(ev.peak_rss, 384 * MiB) << "peak RSS " << ev.peak_rss / MiB << " MiB";
    }
    auto ej = nlohmann::json::parse(ev.out);
    EXPECT_EQ(ej["tokens"].get<uint64_t>(), 600u);
    EXPECT_EQ(ej["unknown_tokens"].get<uint64_t>(), 0u);
    EXPECT_TRUE(std::isfinite(ej["perplexity"].get<double>()));

    // Generate from the token with the largest id (U+323AF).
    auto gen = run_limited({"generate", "--model", model, "--prefix", utf8(0x323AF), "--length", "20", "--seed", "3"}, {});
    ASSERT_EQ(gen.signal, 0) << gen.err;
    ASSERT_EQ(gen.status, 0) << gen.err;
    EXPECT_EQ(gen.out.rfind(utf8(0x323AF), 0), 0u) << gen.out;
    auto seg = segment_utf8(gen.out, text_config{});
    ASSERT_TRUE(seg.ok());
    EXPECT_GE(seg->size(), 21u) << "prefix, 20 tokens and the final newline: " << gen.out;
    fs::remove_all(dir);  // the model and its checkpoint hold 30 MB
}

}  // namespace
}  // namespace charlm::test
