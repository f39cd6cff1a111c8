#pragma once

#include <string>
#include <utility>
#include <variant>

#include "../config.hpp"
#include "oauth_m2m.hpp"
#include "static_token.hpp"

namespace dbxserve {
inline namespace v0 {

// The token policy that a resolved configuration selects: a PAT (`auth_type` "pat") or OAuth M2M
// for a service principal ("oauth-m2m"). This is what `make_client` uses, so a setup that works
// with the official SDKs' environment variables or ~/.databrickscfg works unchanged.
class default_credentials {
public:
    static result<default_credentials> from_config(const resolved_config& config) {
        if (config.auth_type == "pat") {
            return default_credentials(static_token(config.token, "pat"));
        }
        if (config.auth_type == "oauth-m2m") {
            oauth_m2m_options o;
            o.host = config.host;
            o.client_id = config.client_id;
            o.client_secret = config.client_secret;
            if (!config.scopes.empty()) {
                o.scopes = config.scopes;
            }
            o.discovery_url = config.discovery_url;
            o.account_id = config.account_id;
            o.account_host = config.is_account_host();
            return default_credentials(oauth_m2m(std::move(o)));
        }
        return make_error(error_kind::config,
                          "auth type '" + config.auth_type + "' is not supported by dbxserve");
    }

    explicit default_credentials(static_token policy) : policy_(std::move(policy)) {}
    explicit default_credentials(oauth_m2m policy) : policy_(std::move(policy)) {}

    void bind(http_sender sender, event_hook hook) {
        std::visit([&](auto& p) { p.bind(sender, hook); }, policy_);
    }

    result<std::string> authorization(const call_context& call = {}) {
        return std::visit([&](auto& p) { return p.authorization(call); }, policy_);
    }

    void invalidate(const std::string& authorization) {
        std::visit([&](auto& p) { p.invalidate(authorization); }, policy_);
    }

    const char* auth_type() const {
        return std::visit([](const auto& p) { return p.auth_type(); }, policy_);
    }

    // The workspace id the OAuth discovery learned, "" for a PAT or before the first token.
    std::string discovered_workspace_id() const {
        const auto* m2m = std::get_if<oauth_m2m>(&policy_);
        return m2m != nullptr ? m2m->discovered_workspace_id() : std::string();
    }

    // The OAuth policy, when that is what the configuration chose.
    oauth_m2m* oauth() { return std::get_if<oauth_m2m>(&policy_); }

private:
    std::variant<static_token, oauth_m2m> policy_;
};

} // namespace v0
} // namespace dbxserve
