// --precision f32 against int8 and bf16 (issue 30; bf16 where the CPU has avx512_bf16):
// generation chars/s of charlm::generate (one model step and one draw per row per character) at 1
// and 16 rows, and eval perplexity, for a model file, or for a random-weight model of a given shape
// when no file is given (speed only). Next to each speed: the weight bytes one step reads per
// character (recurrent and output weights in the precision's width, every adaptive-softmax cluster
// included, as generation computes them all; biases, embedding row and state left out) and the
// GB/s that makes, to set against bench_bandwidth's.
// Not a test: the figures go to bench/RESULTS.md (bench/bench_precision.sh runs the whole table).
// Usage: bench_int8 MODEL.safetensors [EVAL_TEXT] [windows, default 5]
//        bench_int8 --random LAYERS HIDDEN EMBED VOCAB [windows]
// One line per configuration: key=value pairs; chars/s = rows x tokens / second, best window
// (the machine is shared: the best window is the least disturbed; the precisions' windows
// alternate; "others" = the CPU the rest of the machine used during all windows, in cores).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "charlm/evaluate.hpp"
#include "charlm/model_file.hpp"
#include "charlm/sample.hpp"
#include "charlm/model_config.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}
double machine_busy_s() {
    std::ifstream f("/proc/stat");
    std::string cpu;
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
    f >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
    return static_cast<double>(user + nice + sys + irq + softirq + steal) / 100.0;
}
double self_busy_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

charlm::language_model random_model(uint32_t layers, uint32_t hidden, uint32_t embed, uint32_t V) {
    std::vector<std::string> t{"<unk>", "\n"};
    for (char32_t c = 0x4E00; t.size() < V; ++c) {
        std::string s;
        s += static_cast<char>(0xE0 | (c >> 12));
        s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (c & 0x3F));
        t.push_back(s);
    }
    auto vocab = charlm::vocabulary::from_tokens(t);
    charlm::model_config c;
    c.cell = charlm::cell_type::lstm;
    c.layers = layers;
    c.hidden = hidden;
    c.embed = embed;
    c.vocab = V;
    if (V > 1000) {
        c.softmax = charlm::softmax_type::adaptive;
        c.cutoffs = {V / 13, V / 3};
        c.div_value = 4;
    }
    return charlm::language_model(c, charlm::text_config{}, std::move(*vocab), 1);
}

// The precisions this CPU runs: f32 first, the reference of the ratios.
std::vector<charlm::precision> precisions() {
    std::vector<charlm::precision> v{charlm::precision::f32, charlm::precision::int8};
    if (charlm::precision_unavailable(charlm::precision::bf16).empty()) v.push_back(charlm::precision::bf16);
    return v;
}

// Weight bytes of one model step in precision p (see the top of the file).
double step_bytes(const charlm::language_model& m, charlm::precision p) {
    const bool rnn_reduced = p == charlm::precision::bf16 || m.config().cell == charlm::cell_type::lstm;
    const double width = p == charlm::precision::bf16 ? 2 : p == charlm::precision::int8 ? 1 : 4;
    double bytes = 0;
    for (const auto& t : m.tensors()) {
        if (t.shape.size() != 2 || t.name.rfind("embedding", 0) == 0) continue;  // biases, the table
        const bool rnn = t.name.rfind("rnn.", 0) == 0;
        bytes += static_cast<double>(t.numel()) * (p == charlm::precision::f32 || (rnn && !rnn_reduced) ? 4 : width);
    }
    return bytes;
}

// The precisions' windows alternate, so that all see the same share of a busy machine.
void bench_generation(const charlm::language_model& m, int windows) {
    const auto kinds = precisions();
    const size_t K = kinds.size();
    for (uint32_t rows : {1u, 16u}) {
        std::vector<charlm::sample_config> cfg(K);
        std::vector<double> first(K), best(K);
        for (size_t k = 0; k < K; ++k) {
            cfg[k].precision = kinds[k];
            cfg[k].num_samples = rows;
            cfg[k].length = 1;
            const auto t0 = clock_type::now();
            (void)charlm::generate(m, "", cfg[k]);  // converts (int8, bf16), builds, warms
            first[k] = seconds_since(t0);
            cfg[k].length = rows == 1 ? 2000 : 400;
        }
        const double busy0 = machine_busy_s(), self0 = self_busy_s();
        const auto t0 = clock_type::now();
        for (int w = 0; w < windows; ++w)
            for (size_t k = 0; k < K; ++k) {
                cfg[k].seed = static_cast<uint64_t>(w + 1);
                const auto tw = clock_type::now();
                if (!charlm::generate(m, "", cfg[k])) std::abort();
                best[k] = std::max(best[k], rows * cfg[k].length / seconds_since(tw));
            }
        const double others = (machine_busy_s() - busy0 - (self_busy_s() - self0)) / seconds_since(t0);
        for (size_t k = 0; k < K; ++k) {
            const double per_char = step_bytes(m, kinds[k]) / rows;
            std::printf("generate precision=%s rows=%u chars/s=%.0f x_f32=%.2f bytes/char=%.0f GB/s=%.2f "
                        "first_call_s=%.3f others=%.2f\n",
                        charlm::to_string(kinds[k]).c_str(), rows, best[k], best[k] / best[0], per_char,
                        per_char * best[k] / 1e9, first[k], others);
        }
        std::fflush(stdout);
    }
}

void bench_eval(const charlm::language_model& m, const std::string& text) {
    double f32 = 0;
    for (charlm::precision p : precisions()) {
        charlm::eval_options o;
        o.precision = p;
        const auto t0 = clock_type::now();
        auto r = charlm::evaluate_file(m, text, o);
        if (!r) {
            std::fprintf(stderr, "%s\n", r.err().message.c_str());
            std::exit(1);
        }
        if (p == charlm::precision::f32) f32 = r->all.perplexity;
        std::printf("eval precision=%s tokens=%llu ppl=%.4f vs_f32=%+.3f%% stderr=%.4f seconds=%.2f\n",
                    charlm::to_string(p).c_str(), static_cast<unsigned long long>(r->tokens), r->all.perplexity,
                    100 * (r->all.perplexity / f32 - 1), r->all.std_error, seconds_since(t0));
        std::fflush(stdout);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 6 && std::string(argv[1]) == "--random") {
        const auto m = random_model(std::stoul(argv[2]), std::stoul(argv[3]), std::stoul(argv[4]), std::stoul(argv[5]));
        bench_generation(m, argc > 6 ? std::atoi(argv[6]) : 5);
        return 0;
    }
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_int8 MODEL [EVAL_TEXT] [windows] | --random L H E V [windows]\n");
        return 2;
    }
    auto loaded = charlm::load_model(argv[1]);
    if (!loaded) {
        std::fprintf(stderr, "%s\n", loaded.err().message.c_str());
        return 1;
    }
    bench_generation(loaded->model, argc > 3 ? std::atoi(argv[3]) : 5);
    if (argc > 2 && argv[2][0] != 0) bench_eval(loaded->model, argv[2]);
    return 0;
}
