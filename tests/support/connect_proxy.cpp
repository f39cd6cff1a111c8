#include "connect_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace dbxserve_test {

namespace {

using steady = std::chrono::steady_clock;

// Every blocking wait is cut into slices this long, so stop() is noticed quickly.
constexpr int poll_slice_ms = 50;

// Written here rather than borrowed from the library, so a bug in dbxserve's own encoder cannot
// make client and proxy agree on a wrong header.
std::string base64(std::string_view text) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < text.size(); i += 3) {
        const unsigned n = static_cast<unsigned char>(text[i]) << 16 |
                           static_cast<unsigned char>(text[i + 1]) << 8 |
                           static_cast<unsigned char>(text[i + 2]);
        out += alphabet[n >> 18 & 63];
        out += alphabet[n >> 12 & 63];
        out += alphabet[n >> 6 & 63];
        out += alphabet[n & 63];
    }
    if (i + 1 == text.size()) {
        const unsigned n = static_cast<unsigned char>(text[i]) << 16;
        out += alphabet[n >> 18 & 63];
        out += alphabet[n >> 12 & 63];
        out += "==";
    } else if (i + 2 == text.size()) {
        const unsigned n = static_cast<unsigned char>(text[i]) << 16 |
                           static_cast<unsigned char>(text[i + 1]) << 8;
        out += alphabet[n >> 18 & 63];
        out += alphabet[n >> 12 & 63];
        out += alphabet[n >> 6 & 63];
        out += '=';
    }
    return out;
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

// Request lines end up in test failure messages; binary junk is flattened so they stay readable.
std::string printable(std::string_view text, std::size_t limit) {
    std::string out;
    for (char c : text.substr(0, limit)) {
        const auto byte = static_cast<unsigned char>(c);
        out += (byte >= 0x20 && byte < 0x7f) ? c : '.';
    }
    return out;
}

bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// The proxy closes the connection after every refusal; `announce_close` says so in a header too.
std::string reply(bool announce_close, int status, std::string_view reason,
                  std::string_view extra_headers = {}) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
    out += reason;
    out += "\r\n";
    out += extra_headers;
    out += announce_close ? "Content-Length: 0\r\nConnection: close\r\n\r\n"
                          : "Content-Length: 0\r\n\r\n";
    return out;
}

// A peer that stops reading must not wedge a worker in send() forever.
void tune_socket(int fd, std::chrono::milliseconds send_timeout) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(send_timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>(send_timeout.count() % 1000 * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

struct loopback_target {
    sockaddr_storage address{};
    socklen_t size = 0;
};

// "127.0.0.1:8443", "localhost:8443", "[::1]:8443". Names other than localhost are never
// resolved: the proxy must not reach, or even look up, anything beyond this machine.
enum class target_check { ok, malformed, forbidden };

target_check parse_target(std::string_view text, loopback_target& out) {
    std::string host;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        const std::size_t close = text.find("]:");
        if (close == std::string_view::npos) {
            return target_check::malformed;
        }
        host = std::string(text.substr(1, close - 1));
        port_text = text.substr(close + 2);
    } else {
        const std::size_t colon = text.rfind(':');
        if (colon == std::string_view::npos || colon == 0) {
            return target_check::malformed;
        }
        host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string::npos) {
            return target_check::malformed; // an IPv6 literal needs brackets
        }
    }

    int port = 0;
    if (port_text.empty() || port_text.size() > 5) {
        return target_check::malformed;
    }
    for (char c : port_text) {
        if (c < '0' || c > '9') {
            return target_check::malformed;
        }
        port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) {
        return target_check::malformed;
    }

    if (lower(host) == "localhost") {
        host = "127.0.0.1";
    }
    in_addr v4{};
    in6_addr v6{};
    if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        if ((ntohl(v4.s_addr) >> 24) != 127) {
            return target_check::forbidden;
        }
        auto* sin = reinterpret_cast<sockaddr_in*>(&out.address);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(static_cast<std::uint16_t>(port));
        sin->sin_addr = v4;
        out.size = sizeof(sockaddr_in);
        return target_check::ok;
    }
    if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
        if (std::memcmp(&v6, &in6addr_loopback, sizeof(v6)) != 0) {
            return target_check::forbidden;
        }
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.address);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(static_cast<std::uint16_t>(port));
        sin6->sin6_addr = v6;
        out.size = sizeof(sockaddr_in6);
        return target_check::ok;
    }
    return target_check::forbidden;
}

} // namespace

struct connect_proxy::worker {
    std::thread thread;
    std::atomic<bool> done{false};
};

connect_proxy::connect_proxy(connect_proxy_options options) : options_(std::move(options)) {}

connect_proxy::~connect_proxy() {
    stop();
}

bool connect_proxy::start() {
    if (listener_ >= 0 || acceptor_.joinable()) {
        return false;
    }
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return false;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t size = sizeof(address);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(fd, 64) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
        ::close(fd);
        return false;
    }
    // Non-blocking, so a client that vanishes between poll() and accept() cannot hang the loop.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK);

    listener_ = fd;
    port_ = ntohs(address.sin_port);
    stopping_ = false;
    acceptor_ = std::thread([this] { accept_loop(); });
    return true;
}

void connect_proxy::stop() {
    stopping_ = true;
    if (acceptor_.joinable()) {
        acceptor_.join();
    }
    if (listener_ >= 0) {
        ::close(listener_);
        listener_ = -1;
    }
    {
        // A shut-down socket wakes any poll() or send() on it at once.
        std::lock_guard<std::mutex> lock(mutex_);
        for (int fd : open_fds_) {
            ::shutdown(fd, SHUT_RDWR);
        }
    }
    reap(true);
}

std::vector<connect_record> connect_proxy::connects() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return connects_;
}

std::vector<std::string> connect_proxy::plain_requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return plain_requests_;
}

bool connect_proxy::saw_bytes(std::string_view needle) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::any_of(streams_.begin(), streams_.end(), [&](const std::string& stream) {
        return stream.find(needle) != std::string::npos;
    });
}

bool connect_proxy::track(int fd) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
        return false; // stop() has already shut the others down; this one would escape it
    }
    open_fds_.push_back(fd);
    return true;
}

void connect_proxy::close_tracked(int fd) {
    {
        // Untracked before close(), so stop() never shuts down a reused descriptor number.
        std::lock_guard<std::mutex> lock(mutex_);
        open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
    }
    ::close(fd);
}

void connect_proxy::reap(bool all) {
    for (auto it = workers_.begin(); it != workers_.end();) {
        if (all || (*it)->done) {
            (*it)->thread.join();
            it = workers_.erase(it);
        } else {
            ++it;
        }
    }
}

void connect_proxy::accept_loop() {
    while (!stopping_) {
        reap(false);
        pollfd ready{listener_, POLLIN, 0};
        if (::poll(&ready, 1, poll_slice_ms) <= 0) {
            continue;
        }
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd < 0) {
            continue;
        }
        ++accepted_;
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) & ~O_NONBLOCK);
        tune_socket(fd, options_.idle_timeout);
        if (static_cast<std::size_t>(active_.load()) >= options_.max_connections) {
            send_all(fd, reply(options_.announce_close, 503, "Service Unavailable"));
            ::close(fd);
            continue;
        }
        if (!track(fd)) {
            ::close(fd);
            continue;
        }
        ++active_;
        auto job = std::make_unique<worker>();
        worker* raw = job.get();
        job->thread = std::thread([this, fd, raw] {
            serve(fd);
            close_tracked(fd);
            --active_;
            raw->done = true;
        });
        workers_.push_back(std::move(job));
    }
}

void connect_proxy::serve(int client) {
    // Read the request head, giving up after idle_timeout without a byte.
    std::string head;
    std::size_t head_end = std::string::npos;
    bool line_checked = false;
    auto last_activity = steady::now();
    char buffer[4096];
    while (!stopping_) {
        const std::size_t line_end = head.find("\r\n");
        if (!line_checked && line_end != std::string::npos) {
            line_checked = true;
            const std::string line = head.substr(0, line_end);
            if (line.compare(0, 8, "CONNECT ") != 0) {
                {
                    std::lock_guard<std::mutex> lock(mutex_);
                    plain_requests_.push_back(printable(line, 2048));
                }
                send_all(client, reply(options_.announce_close, 405, "Method Not Allowed",
                                       "Allow: CONNECT\r\n"));
                return;
            }
        }
        head_end = head.find("\r\n\r\n");
        if (head_end != std::string::npos) {
            break;
        }
        if (head.size() > options_.max_header_bytes) {
            send_all(client, reply(options_.announce_close, 400, "Bad Request"));
            return;
        }

        pollfd ready{client, POLLIN, 0};
        const int polled = ::poll(&ready, 1, poll_slice_ms);
        if (polled < 0 && errno != EINTR) {
            return;
        }
        if (polled <= 0) {
            if (steady::now() - last_activity > options_.idle_timeout) {
                break;
            }
            continue;
        }
        const ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
        if (n <= 0) {
            break;
        }
        head.append(buffer, static_cast<std::size_t>(n));
        last_activity = steady::now();
    }
    if (head_end == std::string::npos) {
        // Something that never became a request head, such as a TLS ClientHello sent to the
        // proxy as if it were the server: still a client talking to the proxy wrongly.
        if (!head.empty() && !line_checked) {
            std::lock_guard<std::mutex> lock(mutex_);
            plain_requests_.push_back("(incomplete request) " + printable(head, 80));
        }
        return;
    }

    const std::string_view text(head.data(), head_end);
    const std::size_t line_end = text.find("\r\n");
    const std::string_view line = text.substr(0, line_end);
    const std::size_t space = line.find(' ', 8);
    connect_record record;
    record.target =
        std::string(line.substr(8, space == std::string_view::npos ? space : space - 8));

    std::string_view headers =
        line_end == std::string_view::npos ? std::string_view() : text.substr(line_end + 2);
    const std::string expected = base64(options_.username + ":" + options_.password);
    while (!headers.empty()) {
        const std::size_t end = headers.find("\r\n");
        const std::string_view field = headers.substr(0, end);
        headers = end == std::string_view::npos ? std::string_view() : headers.substr(end + 2);
        const std::size_t colon = field.find(':');
        if (colon == std::string_view::npos ||
            lower(trim(field.substr(0, colon))) != "proxy-authorization") {
            continue;
        }
        record.auth_presented = true;
        const std::string_view value = trim(field.substr(colon + 1));
        const std::size_t gap = value.find(' ');
        const bool basic = gap != std::string_view::npos && lower(value.substr(0, gap)) == "basic";
        record.auth_valid = basic && !options_.username.empty() &&
                            trim(value.substr(gap + 1)) == std::string_view(expected);
    }

    loopback_target target;
    const target_check check = parse_target(record.target, target);
    int target_fd = -1;
    if (!options_.username.empty() && !record.auth_valid) {
        record.status = 407;
    } else if (check == target_check::malformed) {
        record.status = 400;
    } else if (check == target_check::forbidden) {
        record.status = 403;
    } else {
        target_fd = ::socket(target.address.ss_family, SOCK_STREAM, 0);
        if (target_fd >= 0 && !track(target_fd)) {
            ::close(target_fd);
            target_fd = -1;
        }
        // A loopback connect() is answered at once, accepted or refused, so it may block.
        if (target_fd >= 0 &&
            ::connect(target_fd, reinterpret_cast<sockaddr*>(&target.address), target.size) != 0) {
            close_tracked(target_fd);
            target_fd = -1;
        }
        record.status = target_fd >= 0 ? 200 : 502;
    }

    std::size_t stream = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        connects_.push_back(record);
        if (record.status == 200) {
            stream = streams_.size();
            streams_.emplace_back();
        }
    }

    switch (record.status) {
    case 200:
        break;
    case 407:
        send_all(client, reply(options_.announce_close, 407, "Proxy Authentication Required",
                               "Proxy-Authenticate: Basic realm=\"dbxserve-test\"\r\n"));
        return;
    case 400:
        send_all(client, reply(options_.announce_close, 400, "Bad Request"));
        return;
    case 403:
        send_all(client, reply(options_.announce_close, 403, "Forbidden"));
        return;
    default:
        send_all(client, reply(options_.announce_close, 502, "Bad Gateway"));
        return;
    }

    tune_socket(target_fd, options_.idle_timeout);
    if (send_all(client, "HTTP/1.1 200 Connection established\r\n\r\n")) {
        relay(client, target_fd, head.substr(head_end + 4), stream);
    }
    close_tracked(target_fd);
}

void connect_proxy::relay(int client, int target, std::string pending, std::size_t stream) {
    auto record = [&](const char* data, std::size_t size) {
        bytes_to_server_ += size;
        std::lock_guard<std::mutex> lock(mutex_);
        std::string& kept = streams_[stream];
        kept.append(data, std::min(size, options_.max_recorded_bytes - kept.size()));
    };
    if (!pending.empty()) {
        // Bytes the client sent right behind the CONNECT head belong to the tunnel.
        record(pending.data(), pending.size());
        if (!send_all(target, pending)) {
            return;
        }
    }

    // Each direction ends on its own (half-close), so a client that shuts down its sending side
    // still gets the rest of the answer.
    bool from_client = true;
    bool from_target = true;
    auto last_activity = steady::now();
    char buffer[16384];
    while ((from_client || from_target) && !stopping_) {
        pollfd ready[2];
        nfds_t count = 0;
        if (from_client) {
            ready[count++] = pollfd{client, POLLIN, 0};
        }
        if (from_target) {
            ready[count++] = pollfd{target, POLLIN, 0};
        }
        const int polled = ::poll(ready, count, poll_slice_ms);
        if (polled < 0 && errno != EINTR) {
            return;
        }
        if (polled <= 0) {
            if (steady::now() - last_activity > options_.idle_timeout) {
                return;
            }
            continue;
        }
        for (nfds_t i = 0; i < count; ++i) {
            if ((ready[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
                continue;
            }
            const bool upstream = ready[i].fd == client;
            const int to = upstream ? target : client;
            const ssize_t n = ::recv(ready[i].fd, buffer, sizeof(buffer), 0);
            if (n < 0) {
                return; // a reset: nothing more will come either way
            }
            if (n == 0) {
                ::shutdown(to, SHUT_WR);
                (upstream ? from_client : from_target) = false;
                continue;
            }
            const auto size = static_cast<std::size_t>(n);
            if (upstream) {
                record(buffer, size);
            } else {
                bytes_to_client_ += size;
            }
            if (!send_all(to, std::string_view(buffer, size))) {
                return;
            }
            last_activity = steady::now();
        }
    }
}

} // namespace dbxserve_test
