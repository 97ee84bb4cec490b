// --precision f32 against int8 (issue 30): generation chars/s of charlm::generate (one model step
// and one draw per row per character) at 1 and 16 rows, and eval perplexity, for a model file, or
// for a random-weight model of a given shape when no file is given (speed only).
// Not a test: the figures go to bench/RESULTS.md.
// Usage: bench_int8 MODEL.safetensors [EVAL_TEXT] [windows, default 5]
//        bench_int8 --random LAYERS HIDDEN EMBED VOCAB [windows]
// One line per configuration: key=value pairs; chars/s = rows x tokens / second, best window
// (the machine is shared: the best window is the least disturbed; f32 and int8 windows alternate;
// "others" = the CPU the rest of the machine used during all windows, in cores).
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

// f32 and int8 windows alternate, so that both see the same share of a busy machine.
void bench_generation(const charlm::language_model& m, int windows) {
    const charlm::precision kinds[2] = {charlm::precision::f32, charlm::precision::int8};
    for (uint32_t rows : {1u, 16u}) {
        charlm::sample_config cfg[2];
        double first[2] = {0, 0}, best[2] = {0, 0};
        for (int k = 0; k < 2; ++k) {
            cfg[k].precision = kinds[k];
            cfg[k].num_samples = rows;
            cfg[k].length = 1;
            const auto t0 = clock_type::now();
            (void)charlm::generate(m, "", cfg[k]);  // quantizes (int8), builds, warms
            first[k] = seconds_since(t0);
            cfg[k].length = rows == 1 ? 2000 : 400;
        }
        const double busy0 = machine_busy_s(), self0 = self_busy_s();
        const auto t0 = clock_type::now();
        for (int w = 0; w < windows; ++w)
            for (int k = 0; k < 2; ++k) {
                cfg[k].seed = static_cast<uint64_t>(w + 1);
                const auto tw = clock_type::now();
                if (!charlm::generate(m, "", cfg[k])) std::abort();
                best[k] = std::max(best[k], rows * cfg[k].length / seconds_since(tw));
            }
        const double others = (machine_busy_s() - busy0 - (self_busy_s() - self0)) / seconds_since(t0);
        for (int k = 0; k < 2; ++k)
            std::printf("generate precision=%s rows=%u chars/s=%.0f first_call_s=%.3f others=%.2f\n",
                        charlm::to_string(kinds[k]).c_str(), rows, best[k], first[k], others);
        std::printf("generate rows=%u int8/f32=%.2f\n", rows, best[1] / best[0]);
        std::fflush(stdout);
    }
}

void bench_eval(const charlm::language_model& m, const std::string& text) {
    for (charlm::precision p : {charlm::precision::f32, charlm::precision::int8}) {
        charlm::eval_options o;
        o.precision = p;
        const auto t0 = clock_type::now();
        auto r = charlm::evaluate_file(m, text, o);
        if (!r) {
            std::fprintf(stderr, "%s\n", r.err().message.c_str());
            std::exit(1);
        }
        std::printf("eval precision=%s tokens=%llu ppl=%.4f stderr=%.4f seconds=%.2f\n", charlm::to_string(p).c_str(),
                    static_cast<unsigned long long>(r->tokens), r->all.perplexity, r->all.std_error, seconds_since(t0));
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
