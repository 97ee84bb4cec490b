// The commands that use a trained model: `generate` (streams text from a prefix), `eval`
// (perplexity on a text) and `info` (what a model file holds). Each loads the model, calls
// the library and prints.
#include <fmt/core.h>

#include <filesystem>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "charlm/model_file.hpp"
#include "charlm/poem.hpp"
#include "charlm/sample.hpp"
#include "charlm/train.hpp"
#include "cli.hpp"
#include "commands.hpp"

namespace charlm::cli {

namespace {

// Poems are printed whole (a backup may change any part of an unfinished one), a blank line apart;
// stderr gets the backups and the NLL per token under the unconstrained model.
int print_poems(const language_model& model, const std::string& prefix, const sample_config& cfg, const poem_config& pc,
                const std::string& novelty_corpus) {
    std::string corpus_text;  // read first: a wrong path should not cost a whole generation
    if (!novelty_corpus.empty()) {
        auto corpus = load_text(novelty_corpus, model.text());
        if (!corpus) return report_error(corpus.err());
        for (size_t i = 0; i < corpus->ids.size(); ++i) corpus_text += corpus->tokens[corpus->ids[i]];
    }
    auto poems = generate_poems(model, prefix, cfg, pc, nullptr, [](uint32_t row, std::string_view text) {
        fmt::print("{}{}\n", row == 0 ? "" : "\n", text);
        std::fflush(stdout);
    });
    if (!poems) return report_error(poems.err());
    poem_stats total;
    for (const auto& p : *poems) total += p.stats;
    fmt::print(stderr, "charlm: {} poem(s), {} backup(s) ({} line, {} couplet, {} whole poem), NLL {:.3f} per token\n",
               poems->size(), total.backups(), total.line_backups, total.couplet_backups, total.restarts,
               total.tokens ? total.nll / static_cast<double>(total.tokens) : 0.0);
    if (!novelty_corpus.empty()) {
        std::vector<std::string> texts;
        for (const auto& p : *poems) texts.push_back(p.text);
        const line_overlap o = copied_lines(texts, corpus_text);
        fmt::print(stderr, "charlm: {} of {} lines ({:.1f}%) occur verbatim in {}\n", o.copied, o.lines,
                   100.0 * o.share(), novelty_corpus);
    }
    return exit_ok;
}

}  // namespace

int cmd_generate(int argc, char** argv) {
    std::string model_path, prefix;
    sample_config cfg;
    int threads = 0;
    bool greedy = false;
    poem_config poem;
    std::string novelty;
    option_groups groups;
    groups["charlm generate options"].add_options()
        ("model", po::value(&model_path), "model file (required)")
        ("prefix", po::value(&prefix)->default_value(prefix), "text to start from (empty: start of a line)");
    add_options(groups, sample_options(), cfg);
    groups["Sampling"].add_options()
        ("greedy", po::bool_switch(&greedy), "always take the most likely token (temperature 0)")
        ("threads", po::value(&threads)->default_value(threads), "threads (0: the cores available)");
    add_options(groups, poem_options(), poem);
    groups[poem_options().front().info.group].add_options()
        ("novelty", po::value(&novelty), "report on stderr the share of the poems' lines found verbatim in this corpus");
    auto bind = [&](const po::variables_map& vm) -> status {
        CHARLM_TRY(take_options(sample_options(), vm, cfg));
        return take_options(poem_options(), vm, poem);
    };
    po::options_description desc = groups.all();
    po::variables_map vm;
    bool done = false;
    if (auto s = parse_command(argc, argv, "charlm generate --model FILE [options]", desc, nullptr, vm, &done, bind);
        !s.ok())
        return report_error(s.err());
    if (done) return exit_ok;
    if (model_path.empty()) return report_error(make_error(errc::usage, "generate: --model FILE is required"));
    if (greedy) cfg.temperature = 0;
    if (auto s = cfg.validate(); !s.ok()) return report_error(s.err());
    if (threads < 0) return report_error(make_error(errc::usage, "--threads must be >= 0"));
    if (auto s = poem.validate(); !s.ok()) return report_error(s.err());
    if (!novelty.empty() && !poem.active())
        return report_error(make_error(errc::usage, "--novelty counts the lines of poems: it needs --form or --acrostic"));
    if (poem.active() && !poem.form.empty())
        if (auto f = parse_poem_form(poem.form); !f) return report_error(f.err());
    apply_threads(threads);
    auto loaded = load_model(model_path);
    if (!loaded) return report_error(loaded.err());
    if (poem.active()) return print_poems(loaded->model, prefix, cfg, poem, novelty);
    // One sample streams token by token; several are printed when the batch is done. To a terminal
    // every token is flushed; to a pipe or file every line (a write per token cost 10% of the time).
    bool streamed = false;
    text_sink sink;
    const bool terminal = stdout_is_terminal();
    if (cfg.num_samples == 1)
        sink = [&streamed, terminal](uint32_t, std::string_view piece) {
            std::fwrite(piece.data(), 1, piece.size(), stdout);
            if (terminal || piece.find('\n') != std::string_view::npos) std::fflush(stdout);
            streamed = true;
        };
    auto rows = generate(loaded->model, prefix, cfg, sink);
    if (!rows) {
        if (streamed) fmt::print("\n");
        return report_error(rows.err());
    }
    if (cfg.num_samples == 1) {
        fmt::print("\n");
    } else {
        for (size_t r = 0; r < rows->size(); ++r) fmt::print("{}{}\n", r == 0 ? "" : "\n", (*rows)[r]);
    }
    return exit_ok;
}

int cmd_eval(int argc, char** argv) {
    std::string model_path, text_path, logits_path;
    int threads = 0;
    uint32_t streams = 32, steps = 64;
    bool json = false, force = false;
    po::options_description desc("charlm eval options");
    desc.add_options()
        ("model", po::value(&model_path), "model file (required)")
        ("text", po::value(&text_path), "text to evaluate (required; '-' for standard input)")
        ("streams", po::value(&streams)->default_value(streams), "parallel streams the text is cut into")
        ("steps", po::value(&steps)->default_value(steps), "time steps per forward call")
        ("json", po::bool_switch(&json), "print one JSON object")
        ("logits", po::value(&logits_path),
         "also write the logits of every predicted token to this file: raw little-endian float32, "
         "(tokens - 1) x V row-major in text order (implies --streams 1)")
        ("force", po::bool_switch(&force), "overwrite the --logits file if it exists")
        ("threads", po::value(&threads)->default_value(threads), "threads (0: the cores available)");
    po::variables_map vm;
    bool done = false;
    if (auto s = parse_command(argc, argv, "charlm eval --model FILE --text FILE [options]", desc, nullptr, vm, &done);
        !s.ok())
        return report_error(s.err());
    if (done) return exit_ok;
    if (model_path.empty() || text_path.empty())
        return report_error(make_error(errc::usage, "eval: --model FILE and --text FILE are required"));
    if (streams < 1 || steps < 1) return report_error(make_error(errc::usage, "--streams and --steps must be >= 1"));
    if (threads < 0) return report_error(make_error(errc::usage, "--threads must be >= 0"));
    if (!logits_path.empty()) {
        std::error_code ec;
        if (!force && std::filesystem::exists(logits_path, ec))
            return report_error(make_error(
                errc::io, fmt::format("'{}' exists; pass --force to overwrite it or choose another name", logits_path)));
        // Rows reach the file in text order only when the text is read as one stream.
        if (!vm["streams"].defaulted() && streams > 1)
            return report_error(make_error(errc::usage, "--logits writes rows in text order and needs --streams 1"));
        streams = 1;
    }
    apply_threads(threads);
    auto loaded = load_model(model_path);
    if (!loaded) return report_error(loaded.err());
    language_model& model = loaded->model;
    auto text = load_text(text_path, model.text());
    if (!text) return report_error(text.err());
    uint64_t unk = 0;
    token_stream ids = map_to_vocab(*text, model.vocab(), &unk);
    if (ids.size() < 2)
        return report_error(make_error(errc::input, fmt::format("'{}' has fewer than 2 tokens: nothing to predict", text_path)));
    std::vector<float> nll;
    std::FILE* logits_file = nullptr;
    language_model::logits_sink sink;
    if (!logits_path.empty()) {
        logits_file = std::fopen(logits_path.c_str(), "wb");
        if (!logits_file)
            return report_error(make_error(
                errc::io, fmt::format("cannot create '{}' for --logits: {}; check that its directory exists and is "
                                      "writable", logits_path, std::strerror(errno))));
        const uint32_t V = model.vocab().size();
        sink = [logits_file, V, row = std::vector<float>(V)](uint64_t, const float* logits) mutable {
            if constexpr (std::endian::native == std::endian::little) {
                std::fwrite(logits, sizeof(float), V, logits_file);
            } else {
                for (uint32_t v = 0; v < V; ++v) {
                    const uint32_t b = std::bit_cast<uint32_t>(logits[v]);
                    row[v] = std::bit_cast<float>((b >> 24) | ((b >> 8) & 0xff00u) | ((b << 8) & 0xff0000u) |
                                                  (b << 24));
                }
                std::fwrite(row.data(), sizeof(float), V, logits_file);
            }
        };
    }
    loss_sum l = model.evaluate(ids, streams, steps, &nll, sink);
    if (logits_file) {
        const bool failed = std::ferror(logits_file) != 0;
        if (std::fclose(logits_file) != 0 || failed)
            return report_error(make_error(errc::io, fmt::format("writing the logits to '{}' failed (disk full?)",
                                                                 logits_path)));
    }
    const double mean = l.nll / static_cast<double>(l.tokens);
    double var = 0;
    for (float v : nll) var += (v - mean) * (v - mean);
    var /= static_cast<double>(std::max<size_t>(1, nll.size() - 1));
    const double se = std::sqrt(var / static_cast<double>(l.tokens));  // standard error of the mean NLL
    const double ppl = std::exp(mean);
    if (json) {
        nlohmann::json j = {{"tokens", l.tokens},          {"perplexity", ppl},   {"bpc", mean / std::log(2.0)},
                            {"nll_mean", mean},            {"nll_stddev", std::sqrt(var)},
                            {"perplexity_stderr", ppl * se}, {"unknown_tokens", unk}};
        fmt::print("{}\n", j.dump());
        return exit_ok;
    }
    fmt::print("tokens evaluated  {}\n", l.tokens);
    fmt::print("unknown tokens    {} (counted as <unk>)\n", unk);
    fmt::print("PPL = {:.4f} +/- {:.4f}\n", ppl, ppl * se);
    fmt::print("bits per token    {:.4f}\n", mean / std::log(2.0));
    return exit_ok;
}

int cmd_info(int argc, char** argv) {
    std::string model_path;
    bool json = false;
    po::options_description desc("charlm info options");
    desc.add_options()
        ("model", po::value(&model_path), "model file (required)")
        ("json", po::bool_switch(&json), "print one JSON object");
    po::positional_options_description pos;
    pos.add("model", 1);
    po::variables_map vm;
    bool done = false;
    if (auto s = parse_command(argc, argv, "charlm info --model FILE [--json]", desc, &pos, vm, &done); !s.ok())
        return report_error(s.err());
    if (done) return exit_ok;
    if (model_path.empty()) return report_error(make_error(errc::usage, "info: --model FILE is required"));
    auto loaded = load_model(model_path);
    if (!loaded) return report_error(loaded.err());
    const language_model& m = loaded->model;
    const model_config& c = m.config();
    const training_summary& s = loaded->summary;
    auto tensors = m.export_tensors();
    // Keras-like layers: what each computes, its input and output widths, its parameters.
    struct layer_row {
        std::string name, kind, shape;
        uint64_t parameters = 0;
    };
    std::vector<layer_row> layer_rows;
    auto count = [&](const std::string& prefix) {
        uint64_t n = 0;
        for (const auto& t : tensors)
            if (t.name.rfind(prefix, 0) == 0) n += t.data.size();
        return n;
    };
    const char* cell_kind = c.cell == cell_type::lstm ? "LSTM" : c.cell == cell_type::gru ? "GRU" :
                            c.cell == cell_type::lbr_gru ? "GRU (linear before reset)" :
                            c.cell == cell_type::rnn_relu ? "RNN (ReLU)" : "RNN (tanh)";
    if (c.embed > 0)
        layer_rows.push_back({"embedding", "Embedding", fmt::format("{} ids -> {}", c.vocab, c.embed), count("embedding.")});
    else
        layer_rows.push_back({"one-hot", "OneHot", fmt::format("{} ids -> {}", c.vocab, c.vocab), 0});
    for (uint32_t l = 0; l < c.layers; ++l) {
        const uint32_t in = l == 0 ? (c.embed > 0 ? c.embed : c.vocab) : c.hidden;
        const std::string sfx = fmt::format("_l{}", l);
        uint64_t n = 0;
        for (const auto& t : tensors)
            if (t.name.rfind("rnn.", 0) == 0 && t.name.size() > sfx.size() &&
                t.name.compare(t.name.size() - sfx.size(), sfx.size(), sfx) == 0)
                n += t.data.size();
        layer_rows.push_back({fmt::format("rnn{}", sfx), cell_kind, fmt::format("{} -> {}", in, c.hidden), n});
        if (c.dropout > 0 && l + 1 < c.layers)
            layer_rows.push_back({fmt::format("dropout{}", sfx), fmt::format("Dropout({:g})", c.dropout), "", 0});
    }
    std::string adaptive_groups;  // the adaptive softmax's head and clusters, printed under the table
    if (c.softmax == softmax_type::adaptive) {
        adaptive_groups = fmt::format("head ids 0..{} and {} cluster entries", c.cutoffs[0] - 1, c.cutoffs.size());
        for (size_t k = 0; k < c.cutoffs.size(); ++k)
            adaptive_groups += fmt::format("; cluster {} ids {}..{} through {} units", k + 1, c.cutoffs[k],
                                           (k + 1 < c.cutoffs.size() ? c.cutoffs[k + 1] : c.vocab) - 1,
                                           adaptive_tail_width(c.hidden, c.div_value, k));
        layer_rows.push_back({"decoder", "AdaptiveLogSoftmax", fmt::format("{} -> {} log-probs", c.hidden, c.vocab),
                              count("decoder.")});
    } else {
        layer_rows.push_back({"decoder", "Linear", fmt::format("{} -> {} logits", c.hidden, c.vocab), count("decoder.")});
    }
    auto ck = read_checkpoint(model_path);  // also a checkpoint? (a plain model file is not)
    if (json) {
        nlohmann::json layers = nlohmann::json::array();
        for (const auto& t : tensors) layers.push_back({{"name", t.name}, {"shape", t.shape}, {"parameters", t.data.size()}});
        nlohmann::json j = {{"cell", to_string(c.cell)}, {"layers", c.layers}, {"hidden", c.hidden},
                            {"embed", c.embed},          {"vocab", c.vocab},   {"parameters", m.parameter_count()},
                            {"softmax", to_string(c.softmax)},
                            {"tensors", layers},
                            {"text", {{"encoding", m.text().encoding}, {"normalize", to_string(m.text().normalize)},
                                      {"unit", to_string(m.text().unit)}, {"lowercase", m.text().lowercase}}},
                            {"training", {{"corpus", s.corpus}, {"epochs", s.epochs}, {"steps", s.steps},
                                          {"train_ppl", s.train_ppl}, {"date", s.date}, {"charlm_version", s.version}}}};
        j["training"]["valid_ppl"] = s.valid_ppl ? nlohmann::json(*s.valid_ppl) : nlohmann::json(nullptr);
        j["training"]["corpus_checksum"] = s.corpus_checksum;
        nlohmann::json lj = nlohmann::json::array();
        for (const auto& l : layer_rows)
            lj.push_back({{"name", l.name}, {"type", l.kind}, {"shape", l.shape}, {"parameters", l.parameters}});
        j["layers"] = lj;
        if (c.softmax == softmax_type::adaptive) {
            j["cutoffs"] = c.cutoffs;
            j["div_value"] = c.div_value;
        }
        // The 1-based epoch the run continues in, and the batches of it already done.
        j["checkpoint"] = ck ? nlohmann::json{{"epoch", ck->epoch + 1},
                                              {"batch", ck->batch},
                                              {"step", ck->step},
                                              {"threads", ck->threads}}
                             : nlohmann::json(nullptr);
        fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        return exit_ok;
    }
    fmt::print("model {}: {} x {} {}, embedding {}, vocabulary {}\n\n", model_path, c.layers, c.hidden,
               to_string(c.cell), c.embed == 0 ? std::string("one-hot") : std::to_string(c.embed), c.vocab);
    fmt::print("{:<14} {:<26} {:<22} {:>12}\n", "layer", "type", "shape", "parameters");
    fmt::print("{:-<77}\n", "");
    for (const auto& l : layer_rows) fmt::print("{:<14} {:<26} {:<22} {:>12}\n", l.name, l.kind, l.shape, l.parameters);
    fmt::print("{:-<77}\n", "");
    fmt::print("{:<64} {:>12}\n", "total", m.parameter_count());
    if (!adaptive_groups.empty()) fmt::print("adaptive softmax: {}\n", adaptive_groups);
    fmt::print("\n{:<24} {:<18} {:>12}\n", "tensor", "shape", "parameters");
    fmt::print("{:-<56}\n", "");
    for (const auto& t : tensors) {
        std::string shape;
        for (auto d : t.shape) shape += (shape.empty() ? "" : " x ") + std::to_string(d);
        fmt::print("{:<24} {:<18} {:>12}\n", t.name, shape, t.data.size());
    }
    fmt::print("{:-<56}\n", "");
    fmt::print("{:<43} {:>12}\n\n", "total", m.parameter_count());
    std::string sample;
    for (uint32_t i = 0; i < std::min<uint32_t>(m.vocab().size(), 40); ++i)
        sample.append(" ").append(visible_token(m.vocab().token(i)));
    fmt::print("vocabulary  {} tokens, most frequent first:{}\n", c.vocab, sample);
    fmt::print("text        encoding {}, normalize {}, unit {}, lowercase {}\n", m.text().encoding,
               to_string(m.text().normalize), to_string(m.text().unit), m.text().lowercase ? "yes" : "no");
    fmt::print("training    corpus {}, {} epochs, {} steps, train ppl {:.3f}{}, {} (charlm {})\n", s.corpus, s.epochs,
               s.steps, s.train_ppl, s.valid_ppl ? fmt::format(", valid ppl {:.3f}", *s.valid_ppl) : "", s.date,
               s.version);
    if (!s.corpus_checksum.empty()) fmt::print("            corpus checksum {}\n", s.corpus_checksum);
    if (ck)
        fmt::print("checkpoint  continues in epoch {} at batch {} (step {}, {} threads): charlm train --resume {}\n",
                   ck->epoch + 1, ck->batch, ck->step, ck->threads, model_path);
    return exit_ok;
}

}  // namespace charlm::cli
