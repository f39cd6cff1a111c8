#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cancellation.hpp"
#include "result.hpp"

namespace dbxserve {
inline namespace v0 {

// Header names compare case-insensitively; order and duplicates are kept as received.
class header_list {
public:
    using value_type = std::pair<std::string, std::string>;

    header_list() = default;
    header_list(std::initializer_list<value_type> items) : items_(items) {}

    void add(std::string name, std::string value) {
        items_.emplace_back(std::move(name), std::move(value));
    }

    // Replaces every header of that name with one value.
    void set(const std::string& name, std::string value) {
        erase(name);
        add(name, std::move(value));
    }

    void erase(std::string_view name) {
        items_.erase(
            std::remove_if(items_.begin(), items_.end(),
                           [&](const value_type& item) { return equal(item.first, name); }),
            items_.end());
    }

    // The first value of that header, or "" when absent.
    std::string get(std::string_view name) const {
        for (const auto& item : items_) {
            if (equal(item.first, name)) {
                return item.second;
            }
        }
        return {};
    }

    bool contains(std::string_view name) const {
        return std::any_of(items_.begin(), items_.end(),
                           [&](const value_type& item) { return equal(item.first, name); });
    }

    auto begin() const { return items_.begin(); }
    auto end() const { return items_.end(); }
    std::size_t size() const { return items_.size(); }
    bool empty() const { return items_.empty(); }

    static bool equal(std::string_view a, std::string_view b) {
        return a.size() == b.size() &&
               std::equal(a.begin(), a.end(), b.begin(),
                          [](char x, char y) { return lower(x) == lower(y); });
    }

private:
    static char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

    std::vector<value_type> items_;
};

// One HTTP request as the client hands it to a transport. The URL is absolute
// (`https://host[:port]/path?query`); the transport must not follow redirects, so that a bearer
// token never travels to a host the caller did not configure.
struct http_request {
    std::string method = "GET";
    std::string url;
    header_list headers;
    std::string body;

    std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};

    // Longest silence allowed while waiting for response bytes. Serving runs a request for up to
    // 297 s, so invocations use 300 s; token and discovery calls use much less.
    std::chrono::milliseconds read_timeout{std::chrono::seconds(300)};

    // When this is cancelled the transport abandons the exchange as soon as it can (closing the
    // connection) and returns an error of kind `cancelled`. The client cancels it on the caller's
    // request and at the call's deadline.
    cancellation_token cancel;
};

struct http_response {
    int status = 0;
    header_list headers;

    // The whole body, unless the request was sent with a `response_sink` that consumed it.
    std::string body;
};

// Receives a response incrementally. `on_head` sees the status and headers before any body byte;
// `on_data` then sees the body in pieces of arbitrary size, exactly as they arrive. Either returns
// false to stop: the transport then abandons the exchange (closing the connection) and returns an
// error of kind `cancelled`.
struct response_sink {
    std::function<bool(int status, const header_list& headers)> on_head;
    std::function<bool(std::string_view chunk)> on_data;
};

// The transport concept. A transport is any type with
//
//     result<http_response> send(const http_request& request);
//     result<http_response> send(const http_request& request, const response_sink& sink);
//
// that is safe to call from many threads at once. The first form buffers the body; the second
// streams it to `sink` (the returned response then has an empty body). A transport should honour
// `request.cancel` (one that cannot still works, bounded by its timeouts). Failures are reported as
// `error` values: kind `timeout` for connect/read timeouts, `transport` for everything else that
// prevented a complete HTTP exchange, with `request_may_have_been_sent` set when the request
// could have reached the server. Non-2xx replies are not errors at this level.
//
// `dbxserve/transport/httplib_transport.hpp` is the default implementation; `any_transport` below
// wraps any transport behind a virtual interface for code that picks one at run time.
class transport_interface {
public:
    virtual ~transport_interface() = default;
    virtual result<http_response> send(const http_request& request) = 0;
    virtual result<http_response> send(const http_request& request, const response_sink& sink) = 0;
};

// A copyable handle that type-erases a transport. Use it when an engine's own HTTP stack is chosen
// at run time, or to keep the client type independent of the transport type.
class any_transport {
public:
    template <class Transport>
    explicit any_transport(Transport transport)
        : impl_(std::make_shared<model<Transport>>(std::move(transport))) {}

    explicit any_transport(std::shared_ptr<transport_interface> impl) : impl_(std::move(impl)) {}

    result<http_response> send(const http_request& request) const { return impl_->send(request); }
    result<http_response> send(const http_request& request, const response_sink& sink) const {
        return impl_->send(request, sink);
    }

private:
    template <class Transport>
    struct model final : transport_interface {
        explicit model(Transport t) : transport(std::move(t)) {}
        result<http_response> send(const http_request& request) override {
            return transport.send(request);
        }
        result<http_response> send(const http_request& request,
                                   const response_sink& sink) override {
            return transport.send(request, sink);
        }
        Transport transport;
    };

    std::shared_ptr<transport_interface> impl_;
};

// The form in which token policies reach the network: the client binds its own transport into it.
using http_sender = std::function<result<http_response>(const http_request&)>;

} // namespace v0
} // namespace dbxserve
