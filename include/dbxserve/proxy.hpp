#pragma once

// Which HTTP proxy, if any, a request goes through, decided the way curl decides it. Transports
// call `resolve_proxy` once per request URL and hand the route to their HTTP stack; HTTPS then
// travels inside a CONNECT tunnel, so the proxy sees the host name but never the bearer token.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config.hpp"
#include "detail/url.hpp"
#include "error.hpp"
#include "result.hpp"

namespace dbxserve {
inline namespace v0 {

struct proxy_options {
    // "http://[user:pass@]host[:port]"; a value without "://" means http://. Empty: no explicit
    // proxy (the environment may still name one).
    std::string url;

    // When set, these replace the user name / password given in the URL's user info. They apply
    // to a proxy taken from the environment as well.
    std::string username;
    std::string password;

    // Hosts that bypass the proxy, with the NO_PROXY syntax (each element may itself be a
    // comma-separated list). Used together with NO_PROXY from the environment.
    std::vector<std::string> no_proxy;

    // Read https_proxy, all_proxy, no_proxy, ... Turn off to use nothing but the fields above.
    bool from_environment = true;
};

// Where to open the TCP connection instead of the target, and how to authenticate there.
struct proxy_route {
    std::string host; // lower case; an IPv6 literal without brackets, as in detail::url_parts
    int port = 0;
    std::string username; // percent-decoded; empty: no Proxy-Authorization
    std::string password;
};

namespace detail {

// curl's CURL_DEFAULT_PROXY_PORT. requests (urllib3) uses 80 for a port-less http:// proxy; we
// follow curl because most proxy documentation assumes it.
inline constexpr int default_proxy_port = 1080;

struct ip_literal {
    std::array<std::uint8_t, 16> bytes{};
    std::size_t size = 0; // 4 or 16; 0 when the text is not an IP address
};

inline ip_literal parse_ip_literal(std::string_view text) {
    ip_literal ip;
    std::array<std::uint8_t, 4> v4{};
    if (parse_ipv4(text, v4)) {
        for (std::size_t i = 0; i < v4.size(); ++i) {
            ip.bytes[i] = v4[i];
        }
        ip.size = 4;
    } else if (text.find(':') != std::string_view::npos && parse_ipv6(text, ip.bytes)) {
        ip.size = 16;
    }
    return ip;
}

inline bool in_ip_prefix(const ip_literal& address, const ip_literal& network, std::size_t bits) {
    if (address.size == 0 || address.size != network.size || bits > address.size * 8) {
        return false;
    }
    const std::size_t whole = bits / 8;
    for (std::size_t i = 0; i < whole; ++i) {
        if (address.bytes[i] != network.bytes[i]) {
            return false;
        }
    }
    const std::size_t rest = bits % 8;
    if (rest == 0) {
        return true;
    }
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (address.bytes[whole] & mask) == (network.bytes[whole] & mask);
}

inline std::optional<int> parse_port_number(std::string_view text) {
    if (!is_all_digits(text) || text.size() > 5) {
        return std::nullopt;
    }
    int port = 0;
    for (char c : text) {
        port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) {
        return std::nullopt;
    }
    return port;
}

inline std::string_view without_trailing_dot(std::string_view name) {
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    return name;
}

// One NO_PROXY entry against the target. An entry that does not parse matches nothing, as in
// curl: a typo in the environment must not make every request fail.
inline bool no_proxy_entry_matches(std::string_view entry, const url_parts& target,
                                   const ip_literal& target_ip) {
    if (entry.empty()) {
        return false;
    }
    if (entry == "*") {
        return true;
    }

    std::string_view address = entry;
    std::string_view bits_text;
    std::string_view port_text;
    bool has_bits = false;
    bool has_port = false;
    if (entry.front() == '[') {
        // "[::1]", "[::1]:8443", "[fd00::]/8", "[fd00::]/8:8443"
        const std::size_t close = entry.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        address = entry.substr(1, close - 1);
        std::string_view rest = entry.substr(close + 1);
        if (!rest.empty() && rest.front() == '/') {
            const std::size_t colon = rest.find(':');
            bits_text = rest.substr(1, colon == std::string_view::npos ? colon : colon - 1);
            has_bits = true;
            rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon);
        }
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return false;
            }
            port_text = rest.substr(1);
            has_port = true;
        }
    } else if (entry.find(':') == entry.rfind(':') && entry.find(':') != std::string_view::npos) {
        // Exactly one colon: "host:port". Two or more: a bare IPv6 address, which has no port.
        const std::size_t colon = entry.find(':');
        address = entry.substr(0, colon);
        port_text = entry.substr(colon + 1);
        has_port = true;
    }
    if (!has_bits) {
        const std::size_t slash = address.find('/');
        if (slash != std::string_view::npos) {
            bits_text = address.substr(slash + 1);
            address = address.substr(0, slash);
            has_bits = true;
        }
    }

    if (has_port) {
        const auto port = parse_port_number(port_text);
        if (!port || *port != target.port) {
            return false;
        }
    }

    if (target_ip.size != 0) {
        // An IP target is compared as an address, never as a name (curl does the same), so
        // "::1" and "0:0::1" are one host and "10.0.0.0/8" covers 10.1.2.3.
        const ip_literal network = parse_ip_literal(address);
        if (network.size != target_ip.size) {
            return false;
        }
        std::size_t bits = network.size * 8;
        if (has_bits) {
            if (!is_all_digits(bits_text) || bits_text.size() > 3) {
                return false;
            }
            std::size_t prefix = 0;
            for (char c : bits_text) {
                prefix = prefix * 10 + static_cast<std::size_t>(c - '0');
            }
            if (prefix > bits) {
                return false;
            }
            bits = prefix;
        }
        return in_ip_prefix(target_ip, network, bits);
    }
    if (has_bits) {
        return false;
    }

    // Names: exact or a whole-label suffix, so "example.com" covers "a.example.com" but not
    // "notexample.com" (requests' plain endswith() would take that one too).
    std::string name = ascii_lower(without_trailing_dot(address));
    std::string_view pattern = name;
    if (pattern.size() >= 2 && pattern.substr(0, 2) == "*.") {
        pattern.remove_prefix(1);
    }
    if (!pattern.empty() && pattern.front() == '.') {
        pattern.remove_prefix(1);
    }
    if (pattern.empty()) {
        return false;
    }
    const std::string_view host = without_trailing_dot(target.host);
    if (host == pattern) {
        return true;
    }
    return host.size() > pattern.size() && host.substr(host.size() - pattern.size()) == pattern &&
           host[host.size() - pattern.size() - 1] == '.';
}

// Entries are separated by commas and/or white space (curl accepts both since 7.86; requests
// strips spaces).
inline bool no_proxy_list_matches(std::string_view list, const url_parts& target,
                                  const ip_literal& target_ip) {
    auto separator = [](char c) {
        return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
    };
    std::size_t i = 0;
    while (i < list.size()) {
        while (i < list.size() && separator(list[i])) {
            ++i;
        }
        const std::size_t start = i;
        while (i < list.size() && !separator(list[i])) {
            ++i;
        }
        if (i > start && no_proxy_entry_matches(list.substr(start, i - start), target, target_ip)) {
            return true;
        }
    }
    return false;
}

inline error proxy_config_error(std::string_view source, std::string_view problem) {
    std::string message = "proxy from ";
    message += source;
    message += ": ";
    message += problem;
    return make_error(error_kind::config, std::move(message));
}

// Splits a proxy URL. `source` names where it came from ("https_proxy", "proxy_options.url") so
// the message can point there; the value itself never appears, since it may hold a password.
inline result<proxy_route> parse_proxy_url(std::string_view value, std::string_view source) {
    std::string text(value);
    if (text.find("://") == std::string::npos) {
        text.insert(0, "http://");
    }

    const std::size_t separator = text.find("://");
    const std::string scheme = ascii_lower(std::string_view(text).substr(0, separator));
    if (scheme != "http") {
        bool nameable = !scheme.empty() && scheme.size() <= 16;
        for (char c : scheme) {
            nameable = nameable &&
                       (is_ascii_alpha(c) || is_ascii_digit(c) || c == '+' || c == '-' || c == '.');
        }
        std::string problem = "only http:// proxies are supported";
        if (nameable) {
            problem += ", not " + scheme + "://";
        }
        return proxy_config_error(source, problem);
    }

    // parse_url refuses user info outright, so it is cut off here and decoded separately.
    const std::size_t authority = separator + 3;
    const std::size_t authority_end = std::min(text.find_first_of("/?#", authority), text.size());
    const std::size_t at = text.rfind('@', authority_end - 1);
    proxy_route route;
    std::size_t host_start = authority;
    if (at != std::string::npos && at >= authority) {
        const std::string_view userinfo = std::string_view(text).substr(authority, at - authority);
        const std::size_t colon = userinfo.find(':');
        auto user = percent_decode(userinfo.substr(0, colon), false);
        auto password = colon == std::string_view::npos
                            ? std::optional<std::string>(std::string())
                            : percent_decode(userinfo.substr(colon + 1), false);
        if (!user || !password) {
            return proxy_config_error(source, "malformed %-escape in the proxy user info");
        }
        route.username = std::move(*user);
        route.password = std::move(*password);
        host_start = at + 1;
    }

    const std::string_view host_port =
        std::string_view(text).substr(host_start, authority_end - host_start);
    // parse_url fills in the scheme's port; curl's proxy default differs, so look for one here.
    const bool bracketed = !host_port.empty() && host_port.front() == '[';
    std::size_t colon = bracketed ? std::string_view::npos : host_port.find(':');
    if (bracketed && host_port.find("]:") != std::string_view::npos) {
        colon = host_port.find("]:") + 1;
    }
    const bool explicit_port = colon != std::string_view::npos && colon + 1 < host_port.size();

    auto parsed = parse_url(scheme + "://" + text.substr(host_start));
    if (!parsed) {
        return proxy_config_error(source, parsed.error().message);
    }
    route.host = std::move(parsed->host);
    route.port = explicit_port ? parsed->port : default_proxy_port;
    return route;
}

inline std::optional<std::string>
first_set(const environment& env, std::initializer_list<const char*> names, std::string& found) {
    for (const char* name : names) {
        if (auto value = env.get(name)) {
            found = name;
            return value;
        }
    }
    return std::nullopt;
}

} // namespace detail

// "http://user:***@host:port": safe to log, the password is never shown.
inline std::string describe(const proxy_route& route) {
    std::string out = "http://";
    if (!route.username.empty() || !route.password.empty()) {
        out += detail::percent_encode(route.username); // keeps "@" and ":" in it unambiguous
        if (!route.password.empty()) {
            out += ":";
            out += detail::masked_secret;
        }
        out += "@";
    }
    const bool ipv6 = route.host.find(':') != std::string::npos;
    out += ipv6 ? "[" + route.host + "]" : route.host;
    out += ":" + std::to_string(route.port);
    return out;
}

// The proxy a request to `target_url` goes through, or nothing for a direct connection.
//
// Follows curl (lib/url.c detect_proxy, lib/noproxy.c), and Python requests where curl says
// nothing:
//  * `options.url` wins. Otherwise, when `from_environment`, an https target reads https_proxy,
//    then HTTPS_PROXY; an http target reads http_proxy only: the upper-case HTTP_PROXY is ignored
//    because a CGI server sets it from the client's "Proxy:" header (the "httpoxy" attack;
//    urllib drops it only under CGI, curl always). Then all_proxy, then ALL_PROXY. Lower case wins
//    when both are set. An empty variable counts as unset.
//  * No "://" means http://; a missing port means 1080 (curl; requests would use 80). User info
//    is percent-decoded; `options.username` / `password` replace it when set. https:// and
//    socks*:// proxies are refused with error_kind::config.
//  * NO_PROXY (no_proxy wins over NO_PROXY) and `options.no_proxy` both apply, to an explicit
//    proxy too, as curl applies NO_PROXY to CURLOPT_PROXY. Entries are separated by commas or
//    white space and compared without regard to case; "*" bypasses every host; "example.com",
//    ".example.com" and "*.example.com" each match example.com and any name under it;
//    "host:port" applies to that port only (requests' host:port form; the target's port is its
//    explicit or default one); IP targets match IP entries and CIDR ranges ("10.0.0.0/8",
//    "::1/128", "[::1]") and never names.
//  * Loopback targets (localhost, 127.0.0.0/8, ::1) get no special treatment: like curl, they go
//    through the proxy unless NO_PROXY lists them.
// An explicit `options.url` is checked on every call, so a bad setting surfaces even for hosts that
// bypass it; an environment value is read only when this target would use it.
inline result<std::optional<proxy_route>>
resolve_proxy(const proxy_options& options, std::string_view target_url, const environment& env) {
    using none = std::optional<proxy_route>;
    auto target = detail::parse_url(target_url);
    if (!target) {
        return target.error();
    }
    if (target->scheme != "https" && target->scheme != "http") {
        return make_error(error_kind::invalid_input,
                          "proxy resolution needs an http:// or https:// URL");
    }

    std::optional<proxy_route> explicit_route;
    if (!options.url.empty()) {
        auto parsed = detail::parse_proxy_url(options.url, "proxy_options.url");
        if (!parsed) {
            return parsed.error();
        }
        explicit_route = std::move(*parsed);
    }

    std::string source;
    std::optional<std::string> from_env;
    if (!explicit_route && options.from_environment) {
        from_env = target->scheme == "https"
                       ? detail::first_set(
                             env, {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}, source)
                       : detail::first_set(env, {"http_proxy", "all_proxy", "ALL_PROXY"}, source);
    }
    if (!explicit_route && !from_env) {
        return none();
    }

    const detail::ip_literal target_ip = detail::parse_ip_literal(target->host);
    for (const auto& list : options.no_proxy) {
        if (detail::no_proxy_list_matches(list, *target, target_ip)) {
            return none();
        }
    }
    if (options.from_environment) {
        std::string ignored;
        const auto list = detail::first_set(env, {"no_proxy", "NO_PROXY"}, ignored);
        if (list && detail::no_proxy_list_matches(*list, *target, target_ip)) {
            return none();
        }
    }

    proxy_route route;
    if (explicit_route) {
        route = std::move(*explicit_route);
    } else {
        auto parsed = detail::parse_proxy_url(*from_env, source);
        if (!parsed) {
            return parsed.error();
        }
        route = std::move(*parsed);
    }
    if (!options.username.empty()) {
        route.username = options.username;
    }
    if (!options.password.empty()) {
        route.password = options.password;
    }
    return none(std::move(route));
}

} // namespace v0
} // namespace dbxserve
