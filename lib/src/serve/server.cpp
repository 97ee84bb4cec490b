// The HTTP server (serve.hpp) on cpp-httplib: routes, the slots (--max-streams) shared by
// generations and evaluations, the checks before a body is read (framing, method, Host, Origin,
// key, type), JSON errors for every 4xx/5xx, and generation streamed as Server-Sent Events; work
// stops within one step (or 256 prefix tokens) once the client has gone or the server is stopping.
// Not here: what a request may contain (api.cpp), connections and deadlines (guarded_http.cpp),
// the page's files (assets.cpp).
#include <fmt/core.h>

#include <omp.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <map>
#include <mutex>
#include <thread>

#include "charlm/serve.hpp"
#include "serve/api.h"
#include "serve/assets.h"
#include "serve/guarded_http.h"

namespace charlm {

using serve_api::http_error;
using serve_api::json;

status serve_config::validate() const {
    auto usage = [](std::string m) { return make_error(errc::usage, std::move(m)); };
    if (port < 0 || port > 65535) return usage(fmt::format("--port must be from 0 to 65535, got {}", port));
    if (threads < 1) return usage("--threads must be at least 1");
    if (max_streams < 1) return usage("--max-streams must be at least 1");
    if (max_length > sample_config::max_length)
        return usage(fmt::format("--max-length must be at most {}", sample_config::max_length));
    if (!(request_timeout >= 0.1 && request_timeout <= 3600))
        return usage(fmt::format("--request-timeout must be from 0.1 to 3600 seconds, got {}", request_timeout));
    for (const auto& o : allowed_origins)
        if (o != "*" && !(o.starts_with("http://") || o.starts_with("https://")))
            return usage(fmt::format("--allow-origin '{}' must be an origin such as https://lm.example.org "
                                     "(scheme://host[:port]), or * to turn the Origin and Host checks off",
                                     o));
    if (max_samples < 1 || max_samples > sample_config::max_samples)
        return usage(fmt::format("--max-samples must be from 1 to {}", sample_config::max_samples));
    if (defaults.length > max_length)
        return usage(fmt::format("--length {} is above --max-length {}", defaults.length, max_length));
    if (defaults.num_samples > max_samples)
        return usage(fmt::format("--num-samples {} is above --max-samples {}", defaults.num_samples, max_samples));
    CHARLM_TRY(poem_defaults.validate());
    if (!poem_defaults.form.empty()) CHARLM_TRY(parse_poem_form(poem_defaults.form).to_status());
    const bool loopback = host == "127.0.0.1" || host == "::1" || host == "localhost";
    if (!loopback && api_key.empty())
        return usage(fmt::format("--host {} lets other machines in: give an --api-key that they must send "
                                 "(Authorization: Bearer KEY), or keep the default 127.0.0.1",
                                 host));
    return defaults.validate();
}

std::vector<std::string> ids_from_paths(const std::vector<std::string>& paths) {
    std::vector<std::string> ids;
    for (const auto& p : paths) {
        // A model file's name without ".safetensors" wherever it stands (tang.safetensors.best is
        // tang.best, not tang.safetensors beside tang); any other file's stem.
        const std::string name = std::filesystem::path(p).filename().string();
        const auto at = name.find(".safetensors");
        const std::string stem = at != std::string::npos && at > 0 ? name.substr(0, at) + name.substr(at + 12)
                                                                   : std::filesystem::path(p).stem().string();
        std::string id = stem.empty() ? "model" : stem;
        for (int k = 2; std::find(ids.begin(), ids.end(), id) != ids.end(); ++k) id = fmt::format("{}-{}", stem, k);
        ids.push_back(id);
    }
    return ids;
}

struct server::impl {
    explicit impl(serve_config c)
        : cfg(std::move(c)),
          http(stopping, std::chrono::milliseconds(static_cast<int64_t>(cfg.request_timeout * 1000))) {}

    serve_config cfg;
    std::atomic<bool> stopping{false};
    serve_http::guarded_server http;
    std::vector<served_model> models;
    std::vector<served_run> runs;
    int port = -1;
    std::atomic<uint32_t> active{0};           // generations and evaluations running
    std::atomic<uint64_t> tokens_generated{0};  // all rows, all requests
    std::atomic<uint64_t> streams_cancelled{0};  // ended because the client left
    std::atomic<bool> in_run{false};

    void routes();
    void error_responses();  // the JSON body of each error httplib answers itself (404, 408, 413, ...)
    void info_routes();      // /health, /api/models, /api/props, /api/metrics
    void eval(const httplib::Request& req, httplib::Response& res);
    static void fail(httplib::Response& res, const http_error& e) {
        res.status = e.status;
        res.set_content(serve_api::error_body(e), "application/json");
    }
    const served_model* find_model(const std::string& id, http_error& err) const;
    bool acquire_stream() {
        uint32_t n = active.load();
        do {
            if (n >= cfg.max_streams) return false;
        } while (!active.compare_exchange_weak(n, n + 1));
        return true;
    }
    void generate(const json& body, httplib::Response& res);
    // The checks every request passes before its body is read (framing, method, Host, Origin,
    // key, type): false with the answer set in `res`.
    bool admit(const httplib::Request& req, httplib::Response& res) const;
    bool host_allowed(const std::string& host) const;
    bool origin_allowed(const std::string& origin, const std::string& host) const;
    std::string busy_message() const {
        return fmt::format("{} generation(s) or evaluation(s) are running, the most this server takes "
                           "(--max-streams {}); try again when one has ended",
                           cfg.max_streams, cfg.max_streams);
    }
    // Runs one request's generation; `emit` (stream only) sends one event and returns false once
    // the client has gone. Returns the final answer (or an error object).
    json run_generation(const served_model& m, const serve_api::generate_request& rq,
                        const std::function<bool(const json&)>& emit);
    // The same for poems: one event per poem once it is complete (a backup may change any part of
    // an unfinished one); a client that left stops the request before the next poem.
    json run_poems(const served_model& m, const serve_api::generate_request& rq,
                   const std::function<bool(const json&)>& emit);
    // The same for lyrics.
    json run_lyrics(const served_model& m, const serve_api::generate_request& rq,
                    const std::function<bool(const json&)>& emit);
    json run_constrained(const served_model& m, const serve_api::generate_request& rq,
                         const std::function<bool(const json&)>& emit) {
        return rq.lyrics.active() ? run_lyrics(m, rq, emit) : rq.poem.active() ? run_poems(m, rq, emit)
                                                                               : run_generation(m, rq, emit);
    }
    // The tone and rhyme table, read once, when a request first asks for tones or rhymes.
    const prosody_table* prosody(http_error& err);
    std::mutex prosody_mutex;
    // Lyrics' readings for a model and a rhyme system (reading the English dictionary takes half a
    // second), kept from the first request that asks; a handful at most (models x systems).
    std::shared_ptr<const rhyme_book> lyric_book(const served_model& m, const lyric_config& lc, http_error& err);
    std::mutex books_mutex;
    std::map<std::pair<std::string, std::string>, std::shared_ptr<const rhyme_book>> books;
    std::unique_ptr<prosody_table> prosody_loaded;
};

const prosody_table* server::impl::prosody(http_error& err) {
    std::lock_guard<std::mutex> lock(prosody_mutex);
    if (!prosody_loaded) {
        auto t = prosody_table::load(cfg.poem_defaults.prosody_path);
        if (!t) {
            err = {500, t.err().message};
            return nullptr;
        }
        prosody_loaded = std::make_unique<prosody_table>(std::move(*t));
    }
    return prosody_loaded.get();
}

std::shared_ptr<const rhyme_book> server::impl::lyric_book(const served_model& m, const lyric_config& lc,
                                                           http_error& err) {
    std::lock_guard<std::mutex> lock(books_mutex);
    auto& book = books[{m.id, lc.rhyme_system}];
    if (!book) {
        auto b = lyric_readings(m.model.model, lc);
        if (!b) {
            err = {b.err().code == errc::io ? 500 : 400, serve_api::api_names(b.err().message)};
            books.erase({m.id, lc.rhyme_system});
            return nullptr;
        }
        book = std::make_shared<const rhyme_book>(std::move(*b));
    }
    return book;
}

const served_model* server::impl::find_model(const std::string& id, http_error& err) const {
    if (models.empty()) {
        err = {404, "no model is loaded; start the server with --model FILE"};
        return nullptr;
    }
    if (id.empty()) return &models.front();
    for (const auto& m : models)
        if (m.id == id) return &m;
    std::string ids;
    for (const auto& m : models) ids += (ids.empty() ? "" : ", ") + m.id;
    err = {404, fmt::format("no model '{}' is loaded; the ids are: {} (GET /api/models)", id, ids)};
    return nullptr;
}

namespace {

// Prefix tokens the model lacks, checked before a stream starts so that the error is a 400 rather
// than an event (generate() would report the same).
bool check_prefix(const language_model& m, const serve_api::generate_request& rq, http_error& err) {
    if (rq.cfg.unknown != unknown_policy::error) return true;
    auto tokens = segment_utf8(rq.prefix, m.text());
    if (!tokens) {
        err = {400, tokens.err().message};
        return false;
    }
    const unknown_tokens u = find_unknown_tokens(*tokens, m.vocab());
    if (u.count == 0) return true;
    err = {400, fmt::format("the prefix has {} token(s) the model never saw: {}; leave them out, or send "
                            "\"unknown\": \"skip\" (drop them) or \"unk\" (read them as <unk>)",
                            u.count, u.listed)};
    return false;
}

// Whether the client of this thread's request has left, asked of the socket at most every 10 ms
// (a poll() per token would be a visible part of a 20 us step).
struct departure_watch {
    std::chrono::steady_clock::time_point next = std::chrono::steady_clock::now();
    bool gone(bool now = false) {
        const auto t = std::chrono::steady_clock::now();
        if (!now && t < next) return false;
        next = t + std::chrono::milliseconds(10);
        return serve_http::client_gone();
    }
};

// Text in the script the request asked for ("script"): whole samples and poems by phrases, stream
// pieces (a token at a time) by their own characters. (The tables were loaded when the request was
// read, so the conversion does not fail here; if it did, the model's characters are sent.)
std::string reader_text(const language_model& model, const sample_config& cfg, std::string_view text) {
    if (reader_conversion(model, cfg) == script_conversion::none) return std::string(text);
    auto r = to_reader_script(model, cfg, text);
    return r ? std::move(*r) : std::string(text);
}

std::string sse(const json& event) {
    return "data: " + event.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace

json server::impl::run_generation(const served_model& m, const serve_api::generate_request& rq,
                                  const std::function<bool(const json&)>& emit) {
    omp_set_num_threads(static_cast<int>(cfg.threads));
    const language_model& model = m.model.model;
    const uint32_t rows = rq.cfg.num_samples;
    std::vector<std::string> pending(rows);  // text since the row's last token (its prefix, first)
    std::vector<double> nll(rows, 0.0);
    std::vector<uint64_t> count(rows, 0);
    bool prefix_sent = false, client_gone = false;
    const auto t0 = std::chrono::steady_clock::now();
    departure_watch watch;
    text_sink on_text = [&](uint32_t r, std::string_view piece) { pending[r] += piece; };
    token_sink on_token = [&](const generated_token& t) {
        tokens_generated.fetch_add(1, std::memory_order_relaxed);
        const double lp = serve_api::log_prob(t.logits, t.vocab, t.id);
        nll[t.row] -= lp;
        ++count[t.row];
        if (emit && !client_gone) {
            if (!prefix_sent) {
                prefix_sent = true;
                const std::string& p = pending[t.row];
                if (!emit({{"prefix", reader_text(model, rq.cfg, p.substr(0, p.size() - t.piece.size()))}}))
                    client_gone = true;
            }
            json e = {{"row", t.row}, {"text", reader_text(model, rq.cfg, t.piece)}, {"p", std::exp(lp)}};
            if (rq.n_probs > 0) e["alternatives"] = serve_api::top_alternatives(t.logits, model.vocab(), rq.n_probs);
            if (!client_gone && !emit(e)) client_gone = true;
        }
        pending[t.row].clear();
        if (!client_gone && watch.gone()) client_gone = true;
        return !client_gone && !stopping.load(std::memory_order_relaxed);
    };
    keep_going_fn keep_going = [&] {
        if (!client_gone && watch.gone(true)) client_gone = true;
        return !client_gone && !stopping.load(std::memory_order_relaxed);
    };
    auto out = charlm::generate(model, rq.prefix, rq.cfg, on_text, on_token, keep_going);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!out) return json{{"error", {{"status", 400}, {"message", out.err().message}}}};
    if (client_gone) streams_cancelled.fetch_add(1);
    if (emit && !prefix_sent && !client_gone && !pending[0].empty())
        emit({{"prefix", reader_text(model, rq.cfg, pending[0])}});
    json samples = json::array();
    uint64_t total = 0;
    for (uint32_t r = 0; r < rows; ++r) {
        const std::string& text = (*out)[r];
        bool hit_stop = false;
        for (const auto& s : rq.cfg.stop) hit_stop = hit_stop || (count[r] > 0 && text.ends_with(s));
        const std::string reason = hit_stop                    ? "stop"
                                   : count[r] >= rq.cfg.length ? "length"
                                   : client_gone               ? "cancelled"
                                   : stopping                  ? "shutdown"
                                                               : "length";
        total += count[r];
        samples.push_back({{"text", reader_text(model, rq.cfg, text)},
                           {"stop_reason", reason},
                           {"tokens", count[r]},
                           {"perplexity", count[r] > 0 ? json(std::exp(nll[r] / static_cast<double>(count[r])))
                                                       : json(nullptr)}});
    }
    return {{"done", true},
            {"model", m.id},
            {"samples", samples},
            {"converted", rq.converted},
            {"stop_reason", samples[0]["stop_reason"]},
            {"tokens", total},
            {"seconds", seconds},
            {"chars_per_second", seconds > 0 ? static_cast<double>(total) / seconds : 0.0}};
}

json server::impl::run_poems(const served_model& m, const serve_api::generate_request& rq,
                             const std::function<bool(const json&)>& emit) {
    omp_set_num_threads(static_cast<int>(cfg.threads));
    const prosody_table* table = nullptr;
    if (rq.poem.needs_prosody()) {
        http_error err;
        if (!(table = prosody(err))) return json{{"error", {{"status", err.status}, {"message", err.message}}}};
    }
    const auto t0 = std::chrono::steady_clock::now();
    bool client_gone = false;
    auto describe = [&](const poem_result& p) {
        const poem_stats& s = p.stats;
        json tokens = json::array();  // each generated character and its probability, for the page's marks
        for (size_t i = 0; i < p.pieces.size() && i < p.p.size(); ++i)
            tokens.push_back({{"text", reader_text(m.model.model, rq.cfg, p.pieces[i])}, {"p", p.p[i]}});
        return json{{"text", reader_text(m.model.model, rq.cfg, p.text)},
                    {"prefix", reader_text(m.model.model, rq.cfg, p.text.substr(0, p.prefix_bytes))},
                    {"token_p", tokens},
                    {"tokens", s.tokens},
                    {"perplexity", s.tokens ? json(std::exp(s.nll / static_cast<double>(s.tokens))) : json(nullptr)},
                    {"backups", s.backups()},
                    {"candidate", p.candidate},
                    {"score", p.score.total},
                    {"score_terms",
                     {{"nll", p.score.nll},
                      {"repeated_characters", p.score.repeats},
                      {"repeated_lines", p.score.repeated_lines},
                      {"copied_lines", p.score.copied_lines}}},
                    {"score_text", p.score.describe(rq.poem.weights)}};
    };
    poem_sink on_poem = [&](uint32_t row, const poem_result& p) {
        tokens_generated.fetch_add(p.stats.tokens, std::memory_order_relaxed);
        if (emit) {
            json e = describe(p);
            e["row"] = row;
            e["poem"] = true;
            client_gone = !emit(e);
        }
        if (!client_gone) client_gone = serve_http::client_gone();
        return !client_gone && !stopping.load(std::memory_order_relaxed);
    };
    auto poems = generate_poems(m.model.model, rq.prefix, rq.cfg, rq.poem, table, on_poem);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!poems) return json{{"error", {{"status", 400}, {"message", serve_api::api_names(poems.err().message)}}}};
    if (client_gone) streams_cancelled.fetch_add(1);
    const std::string reason = poems->size() == rq.cfg.num_samples ? "poem" : client_gone ? "cancelled" : "shutdown";
    json samples = json::array();
    uint64_t total = 0;
    for (const auto& p : *poems) {
        json s = describe(p);
        s["stop_reason"] = reason;
        samples.push_back(std::move(s));
        total += p.stats.tokens;
    }
    return {{"done", true},
            {"model", m.id},
            {"form", rq.poem.form},
            {"best_of", rq.poem.best_of},
            {"beam", rq.poem.beam},
            {"samples", samples},
            {"converted", rq.converted},
            {"stop_reason", reason},
            {"tokens", total},
            {"seconds", seconds},
            {"chars_per_second", seconds > 0 ? static_cast<double>(total) / seconds : 0.0}};
}

json server::impl::run_lyrics(const served_model& m, const serve_api::generate_request& rq,
                              const std::function<bool(const json&)>& emit) {
    omp_set_num_threads(static_cast<int>(cfg.threads));
    const auto t0 = std::chrono::steady_clock::now();
    bool client_gone = false;
    auto describe = [&](const lyric_result& l) {
        const lyric_stats& s = l.stats;
        return json{{"text", reader_text(m.model.model, rq.cfg, l.text)},
                    {"tokens", s.tokens},
                    {"perplexity", s.tokens ? json(std::exp(s.nll / static_cast<double>(s.tokens))) : json(nullptr)},
                    {"backups", s.backups()}};
    };
    lyric_sink on_song = [&](uint32_t row, const lyric_result& l) {
        tokens_generated.fetch_add(l.stats.tokens, std::memory_order_relaxed);
        if (emit) {
            json e = describe(l);
            e["row"] = row;
            e["lyric"] = true;
            client_gone = !emit(e);
        }
        if (!client_gone) client_gone = serve_http::client_gone();
        return !client_gone && !stopping.load(std::memory_order_relaxed);
    };
    http_error err;
    const auto book = lyric_book(m, rq.lyrics, err);
    if (!book) return json{{"error", {{"status", err.status}, {"message", err.message}}}};
    // A song is one event: the writer itself checks for a client that left or a shutdown, and
    // keeps to --max-length tokens.
    departure_watch watch;
    lyric_limits limits{cfg.max_length, [&] {
                            if (!client_gone) client_gone = watch.gone();
                            return !client_gone && !stopping.load(std::memory_order_relaxed);
                        }};
    auto songs = generate_lyrics(m.model.model, rq.prefix, rq.cfg, rq.lyrics, on_song, book.get(), limits);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!songs && songs.err().code == errc::interrupted) {
        if (client_gone) streams_cancelled.fetch_add(1);
        return json{{"error", {{"status", 503}, {"message", "the request was stopped: the server is shutting down"}}}};
    }
    if (!songs) {
        const int status = songs.err().code == errc::io ? 500 : 400;
        return json{{"error", {{"status", status}, {"message", serve_api::api_names(songs.err().message)}}}};
    }
    if (client_gone) streams_cancelled.fetch_add(1);
    const std::string reason = songs->size() == rq.cfg.num_samples ? "lyric" : client_gone ? "cancelled" : "shutdown";
    json samples = json::array();
    uint64_t total = 0;
    for (const auto& l : *songs) {
        json s = describe(l);
        s["stop_reason"] = reason;
        samples.push_back(std::move(s));
        total += l.stats.tokens;
    }
    return {{"done", true},         {"model", m.id},        {"rhyme_scheme", rq.lyrics.rhyme_scheme},
            {"samples", samples},   {"stop_reason", reason}, {"tokens", total},
            {"seconds", seconds},   {"chars_per_second", seconds > 0 ? static_cast<double>(total) / seconds : 0.0}};
}

void server::impl::generate(const json& body, httplib::Response& res) {
    serve_api::generate_request rq;
    http_error err;
    if (!serve_api::parse_generate(body, cfg, rq, err)) return fail(res, err);
    const served_model* m = find_model(rq.model, err);
    if (!m) return fail(res, err);
    auto conversions = convert_inputs(m->model.model, rq.prefix, rq.cfg, rq.poem.active() ? &rq.poem : nullptr);
    if (!conversions) return fail(res, {400, serve_api::api_names(conversions.err().message)});
    for (const auto& c : *conversions)
        rq.converted.push_back({{"field", c.field}, {"typed", c.typed}, {"read", c.read}, {"how", to_string(c.how)}});
    if (auto tables = to_reader_script(m->model.model, rq.cfg, ""); !tables)  // loads them now, or says why not
        return fail(res, {500, tables.err().message});
    if (!check_prefix(m->model.model, rq, err)) return fail(res, err);
    if (stopping) return fail(res, {503, "the server is shutting down"});
    if (!acquire_stream()) return fail(res, {429, busy_message()});
    if (!rq.stream) {
        json out = run_constrained(*m, rq, {});
        active.fetch_sub(1);
        if (out.contains("error"))
            return fail(res, {out["error"]["status"].get<int>(), out["error"]["message"].get<std::string>()});
        res.set_content(out.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
        return;
    }
    res.set_header("Cache-Control", "no-cache");
    // The slot is given back by the releaser, which runs whether or not the stream ever started.
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, m, rq](size_t, httplib::DataSink& sink) {
            auto emit = [&sink](const json& e) {
                const std::string s = sse(e);
                return sink.write(s.data(), s.size());
            };
            json final_event = run_constrained(*m, rq, emit);
            emit(final_event);
            sink.done();
            return true;
        },
        [this](bool) { active.fetch_sub(1); });
}

namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// "name:port", "[::1]:port" -> "name", "::1"
std::string host_name(const std::string& host) {
    if (!host.empty() && host[0] == '[') {
        const auto end = host.find(']');
        return end == std::string::npos ? host : host.substr(1, end - 1);
    }
    const auto colon = host.rfind(':');
    return lower(colon == std::string::npos ? host : host.substr(0, colon));
}

bool is_loopback(const std::string& name) { return name == "127.0.0.1" || name == "::1" || name == "localhost"; }

// The methods each endpoint takes, for 405's Allow; null for a path that is not one (404).
const char* allowed_methods(const std::string& path) {
    if (path == "/api/generate") return "GET, HEAD, POST";
    if (path == "/api/eval") return "POST";
    if (path == "/health" || path == "/api/models" || path == "/api/props" || path == "/api/metrics") return "GET, HEAD";
    for (const auto& a : web_assets())
        if (path == a.path) return "GET, HEAD";
    return nullptr;
}

bool method_in(const std::string& method, const std::string& allow) {
    size_t at = 0;
    while (at < allow.size()) {
        const auto end = std::min(allow.find(", ", at), allow.size());
        if (allow.compare(at, end - at, method) == 0) return true;
        at = end + 2;
    }
    return false;
}

// The same time whatever the first differing byte: a key is not guessed byte by byte from timings.
bool same_key(const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    unsigned diff = 0;
    for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
    return diff == 0;
}

}  // namespace

bool server::impl::host_allowed(const std::string& host) const {
    if (host.empty() || !is_loopback(cfg.host)) return true;
    const std::string name = host_name(host);
    if (is_loopback(name)) return true;
    for (const auto& o : cfg.allowed_origins)
        if (o == "*" || host_name(o.substr(o.find("//") + 2)) == name) return true;
    return false;
}

bool server::impl::origin_allowed(const std::string& origin, const std::string& host) const {
    if (origin.empty()) return true;  // not a browser's cross-origin request
    if (origin == "http://" + host || origin == "https://" + host) return true;
    for (const auto& o : cfg.allowed_origins)
        if (o == "*" || o == origin) return true;
    return false;
}

bool server::impl::admit(const httplib::Request& req, httplib::Response& res) const {
    auto refuse = [&](int status, std::string message) {
        fail(res, {status, std::move(message)});
        serve_http::close_after_response();  // the body, if any, is never read
        return false;
    };
    // httplib 0.11 reads a chunked body whole, past the body limit: only Content-Length bodies.
    if (const std::string te = req.get_header_value("Transfer-Encoding"); !te.empty())
        return refuse(411, fmt::format("send the body with a Content-Length header (at most {} bytes), not "
                                       "'Transfer-Encoding: {}'",
                                       serve_config::max_body, te));
    if (const char* allow = allowed_methods(req.path); allow && !method_in(req.method, allow)) {
        res.set_header("Allow", allow);
        return refuse(405, fmt::format("{} takes {}, not {}", req.path, allow, req.method));
    }
    if (req.path.rfind("/api/", 0) != 0) return true;
    const std::string host = req.get_header_value("Host");
    if (!host_allowed(host))
        return refuse(403, fmt::format("Host '{}' is not this server's name: open the page as http://127.0.0.1:{}/ "
                                       "or http://localhost:{}/ (behind a proxy, start the server with "
                                       "--allow-origin and the proxy's origin)",
                                       host, port, port));
    const std::string origin = req.get_header_value("Origin");
    if (!origin_allowed(origin, host))
        return refuse(403, fmt::format("requests from pages at '{}' are refused: only this server's own page may "
                                       "call /api/ from a browser (a proxy's origin can be allowed with --allow-origin)",
                                       origin));
    if (!cfg.api_key.empty()) {
        const std::string auth = req.get_header_value("Authorization");
        std::string key;
        bool given = false;
        if (auth.rfind("Bearer ", 0) == 0) {
            key = auth.substr(7);
            given = true;
        } else if (req.method == "GET") {
            for (const auto& [k, v] : serve_api::parse_query(req.target))
                if (k == "api_key") {
                    key = v;
                    given = true;
                }
        }
        res.set_header("WWW-Authenticate", "Bearer");
        if (!given)
            return refuse(401, "this server needs an API key: send the header 'Authorization: Bearer KEY' (GET "
                               "requests such as an EventSource may instead add ?api_key=KEY); on the page, enter "
                               "it in the API key field");
        if (!same_key(key, cfg.api_key))
            return refuse(401, "the API key is wrong: send the key the server was started with (--api-key); on the "
                               "page, correct it in the API key field");
    }
    if (req.method == "POST") {
        const std::string type = lower(req.get_header_value("Content-Type"));
        if (type.rfind("application/json", 0) != 0)
            return refuse(415, fmt::format("a POST to {} needs the header 'Content-Type: application/json' and a JSON "
                                           "object as its body; got Content-Type '{}'",
                                           req.path, type));
    }
    return true;
}

void server::impl::error_responses() {
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        if (serve_http::request_timed_out()) res.status = 408;
        std::string message;
        switch (res.status) {
        case 404: message = fmt::format("no such endpoint: {} {}", req.method, req.path); break;
        case 408:
            message = fmt::format("the request's head and body must arrive within {} s (--request-timeout)",
                                  cfg.request_timeout);
            break;
        case 413:
            message = fmt::format("the body is larger than {} bytes; send a shorter prefix or text", serve_config::max_body);
            break;
        case 414:
            message = "the request line is longer than 8192 bytes: send a long prefix in a POST body (application/json, "
                      "up to 65536 bytes), not in the URL";
            break;
        case 400:
            message = "the request is not valid HTTP/1.1: check the request line ('METHOD /path HTTP/1.1'), the headers "
                      "('Name: value', each line at most 8192 bytes) and that the body has the length Content-Length says";
            break;
        case 416: message = "the Range header cannot be satisfied; leave it out"; break;
        default: message = fmt::format("HTTP {}", res.status);
        }
        // Whatever is left of a request that could not be read is not the next request.
        if (res.status == 400 || res.status == 408 || res.status == 413 || res.status == 414)
            serve_http::close_after_response();
        fail(res, {res.status, message});
    });
}

void server::impl::info_routes() {
    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
        json j = {{"status", stopping ? "stopping" : "ok"},
                  {"streams", active.load()},
                  {"tokens_generated", tokens_generated.load()},
                  {"streams_cancelled", streams_cancelled.load()}};
        res.set_content(j.dump(), "application/json");
    });
    http.Get("/api/models", [this](const httplib::Request&, httplib::Response& res) {
        json list = json::array();
        for (const auto& m : models) list.push_back(serve_api::describe(m));
        res.set_content(json{{"models", list}}.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
    });
    http.Get("/api/props", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(serve_api::props(cfg, models, runs).dump(-1, ' ', false, json::error_handler_t::replace),
                        "application/json");
    });
    http.Get("/api/metrics", [this](const httplib::Request& req, httplib::Response& res) {
        const std::string id = req.get_param_value("run");
        std::string ids;
        for (const auto& r : runs) {
            if (r.id == id) {
                http_error err;
                bool ok = true;
                json points = serve_api::read_metrics(r.file, err, ok);
                if (!ok) return fail(res, err);
                res.set_content(json{{"run", id}, {"points", points}}.dump(), "application/json");
                return;
            }
            ids += (ids.empty() ? "" : ", ") + r.id;
        }
        fail(res, {404, id.empty() ? fmt::format("name a run: /api/metrics?run=NAME; the runs are: {}", ids.empty() ? "none (start the server with --metrics FILE)" : ids)
                                   : fmt::format("no run '{}'; the runs are: {}", id, ids.empty() ? "none" : ids)});
    });
}

void server::impl::eval(const httplib::Request& req, httplib::Response& res) {
    json body, out;
    http_error err;
    serve_api::eval_request rq;
    if (!serve_api::parse_body(req.body, body, err) || !serve_api::parse_eval(body, cfg.defaults.precision, rq, err))
        return fail(res, err);
    const served_model* m = find_model(rq.model, err);
    if (!m) return fail(res, err);
    if (stopping) return fail(res, {503, "the server is shutting down"});
    if (!acquire_stream()) return fail(res, {429, busy_message()});
    struct release {
        std::atomic<uint32_t>& n;
        ~release() { n.fetch_sub(1); }
    } slot{active};
    omp_set_num_threads(static_cast<int>(cfg.threads));
    departure_watch watch;
    auto keep_going = [&] { return !stopping.load(std::memory_order_relaxed) && !watch.gone(); };
    if (!serve_api::evaluate_text(m->model.model, rq, out, err, keep_going)) return fail(res, err);
    out["model"] = m->id;
    res.set_content(out.dump(), "application/json");
}

void server::impl::routes() {
    http.set_payload_max_length(serve_config::max_body);
    http.set_keep_alive_timeout(2);
    // A stream or an evaluation holds a worker; the spares answer everything else, slow clients
    // included (each held at most --request-timeout).
    const size_t workers = cfg.max_streams + serve_config::spare_workers;
    http.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
    error_responses();
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        return admit(req, res) ? httplib::Server::HandlerResponse::Unhandled : httplib::Server::HandlerResponse::Handled;
    });

    info_routes();
    http.Post("/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
        json body;
        http_error err;
        if (!serve_api::parse_body(req.body, body, err)) return fail(res, err);
        generate(body, res);
    });
    http.Get("/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
        // The query as written ('=' inside a value kept), less the key; streamed unless stream=false.
        auto params = serve_api::parse_query(req.target);
        params.erase("api_key");
        json body = serve_api::query_to_json(params);
        if (!body.contains("stream")) body["stream"] = true;
        generate(body, res);
    });
    http.Post("/api/eval", [this](const httplib::Request& req, httplib::Response& res) { eval(req, res); });
    for (const auto& a : web_assets()) {
        http.Get(a.path, [&a](const httplib::Request&, httplib::Response& res) {
            res.set_content(a.body.data(), a.body.size(), a.type);
        });
    }
}

server::server(serve_config cfg, std::vector<served_model> models, std::vector<served_run> runs)
    : p_(std::make_unique<impl>(std::move(cfg))) {
    p_->models = std::move(models);
    p_->runs = std::move(runs);
    p_->routes();
}

server::~server() = default;

status server::bind() {
    const auto& c = p_->cfg;
    // A --metrics file may not exist yet (the run starts later), but it must be able to.
    for (const auto& r : p_->runs) {
        namespace fs = std::filesystem;
        std::error_code ec;
        const fs::path path(r.file);
        const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
        if (fs::is_directory(path, ec))
            return make_error(errc::usage, fmt::format("--metrics '{}' is a directory; give the file that "
                                                       "`charlm train --metrics FILE` writes", r.file));
        if (fs::exists(path, ec) && !std::ifstream(path))
            return make_error(errc::io, fmt::format("--metrics '{}' cannot be read; check its permissions", r.file));
        if (!fs::exists(path, ec) && !fs::is_directory(dir, ec))
            return make_error(errc::usage, fmt::format("--metrics '{}': the directory '{}' does not exist, so no "
                                                       "training run can write the file there",
                                                       r.file, dir.string()));
    }
    p_->port = c.port == 0 ? p_->http.bind_to_any_port(c.host) : (p_->http.bind_to_port(c.host, c.port) ? c.port : -1);
    if (p_->port >= 0) p_->http.set_backlog(serve_config::listen_backlog);
    if (p_->port < 0)
        return make_error(errc::io, fmt::format("cannot listen on {}:{}: the port is in use or the address is not "
                                                "this machine's; choose another --port or --host",
                                                c.host, c.port));
    return status::success();
}

int server::port() const { return p_->port; }

status server::run() {
    p_->in_run = true;
    if (!p_->stopping) p_->http.listen_after_bind();
    p_->in_run = false;
    return status::success();
}

void server::stop() {
    p_->stopping = true;
    // listen_after_bind may not have started its loop yet: stop() before that would be lost.
    while (p_->in_run && !p_->http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    p_->http.stop();
}

}  // namespace charlm
