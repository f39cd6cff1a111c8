#pragma once

#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../result.hpp"

namespace dbxserve {
inline namespace v0 {
namespace detail {

// An absolute http(s)-style URL split into the pieces a client connects with.
struct url_parts {
    std::string scheme;         // lower case, e.g. "https"
    std::string host;           // lower case; an IPv6 literal is kept without its brackets
    std::string path_and_query; // starts with '/'; the fragment is dropped
    int port = 0;               // the explicit port, else the scheme's default (0 if unknown)
};

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        c = ascii_lower(c);
    }
    return out;
}

constexpr bool is_ascii_alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

constexpr bool is_ascii_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

constexpr bool is_ascii_hex(char c) noexcept {
    return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

constexpr bool is_unreserved(char c) noexcept {
    return is_ascii_alpha(c) || is_ascii_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

constexpr int default_port(std::string_view scheme) noexcept {
    if (scheme == "https") {
        return 443;
    }
    if (scheme == "http") {
        return 80;
    }
    return 0;
}

inline bool is_all_digits(std::string_view text) noexcept {
    if (text.empty()) {
        return false;
    }
    for (char c : text) {
        if (!is_ascii_digit(c)) {
            return false;
        }
    }
    return true;
}

// Strict dotted quad: four decimal octets, no leading '+', no empty parts.
inline bool parse_ipv4(std::string_view text, std::array<std::uint8_t, 4>& out) noexcept {
    for (std::size_t part = 0; part < 4; ++part) {
        const std::size_t dot = text.find('.');
        const std::string_view octet = part == 3 ? text : text.substr(0, dot);
        if ((part < 3 && dot == std::string_view::npos) || octet.size() > 3 ||
            !is_all_digits(octet)) {
            return false;
        }

        unsigned value = 0;
        std::from_chars(octet.data(), octet.data() + octet.size(), value);
        if (value > 255) {
            return false;
        }
        out[part] = static_cast<std::uint8_t>(value);
        text = part == 3 ? std::string_view() : text.substr(dot + 1);
    }
    return true;
}

// RFC 4291 text form, including "::" and a trailing dotted quad; a zone ("%eth0") is ignored.
inline bool parse_ipv6(std::string_view text, std::array<std::uint8_t, 16>& out) noexcept {
    text = text.substr(0, text.find('%'));
    const std::size_t gap = text.find("::");
    if (gap != std::string_view::npos && text.find("::", gap + 1) != std::string_view::npos) {
        return false;
    }

    // Each side of "::" is a list of groups; the dotted quad may only end the last one.
    std::array<std::uint8_t, 16> head{};
    std::array<std::uint8_t, 16> tail{};
    std::size_t head_size = 0;
    std::size_t tail_size = 0;
    auto parse_groups = [](std::string_view groups, std::array<std::uint8_t, 16>& bytes,
                           std::size_t& size, bool may_end_with_ipv4) {
        while (!groups.empty()) {
            const std::size_t colon = groups.find(':');
            const std::string_view group = groups.substr(0, colon);
            const bool last = colon == std::string_view::npos;
            std::array<std::uint8_t, 4> quad{};
            if (last && may_end_with_ipv4 && group.find('.') != std::string_view::npos) {
                if (size + 4 > 16 || !parse_ipv4(group, quad)) {
                    return false;
                }
                for (std::uint8_t b : quad) {
                    bytes[size++] = b;
                }
                return true;
            }

            unsigned value = 0;
            const auto* end = group.data() + group.size();
            const auto parsed = std::from_chars(group.data(), end, value, 16);
            if (group.empty() || group.size() > 4 || parsed.ptr != end || size + 2 > 16) {
                return false;
            }
            bytes[size++] = static_cast<std::uint8_t>(value >> 8);
            bytes[size++] = static_cast<std::uint8_t>(value & 0xff);
            if (last) {
                return true;
            }
            groups.remove_prefix(colon + 1);
            if (groups.empty()) {
                return false;
            }
        }
        return true;
    };

    if (gap == std::string_view::npos) {
        if (!parse_groups(text, head, head_size, true) || head_size != 16) {
            return false;
        }
        out = head;
        return true;
    }
    if (!parse_groups(text.substr(0, gap), head, head_size, false) ||
        !parse_groups(text.substr(gap + 2), tail, tail_size, true) || head_size + tail_size > 14) {
        return false;
    }

    out = {};
    for (std::size_t i = 0; i < head_size; ++i) {
        out[i] = head[i];
    }
    for (std::size_t i = 0; i < tail_size; ++i) {
        out[16 - tail_size + i] = tail[i];
    }
    return true;
}

// True for names that can only reach this machine: localhost, 127.0.0.0/8 and ::1 (also written
// as [::1] or as the IPv4-mapped ::ffff:127.x.y.z). Plain-http token calls are allowed only there.
inline bool is_loopback_host(std::string_view host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    std::string name = ascii_lower(host);
    if (!name.empty() && name.back() == '.') {
        name.pop_back();
    }
    if (name == "localhost") {
        return true;
    }

    std::array<std::uint8_t, 4> ipv4{};
    if (parse_ipv4(name, ipv4)) {
        return ipv4[0] == 127;
    }

    std::array<std::uint8_t, 16> ipv6{};
    if (!parse_ipv6(name, ipv6)) {
        return false;
    }
    bool zero_prefix = true;
    for (std::size_t i = 0; i < 10; ++i) {
        zero_prefix = zero_prefix && ipv6[i] == 0;
    }
    const bool v4_mapped = zero_prefix && ipv6[10] == 0xff && ipv6[11] == 0xff && ipv6[12] == 127;
    const bool ipv6_loopback = zero_prefix && ipv6[10] == 0 && ipv6[11] == 0 && ipv6[12] == 0 &&
                               ipv6[13] == 0 && ipv6[14] == 0 && ipv6[15] == 1;
    return v4_mapped || ipv6_loopback;
}

// Registered names as DNS spells them; '_' is accepted because some internal resolvers use it.
inline bool is_valid_reg_name(std::string_view host) noexcept {
    if (host.empty()) {
        return false;
    }
    for (char c : host) {
        if (!is_ascii_alpha(c) && !is_ascii_digit(c) && c != '-' && c != '.' && c != '_') {
            return false;
        }
    }
    return true;
}

// Splits an absolute URL without throwing. The messages never repeat the input, which may hold
// something private in its query.
inline result<url_parts> parse_url(std::string_view text) {
    for (char c : text) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
            return make_error(error_kind::invalid_input,
                              "URL contains a space or a control character");
        }
    }

    url_parts url;
    const std::size_t separator = text.find("://");
    if (separator == std::string_view::npos || separator == 0 || !is_ascii_alpha(text[0])) {
        return make_error(error_kind::invalid_input, "URL must start with scheme://");
    }
    for (char c : text.substr(0, separator)) {
        if (!is_ascii_alpha(c) && !is_ascii_digit(c) && c != '+' && c != '-' && c != '.') {
            return make_error(error_kind::invalid_input, "URL scheme has invalid characters");
        }
    }
    url.scheme = ascii_lower(text.substr(0, separator));

    // The authority runs to the first '/', '?' or '#'; the rest is path and query.
    const std::string_view rest = text.substr(separator + 3);
    const std::size_t authority_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, authority_end);
    std::string_view tail =
        authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
    tail = tail.substr(0, tail.find('#'));
    url.path_and_query = (tail.empty() || tail.front() != '/') ? "/" : "";
    url.path_and_query += tail;

    // Credentials in a URL would end up in logs and Host headers; refuse them outright.
    if (authority.find('@') != std::string_view::npos) {
        return make_error(error_kind::invalid_input,
                          "URL must not contain a user name or password");
    }

    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        const std::size_t close = authority.find(']');
        std::array<std::uint8_t, 16> address{};
        if (close == std::string_view::npos ||
            !parse_ipv6(authority.substr(1, close - 1), address)) {
            return make_error(error_kind::invalid_input, "URL has an invalid IPv6 address");
        }
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty() && after.front() != ':') {
            return make_error(error_kind::invalid_input, "URL has text after the IPv6 address");
        }
        url.host = ascii_lower(authority.substr(1, close - 1));
        port_text = after.empty() ? after : after.substr(1);
    } else {
        const std::size_t colon = authority.find(':');
        url.host = ascii_lower(authority.substr(0, colon));
        port_text =
            colon == std::string_view::npos ? std::string_view() : authority.substr(colon + 1);
        if (!is_valid_reg_name(url.host)) {
            return make_error(error_kind::invalid_input, url.host.empty()
                                                             ? "URL has no host"
                                                             : "URL host has invalid characters");
        }
    }

    url.port = default_port(url.scheme);
    if (!port_text.empty()) {
        int port = 0;
        const auto* end = port_text.data() + port_text.size();
        const auto parsed = std::from_chars(port_text.data(), end, port);
        if (!is_all_digits(port_text) || parsed.ptr != end || port < 1 || port > 65535) {
            return make_error(error_kind::invalid_input, "URL has an invalid port");
        }
        url.port = port;
    }
    return url;
}

// "scheme://host[:port]", leaving out the port when it is the scheme's default.
inline std::string format_origin(const url_parts& url) {
    std::string out = url.scheme + "://";
    const bool ipv6 = url.host.find(':') != std::string::npos;
    out += ipv6 ? "[" + url.host + "]" : url.host;
    if (url.port != 0 && url.port != default_port(url.scheme)) {
        out += ":" + std::to_string(url.port);
    }
    return out;
}

// RFC 3986: unreserved characters stay, every other byte becomes %XX (upper-case hex).
inline std::string percent_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (is_unreserved(c)) {
            out += c;
            continue;
        }
        const auto byte = static_cast<unsigned char>(c);
        out += '%';
        out += hex[byte >> 4];
        out += hex[byte & 0x0f];
    }
    return out;
}

// Decodes %XX escapes, and '+' as a space when `plus_is_space` (query and form syntax). Returns
// nothing for a malformed escape.
inline std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
    auto nibble = [](char c) { return is_ascii_digit(c) ? c - '0' : ascii_lower(c) - 'a' + 10; };
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+' && plus_is_space) {
            out += ' ';
            continue;
        }
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size() || !is_ascii_hex(text[i + 1]) || !is_ascii_hex(text[i + 2])) {
            return std::nullopt;
        }
        out += static_cast<char>(nibble(text[i + 1]) * 16 + nibble(text[i + 2]));
        i += 2;
    }
    return out;
}

// application/x-www-form-urlencoded, as RFC 6749 asks for token requests: a space becomes '+',
// everything outside the unreserved set is percent-encoded.
inline std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
    auto encode = [](const std::string& text) {
        std::string out;
        std::size_t start = 0;
        while (start <= text.size()) {
            const std::size_t space = text.find(' ', start);
            const std::size_t stop = space == std::string::npos ? text.size() : space;
            out += percent_encode(std::string_view(text).substr(start, stop - start));
            if (space == std::string::npos) {
                break;
            }
            out += '+';
            start = space + 1;
        }
        return out;
    };

    std::string body;
    for (const auto& [name, value] : fields) {
        if (!body.empty()) {
            body += '&';
        }
        body += encode(name) + "=" + encode(value);
    }
    return body;
}

// The decoded value of the first `name=` parameter in the query of `path_and_query`.
inline std::optional<std::string> query_parameter(std::string_view path_and_query,
                                                  std::string_view name) {
    const std::size_t question = path_and_query.find('?');
    if (question == std::string_view::npos) {
        return std::nullopt;
    }

    std::string_view query = path_and_query.substr(question + 1);
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const std::size_t equals = pair.find('=');
        const auto key = percent_decode(pair.substr(0, equals), true);
        if (key && *key == name) {
            const std::string_view raw =
                equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
            return percent_decode(raw, true);
        }
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
    return std::nullopt;
}

} // namespace detail
} // namespace v0
} // namespace dbxserve
