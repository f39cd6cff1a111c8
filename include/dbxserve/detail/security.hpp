#pragma once

#include <string>
#include <string_view>

#include "../result.hpp"
#include "url.hpp"

namespace dbxserve {
inline namespace v0 {
namespace detail {

// Credentials may travel over plain HTTP only to this machine (an emulator or a local proxy):
// anywhere else the token or client secret would be readable on the wire.
inline result<void> require_secure_url(std::string_view url, std::string_view purpose) {
    auto parts = parse_url(url);
    if (!parts) {
        return make_error(error_kind::config,
                          std::string(purpose) + " is not a valid URL: " + parts.error().message);
    }
    if (parts->scheme == "https") {
        return {};
    }
    if (parts->scheme == "http" && is_loopback_host(parts->host)) {
        return {};
    }
    if (parts->scheme == "http") {
        return make_error(error_kind::config,
                          std::string(purpose) + " uses http:// to the non-loopback host '" +
                              parts->host +
                              "'; credentials are sent only over https:// (plain http is "
                              "allowed for loopback test servers only)");
    }
    return make_error(error_kind::config,
                      std::string(purpose) + " has unsupported scheme '" + parts->scheme + "'");
}

// True when both URLs name the same scheme, host and port.
inline bool same_origin(std::string_view a, std::string_view b) {
    auto left = parse_url(a);
    auto right = parse_url(b);
    return left && right && left->scheme == right->scheme && left->host == right->host &&
           left->port == right->port;
}

} // namespace detail
} // namespace v0
} // namespace dbxserve
