#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "../events.hpp"
#include "../result.hpp"
#include "../transport.hpp"
#include "http_error.hpp"
#include "security.hpp"

namespace dbxserve {
inline namespace v0 {
namespace detail {

struct discovery_inputs {
    std::string host; // normalised workspace or account URL
    std::string discovery_url;
    std::string account_id;
    bool account_host = false;
    std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};

struct discovered_endpoints {
    std::string token_endpoint;
    std::string workspace_id; // from host metadata, when the server told us
    std::string account_id;
};

inline void replace_all(std::string& text, std::string_view from, std::string_view to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
}

// GETs a small JSON document. An HTTP status other than 200 or a body that is not an object
// yields an empty object: discovery then moves to its next step. Only a transport failure is an
// error, since the host is then unreachable for every later step too.
inline result<nlohmann::json> fetch_json(const http_sender& sender, const std::string& url,
                                         std::chrono::milliseconds timeout) {
    http_request request;
    request.method = "GET";
    request.url = url;
    request.headers.add("Accept", "application/json");
    request.connect_timeout = timeout;
    request.read_timeout = timeout;

    auto response = sender(request);
    if (!response) {
        return response.error();
    }
    if (response->status != 200) {
        return nlohmann::json::object();
    }
    auto body = nlohmann::json::parse(response->body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        return nlohmann::json::object();
    }
    return body;
}

// Finds the OAuth token endpoint the way the official SDKs do: an explicit discovery URL, the
// fixed account URLs, the host metadata's oidc_endpoint, the legacy workspace discovery document,
// and finally the well-known workspace path.
inline result<discovered_endpoints>
discover_endpoints(const http_sender& sender, const discovery_inputs& in, const event_hook& hook) {
    discovered_endpoints found;
    found.account_id = in.account_id;
    auto note = [&](const std::string& message) {
        if (hook) {
            hook(event{event_level::debug, "discovery", message});
        }
    };

    if (!in.discovery_url.empty()) {
        auto doc = fetch_json(sender, in.discovery_url, in.timeout);
        if (!doc) {
            return doc.error();
        }
        found.token_endpoint = json_text(*doc, "token_endpoint");
        if (found.token_endpoint.empty()) {
            return make_error(error_kind::auth,
                              "discovery document " + in.discovery_url + " has no token_endpoint");
        }
        note("token endpoint from discovery_url: " + found.token_endpoint);
        return found;
    }

    if (in.account_host) {
        if (in.account_id.empty()) {
            return make_error(error_kind::config, "account host " + in.host +
                                                      " needs account_id for OAuth "
                                                      "(DATABRICKS_ACCOUNT_ID)");
        }
        found.token_endpoint = in.host + "/oidc/accounts/" + in.account_id + "/v1/token";
        note("token endpoint for account host: " + found.token_endpoint);
        return found;
    }

    auto metadata = fetch_json(sender, in.host + "/.well-known/databricks-config", in.timeout);
    if (!metadata) {
        return metadata.error();
    }
    found.workspace_id = json_text(*metadata, "workspace_id");
    if (found.account_id.empty()) {
        found.account_id = json_text(*metadata, "account_id");
    }

    std::string oidc_root = json_text(*metadata, "oidc_endpoint");
    if (oidc_root.empty()) {
        oidc_root = in.host + "/oidc";
    }
    replace_all(oidc_root, "{account_id}", found.account_id);
    while (!oidc_root.empty() && oidc_root.back() == '/') {
        oidc_root.pop_back();
    }

    auto doc =
        fetch_json(sender, oidc_root + "/.well-known/oauth-authorization-server", in.timeout);
    if (!doc) {
        return doc.error();
    }
    found.token_endpoint = json_text(*doc, "token_endpoint");
    if (found.token_endpoint.empty()) {
        found.token_endpoint = in.host + "/oidc/v1/token";
    }
    note("token endpoint: " + found.token_endpoint);
    return found;
}

} // namespace detail
} // namespace v0
} // namespace dbxserve
