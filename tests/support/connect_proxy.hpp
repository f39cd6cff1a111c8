#pragma once

// A small HTTP CONNECT proxy on 127.0.0.1 for tests. It tunnels only to loopback targets, so a
// test can never reach the network through it, and it keeps what tests need to prove that a
// client used it properly: every CONNECT it was asked for, any plain-HTTP request line (a client
// that sends https:// requests in the clear through a proxy writes "GET https://..." instead of
// CONNECT), and the bytes it relayed from clients, to check that no token went through readable.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace dbxserve_test {

struct connect_record {
    std::string target;          // "host:port" as the client wrote it
    bool auth_presented = false; // a Proxy-Authorization header came with the CONNECT
    bool auth_valid = false;     // ... and it carried the configured Basic credentials
    int status = 0;              // the proxy's answer: 200, 400, 403, 407 or 502
};

struct connect_proxy_options {
    // When `username` is set, a CONNECT needs "Proxy-Authorization: Basic base64(user:pass)".
    std::string username;
    std::string password;

    std::size_t max_connections = 32;                 // open at once; more get a 503
    std::chrono::milliseconds idle_timeout{5000};     // per connection, in either phase
    std::size_t max_recorded_bytes = 8 * 1024 * 1024; // client->server bytes kept per tunnel
    std::size_t max_header_bytes = 16 * 1024;         // a longer request head gets a 400

    // Send "Connection: close" with refusals (400/403/405/407/502/503). Off by default: with it,
    // cpp-httplib before 0.13.1 deadlocks on its own socket mutex in SSLClient::connect_with_proxy
    // (yhirose/cpp-httplib#1590, fixed by #1630), so a test would hang instead of failing. Turn
    // it on to reproduce a proxy that announces the close, as many real ones do.
    bool announce_close = false;
};

class connect_proxy {
public:
    explicit connect_proxy(connect_proxy_options options = {});
    ~connect_proxy();
    connect_proxy(const connect_proxy&) = delete;
    connect_proxy& operator=(const connect_proxy&) = delete;

    // Listens on 127.0.0.1 on an ephemeral port. False when the socket cannot be set up or the
    // proxy is already running.
    bool start();
    int port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    // Closes the listener and every connection and joins all threads; returns within about
    // 200 ms. Safe to call twice; the destructor calls it.
    void stop();

    std::vector<connect_record> connects() const;
    std::vector<std::string> plain_requests() const; // request lines that were not CONNECT
    bool saw_bytes(std::string_view needle) const;   // in the client->server tunnel bytes
    std::uint64_t bytes_to_server() const { return bytes_to_server_.load(); }
    std::uint64_t bytes_to_client() const { return bytes_to_client_.load(); }
    std::size_t connections_accepted() const { return accepted_.load(); }

private:
    struct worker;

    void accept_loop();
    void serve(int client);
    void relay(int client, int target, std::string pending, std::size_t stream);
    bool track(int fd);
    void close_tracked(int fd);
    void reap(bool all);

    connect_proxy_options options_;
    int listener_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<int> active_{0};
    std::atomic<std::size_t> accepted_{0};
    std::atomic<std::uint64_t> bytes_to_server_{0};
    std::atomic<std::uint64_t> bytes_to_client_{0};
    std::thread acceptor_;
    std::vector<std::unique_ptr<worker>> workers_; // touched by the acceptor, then by stop()

    mutable std::mutex mutex_; // guards everything below
    std::vector<int> open_fds_;
    std::vector<connect_record> connects_;
    std::vector<std::string> plain_requests_;
    std::vector<std::string> streams_; // one per tunnel
};

} // namespace dbxserve_test
