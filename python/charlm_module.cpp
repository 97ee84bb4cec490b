// The Python module charlm._charlm (pybind11): Model (load, info, vocab, encode/decode, generate,
// stream, evaluate, logits) and train(), over the same library calls and the same option parsing
// as the charlm binary (app/requests.hpp): keyword arguments become the command's options, so
// names, defaults, ranges and messages are the CLI's. Work runs on a thread of its own with the
// GIL released and signals blocked (oneDNN's JIT kernels must never take a signal frame, see
// app/stop_signal.hpp); the calling thread waits, turning Ctrl-C into a stop.
// Not here: any option, default or check of its own (they live in the library and app/).
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "charlm/describe.hpp"
#include "charlm/evaluate.hpp"
#include "charlm/model_file.hpp"
#include "charlm/lyrics.hpp"
#include "charlm/poem.hpp"
#include "charlm/sample.hpp"
#include "charlm/train.hpp"
#include "charlm/version.hpp"
#include "cli.hpp"
#include "requests.hpp"

namespace py = pybind11;
using namespace charlm;

namespace {

// The library's error as the Python exception it stands for: files OSError, interruption
// KeyboardInterrupt, a diverged run ArithmeticError, bad options and input ValueError.
[[noreturn]] void raise(const error& e) {
    PyObject* type = PyExc_ValueError;
    switch (e.code) {
        case errc::io: type = PyExc_OSError; break;
        case errc::interrupted: type = PyExc_KeyboardInterrupt; break;
        case errc::numeric: type = PyExc_ArithmeticError; break;
        case errc::internal: type = PyExc_RuntimeError; break;
        case errc::usage:
        case errc::input:
        case errc::format: break;
    }
    PyErr_SetString(type, e.message.c_str());
    throw py::error_already_set();
}

template <class T>
T take(result<T>&& r) {
    if (!r) raise(r.err());
    return std::move(*r);
}

py::object from_json(const nlohmann::json& j) {
    return py::module_::import("json").attr("loads")(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// A keyword argument's value as command-line text: str as it is, numbers as Python writes them
// (repr round-trips a float).
std::string option_text(const std::string& name, const py::handle& v) {
    if (py::isinstance<py::str>(v)) return v.cast<std::string>();
    if (PyLong_Check(v.ptr()) || PyFloat_Check(v.ptr())) return py::repr(v).cast<std::string>();
    if (py::hasattr(v, "__fspath__")) return py::module_::import("os").attr("fspath")(v).cast<std::string>();
    throw py::type_error("option '" + name + "' takes a str or a number, not " +
                         py::str(py::type::of(v).attr("__name__")).cast<std::string>());
}

// Keyword arguments as `command`'s options: top_k=5 -> --top-k=5, True -> the bare switch,
// False and None -> left out, a list -> the option repeated. A name is letters, digits, '_' and '-'.
void add_option_args(std::vector<std::string>& args, const py::dict& options, const std::set<std::string>& refused) {
    for (auto [key, value] : options) {
        std::string name = py::str(key).cast<std::string>();
        const bool word = !name.empty() && std::isalpha(static_cast<unsigned char>(name[0])) &&
                          std::all_of(name.begin(), name.end(), [](char c) {
                              return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
                          });
        if (!word || refused.count(name)) throw py::value_error("'" + name + "' is not an option here");
        std::replace(name.begin(), name.end(), '_', '-');
        if (value.is_none() || (PyBool_Check(value.ptr()) && !value.cast<bool>())) continue;
        // "--name=value" keeps a value that starts with '-' a value; an empty one needs its own word.
        auto add = [&](const std::string& text) {
            if (text.empty()) {
                args.push_back("--" + name);
                args.push_back(text);
            } else {
                args.push_back("--" + name + "=" + text);
            }
        };
        if (PyBool_Check(value.ptr())) {
            args.push_back("--" + name);
        } else if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
            for (auto item : value) add(option_text(name, item));
        } else {
            add(option_text(name, value));
        }
    }
}

// Boost wants char**; the strings outlive the call.
template <class F>
auto with_argv(std::vector<std::string>& args, F&& f) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return f(static_cast<int>(args.size()), argv.data());
}

cli::generate_request parse_generate_options(const std::string& prefix, const py::dict& options) {
    std::vector<std::string> args{"generate"};
    add_option_args(args, options, {"model", "prefix", "config", "help", "novelty"});
    cli::generate_request req;
    bool done = false;
    const status s = with_argv(args, [&](int argc, char** argv) { return cli::parse_generate(argc, argv, req, false, &done); });
    if (!s.ok()) raise(s.err());
    req.prefix = prefix;
    return req;
}

// Runs `work` on a thread of its own (signals blocked, GIL released) while this thread waits and
// polls for signals: a KeyboardInterrupt (or any exception a Python signal handler raises) sets
// *cancel, the work is waited for, and the exception is raised then. Exceptions of `work` itself
// are raised here too.
template <class F>
void run_released(F&& work, std::atomic<bool>& cancel) {
    std::mutex mu;
    std::condition_variable cv;
    bool finished = false;
    std::exception_ptr failure;
    std::optional<py::error_already_set> interrupted;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);  // the worker, and OpenMP's threads it starts, inherit the mask
    std::thread worker([&] {
        try {
            work();
        } catch (...) {
            failure = std::current_exception();
        }
        std::lock_guard lk(mu);
        finished = true;
        cv.notify_all();
    });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    for (;;) {
        bool done;
        {
            py::gil_scoped_release release;
            std::unique_lock lk(mu);
            done = cv.wait_for(lk, std::chrono::milliseconds(50), [&] { return finished; });
        }
        if (done) break;
        if (!interrupted && PyErr_CheckSignals() != 0) {
            interrupted.emplace();  // takes the pending exception
            cancel = true;
        }
    }
    worker.join();
    if (interrupted) throw std::move(*interrupted);
    if (failure) std::rethrow_exception(failure);
}

struct model_handle {
    std::shared_ptr<const loaded_model> loaded;
    std::string path;
    const language_model& model() const { return loaded->model; }
};

py::object texts_result(const std::vector<std::string>& rows, uint32_t num_samples) {
    if (num_samples == 1 && rows.size() == 1) return py::str(rows[0]);
    py::list out;
    for (const auto& r : rows) out.append(py::str(r));
    return out;
}

// The request's inputs in the model's script (convert="auto"), each conversion said as a Python
// warning, as the CLI says it on stderr.
void read_in_model_script(const language_model& model, cli::generate_request& req) {
    auto notes = convert_inputs(model, req.prefix, req.sample, req.poem.active() ? &req.poem : nullptr);
    if (!notes) raise(notes.err());
    if (notes->empty()) return;
    auto warn = py::module_::import("warnings").attr("warn");
    for (const auto& n : *notes) warn(n.describe());
}

// Generated text in the script the reader asked for (script=...), as the CLI prints it.
std::string in_reader_script(const language_model& model, const sample_config& cfg, const std::string& text) {
    auto r = to_reader_script(model, cfg, text);
    if (!r) raise(r.err());
    return std::move(*r);
}

py::object generate_text(const model_handle& m, const std::string& prefix, const py::dict& options) {
    cli::generate_request req = parse_generate_options(prefix, options);
    read_in_model_script(m.model(), req);
    std::atomic<bool> cancel{false};
    std::optional<result<std::vector<std::string>>> rows;
    run_released(
        [&] {
            cli::apply_threads(req.threads);
            if (req.lyrics.active()) {
                auto songs = generate_lyrics(m.model(), req.prefix, req.sample, req.lyrics,
                                             [&](uint32_t, const lyric_result&) { return !cancel; });
                if (!songs) {
                    rows.emplace(songs.err());
                    return;
                }
                std::vector<std::string> texts;
                for (const auto& l : *songs) texts.push_back(l.text);
                rows.emplace(std::move(texts));
            } else if (req.poem.active()) {
                auto poems = generate_poems(m.model(), req.prefix, req.sample, req.poem, nullptr,
                                            [&](uint32_t, const poem_result&) { return !cancel; });
                if (!poems) {
                    rows.emplace(poems.err());
                    return;
                }
                std::vector<std::string> texts;
                for (const auto& p : *poems) texts.push_back(p.text);
                rows.emplace(std::move(texts));
            } else {
                rows.emplace(generate(m.model(), req.prefix, req.sample, {},
                                      [&](const generated_token&) { return !cancel; }));
            }
        },
        cancel);
    std::vector<std::string> texts = take(std::move(*rows));
    for (auto& t : texts) t = in_reader_script(m.model(), req.sample, t);
    return texts_result(texts, req.sample.num_samples);
}

// m.stream(): the pieces of one sample (or whole poems) as they are produced, from a generation
// running on its own thread; dropping the iterator ends it.
class piece_stream {
public:
    piece_stream(const model_handle& m, cli::generate_request req) : keep_(m.loaded) {
        if (req.sample.num_samples != 1)
            throw py::value_error("stream() gives the pieces of one sample: num_samples must be 1 (generate() "
                                  "returns several)");
        read_in_model_script(keep_->model, req);
        (void)in_reader_script(keep_->model, req.sample, "");  // the tables load here, or the error is raised here
        reader_ = reader_conversion(keep_->model, req.sample) != script_conversion::none;
        script_ = req.sample;
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        worker_ = std::thread([this, req = std::move(req)] { run(req); });
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    ~piece_stream() { stop(); }
    piece_stream(const piece_stream&) = delete;
    piece_stream& operator=(const piece_stream&) = delete;

    py::str next() {
        if (ready_.empty()) {
            for (;;) {
                bool done;
                std::deque<std::string> taken;  // ready_ is touched only with the GIL held
                {
                    py::gil_scoped_release release;
                    std::unique_lock lk(mu_);
                    done = cv_.wait_for(lk, std::chrono::milliseconds(50), [&] { return !queue_.empty() || finished_; });
                    // Then up to gather_time more for a batch: one wake-up per piece cost a fifth of a
                    // 256-unit LSTM's time on a busy machine; a person cannot see 2 ms.
                    if (done && !finished_)
                        cv_.wait_for(lk, gather_time, [&] { return queue_.size() >= gather_pieces || finished_; });
                    if (done) std::swap(taken, queue_);
                }
                for (auto& p : taken) ready_.push_back(std::move(p));
                if (done) break;
                if (PyErr_CheckSignals() != 0) {
                    cancel_ = true;
                    throw py::error_already_set();
                }
            }
        }
        if (ready_.empty()) {
            if (error_) {
                const error e = *error_;
                error_.reset();
                raise(e);
            }
            throw py::stop_iteration();
        }
        std::string piece = std::move(ready_.front());
        ready_.pop_front();
        return py::str(piece);
    }

    void stop() {
        cancel_ = true;
        if (worker_.joinable()) {
            py::gil_scoped_release release;
            worker_.join();
        }
    }

private:
    // A piece in the reader's script: a poem whole, by phrases; a token by its own characters.
    void push(std::string_view piece) {
        std::string text(piece);
        if (reader_)
            if (auto r = to_reader_script(keep_->model, script_, text)) text = std::move(*r);
        std::lock_guard lk(mu_);
        queue_.emplace_back(std::move(text));
        if (queue_.size() == 1 || queue_.size() == gather_pieces) cv_.notify_one();
    }

    void run(const cli::generate_request& req) {
        std::optional<error> err;
        try {
            cli::apply_threads(req.threads);
            const language_model& model = keep_->model;
            if (req.lyrics.active()) {
                auto r = generate_lyrics(model, req.prefix, req.sample, req.lyrics,
                                         [this](uint32_t, const lyric_result& l) {
                                             push(l.text);
                                             return !cancel_;
                                         });
                if (!r) err = r.err();
            } else if (req.poem.active()) {
                auto r = generate_poems(model, req.prefix, req.sample, req.poem, nullptr,
                                        [this](uint32_t, const poem_result& p) {
                                            push(p.text);
                                            return !cancel_;
                                        });
                if (!r) err = r.err();
            } else {
                auto r = generate(
                    model, req.prefix, req.sample, [this](uint32_t, std::string_view piece) { push(piece); },
                    [this](const generated_token&) { return !cancel_; });
                if (!r) err = r.err();
            }
        } catch (const std::exception& e) {
            err = make_error(errc::internal, e.what());
        }
        std::lock_guard lk(mu_);
        error_ = err;
        finished_ = true;
        cv_.notify_one();
    }

    static constexpr std::chrono::milliseconds gather_time{2};
    static constexpr size_t gather_pieces = 64;
    std::shared_ptr<const loaded_model> keep_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::string> queue_;  // produced, not yet taken (under mu_)
    std::deque<std::string> ready_;  // taken, not yet returned (the GIL's)
    bool finished_ = false;
    std::optional<error> error_;
    std::atomic<bool> cancel_{false};
    bool reader_ = false;   // pieces converted to the reader's script
    sample_config script_;  // its setting
    std::thread worker_;
};

// A vector's floats as a numpy array that owns them (no copy).
py::array_t<float> owned_array(std::vector<float>&& v, std::vector<py::ssize_t> shape) {
    auto* held = new std::vector<float>(std::move(v));
    py::capsule owner(held, [](void* p) { delete static_cast<std::vector<float>*>(p); });
    return py::array_t<float>(shape, held->data(), owner);
}

std::vector<float> state_part(const py::dict& state, const char* key, size_t count) {
    if (!state.contains(key)) return {};
    auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(state[key]);
    if (!a) throw py::value_error(std::string("state['") + key + "'] must be an array of numbers");
    if (static_cast<size_t>(a.size()) != count)
        throw py::value_error(std::string("state['") + key + "'] has " + std::to_string(a.size()) +
                              " values; this model takes " + std::to_string(count) + " (layers x 1 x hidden)");
    return std::vector<float>(a.data(), a.data() + a.size());
}

py::tuple logits_of(const model_handle& m, const std::vector<int64_t>& ids, std::optional<py::dict> state,
                    int threads) {
    const language_model& model = m.model();
    const uint32_t V = model.vocab().size();
    const auto L = static_cast<py::ssize_t>(model.config().layers), H = static_cast<py::ssize_t>(model.config().hidden);
    for (size_t i = 0; i < ids.size(); ++i)
        if (ids[i] < 0 || ids[i] >= V)
            throw py::value_error("ids[" + std::to_string(i) + "] = " + std::to_string(ids[i]) +
                                  " is not a token id of this model (0 .. " + std::to_string(V - 1) + ")");
    if (threads < 0) raise(make_error(errc::usage, "--threads must be >= 0"));
    recurrent_state start;
    if (state) {
        start.h = state_part(*state, "h", static_cast<size_t>(L * H));
        start.c = state_part(*state, "c", static_cast<size_t>(L * H));
        if (start.h.empty()) throw py::value_error("state needs 'h' (and 'c' for an LSTM), as logits() returns it");
    }
    std::vector<float> logits(ids.size() * V);  // (T, V)
    recurrent_state end;
    std::optional<error> err;
    std::atomic<bool> cancel{false};
    run_released(
        [&] {
            cli::apply_threads(threads);
            generator g(model, 1);
            if (state)
                if (status s = g.set_state(start); !s.ok()) {
                    err = s.err();
                    return;
                }
            for (size_t t = 0; t < ids.size() && !cancel; ++t) {
                const int32_t id = static_cast<int32_t>(ids[t]);
                const float* row = g.step(&id);
                std::copy(row, row + V, logits.begin() + static_cast<ptrdiff_t>(t * V));
            }
            end = g.state();
        },
        cancel);
    if (err) raise(*err);
    py::dict out_state;
    out_state["h"] = owned_array(std::move(end.h), {L, 1, H});
    if (!end.c.empty()) out_state["c"] = owned_array(std::move(end.c), {L, 1, H});
    return py::make_tuple(owned_array(std::move(logits), {static_cast<py::ssize_t>(ids.size()), V}), out_state);
}

py::object evaluate_text(const model_handle& m, const std::string& text, uint32_t streams, uint32_t steps, int threads,
                         const std::string& precision_name) {
    if (threads < 0) raise(make_error(errc::usage, "--threads must be >= 0"));
    auto p = parse_precision(precision_name);
    if (!p) raise(make_error(errc::usage, "precision: " + p.err().message));
    std::optional<result<eval_report>> r;
    std::atomic<bool> cancel{false};
    run_released(
        [&] {
            cli::apply_threads(threads);
            r.emplace(evaluate_bytes(m.model(), text, "the text", streams, steps, convert_policy::automatic, *p));
        },
        cancel);
    return from_json(to_json(take(std::move(*r))));
}

py::dict outcome_dict(const train_outcome& o) {
    py::dict d;
    d["interrupted"] = o.interrupted;
    d["stop"] = o.stop == stop_reason::none ? py::object(py::none()) : py::object(py::str(to_string(o.stop)));
    d["stop_detail"] = o.stop_detail;
    d["checkpoint"] = o.checkpoint;
    d["epochs"] = o.epochs;
    d["steps"] = o.steps;
    d["steps_run"] = o.steps_run;
    d["train_ppl"] = o.train_ppl;
    d["valid_ppl"] = o.valid_ppl ? py::object(py::float_(*o.valid_ppl)) : py::object(py::none());
    d["best_valid_ppl"] = o.best_valid_ppl ? py::object(py::float_(*o.best_valid_ppl)) : py::object(py::none());
    d["best_epoch"] = o.best_epoch;
    d["seconds"] = o.seconds;
    d["vocab_size"] = o.vocab_size;
    return d;
}

py::dict train_run(const py::object& config, const py::object& on_report, const py::object& on_sample,
                   const py::object& on_info, const py::dict& options) {
    std::vector<std::string> args{"train"};
    if (py::isinstance<py::dict>(config)) {
        add_option_args(args, config.cast<py::dict>(), {"help"});
    } else if (py::isinstance<py::str>(config) || py::hasattr(config, "__fspath__")) {
        args.push_back("--config=" + option_text("config", config));
    } else if (!config.is_none()) {
        throw py::type_error("config is a dict of options or the path of an .ini file");
    }
    add_option_args(args, options, {"help"});
    cli::train_request req;
    bool done = false;
    if (status s = with_argv(args, [&](int argc, char** argv) { return cli::parse_train(argc, argv, req, &done); });
        !s.ok())
        raise(s.err());
    auto ck = take(cli::prepare_train(req, true));
    std::atomic<bool> cancel{false};
    std::optional<py::error_already_set> callback_error;  // set with the GIL held
    // Callbacks run on the training thread: each takes the GIL; an exception stops the run.
    auto call = [&](const py::object& f, auto&&... a) {
        if (f.is_none() || cancel) return;
        py::gil_scoped_acquire gil;
        try {
            f(std::forward<decltype(a)>(a)...);
        } catch (py::error_already_set& e) {
            callback_error.emplace(std::move(e));
            cancel = true;
        }
    };
    train_callbacks cb;
    cb.on_report = [&](const train_report& r) {
        if (on_report.is_none()) return;
        std::string line = metrics_json_line(r);
        py::gil_scoped_acquire gil;
        py::object d = from_json(nlohmann::json::parse(line));
        call(on_report, d);
    };
    cb.on_sample = [&](const std::string& prefix, const std::string& text) { call(on_sample, prefix, text); };
    cb.on_info = [&](const std::string& line) { call(on_info, line); };
    // What the CLI prints as "charlm: warning: ..." is a Python warning (shown once per place by default).
    const py::object warn = py::module_::import("warnings").attr("warn");
    cb.on_warning = [&](const std::string& line) { call(warn, "charlm: " + line); };
    cb.should_stop = [&] { return cancel.load(); };
    std::optional<result<train_outcome>> outcome;
    try {
        run_released(
            [&] {
                cli::warn_thread_change(ck, cli::apply_threads(req.threads));
                outcome.emplace(train(req.cfg, cb));
            },
            cancel);
    } catch (py::error_already_set& e) {  // Ctrl-C: say where the run can continue, as the CLI does
        if (outcome && outcome->ok() && !(*outcome)->checkpoint.empty() && py::hasattr(e.value(), "add_note"))
            e.value().attr("add_note")("charlm: the run so far is in " + (*outcome)->checkpoint +
                                       "; continue with charlm.train({'resume': '" + (*outcome)->checkpoint + "'})");
        throw;
    }
    if (callback_error) throw std::move(*callback_error);
    return outcome_dict(take(std::move(*outcome)));
}

}  // namespace

namespace {

// Model.load, info, vocab, path, encode, decode.
void def_model_basics(py::class_<model_handle>& model) {
    model
        .def_static(
            "load",
            [](const py::object& path) {
                const std::string p = option_text("path", path);
                std::optional<result<loaded_model>> r;
                {
                    py::gil_scoped_release release;
                    r.emplace(load_model(p));
                }
                return model_handle{std::make_shared<const loaded_model>(take(std::move(*r))), p};
            },
            py::arg("path"), "Loads a model file (or a checkpoint); OSError or ValueError naming the problem.")
        .def(
            "info",
            [](const model_handle& m) {
                auto ck = read_checkpoint(m.path);
                return from_json(describe_json(*m.loaded, ck ? &*ck : nullptr));
            },
            "The fields of `charlm info --json`.")
        .def_property_readonly(
            "vocab", [](const model_handle& m) { return m.model().vocab().tokens(); },
            "The tokens in id order (id 0 is <unk>).")
        .def_property_readonly("path", [](const model_handle& m) { return m.path; })
        .def(
            "encode",
            [](const model_handle& m, const std::string& text) {
                auto tokens = take(segment_utf8(text, m.model().text()));
                return m.model().vocab().encode(tokens);
            },
            py::arg("text"), "The token ids of a text after the model's normalization (unknown tokens: 0, <unk>).")
        .def(
            "decode",
            [](const model_handle& m, const std::vector<int64_t>& ids) {
                const uint32_t V = m.model().vocab().size();
                std::vector<uint32_t> in;
                for (size_t i = 0; i < ids.size(); ++i) {
                    if (ids[i] < 0 || ids[i] >= V)
                        throw py::value_error("ids[" + std::to_string(i) + "] = " + std::to_string(ids[i]) +
                                              " is not a token id of this model (0 .. " + std::to_string(V - 1) + ")");
                    in.push_back(static_cast<uint32_t>(ids[i]));
                }
                return m.model().vocab().decode(in);
            },
            py::arg("ids"), "The text of token ids (<unk> as U+FFFD).");
}

// Model.generate, stream, evaluate, logits.
void def_model_generation(py::class_<model_handle>& model) {
    model
        .def(
            "generate",
            [](const model_handle& m, const std::string& prefix, const py::kwargs& options) {
                return generate_text(m, prefix, options);
            },
            py::arg("prefix") = "",
            "The text `charlm generate` prints (without its final newline), or a list of texts with num_samples > 1. "
            "Options: generate's, '-' written '_' (length, temperature, top_k, top_p, seed, stop, num_samples, "
            "unknown, greedy, threads, form, acrostic, mood, rhyme, tones, ...).")
        .def(
            "stream",
            [](const model_handle& m, const std::string& prefix, const py::kwargs& options) {
                return std::make_unique<piece_stream>(m, parse_generate_options(prefix, options));
            },
            py::arg("prefix") = "",
            "An iterator over the pieces of one sample as they are sampled (the prefix first), or over whole poems "
            "with form/acrostic. The options of generate().")
        .def("evaluate", &evaluate_text, py::arg("text"), py::arg("streams") = eval_options{}.streams,
             py::arg("steps") = eval_options{}.steps, py::arg("threads") = 0, py::arg("precision") = "f32",
             "The report of `charlm eval --json` on a text; precision 'f32', 'int8' or 'bf16' as its --precision.")
        .def("logits", &logits_of, py::arg("ids"), py::arg("state") = py::none(), py::arg("threads") = 0,
             "(logits, state): float32 logits (len(ids), V), row t after reading ids[t] (log-probabilities with "
             "the adaptive softmax), and the recurrent state after the last id, {'h': (L, 1, H), 'c': (L, 1, H) for "
             "an LSTM}, to pass back as `state` to continue.");
}

}  // namespace

PYBIND11_MODULE(_charlm, mod) {
    mod.doc() = "charlm: character-level language models on oneDNN (the library the charlm command runs)";
    mod.attr("__version__") = CHARLM_VERSION;

    py::class_<model_handle> model(mod, "Model", "A trained model file, loaded once; read-only, usable from several threads.");
    def_model_basics(model);
    def_model_generation(model);

    py::class_<piece_stream>(mod, "Stream", "Pieces of text as a generation produces them.")
        .def("__iter__", [](piece_stream& s) -> piece_stream& { return s; })
        .def("__next__", &piece_stream::next)
        .def("close", &piece_stream::stop, "Ends the generation.");

    mod.def(
        "train",
        [](const py::object& config, const py::object& on_report, const py::object& on_sample,
           const py::object& on_info, const py::kwargs& options) {
            return train_run(config, on_report, on_sample, on_info, options);
        },
        py::arg("config") = py::none(), py::arg("on_report") = py::none(), py::arg("on_sample") = py::none(),
        py::arg("on_info") = py::none(),
        "Trains as `charlm train` does, from a dict of its options ('-' written '_') or an .ini path, plus "
        "keyword options. on_report(dict) gets each report (the --metrics fields), on_sample(prefix, text) "
        "each sample, on_info(line) the facts the CLI prints first; the CLI's warnings are Python warnings. "
        "Ctrl-C stops with a checkpoint, then raises KeyboardInterrupt. Returns the outcome as a dict.");
}
