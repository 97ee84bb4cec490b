// The commands that use a trained model: `generate` (streams text from a prefix), `eval`
// (perplexity on a text) and `info` (what a model file holds). Each loads the model, calls
// the library and prints.
#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "charlm/describe.hpp"
#include "charlm/evaluate.hpp"
#include "charlm/model_file.hpp"
#include "charlm/poem.hpp"
#include "charlm/sample.hpp"
#include "charlm/train.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "requests.hpp"

namespace charlm::cli {

namespace {

// Poems are printed whole (a backup may change any part of an unfinished one), a blank line apart;
// stderr gets the backups and the NLL per token under the unconstrained model.
int print_poems(const language_model& model, const std::string& prefix, const sample_config& cfg, poem_config pc,
                const std::string& novelty_corpus) {
    std::string corpus_text;  // read first: a wrong path should not cost a whole generation
    if (!novelty_corpus.empty()) {
        auto corpus = load_text(novelty_corpus, model.text());
        if (!corpus) return report_error(corpus.err());
        for (size_t i = 0; i < corpus->ids.size(); ++i) corpus_text += corpus->tokens[corpus->ids[i]];
    }
    pc.novelty_text = corpus_text;  // the copy penalty of --best-of
    prosody_table table;  // loaded before the clock starts: the time said is the poems'
    if (pc.needs_prosody()) {
        auto t = prosody_table::load(pc.prosody_path);
        if (!t) return report_error(t.err());
        table = std::move(*t);
    }
    status shown;  // a failed conversion of a finished poem ends the run
    const auto t0 = std::chrono::steady_clock::now();
    auto poems = generate_poems(model, prefix, cfg, pc, pc.needs_prosody() ? &table : nullptr, [&](uint32_t row, const poem_result& poem) {
        auto text = to_reader_script(model, cfg, poem.text);
        if (!text) {
            shown = text.err();
            return false;
        }
        fmt::print("{}{}\n", row == 0 ? "" : "\n", *text);  // poems a blank line apart
        std::fflush(stdout);
        if (pc.best_of > 0)
            fmt::print(stderr, "charlm: poem {}: candidate {} of {}, score {}\n", row + 1, poem.candidate + 1, pc.best_of,
                       poem.score.describe(pc.weights));
        return true;
    });
    if (!shown.ok()) return report_error(shown.err());
    if (!poems) return report_error(poems.err());
    poem_stats total;
    for (const auto& p : *poems) total += p.stats;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print(stderr, "charlm: {} poem(s) in {:.3f} s, {} backup(s) ({} line, {} couplet, {} whole poem), NLL {:.3f} per "
               "token\n",
               poems->size(), seconds, total.backups(), total.line_backups, total.couplet_backups, total.restarts,
               total.tokens ? total.nll / static_cast<double>(total.tokens) : 0.0);
    if (!novelty_corpus.empty()) {
        std::vector<std::string> texts;
        for (const auto& p : *poems) texts.push_back(p.text);
        const line_overlap o = copied_lines(texts, corpus_text, poems->empty() ? 0 : poems->front().prefix_bytes);
        fmt::print(stderr, "charlm: {} of {} lines ({:.1f}%) occur verbatim in {}\n", o.copied, o.lines,
                   100.0 * o.share(), novelty_corpus);
    }
    return exit_ok;
}

// Text for a reader who asked for the other script (--script): converted by phrases, so a line is
// printed once it is complete (one sample) or each sample once it is done (several).
int print_in_reader_script(const language_model& model, const std::string& prefix, const sample_config& cfg) {
    std::string line;
    status shown;
    auto flush = [&](bool all) {
        const size_t end = all ? line.size() : line.rfind('\n') + 1;
        if (end == 0 || !shown.ok()) return;
        auto text = to_reader_script(model, cfg, std::string_view(line).substr(0, end));
        if (!text) {
            shown = text.err();
            return;
        }
        fmt::print("{}", *text);
        std::fflush(stdout);
        line.erase(0, end);
    };
    text_sink sink;
    if (cfg.num_samples == 1)
        sink = [&](uint32_t, std::string_view piece) {
            line += piece;
            if (piece.find('\n') != std::string_view::npos) flush(false);
        };
    auto rows = generate(model, prefix, cfg, sink);
    flush(true);
    if (!rows) return report_error(rows.err());
    if (!shown.ok()) return report_error(shown.err());
    if (cfg.num_samples == 1) {
        fmt::print("\n");
        return exit_ok;
    }
    for (size_t r = 0; r < rows->size(); ++r) {
        auto text = to_reader_script(model, cfg, (*rows)[r]);
        if (!text) return report_error(text.err());
        fmt::print("{}{}\n", r == 0 ? "" : "\n", *text);
    }
    return exit_ok;
}

}  // namespace

int cmd_generate(int argc, char** argv) {
    generate_request req;
    bool done = false;
    if (auto s = parse_generate(argc, argv, req, true, &done); !s.ok()) return report_error(s.err());
    if (done) return exit_ok;
    std::string& prefix = req.prefix;
    sample_config& cfg = req.sample;
    apply_threads(req.threads);
    auto loaded = load_model(req.model_path);
    if (!loaded) return report_error(loaded.err());
    auto converted = convert_inputs(loaded->model, prefix, cfg, req.poem.active() ? &req.poem : nullptr);
    if (!converted) return report_error(converted.err());
    for (const auto& c : *converted) fmt::print(stderr, "charlm: {}\n", c.describe());
    if (auto note = loaded->model.precision_notice(cfg.precision); !note.empty()) fmt::print(stderr, "charlm: {}\n", note);
    if (req.poem.active()) return print_poems(loaded->model, prefix, cfg, req.poem, req.novelty);
    if (req.lyrics.active()) {
        req.lyrics.middle_chinese_path = req.poem.prosody_path;  // --readings, for 平水韵
        return print_lyrics(loaded->model, prefix, cfg, req.lyrics);
    }
    if (reader_conversion(loaded->model, cfg) != script_conversion::none)
        return print_in_reader_script(loaded->model, prefix, cfg);
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
    std::string model_path, text_path;
    eval_options opts;
    int threads = 0;
    bool json = false;
    std::string convert;
    option_groups groups;
    groups["charlm eval options"].add_options()
        ("model", po::value(&model_path), "model file (required)")
        ("text", po::value(&text_path), "text to evaluate (required; '-' for standard input)")
        ("streams", po::value(&opts.streams)->default_value(opts.streams), "parallel streams the text is cut into")
        ("steps", po::value(&opts.steps)->default_value(opts.steps), "time steps per forward call")
        ("json", po::bool_switch(&json), "print one JSON object")
        ("logits", po::value(&opts.logits_path),
         "also write the logits of every predicted token to this file: raw little-endian float32, "
         "(tokens - 1) x V row-major in text order (implies --streams 1)")
        ("force", po::bool_switch(&opts.overwrite), "overwrite the --logits file if it exists")
        ("convert", po::value(&convert)->default_value("auto"), "a text in the other Chinese script than the model's: read converted to the model's (auto, said on "
         "stderr) or as it is (off)")
        ("threads", po::value(&threads)->default_value(threads), "threads (0: the cores available)");
    add_options(groups, eval_option_table(), opts);
    po::options_description desc = groups.all();
    po::variables_map vm;
    bool done = false;
    auto bind = [&](const po::variables_map& v) { return take_options(eval_option_table(), v, opts); };
    if (auto s = parse_command(argc, argv, "charlm eval --model FILE --text FILE [options]", desc, nullptr, vm, &done,
                               bind);
        !s.ok())
        return report_error(s.err());
    if (done) return exit_ok;
    if (model_path.empty() || text_path.empty())
        return report_error(make_error(errc::usage, "eval: --model FILE and --text FILE are required"));
    if (threads < 0) return report_error(make_error(errc::usage, "--threads must be >= 0"));
    if (!opts.logits_path.empty() && vm["streams"].defaulted()) opts.streams = 1;
    auto policy = parse_convert_policy(convert);
    if (!policy) return report_error(make_error(errc::usage, "--convert: " + policy.err().message));
    opts.convert = *policy;
    apply_threads(threads);
    auto loaded = load_model(model_path);
    if (!loaded) return report_error(loaded.err());
    if (auto note = loaded->model.precision_notice(opts.precision); !note.empty()) fmt::print(stderr, "charlm: {}\n", note);
    opts.progress = reading_progress(text_path);
    auto r = evaluate_file(loaded->model, text_path, opts);
    if (!r) return report_error(r.err());
    if (r->converted != script_conversion::none)
        fmt::print(stderr, "charlm: {} read as {} characters, the model's ({}; --convert off keeps it as it is)\n",
                   text_path, r->converted == script_conversion::s2t ? "traditional" : "simplified",
                   to_string(r->converted));
    if (json) {
        const nlohmann::json j = to_json(*r);
        fmt::print("{}\n", j.dump());
        return exit_ok;
    }
    auto pm = [](const perplexity_estimate& e) {
        return std::isfinite(e.std_error) ? fmt::format("{:.4f} +/- {:.4f}", e.perplexity, e.std_error)
                                          : fmt::format("{:.4f} +/- ?", e.perplexity);
    };
    fmt::print("tokens evaluated  {}\n", r->tokens);
    fmt::print("unknown tokens    {} (not in the vocabulary: read and scored as <unk>)\n", r->unknown_tokens);
    fmt::print("PPL = {}\n", pm(r->all));
    if (r->unknown_tokens > 0)
        fmt::print("PPL over the {} known tokens = {}\n", r->known.tokens,
                   r->known.tokens > 0 ? pm(r->known) : std::string("none"));
    fmt::print("bits per token    {:.4f}\n", r->bits_per_token());
    if (r->blocks > 0)
        fmt::print("+/- is one standard error from the spread of {} blocks of about {} consecutive tokens "
                   "(tokens within a block may be correlated; blocks are taken as independent)\n",
                   r->blocks, r->block_tokens);
    else
        fmt::print("+/- ? : the text is too short for a standard error (it takes two blocks of {} tokens)\n",
                   eval_min_block_tokens);
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
    const model_summary d = describe_model(m);
    auto ck = read_checkpoint(model_path);  // also a checkpoint? (a plain model file is not)
    if (json) {
        const nlohmann::json j = describe_json(*loaded, ck ? &*ck : nullptr);
        fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        return exit_ok;
    }
    fmt::print("model {}: {} x {} {}, embedding {}, vocabulary {}\n\n", model_path, c.layers, c.hidden,
               to_string(c.cell), c.embed == 0 ? std::string("one-hot") : std::to_string(c.embed), c.vocab);
    fmt::print("{:<14} {:<26} {:<22} {:>10} {:>10}\n", "layer", "type", "shape", "stored", "trainable");
    fmt::print("{:-<86}\n", "");
    for (const auto& l : d.layers)
        fmt::print("{:<14} {:<26} {:<22} {:>10} {:>10}\n", l.name, l.kind, l.shape, l.stored, l.trainable);
    fmt::print("{:-<86}\n", "");
    fmt::print("{:<64} {:>10} {:>10}\n", "total", d.stored, d.trainable);
    if (!d.adaptive_groups.empty()) fmt::print("adaptive softmax: {}\n", d.adaptive_groups);
    fmt::print("\n{:<24} {:<18} {:>10} {:>10}\n", "tensor", "shape", "stored", "trainable");
    fmt::print("{:-<65}\n", "");
    for (const auto& l : d.layers)
        for (const auto& t : l.tensors) {
            std::string shape;
            for (auto dim : t.shape) shape += (shape.empty() ? "" : " x ") + std::to_string(dim);
            fmt::print("{:<24} {:<18} {:>10} {:>10}\n", t.name, shape, t.stored, t.trainable);
        }
    fmt::print("{:-<65}\n", "");
    fmt::print("{:<43} {:>10} {:>10}\n", "total", d.stored, d.trainable);
    fmt::print("stored: values in the file; trainable: values training changes (the stored second bias b_hh of a "
               "recurrent layer only adds to b_ih, so it is kept at zero{})\n\n",
               c.cell == cell_type::lbr_gru ? ", but for its n-gate rows" : "");
    std::string sample;
    for (uint32_t i = 0; i < std::min<uint32_t>(m.vocab().size(), 40); ++i)
        sample.append(" ").append(visible_token(m.vocab().token(i)));
    fmt::print("vocabulary  {} tokens, most frequent first:{}\n", c.vocab, sample);
    fmt::print("text        {}\n", describe_text_line(m.text()));
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
