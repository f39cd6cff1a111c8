#pragma once

// A scripted transport for unit tests: records every request and answers from a handler, so
// the client and the token policies can be exercised without sockets.

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <dbxserve/transport.hpp>

namespace dbxserve_test {

using dbxserve::http_request;
using dbxserve::http_response;

inline http_response json_reply(int status, const std::string& body,
                                dbxserve::header_list headers = {}) {
    http_response response;
    response.status = status;
    response.headers = std::move(headers);
    response.headers.add("Content-Type", "application/json");
    response.body = body;
    return response;
}

class fake_transport {
public:
    using handler = std::function<dbxserve::result<http_response>(const http_request&)>;

    explicit fake_transport(handler h) : state_(std::make_shared<state>()) {
        state_->respond = std::move(h);
    }

    dbxserve::result<http_response> send(const http_request& request) const {
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            state_->requests.push_back(request);
        }
        return state_->respond(request);
    }

    dbxserve::result<http_response> send(const http_request& request,
                                         const dbxserve::response_sink& sink) const {
        auto response = send(request);
        if (!response) {
            return response;
        }
        if (sink.on_head && !sink.on_head(response->status, response->headers)) {
            return dbxserve::make_error(dbxserve::error_kind::cancelled, "stopped by sink");
        }
        if (sink.on_data && !sink.on_data(response->body)) {
            return dbxserve::make_error(dbxserve::error_kind::cancelled, "stopped by sink");
        }
        response->body.clear();
        return response;
    }

    std::vector<http_request> requests() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->requests;
    }

private:
    struct state {
        std::mutex mutex;
        std::vector<http_request> requests;
        handler respond;
    };
    std::shared_ptr<state> state_;
};

// A monotonic clock that moves only when a test says so.
class manual_clock {
public:
    std::chrono::steady_clock::time_point now() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return now_;
    }
    void advance(std::chrono::seconds by) {
        std::lock_guard<std::mutex> lock(mutex_);
        now_ += by;
    }

private:
    mutable std::mutex mutex_;
    std::chrono::steady_clock::time_point now_{std::chrono::hours(1000)};
};

} // namespace dbxserve_test
