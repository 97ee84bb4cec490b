// `charlm serve`: an HTTP server over loaded models — JSON and Server-Sent Events API for
// generation and evaluation, the training metrics of --metrics files, and the page, all from one
// process that loads each model once and shares it read-only between requests.
// Not here: option parsing and signals (app/cmd_serve.cpp), sampling itself (sample.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "charlm/model_file.hpp"
#include "charlm/poem.hpp"
#include "charlm/sample.hpp"
#include "charlm/status.hpp"

namespace charlm {

struct serve_config {
    std::string host = "127.0.0.1";
    int port = 8080;                 // 0: any free port (see server::port())
    uint32_t threads = 1;            // OpenMP threads per generation or evaluation
    uint32_t max_streams = 4;        // generations and evaluations at once; more get 429
    uint32_t max_length = 2000;      // tokens per sample a request may ask for
    uint32_t max_samples = 8;        // samples per request
    uint32_t max_probs = 20;         // alternatives per token (n_probs)
    std::string api_key;             // when set, /api/* needs "Authorization: Bearer <key>" (GET: or ?api_key=)
    double request_timeout = 10;     // seconds for a request's whole head and body; then 408
    // Origins (scheme://host[:port]) accepted besides the server's own, e.g. a proxy's public
    // address; their hosts are accepted as Host too. "*" turns the Origin and Host checks off.
    std::vector<std::string> allowed_origins;
    sample_config defaults;          // what a request gets for the fields it leaves out
    poem_config poem_defaults;       // the same for the poem fields (form, acrostic, ...)
    static constexpr size_t max_body = 64 * 1024;
    // Connections being read or answered at once beyond the streams: a slow client holds one
    // until request_timeout; more wait in the queue (and the listen backlog) for a free one.
    static constexpr uint32_t spare_workers = 64;
    static constexpr int listen_backlog = 256;

    // errc::usage naming the CLI option.
    status validate() const;
};

// A model as the server offers it: the id requests use and where it came from.
struct served_model {
    std::string id;    // the file's stem, made unique ("poems", "poems-2")
    std::string file;  // the path given on the command line (shown, never opened by a request)
    loaded_model model;
};

// A --metrics file as the server offers it; re-read on every request so a running training shows.
struct served_run {
    std::string id;  // the file's stem, made unique
    std::string file;
};

// Ids from paths: the file name less ".safetensors" (m.safetensors -> m, m.safetensors.best -> m.best)
// or, for another name, its stem; with -2, -3, ... for repeats.
std::vector<std::string> ids_from_paths(const std::vector<std::string>& paths);

class server {
public:
    server(serve_config cfg, std::vector<served_model> models, std::vector<served_run> runs);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Binds the socket (errc::io when the address is taken or invalid); then port() is known.
    status bind();
    int port() const;
    // Serves until stop(); returns after every open stream has sent its final event.
    status run();
    // From any thread (a signal watcher, a test): refuse new connections, end open streams with a
    // final event whose stop reason is "shutdown".
    void stop();

    struct impl;

private:
    std::unique_ptr<impl> p_;
};

}  // namespace charlm
