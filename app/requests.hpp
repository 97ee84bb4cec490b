// What `charlm generate` and `charlm train` read from their options, parsed and checked in one place
// for the two front ends that run them: the charlm binary (cmd_model.cpp, cmd_train.cpp) and the
// Python module (python/charlm_module.cpp), which hands its keyword arguments over as the same
// command-line options. Not here: running the commands or printing their results.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "charlm/lyrics.hpp"
#include "charlm/poem.hpp"
#include "charlm/sample.hpp"
#include "charlm/status.hpp"
#include "charlm/train.hpp"

namespace charlm::cli {

struct generate_request {
    std::string model_path;
    std::string prefix;
    sample_config sample;
    poem_config poem;
    lyric_config lyrics;
    int threads = 0;  // 0: the cores available
    std::string novelty;  // corpus whose verbatim lines are counted, or empty
};

// `charlm generate`'s options (argv[0] is the command's name) into `r`, every value checked:
// the sample and poem settings, --threads, --novelty, the form's spec. With `need_model`, --model is
// required. *done: --help was printed and there is nothing to run.
status parse_generate(int argc, char** argv, generate_request& r, bool need_model, bool* done);

struct train_request {
    train_config cfg;
    std::set<std::string> given;  // the settings named on the command line or in --config
    int threads = 0;
    bool threads_given = false;  // --threads named (else a resumed run takes its checkpoint's)
    double mpi_timeout = 300;
    bool force = false;
};

// `charlm train`'s options into `r`, checked as far as options alone can be.
status parse_train(int argc, char** argv, train_request& r, bool* done);

// After parse_train: merges the --resume checkpoint's settings (returned, when there is one), checks
// the configuration and, with `reporting` (the process that writes files), prints the model's warnings
// and refuses outputs that would replace files the user has.
result<std::optional<checkpoint_info>> prepare_train(train_request& r, bool reporting);

// On stderr, when a resumed run uses other threads than its checkpoint's: it will not match an
// uninterrupted run bit for bit.
void warn_thread_change(const std::optional<checkpoint_info>& ck, int used_threads);

}  // namespace charlm::cli
