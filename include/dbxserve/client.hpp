#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "detail/http_error.hpp"
#include "detail/security.hpp"
#include "detail/url.hpp"
#include "events.hpp"
#include "model/model.hpp"
#include "result.hpp"
#include "transport.hpp"
#include "version.hpp"

namespace dbxserve {
inline namespace v0 {

struct client_options {
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};

    // Serving runs a request for up to 297 s; a shorter read timeout would abandon (and a retry
    // would duplicate) long agent calls.
    std::chrono::milliseconds read_timeout{std::chrono::seconds(300)};

    // Receives what the library does (requests, token fetches, refreshes), secrets redacted.
    event_hook on_event;

    // Sent with every invocation, e.g. tracing headers of the host application.
    header_list default_headers;

    // Prepended to the User-Agent, e.g. "my-game/1.4".
    std::string user_agent_product;

    // Sent as X-Databricks-Workspace-Id when set.
    std::string workspace_id;
};

// A parsed JSON reply of `invoke`, for payloads the typed model does not cover.
struct raw_response {
    nlohmann::json body;
    response_meta meta;
};

namespace detail {

constexpr const char* os_name() {
#if defined(_WIN32)
    return "windows";
#elif defined(__APPLE__)
    return "darwin";
#elif defined(__linux__)
    return "linux";
#else
    return "other";
#endif
}

constexpr long cpp_standard() {
#if defined(_MSVC_LANG)
    return (_MSVC_LANG / 100) % 100;
#else
    return (__cplusplus / 100) % 100;
#endif
}

// Invalid UTF-8 in a caller's string would make nlohmann's dump() throw (or abort with
// exceptions off); it is sent as U+FFFD instead.
inline std::string serialize(const nlohmann::json& body) {
    return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline bool valid_endpoint_name(std::string_view name) {
    if (name.empty() || name.size() > 128) {
        return false;
    }
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

} // namespace detail

// Queries Databricks serving endpoints. `Transport` moves bytes (see transport.hpp), `TokenPolicy`
// supplies the Authorization header (see auth/static_token.hpp); `dbxserve::client` is the usual
// combination, made by `dbxserve::make_client`. Safe to use from many threads at once.
//
//     auto client = dbxserve::make_client();          // environment / ~/.databrickscfg
//     if (!client) { ... client.error().to_string() ... }
//     auto reply = client->query("my-agent", dbxserve::chat_request::from_user("Hello"));
template <class Transport, class TokenPolicy>
class basic_client {
public:
    // Fails with a config error when `host` is not a usable https:// URL (plain http:// is
    // accepted for loopback test servers only).
    static result<basic_client> create(std::string host, Transport transport, TokenPolicy policy,
                                       client_options options = {}) {
        while (!host.empty() && host.back() == '/') {
            host.pop_back();
        }
        auto secure = detail::require_secure_url(host, "host");
        if (!secure) {
            return secure.error();
        }
        return basic_client(std::move(host), std::move(transport), std::move(policy),
                            std::move(options));
    }

    result<chat_completion> query(std::string_view endpoint, const chat_request& request) {
        return typed_query<chat_completion>(endpoint, request);
    }
    result<completion_response> query(std::string_view endpoint,
                                      const completion_request& request) {
        return typed_query<completion_response>(endpoint, request);
    }
    result<embedding_response> query(std::string_view endpoint, const embedding_request& request) {
        return typed_query<embedding_response>(endpoint, request);
    }
    result<prediction_response> query(std::string_view endpoint, const tabular_request& request) {
        return typed_query<prediction_response>(endpoint, request);
    }
    result<chat_agent_response> query(std::string_view endpoint,
                                      const chat_agent_request& request) {
        return typed_query<chat_agent_response>(endpoint, request);
    }
    result<responses_response> query(std::string_view endpoint, const responses_request& request) {
        return typed_query<responses_response>(endpoint, request);
    }

    // Sends any JSON body and returns the JSON reply, for fields and formats the model lacks.
    result<raw_response> invoke(std::string_view endpoint, const nlohmann::json& body) {
        auto response = post_invocation(endpoint, detail::serialize(body));
        if (!response) {
            return response.error();
        }
        auto parsed = nlohmann::json::parse(response->body, nullptr, false);
        if (parsed.is_discarded()) {
            error e = make_error(error_kind::parse,
                                 "response body is not JSON: " + detail::excerpt(response->body));
            e.http_status = response->status;
            e.request_id = response->headers.get("x-request-id");
            return e;
        }
        return raw_response{std::move(parsed), make_response_meta(*response)};
    }

    const std::string& host() const { return host_; }
    TokenPolicy& token_policy() { return policy_; }
    Transport& transport() { return *transport_; }

private:
    basic_client(std::string host, Transport transport, TokenPolicy policy, client_options options)
        : host_(std::move(host)), transport_(std::make_shared<Transport>(std::move(transport))),
          policy_(std::move(policy)), options_(std::move(options)) {
        // The policy keeps the transport alive through its own handle, so a background token
        // refresh stays valid when the client is moved.
        auto shared = transport_;
        policy_.bind([shared](const http_request& r) { return shared->send(r); },
                     options_.on_event);
        user_agent_ = options_.user_agent_product.empty() ? "" : options_.user_agent_product + " ";
        user_agent_ += std::string("dbxserve/") + version() + " cpp/" +
                       std::to_string(detail::cpp_standard()) + " os/" + detail::os_name() +
                       " auth/" + policy_.auth_type();
    }

    template <class Response, class Request>
    result<Response> typed_query(std::string_view endpoint, const Request& request) {
        if constexpr (std::is_same_v<Request, tabular_request>) {
            auto valid = request.validate();
            if (!valid) {
                return valid.error();
            }
        }
        const nlohmann::json body = request;
        auto response = post_invocation(endpoint, detail::serialize(body));
        if (!response) {
            return response.error();
        }
        return parse_response<Response>(*response);
    }

    result<http_response> post_invocation(std::string_view endpoint, std::string body) {
        if (!detail::valid_endpoint_name(endpoint)) {
            return make_error(error_kind::invalid_input,
                              "invalid serving endpoint name '" + std::string(endpoint) +
                                  "': use letters, digits, '-', '_' and '.'");
        }

        http_request request;
        request.method = "POST";
        request.url = host_ + "/serving-endpoints/" + std::string(endpoint) + "/invocations";
        request.connect_timeout = options_.connect_timeout;
        request.read_timeout = options_.read_timeout;
        for (const auto& [name, value] : options_.default_headers) {
            request.headers.add(name, value);
        }
        request.headers.set("Accept", "application/json");
        request.headers.set("Content-Type", "application/json");
        request.headers.set("User-Agent", user_agent_);
        if (!options_.workspace_id.empty()) {
            request.headers.set("X-Databricks-Workspace-Id", options_.workspace_id);
        }
        request.body = std::move(body);

        auto response = send_authorized(request);
        if (!response) {
            return response;
        }
        if (response->status < 200 || response->status > 299) {
            return detail::error_from_response(*response);
        }
        return response;
    }

    // Attaches the token and sends. A 401 means the server no longer accepts a token we still
    // considered valid (revoked, or rotated early): drop it and try once more with a fresh one.
    result<http_response> send_authorized(http_request& request) {
        if (!detail::same_origin(request.url, host_)) {
            return make_error(error_kind::invalid_input,
                              "refusing to send the token to a host other than " + host_);
        }

        std::string used;
        http_response unauthorized;
        for (int attempt = 0; attempt < 2; ++attempt) {
            auto authorization = policy_.authorization();
            if (!authorization) {
                return authorization.error();
            }
            if (attempt == 1 && *authorization == used) {
                break; // the policy has nothing newer to offer
            }
            used = *authorization;
            request.headers.set("Authorization", used);
            emit(event_level::debug, "http.request", request.method + " " + request.url);

            auto response = transport_->send(request);
            if (!response) {
                return response;
            }
            emit(event_level::debug, "http.response",
                 std::to_string(response->status) + " " + request.url + " request-id " +
                     response->headers.get("x-request-id"));
            if (response->status != 401 || attempt == 1) {
                return response;
            }
            policy_.invalidate(used);
            unauthorized = std::move(*response);
        }
        return unauthorized;
    }

    void emit(event_level level, const char* name, std::string message) const {
        if (options_.on_event) {
            options_.on_event(event{level, name, std::move(message)});
        }
    }

    std::string host_;
    std::shared_ptr<Transport> transport_;
    TokenPolicy policy_;
    client_options options_;
    std::string user_agent_;
};

} // namespace v0
} // namespace dbxserve
