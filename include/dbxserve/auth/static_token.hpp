#pragma once

#include <string>
#include <utility>

#include "../call.hpp"
#include "../events.hpp"
#include "../result.hpp"
#include "../transport.hpp"

namespace dbxserve {
inline namespace v0 {

// The token policy concept. A token policy is any type with
//
//     void bind(http_sender sender, event_hook hook);   // the client's transport and event hook
//     result<std::string> authorization(const call_context& call); // Authorization header value
//     void invalidate(const std::string& authorization); // the server rejected that value
//     const char* auth_type() const;                    // "pat", "oauth-m2m", ... (User-Agent)
//
// `authorization` is called for every attempt, from many threads at once, and must be cheap when
// it has a valid credential cached; when it has to wait or fetch, it honours the call's deadline
// and cancellation.

// A fixed bearer token: a personal access token for development, or a token obtained elsewhere.
// PATs must not be used in production; prefer `oauth_m2m` with a service principal.
class static_token {
public:
    explicit static_token(std::string token, std::string auth_type = "pat")
        : header_("Bearer " + std::move(token)), auth_type_(std::move(auth_type)) {}

    void bind(const http_sender&, const event_hook&) {}

    result<std::string> authorization(const call_context& = {}) const { return header_; }

    void invalidate(const std::string&) {}

    const char* auth_type() const { return auth_type_.c_str(); }

private:
    std::string header_;
    std::string auth_type_;
};

} // namespace v0
} // namespace dbxserve
