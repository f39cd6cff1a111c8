#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "../error.hpp"
#include "../transport.hpp"
#include "text.hpp"

namespace dbxserve {
inline namespace v0 {
namespace detail {

inline const char* reason_phrase(int status) {
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status >= 500 ? "Server Error" : "Client Error";
    }
}

inline std::string json_text(const nlohmann::json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end()) {
        return {};
    }
    if (it->is_string()) {
        return it->get_ref<const std::string&>();
    }
    if (it->is_number_integer()) {
        return std::to_string(it->get<long long>());
    }
    return {};
}

inline std::string request_id_from_details(const nlohmann::json& body) {
    const auto details = body.find("details");
    if (details == body.end() || !details->is_array()) {
        return {};
    }
    for (const auto& item : *details) {
        if (item.is_object() && json_text(item, "@type").find("RequestInfo") != std::string::npos) {
            return json_text(item, "request_id");
        }
    }
    return {};
}

// Reads a JSON error body in the shapes the Databricks services use: the standard
// {error_code, message, details}, the API 1.2 {error} form, SCIM {detail, status}, and a numeric
// error_code. Returns false when the body is not such an object.
inline bool read_json_error(const nlohmann::json& body, error& e) {
    if (!body.is_object()) {
        return false;
    }
    e.error_code = json_text(body, "error_code");
    e.message = json_text(body, "message");

    const std::string legacy = json_text(body, "error");
    if (!legacy.empty()) {
        e.message = legacy;
    }

    const std::string scim = json_text(body, "detail");
    if (e.error_code.empty() && !scim.empty()) {
        e.error_code = "SCIM_" + json_text(body, "status");
        e.message = scim;
    }

    const std::string from_details = request_id_from_details(body);
    if (!from_details.empty()) {
        e.request_id = from_details;
    }
    e.body = body;
    return !e.error_code.empty() || !e.message.empty();
}

// A plain-text body of the form "ERROR_CODE: message", as some gateways send.
inline bool read_text_error(std::string_view body, error& e) {
    const auto colon = body.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 64) {
        return false;
    }
    for (char c : body.substr(0, colon)) {
        const bool code_char = (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9');
        if (!code_char) {
            return false;
        }
    }
    e.error_code = std::string(body.substr(0, colon));
    e.message = trim_copy(excerpt(body.substr(colon + 1)));
    return true;
}

// Turns a non-2xx reply into an error value, whatever the body looks like: an empty or
// unreadable body still yields the status, its reason phrase and the request id.
inline error error_from_response(const http_response& response) {
    error e;
    e.kind = error_kind::http;
    e.http_status = response.status;
    e.request_id = response.headers.get("x-request-id");

    const auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (!body.is_discarded() && read_json_error(body, e)) {
        return e;
    }
    if (read_text_error(response.body, e)) {
        return e;
    }

    e.message = reason_phrase(response.status);
    const std::string text = trim_copy(excerpt(response.body));
    if (!text.empty()) {
        e.message += " (" + text + ")";
    }
    return e;
}

} // namespace detail
} // namespace v0
} // namespace dbxserve
