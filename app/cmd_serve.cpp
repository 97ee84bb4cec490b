// `charlm serve`: parses the options, loads the models once, and runs the library's server until
// SIGINT or SIGTERM, which end open streams with a final event and exit 0.
// Not here: requests, streaming or the page (lib/src/serve/).
#include <fmt/core.h>

#include <cstdio>

#include "charlm/serve.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "stop_signal.hpp"

namespace charlm::cli {

int cmd_serve(int argc, char** argv) {
    serve_config cfg;
    std::vector<std::string> model_paths, metrics_paths;
    option_groups groups;
    groups["charlm serve options"].add_options()
        ("model", po::value(&model_paths)->composing(), "model file to serve (repeatable; required)")
        ("metrics", po::value(&metrics_paths)->composing(),
         "a training run's --metrics file to chart, re-read as it grows (repeatable)")
        ("host", po::value(&cfg.host)->default_value(cfg.host), "address to listen on")
        ("port", po::value(&cfg.port)->default_value(cfg.port), "port to listen on (0: any free port)")
        ("threads", po::value(&cfg.threads)->default_value(cfg.threads), "threads per generation or evaluation")
        ("max-streams", po::value(&cfg.max_streams)->default_value(cfg.max_streams),
         "generations at once; more are answered 429 Too Many Requests")
        ("max-length", po::value(&cfg.max_length)->default_value(cfg.max_length), "most tokens a request may ask for")
        ("max-samples", po::value(&cfg.max_samples)->default_value(cfg.max_samples), "most samples a request may ask for")
        ("api-key", po::value(&cfg.api_key), "key that /api/* requests must send as 'Authorization: Bearer KEY' "
                                             "or, on GET, as ?api_key=KEY (required with a --host other than loopback)")
        ("request-timeout", po::value(&cfg.request_timeout)->default_value(cfg.request_timeout),
         "seconds a request's head and body may take to arrive; then 408")
        ("allow-origin", po::value(&cfg.allowed_origins)->composing(),
         "an origin (https://host[:port]) whose pages may call /api/, and whose host is accepted in Host, "
         "e.g. a proxy's public address (repeatable; * turns the Origin and Host checks off)");
    // generate's sampling and poem options, as the defaults of requests that leave them out
    add_options(groups, sample_options(), cfg.defaults);
    add_options(groups, poem_options(), cfg.poem_defaults);
    auto bind = [&](const po::variables_map& vm) -> status {
        CHARLM_TRY(take_options(sample_options(), vm, cfg.defaults));
        return take_options(poem_options(), vm, cfg.poem_defaults);
    };
    po::options_description desc = groups.all();
    po::variables_map vm;
    bool done = false;
    if (auto s = parse_command(argc, argv, "charlm serve --model FILE [--model FILE ...] [options]", desc, nullptr, vm,
                               &done, bind);
        !s.ok())
        return report_error(s.err());
    if (done) return exit_ok;
    if (model_paths.empty()) return report_error(make_error(errc::usage, "serve: --model FILE is required"));
    if (auto s = cfg.validate(); !s.ok()) return report_error(s.err());

    std::vector<served_model> models;
    const auto ids = ids_from_paths(model_paths);
    for (size_t i = 0; i < model_paths.size(); ++i) {
        auto loaded = load_model(model_paths[i]);
        if (!loaded) return report_error(loaded.err());
        models.push_back({ids[i], model_paths[i], std::move(*loaded)});
    }
    std::vector<served_run> runs;
    const auto run_ids = ids_from_paths(metrics_paths);
    for (size_t i = 0; i < metrics_paths.size(); ++i) runs.push_back({run_ids[i], metrics_paths[i]});

    server srv(cfg, std::move(models), std::move(runs));
    if (auto s = srv.bind(); !s.ok()) return report_error(s.err());
    fmt::print("charlm serve: listening on http://{}:{}/ ({} model(s)); Ctrl-C stops\n",
               cfg.host.find(':') != std::string::npos ? "[" + cfg.host + "]" : cfg.host, srv.port(), ids.size());
    std::fflush(stdout);
    arm_stop([&srv] { srv.stop(); });
    auto s = srv.run();
    disarm_stop();
    if (!s.ok()) return report_error(s.err());
    fmt::print("charlm serve: stopped\n");
    return exit_ok;
}

}  // namespace charlm::cli
