#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace dbxserve {
inline namespace v0 {

// What went wrong, coarsely: callers branch on this, humans read the message.
enum class error_kind {
    config,        // nothing usable configured, conflicting methods, bad profile file
    invalid_input, // the caller passed something the library cannot send (empty endpoint name, ...)
    auth,          // the token endpoint refused us or answered nonsense
    transport,     // no HTTP exchange completed: DNS, connect, TLS, reset, ...
    timeout,       // a connect or read timeout or the call's deadline passed
    cancelled,     // the caller cancelled the call
    http,          // the server answered with a non-2xx status
    parse,         // the server answered 2xx with a body we could not read
};

constexpr const char* to_string(error_kind kind) noexcept {
    switch (kind) {
    case error_kind::config:
        return "config";
    case error_kind::invalid_input:
        return "invalid_input";
    case error_kind::auth:
        return "auth";
    case error_kind::transport:
        return "transport";
    case error_kind::timeout:
        return "timeout";
    case error_kind::cancelled:
        return "cancelled";
    case error_kind::http:
        return "http";
    case error_kind::parse:
        return "parse";
    }
    return "unknown";
}

// A failed call. Every field is safe to log: the library never puts a secret (token, client secret,
// password) into any of them.
struct error {
    error_kind kind = error_kind::transport;

    // HTTP status of the reply that failed, 0 when no reply was received.
    int http_status = 0;

    // Databricks `error_code` (e.g. RESOURCE_DOES_NOT_EXIST), or OAuth's `error` (e.g.
    // invalid_client) for a token endpoint failure. Empty when the server sent none.
    std::string error_code;

    // Human-readable text: the server's `message` / OAuth `error_description`, or ours.
    std::string message;

    // `x-request-id` of the failed reply, or the RequestInfo detail of the error body.
    std::string request_id;

    // The parsed error body when the server sent JSON (its `details` array lives here).
    nlohmann::json body;

    // The server's Retry-After, when it sent one.
    std::optional<std::chrono::milliseconds> retry_after;

    // For transport errors: true when the request may have reached the server, so repeating it
    // could run the model twice.
    bool request_may_have_been_sent = false;

    // One line with a stable prefix, e.g.
    // "dbxserve.http: 404 RESOURCE_DOES_NOT_EXIST: Endpoint 'x' does not exist [request-id abc]".
    std::string to_string() const {
        std::string text = "dbxserve.";
        text += dbxserve::to_string(kind);
        text += ":";
        if (http_status != 0) {
            text += " " + std::to_string(http_status);
        }
        if (!error_code.empty()) {
            text += " " + error_code;
        }
        if (!message.empty()) {
            text += (http_status != 0 || !error_code.empty()) ? ": " : " ";
            text += message;
        }
        if (!request_id.empty()) {
            text += " [request-id " + request_id + "]";
        }
        return text;
    }
};

// The `error_code` a transport gives a TLS failure that no retry can fix: the server's
// certificate was rejected, or the trusted CAs could not be loaded.
inline constexpr const char* tls_verification_failed = "TLS_VERIFICATION_FAILED";

inline error make_error(error_kind kind, std::string message) {
    error e;
    e.kind = kind;
    e.message = std::move(message);
    return e;
}

} // namespace v0
} // namespace dbxserve
