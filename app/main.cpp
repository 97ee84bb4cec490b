// charlm's entry point: picks the subcommand and maps any escaped exception to exit status 1.
// Everything else lives in the library; see cmd_*.cpp for each subcommand.
#include <fmt/core.h>

#include <cstring>
#include <exception>
#include <string_view>

#include "charlm/describe.hpp"
#include "charlm/version.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "stop_signal.hpp"

namespace {

constexpr const char* usage_text =
    "usage: charlm <command> [options]\n"
    "\n"
    "Character-level language models (RNN, GRU, LSTM on oneDNN) for lyrics and poems.\n"
    "\n"
    "commands:\n"
    "  corpus    show what a model would see of a text file (tokens, vocabulary, encoding)\n"
    "  train     train a model on a corpus\n"
    "  generate  generate text from a trained model\n"
    "  eval      measure a model's perplexity on a text\n"
    "  info      describe a model file\n"
    "  verse     check poems against the rules of regulated verse (form, 平仄, rhyme)\n"
    "  serve     a web page and HTTP API to generate, evaluate and watch training\n"
    "  completion  print a completion script for bash or zsh (eval \"$(charlm completion bash)\")\n"
    "\n"
    "'charlm <command> --help' shows a command's options. 'charlm --version' prints the version.\n";

}  // namespace

int main(int argc, char** argv) {
    using namespace charlm::cli;
    if (argc < 2) {
        fmt::print(stderr, "{}", usage_text);
        return exit_usage;
    }
    std::string_view cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        fmt::print("{}", usage_text);
        return exit_ok;
    }
    if (cmd == "--version") {
        for (const auto& [what, value] : charlm::describe_build()) fmt::print("{:<8} {}\n", what, value);
        return exit_ok;
    }
    start_signal_watcher();  // before any other thread starts
    try {
        // Subcommands see argv without the program name: argv[0] is the command.
        if (cmd == "corpus") return cmd_corpus(argc - 1, argv + 1);
        if (cmd == "train") return cmd_train(argc - 1, argv + 1);
        if (cmd == "generate") return cmd_generate(argc - 1, argv + 1);
        if (cmd == "eval") return cmd_eval(argc - 1, argv + 1);
        if (cmd == "info") return cmd_info(argc - 1, argv + 1);
        if (cmd == "verse") return cmd_verse(argc - 1, argv + 1);
        if (cmd == "serve") return cmd_serve(argc - 1, argv + 1);
        if (cmd == "completion") return cmd_completion(argc - 1, argv + 1);
    } catch (const std::bad_alloc& e) {
        const char* hint = cmd == "train"      ? "try a smaller --batch, --steps, --hidden, --embed or --layers, or a "
                                                 "smaller corpus"
                           : cmd == "generate" ? "try a smaller --num-samples"
                                               : "the text is too large for the memory available";
        const auto* sized = dynamic_cast<const charlm::out_of_memory*>(&e);
        fmt::print(stderr, "charlm: out of memory in '{}'{}: {}\n", cmd, sized ? fmt::format(" ({})", sized->what()) : "",
                   hint);
        return exit_failure;
    } catch (const std::exception& e) {
        fmt::print(stderr, "charlm: unexpected error: {}\n", e.what());
        return exit_failure;
    }
    fmt::print(stderr, "charlm: unknown command '{}'; run 'charlm --help' for the list\n", cmd);
    return exit_usage;
}
