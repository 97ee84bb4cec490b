// The HTTP server (serve.hpp) on cpp-httplib: routes, the stream slots (--max-streams), API-key
// checks, JSON errors for every 4xx/5xx, and generation streamed as Server-Sent Events that stops
// within one step once the client has gone or the server is stopping.
// Not here: what a request may contain (api.cpp), the page's files (assets.cpp).
#include <fmt/core.h>
#include <httplib.h>

#include <omp.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <thread>

#include "charlm/serve.hpp"
#include "serve/api.h"
#include "serve/assets.h"

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
        const std::string stem = std::filesystem::path(p).stem().string();
        std::string id = stem.empty() ? "model" : stem;
        for (int k = 2; std::find(ids.begin(), ids.end(), id) != ids.end(); ++k) id = fmt::format("{}-{}", stem, k);
        ids.push_back(id);
    }
    return ids;
}

struct server::impl {
    serve_config cfg;
    std::vector<served_model> models;
    std::vector<served_run> runs;
    httplib::Server http;
    int port = -1;
    std::atomic<uint32_t> active{0};           // generations running
    std::atomic<uint64_t> tokens_generated{0};  // all rows, all requests
    std::atomic<uint64_t> streams_cancelled{0};  // ended because the client left
    std::atomic<bool> stopping{false};
    std::atomic<bool> in_run{false};

    void routes();
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
    void generate(const json& body, bool force_stream, httplib::Response& res);
    // Runs one request's generation; `emit` (stream only) sends one event and returns false once
    // the client has gone. Returns the final answer (or an error object).
    json run_generation(const served_model& m, const serve_api::generate_request& rq,
                        const std::function<bool(const json&)>& emit);
    // The same for poems: one event per poem once it is complete (a backup may change any part of
    // an unfinished one); a client that left stops the request before the next poem.
    json run_poems(const served_model& m, const serve_api::generate_request& rq,
                   const std::function<bool(const json&)>& emit);
    // The tone and rhyme table, read once, when a request first asks for tones or rhymes.
    const prosody_table* prosody(http_error& err);
    std::mutex prosody_mutex;
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
                if (!emit({{"prefix", p.substr(0, p.size() - t.piece.size())}})) client_gone = true;
            }
            json e = {{"row", t.row}, {"text", t.piece}, {"p", std::exp(lp)}};
            if (rq.n_probs > 0) e["alternatives"] = serve_api::top_alternatives(t.logits, model.vocab(), rq.n_probs);
            if (!client_gone && !emit(e)) client_gone = true;
        }
        pending[t.row].clear();
        return !client_gone && !stopping.load(std::memory_order_relaxed);
    };
    auto out = charlm::generate(model, rq.prefix, rq.cfg, on_text, on_token);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!out) return json{{"error", {{"status", 400}, {"message", out.err().message}}}};
    if (client_gone) streams_cancelled.fetch_add(1);
    if (emit && !prefix_sent && !client_gone && !pending[0].empty()) emit({{"prefix", pending[0]}});
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
        samples.push_back({{"text", text},
                           {"stop_reason", reason},
                           {"tokens", count[r]},
                           {"perplexity", count[r] > 0 ? json(std::exp(nll[r] / static_cast<double>(count[r])))
                                                       : json(nullptr)}});
    }
    return {{"done", true},
            {"model", m.id},
            {"samples", samples},
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
    auto describe = [](const poem_result& p) {
        const poem_stats& s = p.stats;
        return json{{"text", p.text},
                    {"tokens", s.tokens},
                    {"perplexity", s.tokens ? json(std::exp(s.nll / static_cast<double>(s.tokens))) : json(nullptr)},
                    {"backups", s.backups()}};
    };
    poem_sink on_poem = [&](uint32_t row, const poem_result& p) {
        tokens_generated.fetch_add(p.stats.tokens, std::memory_order_relaxed);
        if (emit) {
            json e = describe(p);
            e["row"] = row;
            e["poem"] = true;
            client_gone = !emit(e);
        }
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
            {"samples", samples},
            {"stop_reason", reason},
            {"tokens", total},
            {"seconds", seconds},
            {"chars_per_second", seconds > 0 ? static_cast<double>(total) / seconds : 0.0}};
}

void server::impl::generate(const json& body, bool force_stream, httplib::Response& res) {
    serve_api::generate_request rq;
    http_error err;
    if (!serve_api::parse_generate(body, cfg, rq, err)) return fail(res, err);
    if (force_stream) rq.stream = true;
    const served_model* m = find_model(rq.model, err);
    if (!m) return fail(res, err);
    if (!check_prefix(m->model.model, rq, err)) return fail(res, err);
    if (stopping) return fail(res, {503, "the server is shutting down"});
    if (!acquire_stream())
        return fail(res, {429, fmt::format("{} generation(s) are running, the most this server takes (--max-streams "
                                           "{}); try again when one has ended",
                                           cfg.max_streams, cfg.max_streams)});
    if (!rq.stream) {
        json out = rq.poem.active() ? run_poems(*m, rq, {}) : run_generation(*m, rq, {});
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
            json final_event = rq.poem.active() ? run_poems(*m, rq, emit) : run_generation(*m, rq, emit);
            emit(final_event);
            sink.done();
            return true;
        },
        [this](bool) { active.fetch_sub(1); });
}

void server::impl::routes() {
    http.set_payload_max_length(serve_config::max_body);
    http.set_keep_alive_timeout(2);
    const size_t workers = cfg.max_streams + 8;  // a stream holds one; the rest answer everything else
    http.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        std::string message = res.status == 404   ? fmt::format("no such endpoint: {} {}", req.method, req.path)
                              : res.status == 413 ? fmt::format("the body is larger than {} bytes", serve_config::max_body)
                                                  : fmt::format("HTTP {}", res.status);
        fail(res, {res.status, message});
    });
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (cfg.api_key.empty() || req.path.rfind("/api/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
        if (req.get_header_value("Authorization") == "Bearer " + cfg.api_key)
            return httplib::Server::HandlerResponse::Unhandled;
        fail(res, {401, "this server needs an API key: send the header 'Authorization: Bearer KEY'"});
        return httplib::Server::HandlerResponse::Handled;
    });

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
    http.Post("/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
        json body;
        http_error err;
        if (!serve_api::parse_body(req.body, body, err)) return fail(res, err);
        generate(body, false, res);
    });
    http.Get("/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
        generate(serve_api::query_to_json(req.params), true, res);
    });
    http.Post("/api/eval", [this](const httplib::Request& req, httplib::Response& res) {
        json body, out;
        http_error err;
        serve_api::eval_request rq;
        if (!serve_api::parse_body(req.body, body, err) || !serve_api::parse_eval(body, rq, err)) return fail(res, err);
        const served_model* m = find_model(rq.model, err);
        if (!m) return fail(res, err);
        omp_set_num_threads(static_cast<int>(cfg.threads));
        if (!serve_api::evaluate_text(m->model.model, rq.text, out, err)) return fail(res, err);
        out["model"] = m->id;
        res.set_content(out.dump(), "application/json");
    });
    for (const auto& a : web_assets()) {
        http.Get(a.path, [&a](const httplib::Request&, httplib::Response& res) {
            res.set_content(a.body.data(), a.body.size(), a.type);
        });
    }
}

server::server(serve_config cfg, std::vector<served_model> models, std::vector<served_run> runs)
    : p_(std::make_unique<impl>()) {
    p_->cfg = std::move(cfg);
    p_->models = std::move(models);
    p_->runs = std::move(runs);
    p_->routes();
}

server::~server() = default;

status server::bind() {
    const auto& c = p_->cfg;
    p_->port = c.port == 0 ? p_->http.bind_to_any_port(c.host) : (p_->http.bind_to_port(c.host, c.port) ? c.port : -1);
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
