// Tests of the CONNECT proxy that other tests route dbxserve through, driven by a raw socket
// client so that its behaviour is pinned down independently of any HTTP library.
#include "../support/connect_proxy.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using dbxserve_test::connect_proxy;
using dbxserve_test::connect_proxy_options;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A loopback TCP server that writes back whatever it reads, until the peer closes.
class echo_server {
public:
    echo_server() = default;
    ~echo_server() { stop(); }
    echo_server(const echo_server&) = delete;
    echo_server& operator=(const echo_server&) = delete;

    bool start() {
        listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (listener_ < 0) {
            return false;
        }
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t size = sizeof(address);
        if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
            ::listen(listener_, 16) != 0 ||
            ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
            return false;
        }
        port_ = ntohs(address.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
        return true;
    }

    void stop() {
        stopping_ = true;
        if (acceptor_.joinable()) {
            acceptor_.join();
        }
        for (auto& worker : workers_) {
            worker.join();
        }
        workers_.clear();
        if (listener_ >= 0) {
            ::close(listener_);
            listener_ = -1;
        }
    }

    int port() const { return port_; }

private:
    void accept_loop() {
        for (int round = 0; round < 600 && !stopping_; ++round) { // 30 s at most
            pollfd ready{listener_, POLLIN, 0};
            if (::poll(&ready, 1, 50) <= 0) {
                continue;
            }
            const int fd = ::accept(listener_, nullptr, nullptr);
            if (fd >= 0 && workers_.size() < 16) {
                workers_.emplace_back([this, fd] { echo(fd); });
            } else if (fd >= 0) {
                ::close(fd);
            }
        }
    }

    void echo(int fd) {
        char buffer[4096];
        for (int round = 0; round < 200 && !stopping_; ++round) { // 10 s of silence at most
            pollfd ready{fd, POLLIN, 0};
            if (::poll(&ready, 1, 50) <= 0) {
                continue;
            }
            const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
            if (n <= 0 || ::send(fd, buffer, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) {
                break;
            }
            round = 0;
        }
        ::close(fd);
    }

    int listener_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread acceptor_;
    std::vector<std::thread> workers_; // only the acceptor adds, and stop() joins it first
};

// A connected client socket that closes itself; reads give up after two seconds.
class client_socket {
public:
    explicit client_socket(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(static_cast<std::uint16_t>(port));
        timeval tv{2, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    }
    ~client_socket() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    client_socket(const client_socket&) = delete;
    client_socket& operator=(const client_socket&) = delete;

    bool connected() const { return connected_; }

    bool send(std::string_view data) {
        while (!data.empty()) {
            const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                return false;
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // Up to and including the blank line that ends a response head; empty on EOF or timeout.
    std::string read_head() {
        std::string head;
        char c = 0;
        while (head.size() < 16384 && head.find("\r\n\r\n") == std::string::npos) {
            if (::recv(fd_, &c, 1, 0) != 1) {
                return {};
            }
            head += c;
        }
        return head;
    }

    std::string read_exactly(std::size_t size) {
        std::string out;
        char buffer[4096];
        while (out.size() < size) {
            const ssize_t n = ::recv(fd_, buffer, std::min(sizeof(buffer), size - out.size()), 0);
            if (n <= 0) {
                break;
            }
            out.append(buffer, static_cast<std::size_t>(n));
        }
        return out;
    }

    // True when the peer closed the connection within `limit`.
    bool closed_within(std::chrono::milliseconds limit) {
        const auto deadline = steady::now() + limit;
        char c = 0;
        while (steady::now() < deadline) {
            pollfd ready{fd_, POLLIN, 0};
            if (::poll(&ready, 1, 50) > 0) {
                const ssize_t n = ::recv(fd_, &c, 1, 0);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                    return true;
                }
            }
        }
        return false;
    }

    void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

private:
    int fd_;
    bool connected_ = false;
};

std::string connect_request(const std::string& target, const std::string& extra = "") {
    return "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n" + extra + "\r\n";
}

bool starts_with(const std::string& text, std::string_view prefix) {
    return text.compare(0, prefix.size(), prefix) == 0;
}

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("connect_proxy: a CONNECT to a loopback server relays bytes both ways") {
    echo_server echo;
    REQUIRE(echo.start());
    connect_proxy proxy;
    REQUIRE(proxy.start());
    CHECK(proxy.url() == "http://127.0.0.1:" + std::to_string(proxy.port()));

    const std::string target = "127.0.0.1:" + std::to_string(echo.port());
    {
        client_socket client(proxy.port());
        REQUIRE(client.connected());
        REQUIRE(client.send(connect_request(target)));
        const std::string head = client.read_head();
        CHECK(starts_with(head, "HTTP/1.1 200"));

        const std::string message = "opaque bytes through the tunnel";
        REQUIRE(client.send(message));
        CHECK(client.read_exactly(message.size()) == message);

        // Half-close: the echo's answer to bytes sent just before still comes back.
        REQUIRE(client.send("last words"));
        client.shutdown_write();
        CHECK(client.read_exactly(10) == "last words");
        CHECK(client.closed_within(2000ms));
    }

    const auto connects = proxy.connects();
    REQUIRE(connects.size() == 1);
    CHECK(connects[0].target == target);
    CHECK(connects[0].status == 200);
    CHECK_FALSE(connects[0].auth_presented);
    CHECK(proxy.saw_bytes("through the tunnel"));
    CHECK(proxy.saw_bytes("last words"));
    CHECK_FALSE(proxy.saw_bytes("CONNECT")); // the head is not part of the tunnel
    CHECK(proxy.bytes_to_server() == 41);
    CHECK(proxy.bytes_to_client() == 41);
    CHECK(proxy.plain_requests().empty());
}

TEST_CASE("connect_proxy: bytes sent right behind the CONNECT head are relayed") {
    echo_server echo;
    REQUIRE(echo.start());
    connect_proxy proxy;
    REQUIRE(proxy.start());

    client_socket client(proxy.port());
    REQUIRE(client.connected());
    REQUIRE(client.send(connect_request("localhost:" + std::to_string(echo.port())) + "early"));
    CHECK(starts_with(client.read_head(), "HTTP/1.1 200"));
    CHECK(client.read_exactly(5) == "early");
    CHECK(proxy.saw_bytes("early"));
}

TEST_CASE("connect_proxy: credentials are demanded with 407 when configured") {
    echo_server echo;
    REQUIRE(echo.start());
    connect_proxy_options options;
    options.username = "alice";
    options.password = "s3cret";
    connect_proxy proxy(options);
    REQUIRE(proxy.start());
    const std::string target = "127.0.0.1:" + std::to_string(echo.port());

    {
        client_socket client(proxy.port());
        REQUIRE(client.send(connect_request(target)));
        const std::string head = client.read_head();
        CHECK(starts_with(head, "HTTP/1.1 407"));
        CHECK(contains(head, "Proxy-Authenticate: Basic"));
        CHECK(client.closed_within(2000ms));
    }
    {
        // base64("alice:wrong")
        client_socket client(proxy.port());
        REQUIRE(client.send(
            connect_request(target, "Proxy-Authorization: Basic YWxpY2U6d3Jvbmc=\r\n")));
        CHECK(starts_with(client.read_head(), "HTTP/1.1 407"));
    }
    {
        // base64("alice:s3cret"); the scheme and header name are case-insensitive
        client_socket client(proxy.port());
        REQUIRE(client.send(
            connect_request(target, "proxy-authorization: basic YWxpY2U6czNjcmV0\r\n")));
        CHECK(starts_with(client.read_head(), "HTTP/1.1 200"));
        REQUIRE(client.send("ping"));
        CHECK(client.read_exactly(4) == "ping");
    }

    const auto connects = proxy.connects();
    REQUIRE(connects.size() == 3);
    CHECK_FALSE(connects[0].auth_presented);
    CHECK(connects[0].status == 407);
    CHECK(connects[1].auth_presented);
    CHECK_FALSE(connects[1].auth_valid);
    CHECK(connects[1].status == 407);
    CHECK(connects[2].auth_presented);
    CHECK(connects[2].auth_valid);
    CHECK(connects[2].status == 200);
}

TEST_CASE("connect_proxy: targets beyond loopback are refused with 403") {
    connect_proxy proxy;
    REQUIRE(proxy.start());
    for (const char* target : {"example.com:443", "10.1.2.3:443", "[2001:db8::1]:443",
                               "0.0.0.0:443", "localhost.example.com:443"}) {
        CAPTURE(target);
        client_socket client(proxy.port());
        REQUIRE(client.send(connect_request(target)));
        CHECK(starts_with(client.read_head(), "HTTP/1.1 403"));
    }
    for (const char* target : {"127.0.0.1", "127.0.0.1:99999", "::1:443"}) {
        CAPTURE(target);
        client_socket client(proxy.port());
        REQUIRE(client.send(connect_request(target)));
        CHECK(starts_with(client.read_head(), "HTTP/1.1 400"));
    }

    const auto connects = proxy.connects();
    REQUIRE(connects.size() == 8);
    CHECK(connects[0].target == "example.com:443");
    CHECK(connects[0].status == 403);
    CHECK(connects[2].target == "[2001:db8::1]:443");
    CHECK(proxy.bytes_to_server() == 0);
}

TEST_CASE("connect_proxy: refusals announce the close only when asked to") {
    for (const bool announce : {false, true}) {
        CAPTURE(announce);
        connect_proxy_options options;
        options.announce_close = announce;
        connect_proxy proxy(options);
        REQUIRE(proxy.start());
        client_socket client(proxy.port());
        REQUIRE(client.send(connect_request("example.com:443")));
        const std::string head = client.read_head();
        CHECK(starts_with(head, "HTTP/1.1 403"));
        CHECK(contains(head, "Connection: close") == announce);
        CHECK(client.closed_within(2000ms)); // closed either way
    }
}

TEST_CASE("connect_proxy: a refused loopback connection is answered with 502") {
    // Bind a port and close it again, so nothing listens there.
    int free_port = 0;
    {
        echo_server probe;
        REQUIRE(probe.start());
        free_port = probe.port();
    }
    connect_proxy proxy;
    REQUIRE(proxy.start());
    client_socket client(proxy.port());
    REQUIRE(client.send(connect_request("127.0.0.1:" + std::to_string(free_port))));
    CHECK(starts_with(client.read_head(), "HTTP/1.1 502"));
}

TEST_CASE("connect_proxy: plain-HTTP proxy requests are recorded and refused") {
    connect_proxy proxy;
    REQUIRE(proxy.start());
    {
        client_socket client(proxy.port());
        REQUIRE(client.send("POST http://127.0.0.1:1/serving-endpoints/x/invocations HTTP/1.1\r\n"
                            "Authorization: Bearer dapi-secret\r\n\r\n"));
        CHECK(starts_with(client.read_head(), "HTTP/1.1 405"));
    }
    {
        // A TLS ClientHello sent to the proxy as if it were the server.
        client_socket client(proxy.port());
        REQUIRE(client.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
        client.shutdown_write();
        CHECK(client.closed_within(2000ms));
    }

    // Each connection is served on its own thread; give the second a moment to finish.
    for (int i = 0; i < 40 && proxy.plain_requests().size() < 2; ++i) {
        std::this_thread::sleep_for(25ms);
    }
    const auto plain = proxy.plain_requests();
    REQUIRE(plain.size() == 2);
    CHECK(plain[0] == "POST http://127.0.0.1:1/serving-endpoints/x/invocations HTTP/1.1");
    CHECK(starts_with(plain[1], "(incomplete request)"));
    CHECK(proxy.connects().empty());
}

TEST_CASE("connect_proxy: idle connections are closed after the timeout") {
    echo_server echo;
    REQUIRE(echo.start());
    connect_proxy_options options;
    options.idle_timeout = 300ms;
    connect_proxy proxy(options);
    REQUIRE(proxy.start());

    client_socket silent(proxy.port()); // never sends a request head
    client_socket tunnel(proxy.port());
    REQUIRE(tunnel.send(connect_request("127.0.0.1:" + std::to_string(echo.port()))));
    REQUIRE(starts_with(tunnel.read_head(), "HTTP/1.1 200"));

    const auto started = steady::now();
    CHECK(silent.closed_within(2000ms));
    CHECK(tunnel.closed_within(2000ms));
    CHECK(steady::now() - started < 1500ms);
}

TEST_CASE("connect_proxy: connections beyond the limit are turned away") {
    connect_proxy_options options;
    options.max_connections = 2;
    connect_proxy proxy(options);
    REQUIRE(proxy.start());

    client_socket first(proxy.port());
    client_socket second(proxy.port());
    client_socket third(proxy.port());
    CHECK(starts_with(third.read_head(), "HTTP/1.1 503"));
    CHECK(proxy.connections_accepted() == 3);
}

TEST_CASE("connect_proxy: stop() closes everything and joins within a second") {
    echo_server echo;
    REQUIRE(echo.start());
    connect_proxy proxy;
    REQUIRE(proxy.start());
    const int port = proxy.port();

    client_socket silent(port);
    std::vector<std::unique_ptr<client_socket>> tunnels;
    for (int i = 0; i < 3; ++i) {
        tunnels.push_back(std::make_unique<client_socket>(port));
        REQUIRE(tunnels.back()->send(connect_request("127.0.0.1:" + std::to_string(echo.port()))));
        REQUIRE(starts_with(tunnels.back()->read_head(), "HTTP/1.1 200"));
    }

    const auto started = steady::now();
    proxy.stop();
    CHECK(steady::now() - started < 1s);

    CHECK(silent.closed_within(500ms));
    for (auto& tunnel : tunnels) {
        CHECK(tunnel->closed_within(500ms));
    }
    client_socket late(port);
    CHECK_FALSE(late.connected());

    proxy.stop(); // a second stop is harmless
    CHECK(proxy.connects().size() == 3);
}
