#pragma once

#include <utility>

#include "auth/default_credentials.hpp"
#include "client.hpp"
#include "config.hpp"
#include "transport/httplib_transport.hpp"

namespace dbxserve {
inline namespace v0 {

// The common case: cpp-httplib over TLS, with the token policy the configuration selects.
using client = basic_client<httplib_transport, default_credentials>;

// Resolves the configuration like the official SDKs (explicit values, then DATABRICKS_* environment
// variables, then a ~/.databrickscfg profile) and builds a client from it.
//
//     dbxserve::config cfg;
//     cfg.host = "https://dbc-1234.cloud.databricks.com";
//     cfg.client_id = std::getenv("DATABRICKS_CLIENT_ID");
//     cfg.client_secret = std::getenv("DATABRICKS_CLIENT_SECRET");
//     auto client = dbxserve::make_client(cfg);
inline result<client> make_client(const config& explicit_values = {}, client_options options = {},
                                  httplib_transport_options transport_options = {},
                                  const environment& env = environment::process()) {
    auto resolved = resolve_config(explicit_values, env);
    if (!resolved) {
        return resolved.error();
    }
    auto credentials = default_credentials::from_config(*resolved);
    if (!credentials) {
        return credentials.error();
    }
    if (options.workspace_id.empty()) {
        options.workspace_id = resolved->workspace_id;
    }
    return client::create(resolved->host, httplib_transport(std::move(transport_options)),
                          std::move(*credentials), std::move(options));
}

} // namespace v0
} // namespace dbxserve
