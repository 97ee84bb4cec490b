// The connection loop of guarded_http.h: one stream per connection whose reads wait in slices of
// 50 ms, each checking the server's stop flag and the current request's deadline; a request that
// misses it gets 408 (or, when its head never ended, a 408 written here) and the connection closes.
// Not here: what a request may contain or how it is answered (server.cpp).
#include "serve/guarded_http.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace charlm::serve_http {

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds slice{50};

// Waits up to `ms` for `events` on `sock`; true when they (or an error or hang-up) happened.
bool wait_for(socket_t sock, short events, int ms) {
    pollfd p{sock, events, 0};
    for (;;) {
        const int r = ::poll(&p, 1, ms);
        if (r < 0 && errno == EINTR) continue;
        return r > 0;
    }
}

void address_of(socket_t sock, bool peer, std::string& ip, int& port) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    auto* a = reinterpret_cast<sockaddr*>(&addr);
    if ((peer ? ::getpeername(sock, a, &len) : ::getsockname(sock, a, &len)) != 0) return;
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (::getnameinfo(a, len, host, sizeof(host), serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0) return;
    ip = host;
    port = std::atoi(serv);
}

class deadline_stream final : public httplib::Stream {
public:
    deadline_stream(socket_t sock, const std::atomic<bool>& stopping, milliseconds write_timeout)
        : sock_(sock), stopping_(stopping), write_timeout_(write_timeout) {}

    void start_request(steady::time_point deadline) {
        deadline_ = deadline;
        timed_out_ = false;
        wrote_ = false;
        close_after_ = false;
    }
    bool buffered() const { return off_ < len_; }
    bool timed_out() const { return timed_out_; }
    bool wrote() const { return wrote_; }
    bool close_after() const { return close_after_; }
    void set_close_after() { close_after_ = true; }

    bool is_readable() const override { return buffered() || wait_for(sock_, POLLIN, 0); }
    bool is_writable() const override {
        return wait_for(sock_, POLLOUT, static_cast<int>(write_timeout_.count()));
    }

    ssize_t read(char* ptr, size_t size) override {
        while (!buffered()) {
            if (stopping_.load(std::memory_order_relaxed)) return -1;
            const auto left = std::chrono::duration_cast<milliseconds>(deadline_ - steady::now());
            if (left.count() <= 0) {
                timed_out_ = true;
                return -1;
            }
            if (!wait_for(sock_, POLLIN, static_cast<int>(std::min(left, slice).count()))) continue;
            const ssize_t got = ::recv(sock_, buf_, sizeof(buf_), 0);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) return got;
            off_ = 0;
            len_ = static_cast<size_t>(got);
        }
        const size_t n = std::min(size, len_ - off_);
        std::memcpy(ptr, buf_ + off_, n);
        off_ += n;
        return static_cast<ssize_t>(n);
    }

    ssize_t write(const char* ptr, size_t size) override {
        if (!is_writable()) return -1;
        wrote_ = true;
        return ::send(sock_, ptr, size, MSG_NOSIGNAL);
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(sock_, true, ip, port); }
    void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(sock_, false, ip, port); }
    socket_t socket() const override { return sock_; }

    // The client closed or reset its side: a hang-up, an error, or a read of 0 bytes pending.
    bool peer_gone() const {
        pollfd p{sock_, POLLIN | POLLRDHUP, 0};
        if (::poll(&p, 1, 0) <= 0) return false;
        if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
        char c;
        return ::recv(sock_, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
    }

private:
    socket_t sock_;
    const std::atomic<bool>& stopping_;
    milliseconds write_timeout_;
    steady::time_point deadline_ = steady::now();
    bool timed_out_ = false, wrote_ = false, close_after_ = false;
    char buf_[4096];
    size_t off_ = 0, len_ = 0;
};

thread_local deadline_stream* current = nullptr;

}  // namespace

guarded_server::guarded_server(const std::atomic<bool>& stopping, std::chrono::milliseconds request_deadline)
    : stopping_(stopping), deadline_(request_deadline) {}

bool guarded_server::set_backlog(int backlog) {
    const socket_t s = svr_sock_;
    return s != INVALID_SOCKET && ::listen(s, backlog) == 0;
}

bool guarded_server::process_and_close_socket(socket_t sock) {
    deadline_stream strm(sock, stopping_, milliseconds(write_timeout_sec_ * 1000 + write_timeout_usec_ / 1000));
    current = &strm;
    bool ok = false;
    // httplib's keep-alive loop, with waits that a stop ends and a deadline per request.
    for (size_t left = keep_alive_max_count_; left > 0; --left) {
        const auto idle_until = steady::now() + std::chrono::seconds(keep_alive_timeout_sec_);
        bool ready = strm.buffered();
        while (!ready && !stopping_ && svr_sock_ != INVALID_SOCKET && steady::now() < idle_until)
            ready = wait_for(sock, POLLIN, static_cast<int>(slice.count()));
        if (!ready || stopping_) break;
        strm.start_request(steady::now() + deadline_);
        bool closed = false;
        ok = process_request(strm, left == 1, closed, nullptr);
        if (strm.timed_out() && !strm.wrote()) {
            const std::string body = "{\"error\":{\"status\":408,\"message\":\"the request's head and body must arrive "
                                     "within " + std::to_string(deadline_.count() / 1000) + " s\"}}";
            const std::string head = "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                                     "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
            strm.write(head.data(), head.size());
            strm.write(body.data(), body.size());
        }
        if (!ok || closed || strm.timed_out() || strm.close_after()) break;
    }
    current = nullptr;
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
}

bool client_gone() { return current != nullptr && current->peer_gone(); }
bool request_timed_out() { return current != nullptr && current->timed_out(); }
void close_after_response() {
    if (current) current->set_close_after();
}

}  // namespace charlm::serve_http
