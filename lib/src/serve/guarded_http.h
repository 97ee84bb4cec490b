// An httplib::Server (Debian's cpp-httplib 0.11) whose connections are read with a deadline for
// each request's whole head and body, that drops them at once on stop(), and that can tell a
// handler whether its client has gone. httplib 0.11 has only a per-read timeout (a client sending
// one byte every few seconds holds a worker for ever) and no way to ask about the client's socket.
// Not here: routes, limits on what a request may ask for (server.cpp, api.cpp).
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>

namespace charlm::serve_http {

class guarded_server : public httplib::Server {
public:
    // `stopping`: once true, reads and keep-alive waits end within a poll slice (50 ms).
    guarded_server(const std::atomic<bool>& stopping, std::chrono::milliseconds request_deadline);

    // After bind: httplib's listen backlog is compiled into the library (5); a listening socket
    // takes a new backlog from a second listen().
    bool set_backlog(int backlog);

private:
    bool process_and_close_socket(socket_t sock) override;

    const std::atomic<bool>& stopping_;
    std::chrono::milliseconds deadline_;
};

// For the handler running on this thread: has its client closed the connection (or reset it)?
// False outside a request. Cheap (one poll() with no wait).
bool client_gone();
// For the error handler: did this thread's request miss its deadline?
bool request_timed_out();
// For a handler that answers without reading the body (a refused chunked request): close the
// connection after the answer instead of reading the body as the next request.
void close_after_response();

}  // namespace charlm::serve_http
