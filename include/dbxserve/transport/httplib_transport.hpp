#pragma once

// The default transport, on cpp-httplib with OpenSSL. This is the only dbxserve header that
// includes <httplib.h>: the header-only httplib with OpenSSL costs seconds of compile time per
// translation unit, so code that plugs in its own transport never pays for it.

#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#include <httplib.h>

#include <chrono>
#include <map>
#if !defined(_WIN32)
#include <csignal>
#include <ctime>
#include <pthread.h>
#endif
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../detail/url.hpp"
#include "../proxy.hpp"
#include "../transport.hpp"

namespace dbxserve {
inline namespace v0 {

struct tls_options {
    // Verify the server's certificate chain and host name. Turn off only against a test server.
    bool verify = true;

    // PEM bundle or hashed directory of trusted CAs. When both are empty the transport uses
    // SSL_CERT_FILE / SSL_CERT_DIR from the environment, else the system store.
    std::string ca_file;
    std::string ca_dir;
};

struct httplib_transport_options {
    tls_options tls;

    // An explicit proxy, else HTTPS_PROXY / https_proxy and NO_PROXY from `env`, as curl reads
    // them. Only https:// requests go through a proxy, always tunnelled with CONNECT, so the
    // bearer token travels inside TLS end to end; plain http:// (loopback only) never does.
    proxy_options proxy;

    // Where SSL_CERT_FILE, SSL_CERT_DIR and the proxy variables are read from.
    environment env = environment::process();

    // Idle keep-alive connections kept per origin. More callers than this still run at once (each
    // gets its own connection); the surplus connections are closed when they finish.
    std::size_t max_idle_connections_per_host = 8;
};

namespace detail {

inline error from_httplib_error(httplib::Error failure, const std::string& origin) {
    error e;
    e.kind = error_kind::transport;
    e.message = "request to " + origin + " failed: " + httplib::to_string(failure);

    // Only failures that happen before a byte of the request could have left are safe to
    // repeat; everything else may have reached the model.
    switch (failure) {
    case httplib::Error::SSLLoadingCerts:
    case httplib::Error::SSLServerVerification:
        e.error_code = tls_verification_failed;
        e.request_may_have_been_sent = false;
        break;
    case httplib::Error::Connection:
    case httplib::Error::BindIPAddress:
    case httplib::Error::SSLConnection:
        e.request_may_have_been_sent = false;
        break;
    case httplib::Error::ConnectionTimeout:
        e.kind = error_kind::timeout;
        e.request_may_have_been_sent = false;
        break;
    case httplib::Error::Canceled:
        e.kind = error_kind::cancelled;
        e.request_may_have_been_sent = true;
        break;
    default:
        e.request_may_have_been_sent = true;
        break;
    }
    return e;
}

// OpenSSL writes to sockets with write(), so a TLS close_notify sent on a connection that a
// cancellation shut down raises SIGPIPE, whose default action kills the process. Blocking it in
// this thread for the duration of an exchange, and swallowing one that arrived meanwhile, keeps
// the host application's process-wide signal setup untouched.
class sigpipe_guard {
public:
#if !defined(_WIN32)
    sigpipe_guard() {
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        blocked_here_ = pthread_sigmask(SIG_BLOCK, &pipe_only, &previous_) == 0 &&
                        sigismember(&previous_, SIGPIPE) == 0;
    }

    ~sigpipe_guard() {
        if (!blocked_here_) {
            return;
        }
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        const timespec no_wait{0, 0};
        while (sigtimedwait(&pipe_only, nullptr, &no_wait) > 0) {
        }
        pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    }

private:
    sigset_t previous_{};
    bool blocked_here_ = false;
#endif
};

template <class Duration>
void split_duration(Duration d, time_t& sec, time_t& usec) {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    sec = static_cast<time_t>(micros / 1000000);
    usec = static_cast<time_t>(micros % 1000000);
}

} // namespace detail

// A thread-safe HTTP/1.1 transport with a small pool of keep-alive connections per origin. One
// httplib client owns one socket and serialises its callers, so each concurrent call leases its
// own client from the pool and returns it afterwards. Copies share the pool.
class httplib_transport {
public:
    explicit httplib_transport(httplib_transport_options options = {})
        : state_(std::make_shared<state>(std::move(options))) {}

    result<http_response> send(const http_request& request) const {
        return exchange(request, nullptr);
    }

    result<http_response> send(const http_request& request, const response_sink& sink) const {
        return exchange(request, &sink);
    }

private:
    using connection = std::unique_ptr<httplib::Client>;

    struct state {
        explicit state(httplib_transport_options o) : options(std::move(o)) {
            if (options.tls.ca_file.empty() && options.tls.ca_dir.empty()) {
                options.tls.ca_file = options.env.get("SSL_CERT_FILE").value_or("");
                options.tls.ca_dir = options.env.get("SSL_CERT_DIR").value_or("");
            }
        }

        httplib_transport_options options;
        std::mutex mutex;
        std::map<std::string, std::vector<connection>> idle;
    };

    result<connection> lease(const std::string& origin, const detail::url_parts& url) const {
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            auto& pool = state_->idle[origin];
            if (!pool.empty()) {
                connection reused = std::move(pool.back());
                pool.pop_back();
                return result<connection>(std::move(reused));
            }
        }

        auto client = std::make_unique<httplib::Client>(origin);
        if (url.scheme == "https") {
            auto route = resolve_proxy(state_->options.proxy, origin, state_->options.env);
            if (!route) {
                return route.error();
            }
            if (*route) {
                client->set_proxy((*route)->host, (*route)->port);
                if (!(*route)->username.empty()) {
                    client->set_proxy_basic_auth((*route)->username, (*route)->password);
                }
            }
        }
        const auto& tls = state_->options.tls;
        client->set_tcp_nodelay(true); // avoids 40 ms delayed-ACK stalls on small requests
        client->set_keep_alive(true);
        client->set_follow_location(false); // a redirect must not carry the bearer token away
        client->enable_server_certificate_verification(tls.verify);
        if (!tls.ca_file.empty() || !tls.ca_dir.empty()) {
            client->set_ca_cert_path(tls.ca_file, tls.ca_dir);
        }
        return result<connection>(std::move(client));
    }

    void give_back(const std::string& origin, connection client) const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        auto& pool = state_->idle[origin];
        if (pool.size() < state_->options.max_idle_connections_per_host) {
            pool.push_back(std::move(client));
        }
    }

    result<http_response> exchange(const http_request& request, const response_sink* sink) const {
        auto url = detail::parse_url(request.url);
        if (!url) {
            return url.error();
        }
        const std::string origin = detail::format_origin(*url);

        httplib::Request req;
        req.method = request.method;
        req.path = url->path_and_query.empty() ? "/" : url->path_and_query;
        for (const auto& [name, value] : request.headers) {
            req.headers.emplace(name, value);
        }
        req.body = request.body;

        const cancellation_token& cancel = request.cancel;
        http_response response;
        bool stopped_by_sink = false;
        if (sink != nullptr) {
            req.response_handler = [&](const httplib::Response& head) {
                response.status = head.status;
                for (const auto& [name, value] : head.headers) {
                    response.headers.add(name, value);
                }
                const bool go_on = !sink->on_head || sink->on_head(head.status, response.headers);
                stopped_by_sink = !go_on;
                return go_on && !cancel.cancelled();
            };
            req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
                const bool go_on = !sink->on_data || sink->on_data(std::string_view(data, size));
                stopped_by_sink = !go_on;
                return go_on && !cancel.cancelled();
            };
        }
        if (cancel.cancelled()) {
            return cancelled_error(origin, false);
        }

        // Declared before the connection, so it also covers the connection's destruction.
        detail::sigpipe_guard no_sigpipe;
        auto leased = lease(origin, *url);
        if (!leased) {
            return leased.error();
        }
        connection client = std::move(*leased);
        time_t sec = 0;
        time_t usec = 0;
        detail::split_duration(request.connect_timeout, sec, usec);
        client->set_connection_timeout(sec, usec);
        detail::split_duration(request.read_timeout, sec, usec);
        client->set_read_timeout(sec, usec);
        client->set_write_timeout(sec, usec);

        // Cancelling shuts the socket down under httplib's feet, which makes a blocked read return
        // at once; httplib documents stop() as the one call that is safe from another thread.
        httplib::Client* raw = client.get();
        auto registration = cancel.on_cancel([raw] {
            detail::sigpipe_guard no_sigpipe_in_canceller;
            raw->stop();
        });

        const auto started = std::chrono::steady_clock::now();
        httplib::Response res;
        httplib::Error failure = httplib::Error::Success;
        const bool sent = client->send(req, res, failure);
        registration.reset();
        if (cancel.cancelled()) {
            return cancelled_error(origin, true); // the connection is dropped, not pooled
        }
        if (!sent && stopped_by_sink) {
            error e = cancelled_error(origin, true);
            e.message = "the response sink stopped the transfer from " + origin;
            return e;
        }
        if (!sent) {
            // httplib reports a read timeout as a plain read failure; the clock tells them apart.
            auto e = detail::from_httplib_error(failure, origin);
            const auto waited = std::chrono::steady_clock::now() - started;
            if (failure == httplib::Error::Read && waited >= request.read_timeout) {
                e.kind = error_kind::timeout;
                e.message = "no response from " + origin + " within the read timeout";
            }
            return e;
        }

        if (sink == nullptr) {
            response.status = res.status;
            for (const auto& [name, value] : res.headers) {
                response.headers.add(name, value);
            }
            response.body = std::move(res.body);
        }
        give_back(origin, std::move(client));
        return response;
    }

    static error cancelled_error(const std::string& origin, bool maybe_sent) {
        error e = make_error(error_kind::cancelled, "request to " + origin + " was cancelled");
        e.request_may_have_been_sent = maybe_sent;
        return e;
    }

    std::shared_ptr<state> state_;
};

} // namespace v0
} // namespace dbxserve
