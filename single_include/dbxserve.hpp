// dbxserve 0.1.0 - a C++17 client for Databricks Model and Agent Serving endpoints.
//
// GENERATED FILE - DO NOT EDIT. Built by tools/amalgamate.py from include/dbxserve/;
// change the headers there and run the script again.
//
// Needs nlohmann/json, and for the default transport cpp-httplib with OpenSSL.
#ifndef DBXSERVE_SINGLE_INCLUDE_HPP
#define DBXSERVE_SINGLE_INCLUDE_HPP
// ---- begin dbxserve/dbxserve.hpp

// dbxserve: a C++17 client for Databricks Model and Agent Serving endpoints.
// The umbrella header: the whole library with the default cpp-httplib transport.

// ---- begin dbxserve/core.hpp

// Everything except the default (cpp-httplib) transport: include this instead of dbxserve.hpp when
// you plug in your own HTTP stack, and httplib and OpenSSL never enter your build.

// ---- begin dbxserve/auth/default_credentials.hpp

#include <string>
#include <utility>
#include <variant>

// ---- begin dbxserve/config.hpp

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>
#include <vector>

// ---- begin dbxserve/detail/ini.hpp


// ---- begin dbxserve/error.hpp

#include <chrono>

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
// ---- end dbxserve/error.hpp
// ---- begin dbxserve/result.hpp

#include <type_traits>


namespace dbxserve {
inline namespace v0 {

// Either a value or an `error`. The library reports every failure this way, so it works with
// exceptions and RTTI turned off. Reading the value of a failed result is a programming error and
// aborts; check `ok()` first, or use `dbxserve/throwing.hpp` for an exception-based layer.
//
//     auto reply = client.query("chat", request);
//     if (!reply) { std::cerr << reply.error().to_string() << "\n"; return 1; }
//     std::cout << reply->text() << "\n";
template <class T>
class [[nodiscard]] result {
public:
    static_assert(!std::is_same_v<T, dbxserve::error>, "result<error> is ambiguous");

    result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
    result(dbxserve::error failure) : state_(std::in_place_index<1>, std::move(failure)) {}

    bool ok() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { return *checked(); }
    const T& value() const& { return *checked(); }
    T&& value() && { return std::move(*checked()); }

    T* operator->() { return checked(); }
    const T* operator->() const { return checked(); }
    T& operator*() & { return *checked(); }
    const T& operator*() const& { return *checked(); }

    template <class U>
    T value_or(U&& fallback) const& {
        return ok() ? *std::get_if<0>(&state_) : static_cast<T>(std::forward<U>(fallback));
    }

    // The failure. Calling it on a successful result aborts.
    const dbxserve::error& error() const& {
        const auto* failure = std::get_if<1>(&state_);
        if (failure == nullptr) {
            std::abort();
        }
        return *failure;
    }

private:
    T* checked() {
        auto* value = std::get_if<0>(&state_);
        if (value == nullptr) {
            std::abort();
        }
        return value;
    }
    const T* checked() const { return const_cast<result*>(this)->checked(); }

    std::variant<T, dbxserve::error> state_;
};

// A result that carries no value: success, or an `error`.
template <>
class [[nodiscard]] result<void> {
public:
    result() = default;
    result(dbxserve::error failure) : failure_(std::move(failure)), failed_(true) {}

    bool ok() const noexcept { return !failed_; }
    explicit operator bool() const noexcept { return ok(); }

    const dbxserve::error& error() const& {
        if (!failed_) {
            std::abort();
        }
        return failure_;
    }

private:
    dbxserve::error failure_;
    bool failed_ = false;
};

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/result.hpp
// ---- begin dbxserve/detail/url.hpp

#include <charconv>
#include <cstdint>


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
// ---- end dbxserve/detail/url.hpp

namespace dbxserve {
inline namespace v0 {
namespace detail {

// The sections of a ~/.databrickscfg file. Lines before the first header belong to DEFAULT, a
// repeated section adds to the first, and a repeated key keeps its last value (the Go SDK's
// gopkg.in/ini behaviour).
struct ini_document {
    std::map<std::string, std::map<std::string, std::string>> sections;

    const std::map<std::string, std::string>* section(const std::string& name) const {
        const auto found = sections.find(name);
        return found == sections.end() ? nullptr : &found->second;
    }
};

constexpr bool is_ini_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

inline std::string_view trim_ini_space(std::string_view text) noexcept {
    while (!text.empty() && is_ini_space(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && is_ini_space(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

// A value as both SDKs read it: trimmed; '#' or ';' starts a comment only after whitespace, so
// secrets may contain them; one pair of matching surrounding quotes is removed (Go SDK).
inline std::string parse_ini_value(std::string_view raw) {
    std::string_view value = trim_ini_space(raw);
    for (std::size_t i = 1; i < value.size(); ++i) {
        if ((value[i] == '#' || value[i] == ';') && is_ini_space(value[i - 1])) {
            value = trim_ini_space(value.substr(0, i));
            break;
        }
    }

    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front() && value.find(value.front(), 1) == value.size() - 1) {
        value = value.substr(1, value.size() - 2);
    }
    return std::string(value);
}

// Parses INI text. Key names are lower-cased (Python's configparser); section names are kept as
// written. Errors give the line number only: a broken line may well be a secret.
inline result<ini_document> parse_ini(std::string_view text) {
    constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";
    if (text.substr(0, utf8_bom.size()) == utf8_bom) {
        text.remove_prefix(utf8_bom.size());
    }

    ini_document document;
    std::string current = "DEFAULT";
    std::size_t line_number = 0;
    while (!text.empty()) {
        const std::size_t newline = text.find('\n');
        std::string_view line = trim_ini_space(text.substr(0, newline));
        text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
        ++line_number;
        const std::string where = "line " + std::to_string(line_number) + ": ";

        if (line.empty() || line.front() == '#' || line.front() == ';') {
            continue;
        }

        if (line.front() == '[') {
            const std::size_t close = line.rfind(']');
            if (close == std::string_view::npos) {
                return make_error(error_kind::config, where + "section header has no ']'");
            }
            if (close == 1) {
                return make_error(error_kind::config, where + "section name is empty");
            }
            current = std::string(line.substr(1, close - 1));
            document.sections[current];
            continue;
        }

        const std::size_t delimiter = line.find_first_of("=:");
        if (delimiter == std::string_view::npos) {
            return make_error(error_kind::config, where + "expected 'key = value'");
        }
        const std::string key = ascii_lower(trim_ini_space(line.substr(0, delimiter)));
        if (key.empty()) {
            return make_error(error_kind::config, where + "key name is empty");
        }
        document.sections[current][key] = parse_ini_value(line.substr(delimiter + 1));
    }
    return document;
}

} // namespace detail
} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/detail/ini.hpp

namespace dbxserve {
inline namespace v0 {

// Where configuration reads environment variables from. Tests build one from a map so they never
// depend on, or change, the process environment.
class environment {
public:
    // The process environment, read on every `get`.
    static environment process() { return environment(std::nullopt); }

    static environment from_map(std::map<std::string, std::string> vars) {
        return environment(std::move(vars));
    }

    // The variable's value; an empty value counts as unset, as in both SDKs.
    std::optional<std::string> get(const std::string& name) const {
        if (vars_) {
            const auto found = vars_->find(name);
            if (found == vars_->end() || found->second.empty()) {
                return std::nullopt;
            }
            return found->second;
        }
        return read_process_variable(name);
    }

private:
    explicit environment(std::optional<std::map<std::string, std::string>> vars)
        : vars_(std::move(vars)) {}

    static std::optional<std::string> read_process_variable(const std::string& name) {
#ifdef _MSC_VER
        char* buffer = nullptr;
        std::size_t size = 0;
        if (_dupenv_s(&buffer, &size, name.c_str()) != 0 || buffer == nullptr) {
            return std::nullopt;
        }
        std::string value(buffer);
        std::free(buffer);
#else
        const char* raw = std::getenv(name.c_str());
        if (raw == nullptr) {
            return std::nullopt;
        }
        std::string value(raw);
#endif
        if (value.empty()) {
            return std::nullopt;
        }
        return value;
    }

    std::optional<std::map<std::string, std::string>> vars_;
};

// Values given in code. They win over environment variables, which win over the profile. An empty
// string counts as unset. Attributes dbxserve cannot authenticate with (azure_*, google_*, ...)
// are here so that a conflicting configuration is reported exactly as the SDKs report it.
struct config {
    std::optional<std::string> host;
    std::optional<std::string> token;
    std::optional<std::string> client_id;
    std::optional<std::string> client_secret;
    std::optional<std::string> auth_type;
    std::optional<std::string> profile;
    std::optional<std::string> config_file;
    std::optional<std::string> account_id;
    std::optional<std::string> workspace_id;
    std::optional<std::string> username;
    std::optional<std::string> password;
    std::optional<std::string> scopes; // separated by commas and/or spaces
    std::optional<std::string> discovery_url;
    std::optional<std::string> azure_workspace_resource_id;
    std::optional<std::string> azure_client_id;
    std::optional<std::string> azure_client_secret;
    std::optional<std::string> azure_tenant_id;
    std::optional<std::string> azure_use_msi; // "false", "0", "f" count as unset
    std::optional<std::string> azure_login_app_id;
    std::optional<std::string> google_credentials;
    std::optional<std::string> google_service_account;
    std::optional<std::string> metadata_service_url;
    std::optional<std::string> oidc_token_env;
    std::optional<std::string> oidc_token_filepath;
};

namespace detail {

inline constexpr std::string_view masked_secret = "***";

inline std::string join(const std::vector<std::string>& parts, std::string_view separator) {
    std::string out;
    for (const auto& part : parts) {
        if (!out.empty()) {
            out += separator;
        }
        out += part;
    }
    return out;
}

// Hides the parts of a URL that may be private: user info and the query
// ("https://u:pw@host/?k=v" -> "https://***@host/?***"). A missing scheme is allowed.
inline std::string redact_url(std::string_view url) {
    std::string out;
    const std::size_t scheme_end = url.find("://");
    const std::size_t authority = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
    const std::size_t at = url.substr(0, url.find_first_of("/?#", authority)).rfind('@');
    if (at != std::string_view::npos && at >= authority) {
        out = url.substr(0, authority);
        out += masked_secret;
        url.remove_prefix(at);
    }

    const std::size_t query = url.find('?');
    out += url.substr(0, query);
    if (query != std::string_view::npos) {
        out += "?";
        out += masked_secret;
    }
    return out;
}

// "Config: a=1, b=***. Env: X, Y", the layout of the SDKs' debug string.
inline std::string format_debug(const std::vector<std::pair<std::string, std::string>>& attributes,
                                const std::vector<std::string>& env_vars) {
    std::vector<std::string> shown;
    for (const auto& [name, value] : attributes) {
        shown.push_back(name + "=" + value);
    }

    std::string out;
    if (!shown.empty()) {
        out = "Config: " + join(shown, ", ");
    }
    if (!env_vars.empty()) {
        out += out.empty() ? "" : ". ";
        out += "Env: " + join(env_vars, ", ");
    }
    return out;
}

} // namespace detail

// The outcome of `resolve_config`: one authentication method and everything it needs.
struct resolved_config {
    std::string host;      // normalised: scheme://host[:port]
    std::string auth_type; // "pat" or "oauth-m2m"

    // Only the chosen method's credentials are filled in.
    std::string token;
    std::string client_id;
    std::string client_secret;
    std::string username;
    std::string password;

    std::string account_id;
    std::string workspace_id;
    std::string discovery_url;
    std::vector<std::string> scopes = {"all-apis"}; // sorted, without duplicates

    std::string profile;     // profile read, "" when the file was not read
    std::string config_file; // path read, "" when not read

    // Names of the configuration environment variables that were set (values never kept here).
    std::vector<std::string> env_vars;

    // One line saying what was found and where; secrets show as ***, e.g.
    // "Config: host=https://x, client_id=abc, client_secret=***, auth_type=oauth-m2m.
    // Env: DATABRICKS_HOST, DATABRICKS_CLIENT_ID, DATABRICKS_CLIENT_SECRET".
    std::string describe() const {
        std::vector<std::pair<std::string, std::string>> shown;
        auto add = [&shown](const char* name, const std::string& value, bool secret) {
            if (!value.empty()) {
                shown.emplace_back(name, secret ? std::string(detail::masked_secret) : value);
            }
        };
        add("host", detail::redact_url(host), false);
        add("account_id", account_id, false);
        add("workspace_id", workspace_id, false);
        add("discovery_url", detail::redact_url(discovery_url), false);
        add("token", token, true);
        add("username", username, false);
        add("password", password, true);
        add("client_id", client_id, false);
        add("client_secret", client_secret, true);
        add("profile", profile, false);
        add("config_file", config_file, false);
        add("auth_type", auth_type, false);
        if (scopes != std::vector<std::string>{"all-apis"}) {
            add("scopes", detail::join(scopes, " "), false);
        }
        return detail::format_debug(shown, env_vars);
    }

    // Accounts console hosts, by the SDKs' (deprecated) prefix rule.
    bool is_account_host() const {
        const std::string_view text = host;
        return text.rfind("https://accounts.", 0) == 0 ||
               text.rfind("https://accounts-dod.", 0) == 0;
    }
};

namespace detail {

// Every attribute the resolution knows. The order is the order of the debug string and must match
// `attribute_table`.
enum class attr : std::size_t {
    host,
    account_id,
    workspace_id,
    discovery_url,
    token,
    username,
    password,
    client_id,
    client_secret,
    profile,
    config_file,
    auth_type,
    scopes,
    azure_workspace_resource_id,
    azure_use_msi,
    azure_client_id,
    azure_client_secret,
    azure_tenant_id,
    azure_login_app_id,
    google_service_account,
    google_credentials,
    metadata_service_url,
    oidc_token_env,
    oidc_token_filepath,
    count,
};

inline constexpr std::size_t attribute_count = static_cast<std::size_t>(attr::count);

enum class value_kind {
    text,
    secret, // shown as *** in every message
    flag,   // boolean: a false-looking value counts as unset
};

struct attribute_info {
    std::string_view name; // the config member and the profile key
    std::optional<std::string> config::*member;
    std::string_view auth_group; // "" for attributes that are not credentials
    value_kind kind;
    std::array<const char*, 2> env; // environment variables, first match wins; nullptr = none
    std::string_view file_alias;    // a second profile key, "" for none

    constexpr attribute_info with_env_alias(const char* alias) const {
        attribute_info copy = *this;
        copy.env[1] = alias;
        return copy;
    }

    constexpr attribute_info with_file_alias(std::string_view alias) const {
        attribute_info copy = *this;
        copy.file_alias = alias;
        return copy;
    }
};

constexpr attribute_info setting(std::string_view name, std::optional<std::string> config::*member,
                                 const char* env) {
    return {name, member, "", value_kind::text, {env, nullptr}, ""};
}

constexpr attribute_info credential(std::string_view name,
                                    std::optional<std::string> config::*member, const char* env,
                                    std::string_view group, value_kind kind = value_kind::text) {
    return {name, member, group, kind, {env, nullptr}, ""};
}

// Names, variables and groups from PY databricks/sdk/config.py and GO config/config.go. Where they
// differ, both spellings are read.
inline constexpr std::array<attribute_info, attribute_count> attribute_table = {
    setting("host", &config::host, "DATABRICKS_HOST"),
    setting("account_id", &config::account_id, "DATABRICKS_ACCOUNT_ID"),
    setting("workspace_id", &config::workspace_id, "DATABRICKS_WORKSPACE_ID"),
    setting("discovery_url", &config::discovery_url, "DATABRICKS_DISCOVERY_URL"),
    credential("token", &config::token, "DATABRICKS_TOKEN", "pat", value_kind::secret),
    credential("username", &config::username, "DATABRICKS_USERNAME", "basic"),
    credential("password", &config::password, "DATABRICKS_PASSWORD", "basic", value_kind::secret),
    credential("client_id", &config::client_id, "DATABRICKS_CLIENT_ID", "oauth"),
    credential("client_secret", &config::client_secret, "DATABRICKS_CLIENT_SECRET", "oauth",
               value_kind::secret),
    setting("profile", &config::profile, "DATABRICKS_CONFIG_PROFILE"),
    setting("config_file", &config::config_file, "DATABRICKS_CONFIG_FILE"),
    setting("auth_type", &config::auth_type, "DATABRICKS_AUTH_TYPE"),
    setting("scopes", &config::scopes, nullptr),
    credential("azure_workspace_resource_id", &config::azure_workspace_resource_id,
               "DATABRICKS_AZURE_RESOURCE_ID", "azure"),
    credential("azure_use_msi", &config::azure_use_msi, "ARM_USE_MSI", "azure", value_kind::flag),
    credential("azure_client_id", &config::azure_client_id, "ARM_CLIENT_ID", "azure"),
    credential("azure_client_secret", &config::azure_client_secret, "ARM_CLIENT_SECRET", "azure",
               value_kind::secret),
    credential("azure_tenant_id", &config::azure_tenant_id, "ARM_TENANT_ID", "azure"),
    credential("azure_login_app_id", &config::azure_login_app_id, "DATABRICKS_AZURE_LOGIN_APP_ID",
               "azure"),
    credential("google_service_account", &config::google_service_account,
               "DATABRICKS_GOOGLE_SERVICE_ACCOUNT", "google"),
    credential("google_credentials", &config::google_credentials, "GOOGLE_CREDENTIALS", "google",
               value_kind::secret),
    credential("metadata_service_url", &config::metadata_service_url,
               "DATABRICKS_METADATA_SERVICE_URL", "metadata-service", value_kind::secret),
    credential("oidc_token_env", &config::oidc_token_env, "DATABRICKS_OIDC_TOKEN_ENV", "env-oidc"),
    credential("oidc_token_filepath", &config::oidc_token_filepath,
               "DATABRICKS_OIDC_TOKEN_FILEPATH", "file-oidc")
        .with_env_alias("DATABRICKS_OIDC_TOKEN_FILE")
        .with_file_alias("databricks_id_token_filepath"),
};

static_assert(attribute_table[static_cast<std::size_t>(attr::scopes)].name == "scopes" &&
                  attribute_table[attribute_count - 1].name == "oidc_token_filepath",
              "attribute_table must list one entry per attr, in order");

inline constexpr const attribute_info& info(attr a) {
    return attribute_table[static_cast<std::size_t>(a)];
}

// The attribute values found so far; "" means not set.
struct attribute_values {
    std::array<std::string, attribute_count> items;

    std::string& operator[](attr a) { return items[static_cast<std::size_t>(a)]; }
    const std::string& operator[](attr a) const { return items[static_cast<std::size_t>(a)]; }
};

inline constexpr std::array<attr, 2> pat_attributes = {attr::host, attr::token};
inline constexpr std::array<attr, 3> m2m_attributes = {attr::host, attr::client_id,
                                                       attr::client_secret};

// Go's strconv.ParseBool spellings of false.
inline bool is_false_flag(std::string_view value) {
    return value == "0" || value == "f" || value == "F" || value == "false" || value == "FALSE" ||
           value == "False";
}

inline bool counts_as_set(const attribute_info& attribute, std::string_view value) {
    return !value.empty() && !(attribute.kind == value_kind::flag && is_false_flag(value));
}

// Names of the SDKs' credential strategies (PY credentials_provider.py, GO auth_default.go) that
// dbxserve does not implement, so that asking for one gets "not supported" instead of "unknown".
inline bool is_sdk_auth_type(std::string_view name) {
    constexpr std::array<std::string_view, 17> names = {
        "basic",
        "metadata-service",
        "env-oidc",
        "file-oidc",
        "github-oidc",
        "azure-client-secret",
        "github-oidc-azure",
        "azure-cli",
        "azure-msi",
        "azure-devops-oidc",
        "external-browser",
        "databricks-cli",
        "runtime-oauth",
        "runtime",
        "google-credentials",
        "google-id",
        "model-serving",
    };
    return std::find(names.begin(), names.end(), name) != names.end();
}

inline constexpr std::string_view supported_auth_types = "pat, oauth-m2m";

// The state of one resolution, passed from step to step.
struct resolution {
    attribute_values values;
    std::vector<std::string> env_vars; // configuration variables that were set, in table order
    std::string profile;               // profile read from the file
    std::string config_file;           // path of the file read
    std::string file_note;             // what happened with the file, for "nothing usable"

    std::string debug_string() const {
        std::vector<std::pair<std::string, std::string>> shown;
        for (std::size_t i = 0; i < attribute_count; ++i) {
            if (values.items[i].empty()) {
                continue;
            }
            const auto a = static_cast<attr>(i);
            std::string value = values.items[i];
            if (attribute_table[i].kind == value_kind::secret) {
                value = masked_secret;
            } else if (a == attr::host || a == attr::discovery_url) {
                value = redact_url(value);
            }
            shown.emplace_back(attribute_table[i].name, std::move(value));
        }
        return format_debug(shown, env_vars);
    }

    // A config error whose message ends with what was found, like the SDKs' wrapDebug.
    error fail(std::string message) const {
        const std::string debug = debug_string();
        if (!debug.empty()) {
            while (!message.empty() && message.back() == '.') {
                message.pop_back();
            }
            message += ". " + debug;
        }
        return make_error(error_kind::config, std::move(message));
    }

    bool any_credential_set() const {
        for (std::size_t i = 0; i < attribute_count; ++i) {
            if (!attribute_table[i].auth_group.empty() && !values.items[i].empty()) {
                return true;
            }
        }
        return false;
    }
};

inline void load_explicit(const config& explicit_values, resolution& state) {
    for (std::size_t i = 0; i < attribute_count; ++i) {
        const auto& attribute = attribute_table[i];
        const auto& value = explicit_values.*(attribute.member);
        if (value && counts_as_set(attribute, *value)) {
            state.values.items[i] = *value;
        }
    }
}

// Every set variable is listed (PY debug_string), even when an explicit value hides it.
inline void load_environment(const environment& env, resolution& state) {
    for (std::size_t i = 0; i < attribute_count; ++i) {
        const auto& attribute = attribute_table[i];
        for (const char* name : attribute.env) {
            if (name == nullptr) {
                continue;
            }
            const auto value = env.get(name);
            if (!value) {
                continue;
            }
            state.env_vars.emplace_back(name);
            if (state.values.items[i].empty() && counts_as_set(attribute, *value)) {
                state.values.items[i] = *value;
            }
        }
    }
}

// "~" and "~/..." become the home directory (HOME, or USERPROFILE on Windows); nothing when the
// home directory is unknown.
inline std::optional<std::string> expand_home(const std::string& path, const environment& env) {
    if (path.empty() || path.front() != '~') {
        return path;
    }
    if (path.size() > 1 && path[1] != '/' && path[1] != '\\') {
        return path;
    }

    auto home = env.get("HOME");
    if (!home) {
        home = env.get("USERPROFILE");
    }
    if (!home) {
        return std::nullopt;
    }
    return *home + path.substr(1);
}

inline result<ini_document> read_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return make_error(error_kind::config, "cannot open config file " + path);
    }

    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (in.bad()) {
        return make_error(error_kind::config, "cannot read config file " + path);
    }

    auto document = parse_ini(text);
    if (!document) {
        return make_error(error_kind::config,
                          "cannot parse config file " + path + ": " + document.error().message);
    }
    return document;
}

// Picks the profile the way PY `_known_file_config_loader` does: the named one, else
// [__settings__] default_profile, else a non-empty [DEFAULT]. Returns "" for "read nothing".
inline std::string choose_profile(const ini_document& document, const std::string& named) {
    if (!named.empty()) {
        return named;
    }

    if (const auto* settings = document.section("__settings__")) {
        const auto found = settings->find("default_profile");
        if (found != settings->end()) {
            const std::string chosen(trim_ini_space(found->second));
            if (!chosen.empty()) {
                return chosen;
            }
        }
    }

    const auto* fallback = document.section("DEFAULT");
    return fallback != nullptr && !fallback->empty() ? "DEFAULT" : "";
}

// Fills the attributes still unset from the chosen profile. A missing file is not an error, not
// even with a named profile or file (PY and GO both only log it).
inline result<void> load_profile(const environment& env, resolution& state) {
    // The SDKs also name azure_workspace_resource_id here; it is a credential attribute anyway.
    auto& values = state.values;
    if (values[attr::profile].empty() &&
        (state.any_credential_set() || !values[attr::host].empty())) {
        state.file_note = "config file not read (host or credentials were set and no profile was "
                          "named)";
        return {};
    }

    const std::string configured =
        values[attr::config_file].empty() ? "~/.databrickscfg" : values[attr::config_file];
    const auto path = expand_home(configured, env);
    if (!path) {
        state.file_note = "config file " + configured + " not read (HOME is not set)";
        return {};
    }

    std::error_code code;
    const auto type = std::filesystem::status(*path, code).type();
    if (type == std::filesystem::file_type::not_found) {
        state.file_note = "config file " + *path + " not found";
        return {};
    }
    if (type == std::filesystem::file_type::directory) {
        return state.fail("resolve: config file " + *path + " is a directory");
    }

    auto document = read_config_file(*path);
    if (!document) {
        return state.fail("resolve: " + document.error().message);
    }

    const std::string profile = choose_profile(*document, values[attr::profile]);
    if (profile.empty()) {
        state.file_note = "config file " + *path + " has no DEFAULT profile";
        return {};
    }

    // [__settings__] holds CLI settings, not credentials, and an empty DEFAULT is no profile
    // (PY reads DEFAULT through configparser's defaults()).
    const auto* section = profile == "__settings__" ? nullptr : document->section(profile);
    if (section == nullptr || (profile == "DEFAULT" && section->empty())) {
        return state.fail("resolve: " + *path + " has no " + profile + " profile configured");
    }

    // No merging with DEFAULT, and the file cannot redirect itself to another profile or file.
    for (std::size_t i = 0; i < attribute_count; ++i) {
        const auto& attribute = attribute_table[i];
        const auto a = static_cast<attr>(i);
        if (!values.items[i].empty() || a == attr::profile || a == attr::config_file) {
            continue;
        }
        auto found = section->find(std::string(attribute.name));
        if (found == section->end() && !attribute.file_alias.empty()) {
            found = section->find(std::string(attribute.file_alias));
        }
        if (found != section->end() && counts_as_set(attribute, found->second)) {
            values.items[i] = found->second;
        }
    }

    state.profile = profile;
    state.config_file = *path;
    state.file_note = "profile " + profile + " of config file " + *path;
    return {};
}

// A host reduced to scheme://host[:port], with the workspace and account ids found in its query.
struct host_parts {
    std::string host;
    std::string workspace_id;
    std::string account_id;
};

// GO fixHostIfNeeded: add https:// when no scheme is given, keep only scheme and authority, and
// take ?o= / ?workspace_id= (numeric), ?w=, ?a= / ?account_id= from URLs pasted from the UI.
inline result<host_parts> split_host(std::string_view raw) {
    const std::string_view trimmed = trim_ini_space(raw);
    if (trimmed.empty()) {
        return make_error(error_kind::config, "host is empty");
    }
    const std::string text = trimmed.find("://") == std::string_view::npos
                                 ? "https://" + std::string(trimmed)
                                 : std::string(trimmed);

    auto url = parse_url(text);
    if (!url) {
        return make_error(error_kind::config,
                          "invalid host " + redact_url(text) + ": " + url.error().message);
    }
    if (url->scheme != "https" && url->scheme != "http") {
        return make_error(error_kind::config, "invalid host " + redact_url(text) +
                                                  ": the scheme must be https (or http), not " +
                                                  url->scheme);
    }

    host_parts parts;
    parts.host = format_origin(*url);
    for (const char* name : {"o", "workspace_id", "w"}) {
        const auto value = query_parameter(url->path_and_query, name);
        const bool any_format = std::string_view(name) == "w";
        if (value && !value->empty() && (any_format || is_all_digits(*value))) {
            parts.workspace_id = *value;
            break;
        }
    }
    for (const char* name : {"a", "account_id"}) {
        const auto value = query_parameter(url->path_and_query, name);
        if (value && !value->empty()) {
            parts.account_id = *value;
            break;
        }
    }
    return parts;
}

inline result<void> fix_host(resolution& state) {
    auto& values = state.values;
    if (values[attr::host].empty()) {
        return {};
    }

    auto parts = split_host(values[attr::host]);
    if (!parts) {
        return state.fail(parts.error().message);
    }
    values[attr::host] = parts->host;
    if (values[attr::workspace_id].empty()) {
        values[attr::workspace_id] = parts->workspace_id;
    }
    if (values[attr::account_id].empty()) {
        values[attr::account_id] = parts->account_id;
    }
    return {};
}

// The auth groups ("pat", "oauth", "azure", ...) that have an attribute set, sorted.
inline std::set<std::string> auth_groups_set(const attribute_values& values) {
    std::set<std::string> groups;
    for (std::size_t i = 0; i < attribute_count; ++i) {
        if (!attribute_table[i].auth_group.empty() && !values.items[i].empty()) {
            groups.emplace(attribute_table[i].auth_group);
        }
    }
    return groups;
}

// PY `_validate` / GO `Validate`: credentials of two kinds and no auth_type is an error.
inline result<void> check_single_auth_group(const resolution& state) {
    const auto groups = auth_groups_set(state.values);
    if (groups.size() <= 1 || !state.values[attr::auth_type].empty()) {
        return {};
    }

    const std::vector<std::string> names(groups.begin(), groups.end());
    return state.fail("validate: more than one authorization method configured: " +
                      join(names, " and "));
}

template <std::size_t N>
std::vector<std::string> missing_attributes(const attribute_values& values,
                                            const std::array<attr, N>& needed) {
    std::vector<std::string> missing;
    for (attr a : needed) {
        if (values[a].empty()) {
            missing.emplace_back(info(a).name);
        }
    }
    return missing;
}

inline result<std::string> check_forced_auth_type(const resolution& state) {
    const std::string& forced = state.values[attr::auth_type];
    std::vector<std::string> missing;
    std::string needs;
    if (forced == "pat") {
        missing = missing_attributes(state.values, pat_attributes);
        needs = "host and token";
    } else if (forced == "oauth-m2m") {
        missing = missing_attributes(state.values, m2m_attributes);
        needs = "host, client_id and client_secret";
    } else if (is_sdk_auth_type(forced)) {
        return state.fail("default auth: auth_type " + forced + " is not supported by dbxserve; " +
                          "supported: " + std::string(supported_auth_types));
    } else {
        return state.fail("default auth: unknown auth_type " + forced +
                          "; supported: " + std::string(supported_auth_types));
    }

    if (!missing.empty()) {
        return state.fail("default auth: auth_type " + forced + " needs " + needs +
                          "; not set: " + join(missing, ", "));
    }
    return forced;
}

// What the "cannot configure" error adds to the SDK sentence: what is missing and what was read.
inline std::string explain_no_credentials(const resolution& state) {
    const auto& values = state.values;
    std::string hint = "dbxserve supports pat (host and token) and oauth-m2m (host, client_id "
                       "and client_secret)";
    std::vector<std::string> missing;
    if (!values[attr::token].empty()) {
        missing = missing_attributes(values, pat_attributes);
    } else if (!values[attr::client_id].empty() || !values[attr::client_secret].empty()) {
        missing = missing_attributes(values, m2m_attributes);
    }

    auto other_groups = auth_groups_set(values);
    other_groups.erase("pat");
    other_groups.erase("oauth");

    if (!missing.empty()) {
        hint += "; not set: " + join(missing, ", ");
    } else if (!other_groups.empty()) {
        const std::vector<std::string> names(other_groups.begin(), other_groups.end());
        hint += "; found only " + join(names, " and ") + " credentials, which it cannot use";
    }
    return hint + ". Checked: explicit config; environment variables (DATABRICKS_HOST, " +
           "DATABRICKS_TOKEN, DATABRICKS_CLIENT_ID, DATABRICKS_CLIENT_SECRET, ...); " +
           state.file_note;
}

// The first method of the SDKs' default chain that dbxserve implements and that has everything it
// needs; with auth_type set, only that one.
inline result<std::string> choose_auth_type(const resolution& state) {
    if (!state.values[attr::auth_type].empty()) {
        return check_forced_auth_type(state);
    }
    if (missing_attributes(state.values, pat_attributes).empty()) {
        return std::string("pat");
    }
    if (missing_attributes(state.values, m2m_attributes).empty()) {
        return std::string("oauth-m2m");
    }
    return state.fail("default auth: cannot configure default credentials, please check "
                      "https://docs.databricks.com/en/dev-tools/auth.html"
                      "#databricks-client-unified-authentication to configure credentials for "
                      "your preferred authentication method. " +
                      explain_no_credentials(state));
}

// PY _parse_scopes: split on commas and spaces, sort, drop duplicates; empty means the default.
inline std::vector<std::string> parse_scopes(std::string_view text) {
    std::vector<std::string> scopes;
    while (!text.empty()) {
        const std::size_t start = text.find_first_not_of(", ");
        if (start == std::string_view::npos) {
            break;
        }
        text.remove_prefix(start);
        const std::size_t stop = text.find_first_of(", ");
        scopes.emplace_back(text.substr(0, stop));
        text = stop == std::string_view::npos ? std::string_view() : text.substr(stop);
    }

    std::sort(scopes.begin(), scopes.end());
    scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
    if (scopes.empty()) {
        scopes.emplace_back("all-apis");
    }
    return scopes;
}

inline resolved_config make_resolved(resolution& state, std::string auth_type) {
    auto& values = state.values;
    resolved_config out;
    out.host = std::move(values[attr::host]);
    if (auth_type == "pat") {
        out.token = std::move(values[attr::token]);
    } else {
        out.client_id = std::move(values[attr::client_id]);
        out.client_secret = std::move(values[attr::client_secret]);
    }
    out.auth_type = std::move(auth_type);
    out.account_id = std::move(values[attr::account_id]);
    out.workspace_id = std::move(values[attr::workspace_id]);
    out.discovery_url = std::move(values[attr::discovery_url]);
    out.scopes = parse_scopes(values[attr::scopes]);
    out.profile = std::move(state.profile);
    out.config_file = std::move(state.config_file);
    out.env_vars = std::move(state.env_vars);
    return out;
}

} // namespace detail

// Resolves host and credentials like the Databricks SDKs' unified authentication:
// explicit values, then environment variables, then a ~/.databrickscfg profile; a later source
// never overrides an earlier one. Every failure is an error_kind::config error whose message says
// what was found, with secrets shown as ***.
//
//     dbxserve::config wanted;
//     wanted.profile = "prod";
//     auto cfg = dbxserve::resolve_config(wanted);
//     if (!cfg) { std::cerr << cfg.error().to_string() << "\n"; return 1; }
[[nodiscard]] inline result<resolved_config>
resolve_config(const config& explicit_values = {},
               const environment& env = environment::process()) {
    detail::resolution state;
    detail::load_explicit(explicit_values, state);
    detail::load_environment(env, state);

    auto loaded = detail::load_profile(env, state);
    if (!loaded) {
        return loaded.error();
    }

    auto fixed = detail::fix_host(state);
    if (!fixed) {
        return fixed.error();
    }

    auto single = detail::check_single_auth_group(state);
    if (!single) {
        return single.error();
    }

    auto auth_type = detail::choose_auth_type(state);
    if (!auth_type) {
        return auth_type.error();
    }
    return detail::make_resolved(state, std::move(*auth_type));
}

// "dbc-1.cloud.databricks.com/?o=1" -> "https://dbc-1.cloud.databricks.com": https:// added when
// no scheme is given; only scheme, host and a non-default port kept; scheme and host lower-cased.
[[nodiscard]] inline result<std::string> normalize_host(std::string_view host) {
    auto parts = detail::split_host(host);
    if (!parts) {
        return parts.error();
    }
    return std::move(parts->host);
}

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/config.hpp
// ---- begin dbxserve/auth/oauth_m2m.hpp

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>


// ---- begin dbxserve/call.hpp


// ---- begin dbxserve/cancellation.hpp


namespace dbxserve {
inline namespace v0 {
namespace detail {

// The state one cancellation_source shares with its tokens and registrations.
class cancellation_state {
public:
    bool cancelled() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return cancelled_;
    }

    // Runs every registered callback on the calling thread, each outside the lock, so a callback
    // may register, unregister or cancel again without deadlocking.
    void cancel() {
        std::unique_lock<std::mutex> lock(mutex_);
        if (cancelled_) {
            return;
        }
        cancelled_ = true;
        changed_.notify_all();

        running_thread_ = std::this_thread::get_id();
        while (!callbacks_.empty()) {
            entry next = std::move(callbacks_.front());
            callbacks_.erase(callbacks_.begin());
            running_ = next.id;
            lock.unlock();

            next.callback();

            lock.lock();
            running_ = 0;
            changed_.notify_all();
        }
        running_thread_ = std::thread::id();
    }

    // Returns 0 when the callback already ran because the state was cancelled.
    std::uint64_t add(std::function<void()> callback) {
        std::unique_lock<std::mutex> lock(mutex_);
        if (cancelled_) {
            lock.unlock();
            callback();
            return 0;
        }
        const std::uint64_t id = ++last_id_;
        callbacks_.push_back(entry{id, std::move(callback)});
        return id;
    }

    // Waiting for a callback that runs on another thread lets the caller free what it captured;
    // a callback that unregisters itself must not wait for its own return.
    void remove(std::uint64_t id) {
        std::unique_lock<std::mutex> lock(mutex_);
        for (auto it = callbacks_.begin(); it != callbacks_.end(); ++it) {
            if (it->id == id) {
                callbacks_.erase(it);
                return;
            }
        }
        if (running_thread_ == std::this_thread::get_id()) {
            return;
        }
        changed_.wait(lock, [&] { return running_ != id; });
    }

    bool wait_until(std::chrono::steady_clock::time_point until) const {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_until(lock, until, [&] { return cancelled_; });
    }

private:
    struct entry {
        std::uint64_t id;
        std::function<void()> callback;
    };

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    bool cancelled_ = false;
    std::vector<entry> callbacks_;
    std::uint64_t last_id_ = 0;
    std::uint64_t running_ = 0;
    std::thread::id running_thread_;
};

// Longer waits are cut to this, so that adding them to now() cannot overflow the clock.
constexpr std::chrono::hours longest_wait{24 * 365};

} // namespace detail

// Keeps a callback registered with a cancellation_token; destroying it (or calling `reset`)
// unregisters the callback, waiting first if the callback is running on another thread right now.
// Move-only.
class cancellation_registration {
public:
    cancellation_registration() = default;
    cancellation_registration(std::shared_ptr<detail::cancellation_state> state, std::uint64_t id)
        : state_(std::move(state)), id_(id) {}

    cancellation_registration(cancellation_registration&& other) noexcept
        : state_(std::move(other.state_)), id_(std::exchange(other.id_, 0)) {}

    cancellation_registration& operator=(cancellation_registration&& other) noexcept {
        if (this != &other) {
            reset();
            state_ = std::move(other.state_);
            id_ = std::exchange(other.id_, 0);
        }
        return *this;
    }

    cancellation_registration(const cancellation_registration&) = delete;
    cancellation_registration& operator=(const cancellation_registration&) = delete;

    ~cancellation_registration() { reset(); }

    // After this returns the callback is not running (unless on this very thread) and never will.
    void reset() {
        if (state_ && id_ != 0) {
            state_->remove(id_);
        }
        state_.reset();
        id_ = 0;
    }

private:
    std::shared_ptr<detail::cancellation_state> state_;
    std::uint64_t id_ = 0;
};

// Observes whether a call was cancelled. Cheap to copy; a default-constructed token is never
// cancelled. Safe to use from many threads.
//
//     dbxserve::cancellation_source source;
//     auto token = source.token();
//     auto abort_read = token.on_cancel([&] { socket.close(); });
//     if (token.wait_for(std::chrono::seconds(2))) { /* cancelled during the sleep */ }
class cancellation_token {
public:
    cancellation_token() = default;
    explicit cancellation_token(std::shared_ptr<detail::cancellation_state> state)
        : state_(std::move(state)) {}

    bool cancelled() const { return state_ && state_->cancelled(); }

    // Whether this token can ever become cancelled.
    bool can_be_cancelled() const { return state_ != nullptr; }

    // Sleeps for `duration`, waking as soon as the token is cancelled. Returns true when
    // cancelled, so a backoff sleep ends within milliseconds of a cancel.
    template <class Rep, class Period>
    bool wait_for(std::chrono::duration<Rep, Period> duration) const {
        if (duration <= duration.zero()) {
            return cancelled();
        }
        const auto wait = duration < detail::longest_wait
                              ? std::chrono::ceil<std::chrono::steady_clock::duration>(duration)
                              : std::chrono::steady_clock::duration(detail::longest_wait);
        const auto until = std::chrono::steady_clock::now() + wait;
        if (!state_) {
            std::this_thread::sleep_until(until);
            return false;
        }
        return state_->wait_until(until);
    }

    // Runs `callback` once when the token is cancelled, on the cancelling thread, or right now
    // on this thread if it already is. Keep the returned registration alive for as long as the
    // callback may run: its destructor unregisters and waits for a running callback to return.
    //
    //     auto registration = token.on_cancel([&] { connection.abort(); });
    [[nodiscard]] cancellation_registration on_cancel(std::function<void()> callback) const {
        if (!state_) {
            return {};
        }
        const std::uint64_t id = state_->add(std::move(callback));
        if (id == 0) {
            return {};
        }
        return cancellation_registration(state_, id);
    }

private:
    std::shared_ptr<detail::cancellation_state> state_;
};

// Cancels the tokens it hands out. Copies share one state, so any copy can cancel.
//
//     dbxserve::cancellation_source source;
//     std::thread worker([token = source.token()] { run_call(token); });
//     source.cancel();  // the call returns error_kind::cancelled promptly
class cancellation_source {
public:
    cancellation_source() : state_(std::make_shared<detail::cancellation_state>()) {}

    cancellation_token token() const { return cancellation_token(state_); }

    // Idempotent. Runs the registered callbacks on this thread before returning.
    void cancel() { state_->cancel(); }

    bool cancelled() const { return state_->cancelled(); }

private:
    std::shared_ptr<detail::cancellation_state> state_;
};

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/cancellation.hpp
// ---- begin dbxserve/deadline.hpp


namespace dbxserve {
inline namespace v0 {

// A point on the monotonic clock by which a call must return, or none. Wall-clock changes do not
// move it.
//
//     auto dl = dbxserve::deadline::after(std::chrono::seconds(30));
//     while (!dl.expired()) { token.wait_for(std::min(dl.remaining(), step)); }
class deadline {
public:
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;

    // What `remaining()` reports for no deadline: far away, yet small enough to add to now().
    static constexpr std::chrono::milliseconds unbounded{std::chrono::hours(24 * 365 * 10)};

    deadline() = default;

    static deadline none() { return deadline(); }

    // A duration of `unbounded` or more means no deadline.
    template <class Rep, class Period>
    static deadline after(std::chrono::duration<Rep, Period> duration) {
        if (duration >= unbounded) {
            return none();
        }
        return at(clock::now() + std::chrono::ceil<clock::duration>(duration));
    }

    static deadline at(time_point when) {
        deadline d;
        d.when_ = when;
        d.none_ = false;
        return d;
    }

    bool is_none() const { return none_; }

    bool expired() const { return !none_ && clock::now() >= when_; }

    // Rounded up, so it is zero exactly when the deadline has expired; `unbounded` for none.
    std::chrono::milliseconds remaining() const {
        if (none_) {
            return unbounded;
        }
        const auto left = when_ - clock::now();
        if (left <= clock::duration::zero()) {
            return std::chrono::milliseconds(0);
        }
        const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left);
        return ms < unbounded ? ms : unbounded;
    }

    // The time point; meaningless (time_point::max()) for none.
    time_point when() const { return none_ ? time_point::max() : when_; }

    // The sooner of two deadlines, e.g. a call's own deadline and a retry budget.
    deadline earlier_of(const deadline& other) const {
        if (none_) {
            return other;
        }
        if (other.none_) {
            return *this;
        }
        return when_ <= other.when_ ? *this : other;
    }

private:
    time_point when_{};
    bool none_ = true;
};

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/deadline.hpp

namespace dbxserve {
inline namespace v0 {

// Per-call settings, the optional last argument of every query, stream and invoke.
//
//     dbxserve::cancellation_source stop;
//     dbxserve::call_options call;
//     call.cancel = stop.token();
//     call.timeout = std::chrono::seconds(30);
//     auto pending = client.query_async("chat", request, call);
//     ...  stop.cancel();  // the call returns error_kind::cancelled within ~100 ms
struct call_options {
    // Cancelling stops the call wherever it is: waiting for a token, sending, reading a stream,
    // or sleeping before a retry. The call then returns an error of kind `cancelled`.
    cancellation_token cancel;

    // Overall deadline for the call, covering token fetches, every attempt and the waits between
    // them. When it passes the call returns an error of kind `timeout`. Unset: the client's
    // `client_options::call_timeout`.
    std::optional<std::chrono::milliseconds> timeout;
};

// What a token policy learns about the call it serves: wait no longer than `until`, and give up
// when `cancel` fires.
struct call_context {
    deadline until = deadline::none();
    cancellation_token cancel;
};

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/call.hpp
// ---- begin dbxserve/detail/base64.hpp


namespace dbxserve {
inline namespace v0 {
namespace detail {

// Standard alphabet with padding, as HTTP Basic authentication needs (RFC 7617).
inline std::string base64_encode(std::string_view input) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((input.size() + 2) / 3 * 4);

    std::size_t i = 0;
    for (; i + 2 < input.size(); i += 3) {
        const std::uint32_t triple = (std::uint32_t(std::uint8_t(input[i])) << 16) |
                                     (std::uint32_t(std::uint8_t(input[i + 1])) << 8) |
                                     std::uint32_t(std::uint8_t(input[i + 2]));
        out += alphabet[(triple >> 18) & 63];
        out += alphabet[(triple >> 12) & 63];
        out += alphabet[(triple >> 6) & 63];
        out += alphabet[triple & 63];
    }

    const std::size_t rest = input.size() - i;
    if (rest == 1) {
        const std::uint32_t single = std::uint32_t(std::uint8_t(input[i])) << 16;
        out += alphabet[(single >> 18) & 63];
        out += alphabet[(single >> 12) & 63];
        out += "==";
    } else if (rest == 2) {
        const std::uint32_t pair = (std::uint32_t(std::uint8_t(input[i])) << 16) |
                                   (std::uint32_t(std::uint8_t(input[i + 1])) << 8);
        out += alphabet[(pair >> 18) & 63];
        out += alphabet[(pair >> 12) & 63];
        out += alphabet[(pair >> 6) & 63];
        out += '=';
    }
    return out;
}

} // namespace detail
} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/detail/base64.hpp
// ---- begin dbxserve/detail/http_error.hpp



// ---- begin dbxserve/transport.hpp



namespace dbxserve {
inline namespace v0 {

// Header names compare case-insensitively; order and duplicates are kept as received.
class header_list {
public:
    using value_type = std::pair<std::string, std::string>;

    header_list() = default;
    header_list(std::initializer_list<value_type> items) : items_(items) {}

    void add(std::string name, std::string value) {
        items_.emplace_back(std::move(name), std::move(value));
    }

    // Replaces every header of that name with one value.
    void set(const std::string& name, std::string value) {
        erase(name);
        add(name, std::move(value));
    }

    void erase(std::string_view name) {
        items_.erase(
            std::remove_if(items_.begin(), items_.end(),
                           [&](const value_type& item) { return equal(item.first, name); }),
            items_.end());
    }

    // The first value of that header, or "" when absent.
    std::string get(std::string_view name) const {
        for (const auto& item : items_) {
            if (equal(item.first, name)) {
                return item.second;
            }
        }
        return {};
    }

    bool contains(std::string_view name) const {
        return std::any_of(items_.begin(), items_.end(),
                           [&](const value_type& item) { return equal(item.first, name); });
    }

    auto begin() const { return items_.begin(); }
    auto end() const { return items_.end(); }
    std::size_t size() const { return items_.size(); }
    bool empty() const { return items_.empty(); }

    static bool equal(std::string_view a, std::string_view b) {
        return a.size() == b.size() &&
               std::equal(a.begin(), a.end(), b.begin(),
                          [](char x, char y) { return lower(x) == lower(y); });
    }

private:
    static char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

    std::vector<value_type> items_;
};

// One HTTP request as the client hands it to a transport. The URL is absolute
// (`https://host[:port]/path?query`); the transport must not follow redirects, so that a bearer
// token never travels to a host the caller did not configure.
struct http_request {
    std::string method = "GET";
    std::string url;
    header_list headers;
    std::string body;

    std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};

    // Longest silence allowed while waiting for response bytes. Serving runs a request for up to
    // 297 s, so invocations use 300 s; token and discovery calls use much less.
    std::chrono::milliseconds read_timeout{std::chrono::seconds(300)};

    // When this is cancelled the transport abandons the exchange as soon as it can (closing the
    // connection) and returns an error of kind `cancelled`. The client cancels it on the caller's
    // request and at the call's deadline.
    cancellation_token cancel;
};

struct http_response {
    int status = 0;
    header_list headers;

    // The whole body, unless the request was sent with a `response_sink` that consumed it.
    std::string body;
};

// Receives a response incrementally. `on_head` sees the status and headers before any body byte;
// `on_data` then sees the body in pieces of arbitrary size, exactly as they arrive. Either returns
// false to stop: the transport then abandons the exchange (closing the connection) and returns an
// error of kind `cancelled`.
struct response_sink {
    std::function<bool(int status, const header_list& headers)> on_head;
    std::function<bool(std::string_view chunk)> on_data;
};

// The transport concept. A transport is any type with
//
//     result<http_response> send(const http_request& request);
//     result<http_response> send(const http_request& request, const response_sink& sink);
//
// that is safe to call from many threads at once. The first form buffers the body; the second
// streams it to `sink` (the returned response then has an empty body). A transport should honour
// `request.cancel` (one that cannot still works, bounded by its timeouts). Failures are reported as
// `error` values: kind `timeout` for connect/read timeouts, `transport` for everything else that
// prevented a complete HTTP exchange, with `request_may_have_been_sent` set when the request
// could have reached the server. Non-2xx replies are not errors at this level.
//
// `dbxserve/transport/httplib_transport.hpp` is the default implementation; `any_transport` below
// wraps any transport behind a virtual interface for code that picks one at run time.
class transport_interface {
public:
    virtual ~transport_interface() = default;
    virtual result<http_response> send(const http_request& request) = 0;
    virtual result<http_response> send(const http_request& request, const response_sink& sink) = 0;
};

// A copyable handle that type-erases a transport. Use it when an engine's own HTTP stack is chosen
// at run time, or to keep the client type independent of the transport type.
class any_transport {
public:
    template <class Transport>
    explicit any_transport(Transport transport)
        : impl_(std::make_shared<model<Transport>>(std::move(transport))) {}

    explicit any_transport(std::shared_ptr<transport_interface> impl) : impl_(std::move(impl)) {}

    result<http_response> send(const http_request& request) const { return impl_->send(request); }
    result<http_response> send(const http_request& request, const response_sink& sink) const {
        return impl_->send(request, sink);
    }

private:
    template <class Transport>
    struct model final : transport_interface {
        explicit model(Transport t) : transport(std::move(t)) {}
        result<http_response> send(const http_request& request) override {
            return transport.send(request);
        }
        result<http_response> send(const http_request& request,
                                   const response_sink& sink) override {
            return transport.send(request, sink);
        }
        Transport transport;
    };

    std::shared_ptr<transport_interface> impl_;
};

// The form in which token policies reach the network: the client binds its own transport into it.
using http_sender = std::function<result<http_response>(const http_request&)>;

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/transport.hpp
// ---- begin dbxserve/detail/text.hpp


namespace dbxserve {
inline namespace v0 {
namespace detail {

// Bodies can be large HTML pages or binary; an error message keeps only a printable start of
// them, cut on a UTF-8 character boundary.
inline std::string excerpt(std::string_view text, std::size_t limit = 200) {
    bool cut = text.size() > limit;
    if (cut) {
        std::size_t end = limit;
        while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
            --end;
        }
        text = text.substr(0, end);
    }
    std::string out(text);
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
            c = ' ';
        }
    }
    if (cut) {
        out += "...";
    }
    return out;
}

inline std::string trim_copy(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = text.find_last_not_of(" \t\r\n");
    return std::string(text.substr(first, last - first + 1));
}

} // namespace detail
} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/detail/text.hpp

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
// ---- end dbxserve/detail/http_error.hpp
// ---- begin dbxserve/detail/oidc_discovery.hpp



// ---- begin dbxserve/events.hpp


namespace dbxserve {
inline namespace v0 {

enum class event_level { debug, info, warning, error };

constexpr const char* to_string(event_level level) noexcept {
    switch (level) {
    case event_level::debug:
        return "debug";
    case event_level::info:
        return "info";
    case event_level::warning:
        return "warning";
    case event_level::error:
        return "error";
    }
    return "unknown";
}

// Something the library did that a user may want to log. The library never writes to stdout,
// stderr or a file itself: it hands events to the hook the user installed, or drops them. Event
// text is built only when a hook is installed, and it never contains a secret: tokens, client
// secrets and passwords are redacted before the event is created.
struct event {
    event_level level = event_level::debug;

    // Stable dotted name of what happened: "http.request", "http.response", "token.fetch",
    // "token.refresh.background", "token.refresh.failed", "discovery", "config".
    std::string name;

    std::string message;
};

using event_hook = std::function<void(const event&)>;

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/events.hpp
// ---- begin dbxserve/detail/security.hpp



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
// ---- end dbxserve/detail/security.hpp

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
// ---- end dbxserve/detail/oidc_discovery.hpp
// ---- begin dbxserve/retry.hpp

#include <cmath>
#include <random>


namespace dbxserve {
inline namespace v0 {
namespace detail {

inline bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

inline std::string_view trim_blanks(std::string_view text) {
    while (!text.empty() && is_blank(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && is_blank(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

// Runs of blanks count as one separator: asctime pads a one-digit day with a second space.
inline std::vector<std::string_view> split_blanks(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && is_blank(text[i])) {
            ++i;
        }
        const std::size_t start = i;
        while (i < text.size() && !is_blank(text[i])) {
            ++i;
        }
        if (i > start) {
            words.push_back(text.substr(start, i - start));
        }
    }
    return words;
}

inline bool all_digits(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Saturates at `limit`, so an absurd header cannot overflow.
inline long long digits_value(std::string_view digits, long long limit) {
    long long value = 0;
    for (char c : digits) {
        value = std::min(limit, value * 10 + (c - '0'));
    }
    return value;
}

// 1..12, or 0 for anything else.
inline int month_number(std::string_view name) {
    constexpr const char* names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; ++i) {
        if (header_list::equal(name, names[i])) {
            return i + 1;
        }
    }
    return 0;
}

// Accepts the short and the long names in every form: senders mix them up, and the day name
// carries no information the date does not.
inline bool is_day_name(std::string_view name) {
    constexpr const char* names[] = {"Mon",      "Tue",    "Wed",      "Thu",     "Fri",
                                     "Sat",      "Sun",    "Monday",   "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday", "Sunday"};
    return std::any_of(std::begin(names), std::end(names),
                       [&](const char* day) { return header_list::equal(name, day); });
}

inline bool is_leap_year(long long year) {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

inline int days_in_month(long long year, int month) {
    constexpr int lengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (month == 2 && is_leap_year(year)) ? 29 : lengths[month - 1];
}

// Days from 1970-01-01 to a date of the proleptic Gregorian calendar, for years from 1 on: whole
// years of 365 days plus one per leap year passed, then the months and days of the last year.
inline long long days_from_civil(long long year, int month, int day) {
    const auto leap_years_through = [](long long y) { return y / 4 - y / 100 + y / 400; };
    constexpr int days_before_month[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};

    long long days = 365 * (year - 1970) + leap_years_through(year - 1) - leap_years_through(1969);
    days += days_before_month[month - 1] + ((month > 2 && is_leap_year(year)) ? 1 : 0);
    return days + (day - 1);
}

// The calendar year containing a day counted from 1970-01-01.
inline long long year_of_day(long long days) {
    long long year = days >= 0 ? 1969 + days / 366 : 1969 + days / 365 - 1;
    year = std::max(1LL, year);
    while (days_from_civil(year + 1, 1, 1) <= days) {
        ++year;
    }
    return year;
}

struct civil_time {
    long long year = 0;
    int month = 0;
    int day = 0;
    int hour = 0;
    int minute = 0;
    int second = 0;
};

inline bool two_digits(std::string_view text, int& value) {
    if (text.size() != 2 || !all_digits(text)) {
        return false;
    }
    value = (text[0] - '0') * 10 + (text[1] - '0');
    return true;
}

inline bool parse_clock(std::string_view text, civil_time& t) {
    return text.size() == 8 && text[2] == ':' && text[5] == ':' &&
           two_digits(text.substr(0, 2), t.hour) && two_digits(text.substr(3, 2), t.minute) &&
           two_digits(text.substr(6, 2), t.second);
}

inline bool parse_day(std::string_view text, civil_time& t) {
    if (text.empty() || text.size() > 2 || !all_digits(text)) {
        return false;
    }
    t.day = static_cast<int>(digits_value(text, 99));
    return true;
}

inline bool is_gmt(std::string_view zone) {
    return header_list::equal(zone, "GMT") || header_list::equal(zone, "UTC");
}

// RFC 9110 5.6.7: a two-digit year more than 50 years in the future means the most recent past
// year with those digits, so the year is taken from the century window around now.
inline long long expand_two_digit_year(int yy, long long now_year) {
    long long year = now_year - now_year % 100 + yy;
    if (year > now_year + 50) {
        year -= 100;
    } else if (year <= now_year - 50) {
        year += 100;
    }
    return year;
}

inline bool parse_year(std::string_view text, long long now_year, civil_time& t) {
    int yy = 0;
    if (two_digits(text, yy)) {
        t.year = expand_two_digit_year(yy, now_year);
        return true;
    }
    if (text.size() == 4 && all_digits(text)) {
        t.year = digits_value(text, 9999);
        return true;
    }
    return false;
}

inline bool parse_date_words(const std::vector<std::string_view>& w, long long now_year,
                             civil_time& t) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if (w.size() == 6 && w[0].size() > 1 && w[0].back() == ',') {
        t.month = month_number(w[2]);
        return is_day_name(w[0].substr(0, w[0].size() - 1)) && parse_day(w[1], t) && t.month != 0 &&
               w[3].size() == 4 && parse_year(w[3], now_year, t) && parse_clock(w[4], t) &&
               is_gmt(w[5]);
    }

    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    if (w.size() == 4 && w[0].size() > 1 && w[0].back() == ',') {
        const std::string_view date = w[1];
        const auto first = date.find('-');
        const auto second = date.find('-', first == std::string_view::npos ? 0 : first + 1);
        if (first == std::string_view::npos || second == std::string_view::npos) {
            return false;
        }
        t.month = month_number(date.substr(first + 1, second - first - 1));
        return is_day_name(w[0].substr(0, w[0].size() - 1)) &&
               parse_day(date.substr(0, first), t) && t.month != 0 &&
               parse_year(date.substr(second + 1), now_year, t) && parse_clock(w[2], t) &&
               is_gmt(w[3]);
    }

    // asctime: "Sun Nov  6 08:49:37 1994"
    if (w.size() == 5) {
        t.month = month_number(w[1]);
        return is_day_name(w[0]) && t.month != 0 && parse_day(w[2], t) && parse_clock(w[3], t) &&
               w[4].size() == 4 && parse_year(w[4], now_year, t);
    }
    return false;
}

// Seconds since the Unix epoch of an HTTP-date in any of the three forms RFC 9110 allows.
inline std::optional<long long> parse_http_date(std::string_view text, long long now_unix) {
    const long long now_days = now_unix >= 0 ? now_unix / 86400 : (now_unix - 86399) / 86400;
    civil_time t;
    if (!parse_date_words(split_blanks(text), year_of_day(now_days), t)) {
        return std::nullopt;
    }

    // 60 admits a leap second; it simply lands on the next minute.
    const bool valid = t.year >= 1 && t.day >= 1 && t.day <= days_in_month(t.year, t.month) &&
                       t.hour <= 23 && t.minute <= 59 && t.second <= 60;
    if (!valid) {
        return std::nullopt;
    }
    return days_from_civil(t.year, t.month, t.day) * 86400 + t.hour * 3600 + t.minute * 60 +
           t.second;
}

// "12" or, leniently, "1.5": whole milliseconds, the fraction cut after three digits.
inline std::optional<std::chrono::milliseconds> parse_delta_seconds(std::string_view text) {
    const auto dot = text.find('.');
    const std::string_view whole = text.substr(0, dot);
    const std::string_view fraction =
        dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
    if (!all_digits(whole) || (dot != std::string_view::npos && !all_digits(fraction))) {
        return std::nullopt;
    }

    // A billion seconds (31 years) is as good as forever, and keeps the arithmetic in range.
    long long ms = digits_value(whole, 1000000000LL) * 1000;
    long long scale = 100;
    for (std::size_t i = 0; i < fraction.size() && i < 3; ++i, scale /= 10) {
        ms += (fraction[i] - '0') * scale;
    }
    return std::chrono::milliseconds(ms);
}

} // namespace detail

// Reads a Retry-After header value: delay-seconds ("120", leniently also "1.5") or an HTTP-date in
// any RFC 9110 form, measured from `now`. A date in the past gives 0; anything else, nullopt.
//
//     auto wait = dbxserve::parse_retry_after(response.headers.get("Retry-After"),
//                                             std::chrono::system_clock::now());
inline std::optional<std::chrono::milliseconds>
parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
    value = detail::trim_blanks(value);
    if (value.empty()) {
        return std::nullopt;
    }
    if (value.front() >= '0' && value.front() <= '9') {
        return detail::parse_delta_seconds(value);
    }

    // system_clock counts from the Unix epoch on every platform C++ runs on (guaranteed in C++20).
    const long long now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    const long long now_unix = now_ms >= 0 ? now_ms / 1000 : (now_ms - 999) / 1000;
    const auto date = detail::parse_http_date(value, now_unix);
    if (!date) {
        return std::nullopt;
    }
    return std::chrono::milliseconds(std::max(0LL, *date * 1000 - now_ms));
}

// When and how often to retry. The defaults suit `/invocations` (PROTOCOL 5.2, 8).
struct retry_options {
    // Attempts in total, the first included; 1 means never retry.
    int max_attempts = 5;

    // Full-jitter exponential backoff: the delay before retry n is uniform in
    // [0, min(max_backoff, initial_backoff * multiplier^(n-1))).
    std::chrono::milliseconds initial_backoff{1000};
    std::chrono::milliseconds max_backoff{std::chrono::seconds(60)};
    double multiplier = 2.0;

    // Replies with these statuses are retried; the server did not run the request.
    std::vector<int> retry_statuses{429, 503};

    // A larger Retry-After than the backoff replaces it, but never beyond max_retry_after.
    bool honor_retry_after = true;
    std::chrono::milliseconds max_retry_after{std::chrono::minutes(5)};

    // Whether repeating the request is harmless (a token request). Only then are failures that
    // may have happened after the request left - resets, read timeouts - retried: repeating an
    // invocation could run the model twice.
    bool idempotent = false;

    // Uniform in [0, 1); empty means a per-policy generator seeded from std::random_device.
    std::function<double()> random;
};

// How long a single token request may be retried in total (PROTOCOL 1.6); pass it to
// run_with_retries as `deadline::after(token_endpoint_retry_budget)`.
constexpr std::chrono::seconds token_endpoint_retry_budget{60};

// The token endpoint's retry numbers (PROTOCOL 1.6): 429, 502, 503, 504 and network failures,
// from 1 s doubling to 60 s. Token requests are idempotent, so failures after sending are retried
// too. The attempt limit is only a backstop; the budget normally ends the retries first.
inline retry_options token_endpoint_retry_options() {
    retry_options options;
    options.max_attempts = 10;
    options.initial_backoff = std::chrono::seconds(1);
    options.max_backoff = std::chrono::seconds(60);
    options.multiplier = 2.0;
    options.retry_statuses = {429, 502, 503, 504};
    options.idempotent = true;
    return options;
}

// What one attempt produced, as a retry policy sees it. Exactly one of `response` and `failure`
// is set. An error of kind `http` (a non-2xx reply already turned into an error) also fills
// `http_status`, so a policy treats both shapes alike.
struct attempt_outcome {
    int attempt = 1; // 1-based

    // The status when a reply arrived.
    std::optional<int> http_status;

    const http_response* response = nullptr;

    // Why no usable reply arrived: transport, timeout, cancelled, ...
    const error* failure = nullptr;

    // From the reply's Retry-After header, or the error's `retry_after`.
    std::optional<std::chrono::milliseconds> retry_after;
};

namespace detail {

// TLS failures that repeat identically on every attempt: a certificate the client rejects, or
// trust anchors it cannot load. Transports mark them with this error code.
inline bool is_certificate_failure(const error& e) {
    return e.error_code == tls_verification_failed;
}

// One generator per policy (copies share it), so that concurrent calls draw distinct jitter
// without any global state.
class jitter_source {
public:
    jitter_source() {
        std::random_device device;
        const std::uint64_t high = device();
        engine_.seed((high << 32) ^ device());
    }

    double next() {
        std::lock_guard<std::mutex> lock(mutex_);
        return std::generate_canonical<double, 53>(engine_);
    }

private:
    std::mutex mutex_;
    std::mt19937_64 engine_;
};

} // namespace detail

// The default retry policy: full-jitter exponential backoff with Retry-After, retrying
// `retry_statuses` and failures that happened before the request left (connection refused or
// reset while connecting, a TLS handshake cut short), never certificate failures, read timeouts,
// resets after sending (unless `idempotent`) or cancellation.
//
// A retry policy is a replaceable component: any type with
//
//     std::optional<std::chrono::milliseconds> next_delay(const attempt_outcome& outcome);
//
// returning the delay before the next attempt, or nullopt to stop, works with run_with_retries.
// This one is stateless apart from its generator and may be shared by concurrent calls.
//
//     dbxserve::retry_options o;
//     o.max_attempts = 3;
//     dbxserve::retry_policy policy(o);
class retry_policy {
public:
    explicit retry_policy(retry_options options = {}) : options_(std::move(options)) {
        if (!options_.random) {
            auto source = std::make_shared<detail::jitter_source>();
            options_.random = [source] { return source->next(); };
        }
    }

    std::optional<std::chrono::milliseconds> next_delay(const attempt_outcome& outcome) const {
        if (outcome.attempt >= options_.max_attempts || !retryable(outcome)) {
            return std::nullopt;
        }

        std::chrono::milliseconds delay = backoff(outcome.attempt);
        if (options_.honor_retry_after && outcome.retry_after) {
            const auto asked = std::min(*outcome.retry_after, options_.max_retry_after);
            delay = std::max(delay, asked);
        }
        return delay;
    }

    // Whether the outcome is worth another attempt, ignoring the attempt count.
    bool retryable(const attempt_outcome& outcome) const {
        if (outcome.http_status) {
            const auto& statuses = options_.retry_statuses;
            return std::find(statuses.begin(), statuses.end(), *outcome.http_status) !=
                   statuses.end();
        }
        if (outcome.failure == nullptr) {
            return false;
        }

        const error& e = *outcome.failure;
        switch (e.kind) {
        case error_kind::transport:
            return !detail::is_certificate_failure(e) &&
                   (!e.request_may_have_been_sent || options_.idempotent);
        case error_kind::timeout:
            // A read timeout may mean the model is still running; a connect timeout has already
            // spent its whole budget. Both are repeated only for idempotent requests.
            return options_.idempotent;
        default:
            return false;
        }
    }

    // The jittered backoff before the retry that follows attempt `attempt`.
    std::chrono::milliseconds backoff(int attempt) const {
        const double initial = static_cast<double>(
            std::max<long long>(0, static_cast<long long>(options_.initial_backoff.count())));
        const double cap = static_cast<double>(
            std::max<long long>(0, static_cast<long long>(options_.max_backoff.count())));
        const double grown = initial * std::pow(options_.multiplier, std::max(0, attempt - 1));
        const double ceiling = std::isnan(grown) ? cap : std::min(cap, grown);

        double r = options_.random();
        // Keeps the delay below the ceiling even for a generator that returns 1.0 (LWG 2524),
        // and maps NaN to 0.
        r = (r >= 0.0) ? std::min(r, std::nextafter(1.0, 0.0)) : 0.0;
        return std::chrono::milliseconds(static_cast<long long>(std::floor(r * ceiling)));
    }

    const retry_options& options() const { return options_; }

private:
    retry_options options_;
};

// Never retries: the policy for callers that do their own.
class no_retry {
public:
    std::optional<std::chrono::milliseconds> next_delay(const attempt_outcome&) const {
        return std::nullopt;
    }
};

// Told about each retry before its backoff sleep: the attempt that failed and the delay.
using retry_observer = std::function<void(int attempt, std::chrono::milliseconds delay)>;

namespace detail {

inline attempt_outcome outcome_of(int attempt, const result<http_response>& got,
                                  std::chrono::system_clock::time_point now) {
    attempt_outcome outcome;
    outcome.attempt = attempt;
    if (got.ok()) {
        outcome.response = &got.value();
        outcome.http_status = got->status;
        if (got->headers.contains("Retry-After")) {
            outcome.retry_after = parse_retry_after(got->headers.get("Retry-After"), now);
        }
        return outcome;
    }

    outcome.failure = &got.error();
    outcome.retry_after = got.error().retry_after;
    if (got.error().kind == error_kind::http && got.error().http_status != 0) {
        outcome.http_status = got.error().http_status;
    }
    return outcome;
}

inline std::string describe(const result<http_response>& got) {
    return got.ok() ? "HTTP " + std::to_string(got->status) : got.error().to_string();
}

inline error retry_deadline_error(int attempts, const std::optional<result<http_response>>& last) {
    if (!last) {
        return make_error(error_kind::timeout, "the call's deadline passed before it was sent");
    }
    error e = make_error(error_kind::timeout,
                         "the call's deadline passed after " + std::to_string(attempts) +
                             " attempt(s); the last one got " + describe(*last));
    e.retry_after = outcome_of(attempts, *last, std::chrono::system_clock::now()).retry_after;
    return e;
}

inline error retry_cancelled_error() {
    return make_error(error_kind::cancelled, "call cancelled");
}

} // namespace detail

// Runs `attempt(n)` (n = 1, 2, ...; it returns result<http_response>) until `policy` stops,
// sleeping the policy's delay in between. Returns the last result as it is - a retryable reply
// the retries could not get past comes back as that reply - except that a retry whose delay would
// reach past `dl` is not waited for, an expired deadline gives `error_kind::timeout`, and a
// cancel (checked before every attempt and during every sleep) gives `error_kind::cancelled`.
//
//     dbxserve::retry_policy policy;
//     auto reply = dbxserve::run_with_retries(policy, dbxserve::deadline::after(60s), token,
//                                             [&](int) { return transport.send(request); });
template <class Policy, class Attempt>
result<http_response> run_with_retries(Policy& policy, const deadline& dl,
                                       const cancellation_token& ct, Attempt&& attempt,
                                       const retry_observer& observer = {}) {
    std::optional<result<http_response>> last;
    for (int n = 1;; ++n) {
        if (ct.cancelled()) {
            return detail::retry_cancelled_error();
        }
        if (dl.expired()) {
            return detail::retry_deadline_error(n - 1, last);
        }

        last.emplace(attempt(n));
        const auto delay =
            policy.next_delay(detail::outcome_of(n, *last, std::chrono::system_clock::now()));
        if (!delay) {
            return std::move(*last);
        }

        if (dl.expired()) {
            return detail::retry_deadline_error(n, last);
        }
        if (!dl.is_none() && *delay >= dl.remaining()) {
            return std::move(*last);
        }

        if (observer) {
            observer(n, *delay);
        }
        if (ct.wait_for(*delay)) {
            return detail::retry_cancelled_error();
        }
    }
}

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/retry.hpp

namespace dbxserve {
inline namespace v0 {

struct oauth_m2m_options {
    std::string host; // workspace (or account) URL, normalised
    std::string client_id;
    std::string client_secret;
    std::vector<std::string> scopes{"all-apis"};

    // Skip discovery and use this token endpoint, or discover it from this document.
    std::string token_endpoint;
    std::string discovery_url;
    std::string account_id; // needed for account hosts
    bool account_host = false;

    // Optional JSON array restricting the token (OAuth authorization details).
    std::string authorization_details;

    // A token is never sent in its last `expiry_margin` (Azure rejects tokens with 30 s left).
    std::chrono::seconds expiry_margin{40};

    // Refresh in the background once a token enters its last min(TTL/2, max_stale_window), while
    // callers keep using it; off means every refresh blocks the callers that need it.
    bool async_refresh = true;
    std::chrono::seconds max_stale_window{std::chrono::minutes(20)};

    // After a failed background refresh, wait this long before trying again in the background.
    std::chrono::seconds async_retry_backoff{60};

    // Per attempt at the token endpoint; all attempts of one token request share a one-minute
    // budget (or the calling query's deadline, when that is sooner).
    std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};

    // Retries of the token request: 429, 502, 503, 504 and network failures (PROTOCOL 1.6).
    retry_options token_retry = token_endpoint_retry_options();

    // Monotonic clock, replaceable by tests.
    std::function<std::chrono::steady_clock::time_point()> clock;
};

namespace detail {

struct oauth_token {
    std::string authorization; // "Bearer <access token>"
    std::chrono::steady_clock::time_point expiry;
    std::chrono::steady_clock::time_point stale_at;
};

inline result<long long> read_expires_in(const nlohmann::json& body) {
    const auto it = body.find("expires_in");
    if (it != body.end() && it->is_number_integer()) {
        return it->get<long long>();
    }
    if (it != body.end() && it->is_number_float()) {
        return static_cast<long long>(it->get<double>());
    }
    if (it != body.end() && it->is_string()) {
        const auto& text = it->get_ref<const std::string&>();
        long long value = 0;
        bool digits = !text.empty();
        for (char c : text) {
            digits = digits && c >= '0' && c <= '9';
            value = digits ? value * 10 + (c - '0') : value;
        }
        if (digits) {
            return value;
        }
    }
    return make_error(error_kind::auth, "token response has no valid expires_in");
}

// A token endpoint failure, in OAuth's shape ({error, error_description}) or Okta's
// ({errorCode, errorSummary}), falling back to the generic Databricks error reading.
inline error oauth_error_from_response(const http_response& response) {
    error e = error_from_response(response);
    e.kind = error_kind::auth;

    const auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        return e;
    }
    std::string code = json_text(body, "error");
    std::string description = json_text(body, "error_description");
    if (code.empty()) {
        code = json_text(body, "errorCode");
        description = json_text(body, "errorSummary");
    }
    if (!code.empty()) {
        e.error_code = code;
        e.message = description.empty() ? "token request refused" : description;
    }
    return e;
}

} // namespace detail

// OAuth machine-to-machine authentication for a Databricks service principal: the
// client-credentials grant against the workspace's token endpoint, with the token cached and
// refreshed before it expires.
//
// Freshness follows the official SDKs: once a token enters its stale window (the last
// min(TTL/2, 20 min)) one background refresh starts while callers keep using the still-valid
// token; a token is never used in its last 40 s (callers then wait for a blocking refresh); at
// most one token request is in flight however many threads call. Expiry is measured on a
// monotonic clock from `expires_in`, so wall-clock jumps cannot make a token look valid.
//
//     dbxserve::oauth_m2m_options o;
//     o.host = "https://dbc-1234.cloud.databricks.com";
//     o.client_id = "...";  o.client_secret = "...";
//     dbxserve::oauth_m2m policy(std::move(o));
//
// Copies share one token cache.
class oauth_m2m {
public:
    explicit oauth_m2m(oauth_m2m_options options) : state_(std::make_shared<state>()) {
        if (!options.clock) {
            options.clock = [] { return std::chrono::steady_clock::now(); };
        }
        state_->retry = retry_policy(options.token_retry);
        state_->options = std::move(options);
    }

    void bind(http_sender sender, event_hook hook) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->sender = std::move(sender);
        state_->hook = std::move(hook);
    }

    // The Authorization header value for the next request. Waits for a token no longer than the
    // call's deadline allows, and gives up when the call is cancelled.
    result<std::string> authorization(const call_context& call = {}) {
        return state_->authorization(call);
    }

    // The server refused `authorization` (a 401): forget it, so the next call fetches a new token.
    void invalidate(const std::string& authorization) { state_->invalidate(authorization); }

    const char* auth_type() const { return "oauth-m2m"; }

    // Token requests sent so far (including discovery-less retries), for diagnostics and tests.
    std::size_t token_requests() const { return state_->token_requests.load(); }

    // The workspace id the host metadata reported, "" until discovery has run.
    std::string discovered_workspace_id() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->workspace_id;
    }

private:
    using time_point = std::chrono::steady_clock::time_point;

    struct state {
        ~state() {
            // The background refresh uses this object: stop it (it is cancellable at every
            // step) and wait, rather than let it touch freed memory.
            shutdown.cancel();
            if (background.joinable()) {
                background.join();
            }
        }

        result<std::string> authorization(const call_context& call) {
            std::unique_lock<std::mutex> lock(mutex);
            for (;;) {
                const time_point now = options.clock();
                if (token_usable(now)) {
                    if (options.async_refresh && now >= token->stale_at && !refreshing &&
                        now >= next_async_attempt) {
                        start_background_refresh();
                    }
                    return token->authorization;
                }

                // No usable token. If a refresh (of either kind) is running, its result is what
                // we need: wait for it instead of sending a second token request.
                if (refreshing) {
                    auto waited = wait_for_refresh(lock, call);
                    if (!waited) {
                        return waited.error();
                    }
                    if (last_failure && !token_usable(options.clock()) &&
                        !ended_by_its_caller(*last_failure)) {
                        return *last_failure;
                    }
                    continue;
                }

                refreshing = true;
                lock.unlock();
                auto fetched = fetch(call);
                lock.lock();
                finish_refresh(fetched);
                if (!fetched) {
                    return fetched.error();
                }
                return token->authorization;
            }
        }

        // Waits in short slices, so that this caller's deadline and cancellation are noticed
        // while another thread's token request is still running.
        result<void> wait_for_refresh(std::unique_lock<std::mutex>& lock,
                                      const call_context& call) {
            while (refreshing) {
                if (call.cancel.cancelled()) {
                    return make_error(error_kind::cancelled, "cancelled while waiting for a token");
                }
                if (call.until.expired()) {
                    return make_error(error_kind::timeout,
                                      "deadline passed while waiting for an OAuth token");
                }
                const auto slice = std::min<std::chrono::milliseconds>(
                    std::chrono::milliseconds(10), call.until.remaining());
                refreshed.wait_for(lock, slice);
            }
            return {};
        }

        // A refresh that ended because its own caller gave up says nothing about the token
        // endpoint: the next waiter then tries for itself.
        static bool ended_by_its_caller(const error& e) {
            return e.kind == error_kind::cancelled || e.kind == error_kind::timeout;
        }

        bool token_usable(time_point now) const {
            return token && now + options.expiry_margin < token->expiry;
        }

        void invalidate(const std::string& authorization) {
            std::lock_guard<std::mutex> lock(mutex);
            if (token && token->authorization == authorization) {
                token.reset();
            }
        }

        // Called with the mutex held and `refreshing` false.
        void start_background_refresh() {
            refreshing = true;
            if (background.joinable()) {
                background.join(); // finished already: `refreshing` was false
            }
            // The user's hook runs outside the mutex, so it may call back into the client.
            background = std::thread([this] {
                emit(event_level::debug, "token.refresh.background",
                     "token is in its stale window; refreshing in the background");
                call_context background_call;
                background_call.cancel = shutdown.token();
                auto fetched = fetch(background_call);
                if (!fetched) {
                    emit(event_level::warning, "token.refresh.failed",
                         "background token refresh failed: " + fetched.error().to_string());
                }
                std::lock_guard<std::mutex> lock(mutex);
                if (!fetched) {
                    next_async_attempt = options.clock() + options.async_retry_backoff;
                }
                finish_refresh(fetched);
            });
        }

        // Called with the mutex held.
        void finish_refresh(const result<detail::oauth_token>& fetched) {
            refreshing = false;
            if (fetched) {
                token = *fetched;
                last_failure.reset();
            } else {
                last_failure = fetched.error();
            }
            refreshed.notify_all();
        }

        result<std::string> endpoint(const deadline& budget) {
            {
                std::lock_guard<std::mutex> lock(mutex);
                if (!token_endpoint.empty()) {
                    return token_endpoint;
                }
                if (!options.token_endpoint.empty()) {
                    token_endpoint = options.token_endpoint;
                    return token_endpoint;
                }
            }

            detail::discovery_inputs in;
            in.host = options.host;
            in.discovery_url = options.discovery_url;
            in.account_id = options.account_id;
            in.account_host = options.account_host;
            in.timeout = std::min(options.request_timeout, budget.remaining());
            auto found = detail::discover_endpoints(sender, in, hook);
            if (!found) {
                return found.error();
            }

            std::lock_guard<std::mutex> lock(mutex);
            token_endpoint = found->token_endpoint;
            workspace_id = found->workspace_id;
            return token_endpoint;
        }

        // Runs without the mutex held; only one call is in flight at a time (`refreshing`).
        result<detail::oauth_token> fetch(const call_context& call) {
            if (!sender) {
                return make_error(error_kind::auth, "oauth-m2m policy is not bound to a transport");
            }
            const deadline budget =
                deadline::after(token_endpoint_retry_budget).earlier_of(call.until);
            auto url = endpoint(budget);
            if (!url) {
                return url.error();
            }
            auto secure = detail::require_secure_url(*url, "token endpoint");
            if (!secure) {
                return secure.error();
            }

            http_request request;
            request.method = "POST";
            request.url = *url;
            request.cancel = call.cancel;
            request.headers.add("Accept", "application/json");
            request.headers.add("Content-Type", "application/x-www-form-urlencoded");
            // RFC 6749 2.3.1: id and secret are form-encoded before Basic encoding, as the Go
            // and JS SDKs do; for the usual UUID ids and alphanumeric secrets it changes nothing.
            request.headers.add(
                "Authorization",
                "Basic " + detail::base64_encode(detail::percent_encode(options.client_id) + ":" +
                                                 detail::percent_encode(options.client_secret)));
            request.body = form_body();

            emit(event_level::info, "token.fetch", "requesting an OAuth token from " + *url);
            time_point sent_at = options.clock();
            auto send_once = [&](int) {
                const auto left = budget.remaining();
                request.connect_timeout = std::min(options.request_timeout, left);
                request.read_timeout = std::min(options.request_timeout, left);
                ++token_requests;
                sent_at = options.clock();
                return sender(request);
            };
            auto on_retry = [&](int attempt, std::chrono::milliseconds delay) {
                emit(event_level::warning, "token.retry",
                     "token request attempt " + std::to_string(attempt) + " failed; retrying in " +
                         std::to_string(delay.count()) + " ms");
            };
            auto response = run_with_retries(retry, budget, call.cancel, send_once, on_retry);
            if (!response) {
                error e = response.error();
                e.message = "token request failed: " + e.message;
                return e;
            }
            if (response->status != 200) {
                return detail::oauth_error_from_response(*response);
            }
            return read_token(*response, sent_at);
        }

        std::string form_body() const {
            std::vector<std::string> scopes = options.scopes;
            std::sort(scopes.begin(), scopes.end());
            scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
            std::string scope;
            for (const auto& s : scopes) {
                scope += (scope.empty() ? "" : " ") + s;
            }

            std::vector<std::pair<std::string, std::string>> fields{
                {"grant_type", "client_credentials"}, {"scope", scope}};
            if (!options.authorization_details.empty()) {
                fields.emplace_back("authorization_details", options.authorization_details);
            }
            return detail::form_encode(fields);
        }

        // Expiry counts from when the request was sent: the server's clock started the TTL no
        // earlier than that, so the local estimate errs on the safe side.
        result<detail::oauth_token> read_token(const http_response& response,
                                               time_point sent_at) const {
            const auto body = nlohmann::json::parse(response.body, nullptr, false);
            if (body.is_discarded() || !body.is_object()) {
                error e = make_error(error_kind::auth, "token response is not a JSON object");
                e.http_status = response.status;
                return e;
            }
            const std::string access_token = detail::json_text(body, "access_token");
            if (access_token.empty()) {
                return make_error(error_kind::auth, "token response has no access_token");
            }
            auto expires_in = detail::read_expires_in(body);
            if (!expires_in) {
                return expires_in.error();
            }

            detail::oauth_token token;
            token.authorization = "Bearer " + access_token;
            const std::chrono::seconds ttl(*expires_in);
            token.expiry = sent_at + ttl;
            token.stale_at =
                token.expiry - std::min<std::chrono::seconds>(ttl / 2, options.max_stale_window);
            return token;
        }

        void emit(event_level level, const char* name, std::string message) const {
            if (hook) {
                hook(event{level, name, std::move(message)});
            }
        }

        oauth_m2m_options options;
        retry_policy retry;
        cancellation_source shutdown;
        http_sender sender;
        event_hook hook;

        mutable std::mutex mutex;
        std::condition_variable refreshed;
        std::optional<detail::oauth_token> token;
        std::optional<error> last_failure;
        bool refreshing = false;
        time_point next_async_attempt{};
        std::thread background;
        std::string token_endpoint;
        std::string workspace_id;
        std::atomic<std::size_t> token_requests{0};
    };

    std::shared_ptr<state> state_;
};

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/auth/oauth_m2m.hpp
// ---- begin dbxserve/auth/static_token.hpp



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
// ---- end dbxserve/auth/static_token.hpp

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
// ---- end dbxserve/auth/default_credentials.hpp
// ---- begin dbxserve/client.hpp

#include <future>


// ---- begin dbxserve/detail/sse.hpp



// Server-sent events (the `text/event-stream` format serving endpoints stream in), read
// incrementally: the transport hands over the body in pieces of any size, and every complete
// event is passed on as soon as its blank line arrives. Follows the WHATWG event-stream
// interpretation rules, with one leniency: an event whose blank line never came is still
// delivered at the end of the body, because some servers close the stream right after the last
// `data:` line.

namespace dbxserve {
inline namespace v0 {
namespace detail {

struct sse_event {
    // The `event:` field; empty when the event had none (the SSE default type, "message").
    std::string event;

    // The `data:` lines, joined with "\n".
    std::string data;

    // The last `id:` the stream sent, as SSE prescribes: it carries over to later events.
    std::string id;
};

inline bool operator==(const sse_event& a, const sse_event& b) {
    return a.event == b.event && a.data == b.data && a.id == b.id;
}
inline bool operator!=(const sse_event& a, const sse_event& b) {
    return !(a == b);
}

// OpenAI-style streams, which serving endpoints follow, end with `data: [DONE]`; it is not JSON,
// so the caller checks for it before parsing.
inline bool is_done_sentinel(const sse_event& event) {
    return event.data == "[DONE]";
}

class sse_parser {
public:
    static constexpr std::size_t default_max_event_bytes = 8 * 1024 * 1024;

    // `max_event_bytes` bounds the memory one event may take: its `data:` lines and the line
    // being read. Comment lines never count, as they are skipped rather than buffered.
    explicit sse_parser(std::size_t max_event_bytes = default_max_event_bytes)
        : max_event_bytes_(max_event_bytes) {}

    // Parses the next piece of the body and calls `on_event(const sse_event&)` for every event
    // it completes. `on_event` returns false to stop (or returns nothing to go on); feed then
    // returns false, and the parser ignores the rest of the stream until `finish` or `reset`.
    // Fails with `error_kind::parse` when an event outgrows the limit; the parser then keeps
    // failing until `finish` or `reset`.
    template <class OnEvent>
    result<bool> feed(std::string_view bytes, OnEvent&& on_event) {
        if (failure_) {
            return *failure_;
        }
        if (stopped_) {
            return false;
        }

        if (!skip_bom(bytes)) {
            return *failure_;
        }

        while (!bytes.empty()) {
            // A CR ends a line at once, so an LF right after it, perhaps in the next piece,
            // belongs to the same line end.
            if (after_cr_) {
                after_cr_ = false;
                if (bytes.front() == '\n') {
                    bytes.remove_prefix(1);
                    continue;
                }
            }

            const auto end = bytes.find_first_of("\r\n");
            if (!append(bytes.substr(0, end))) {
                return *failure_;
            }
            if (end == std::string_view::npos) {
                break;
            }

            after_cr_ = bytes[end] == '\r';
            bytes.remove_prefix(end + 1);
            if (!end_line(on_event)) {
                stopped_ = true;
                return false;
            }
        }
        return true;
    }

    // Ends the body: delivers what is still pending, a last line without a line end included,
    // and leaves the parser ready for a new stream. Returns false when `on_event` stopped, now
    // or earlier.
    template <class OnEvent>
    result<bool> finish(OnEvent&& on_event) {
        if (failure_) {
            auto failure = std::move(*failure_);
            reset();
            return failure;
        }
        if (stopped_) {
            reset();
            return false;
        }

        if (bom_matched_ > 0 && !append(std::string_view(bom, bom_matched_))) {
            auto failure = std::move(*failure_);
            reset();
            return failure;
        }

        bool go_on = true;
        if (in_comment_ || !line_.empty()) {
            go_on = end_line(on_event);
        }
        if (go_on) {
            go_on = dispatch(on_event);
        }
        reset();
        return go_on;
    }

    // Forgets everything, the last event id included, as for a new stream.
    void reset() {
        std::string().swap(line_);
        current_ = sse_event{};
        has_data_ = false;
        in_comment_ = false;
        after_cr_ = false;
        at_start_ = true;
        bom_matched_ = 0;
        stopped_ = false;
        failure_.reset();
        retry_ms_.reset();
    }

    // The memory the parser holds for the event it is reading, in bytes of buffer capacity. It
    // stays near the size of one event, however long the stream.
    std::size_t buffered_bytes() const {
        return line_.capacity() + current_.data.capacity() + current_.event.capacity() +
               current_.id.capacity();
    }

    // The reconnection time from the last valid `retry:` field, in milliseconds.
    std::optional<std::int64_t> retry_ms() const { return retry_ms_; }

    std::size_t max_event_bytes() const { return max_event_bytes_; }

private:
    static constexpr const char bom[] = "\xEF\xBB\xBF";
    static constexpr std::size_t bom_size = 3;

    // A buffer that once held a huge event is released, so one such event does not pin its
    // memory for the rest of a long stream.
    static constexpr std::size_t kept_capacity = 64 * 1024;

    static void clear_buffer(std::string& buffer) {
        if (buffer.capacity() > kept_capacity) {
            std::string().swap(buffer);
        } else {
            buffer.clear();
        }
    }

    // Drops a UTF-8 byte order mark at the very start of the stream, even when it arrives split
    // over several pieces. Bytes that only looked like its start are content.
    bool skip_bom(std::string_view& bytes) {
        while (at_start_ && !bytes.empty()) {
            if (bytes.front() == bom[bom_matched_]) {
                bytes.remove_prefix(1);
                ++bom_matched_;
                if (bom_matched_ == bom_size) {
                    at_start_ = false;
                    bom_matched_ = 0;
                }
                continue;
            }

            at_start_ = false;
            const auto held = std::string_view(bom, bom_matched_);
            bom_matched_ = 0;
            return append(held);
        }
        return true;
    }

    // Adds bytes of the current line, which contain no line end.
    bool append(std::string_view bytes) {
        if (bytes.empty()) {
            return true;
        }
        at_start_ = false;

        if (line_.empty() && !in_comment_ && bytes.front() == ':') {
            in_comment_ = true;
        }
        if (in_comment_) {
            return true;
        }

        const std::size_t held = line_.size() + current_.data.size() + current_.event.size();
        if (bytes.size() > max_event_bytes_ || held > max_event_bytes_ - bytes.size()) {
            failure_ =
                make_error(error_kind::parse, "server-sent event exceeds the limit of " +
                                                  std::to_string(max_event_bytes_) + " bytes");
            return false;
        }
        line_.append(bytes.data(), bytes.size());
        return true;
    }

    template <class OnEvent>
    bool end_line(OnEvent& on_event) {
        if (in_comment_) {
            in_comment_ = false;
            return true;
        }
        if (line_.empty()) {
            return dispatch(on_event);
        }

        take_field(line_);
        clear_buffer(line_);
        return true;
    }

    void take_field(std::string_view line) {
        const auto colon = line.find(':');
        const auto name = line.substr(0, colon);
        auto value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') {
            value.remove_prefix(1);
        }

        if (name == "data") {
            if (has_data_) {
                current_.data += '\n';
            }
            current_.data.append(value.data(), value.size());
            has_data_ = true;
        } else if (name == "event") {
            current_.event.assign(value.data(), value.size());
        } else if (name == "id") {
            // An id with a NUL could not be sent back in a Last-Event-ID header.
            if (value.find('\0') == std::string_view::npos) {
                current_.id.assign(value.data(), value.size());
            }
        } else if (name == "retry") {
            take_retry(value);
        }
    }

    void take_retry(std::string_view value) {
        if (value.empty() || value.size() > 18) {
            return;
        }
        std::int64_t ms = 0;
        for (char c : value) {
            if (c < '0' || c > '9') {
                return;
            }
            ms = ms * 10 + (c - '0');
        }
        retry_ms_ = ms;
    }

    // A blank line: an event with at least one `data:` line is complete. One without (a lone
    // `event:` line, or keep-alive blank lines) is dropped.
    template <class OnEvent>
    bool dispatch(OnEvent& on_event) {
        if (!has_data_) {
            clear_buffer(current_.event);
            return true;
        }

        bool go_on = true;
        if constexpr (std::is_void_v<std::invoke_result_t<OnEvent&, const sse_event&>>) {
            on_event(static_cast<const sse_event&>(current_));
        } else {
            go_on = static_cast<bool>(on_event(static_cast<const sse_event&>(current_)));
        }

        clear_buffer(current_.data);
        clear_buffer(current_.event);
        has_data_ = false;
        return go_on;
    }

    std::size_t max_event_bytes_;
    std::string line_;
    sse_event current_;
    bool has_data_ = false;
    bool in_comment_ = false;
    bool after_cr_ = false;
    bool at_start_ = true;
    std::size_t bom_matched_ = 0;
    bool stopped_ = false;
    std::optional<error> failure_;
    std::optional<std::int64_t> retry_ms_;
};

} // namespace detail
} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/detail/sse.hpp
// ---- begin dbxserve/executor.hpp

#include <deque>

namespace dbxserve {
inline namespace v0 {

// The executor concept: any type with
//
//     void post(std::function<void()> task);
//
// that runs `task` once, soon, on some thread other than the caller's (it may run before post
// returns), and is safe to call from many threads. The library's asynchronous calls run their
// work through one; thread_pool below is the default, and an engine can pass its own job system.

namespace detail {

// A thread must not join itself. When the last owner of a pool or timer lets go from inside one of
// its own tasks, that one thread is released to finish its loop on the shared state instead;
// every other thread is joined.
inline void join_or_release(std::thread& thread) {
    if (!thread.joinable()) {
        return;
    }
    if (thread.get_id() == std::this_thread::get_id()) {
        thread.detach();
        return;
    }
    thread.join();
}

} // namespace detail

// A fixed set of worker threads running posted tasks in order of posting. The destructor runs
// every task already queued (and any they post), then joins the workers. Neither copyable nor
// movable; share one through std::shared_ptr.
//
//     auto pool = std::make_shared<dbxserve::thread_pool>(4);
//     pool->post([] { do_work(); });
class thread_pool {
public:
    explicit thread_pool(std::size_t threads = 2) : state_(std::make_shared<state>()) {
        threads = std::max<std::size_t>(1, threads);
        workers_.reserve(threads);
        for (std::size_t i = 0; i < threads; ++i) {
            workers_.emplace_back([shared = state_] { shared->work(); });
        }
    }

    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    ~thread_pool() {
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            state_->stopping = true;
        }
        state_->wake.notify_all();

        for (auto& worker : workers_) {
            detail::join_or_release(worker);
        }
    }

    void post(std::function<void()> task) {
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            state_->queue.push_back(std::move(task));
        }
        state_->wake.notify_one();
    }

    std::size_t size() const { return workers_.size(); }

private:
    struct state {
        void work() {
            std::unique_lock<std::mutex> lock(mutex);
            for (;;) {
                wake.wait(lock, [&] { return stopping || !queue.empty(); });
                if (queue.empty()) {
                    return;
                }
                std::function<void()> task = std::move(queue.front());
                queue.pop_front();
                lock.unlock();

                // What the task captured is released before relocking: its destructors may post.
                task();
                task = nullptr;

                lock.lock();
            }
        }

        std::mutex mutex;
        std::condition_variable wake;
        std::deque<std::function<void()>> queue;
        bool stopping = false;
    };

    std::shared_ptr<state> state_;
    std::vector<std::thread> workers_;
};

namespace detail {

class timer_state {
public:
    using time_point = std::chrono::steady_clock::time_point;
    using key = std::pair<time_point, std::uint64_t>;

    key add(time_point when, std::function<void()> callback) {
        std::lock_guard<std::mutex> lock(mutex_);
        const key k{when, ++last_id_};
        pending_.emplace(k, std::move(callback));

        // The thread sleeps until the earliest pending time; only a new earliest one changes
        // that. Waking it for every later timer (one per call) costs a context switch per call.
        if (pending_.begin()->first == k) {
            wake_.notify_all();
        }
        return k;
    }

    // True when the callback was still pending and now never runs; otherwise waits until a run in
    // progress on another thread has returned.
    bool cancel(const key& k) {
        std::function<void()> dropped;
        std::unique_lock<std::mutex> lock(mutex_);
        const auto it = pending_.find(k);
        if (it != pending_.end()) {
            dropped = std::move(it->second);
            pending_.erase(it);
            lock.unlock();
            return true;
        }
        if (running_thread_ != std::this_thread::get_id()) {
            wake_.wait(lock, [&] { return running_ != k.second; });
        }
        return false;
    }

    void stop() {
        std::map<key, std::function<void()>> dropped;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
            dropped.swap(pending_);
        }
        wake_.notify_all();
    }

    void run() {
        std::unique_lock<std::mutex> lock(mutex_);
        running_thread_ = std::this_thread::get_id();
        while (!stopping_) {
            if (pending_.empty()) {
                wake_.wait(lock);
                continue;
            }
            const auto first = pending_.begin();
            const time_point now = std::chrono::steady_clock::now();
            if (first->first.first > now) {
                // Waking at least hourly keeps a far-future time point from overflowing the wait.
                wake_.wait_until(lock, std::min(first->first.first, now + std::chrono::hours(1)));
                continue;
            }

            std::function<void()> callback = std::move(first->second);
            running_ = first->first.second;
            pending_.erase(first);
            lock.unlock();

            callback();
            callback = nullptr;

            lock.lock();
            running_ = 0;
            wake_.notify_all();
        }
    }

private:
    std::mutex mutex_;
    std::condition_variable wake_;
    std::map<key, std::function<void()>> pending_;
    std::uint64_t last_id_ = 0;
    std::uint64_t running_ = 0;
    std::thread::id running_thread_;
    bool stopping_ = false;
};

} // namespace detail

// Names one callback scheduled on a timer_service. Copyable; a default-constructed handle names
// nothing.
class timer_handle {
public:
    timer_handle() = default;
    timer_handle(std::weak_ptr<detail::timer_state> service, detail::timer_state::key key)
        : service_(std::move(service)), key_(key) {}

    // After this returns the callback is not running (unless this is the callback itself) and
    // will not run. Returns true when it stopped a callback that had not started.
    bool cancel() const {
        const auto service = service_.lock();
        return service && service->cancel(key_);
    }

private:
    std::weak_ptr<detail::timer_state> service_;
    detail::timer_state::key key_{};
};

// One thread that runs callbacks at points of the monotonic clock, in time order (ties in order
// of scheduling). Keep callbacks short: they run one after another on that thread. The destructor
// drops the callbacks still pending and joins the thread.
//
//     dbxserve::timer_service timers;
//     auto fire = timers.schedule_at(dl.when(), [source]() mutable { source.cancel(); });
//     ...
//     fire.cancel();  // the call finished first
class timer_service {
public:
    using time_point = std::chrono::steady_clock::time_point;

    timer_service() : state_(std::make_shared<detail::timer_state>()) {
        thread_ = std::thread([shared = state_] { shared->run(); });
    }

    timer_service(const timer_service&) = delete;
    timer_service& operator=(const timer_service&) = delete;

    ~timer_service() {
        state_->stop();
        detail::join_or_release(thread_);
    }

    timer_handle schedule_at(time_point when, std::function<void()> callback) {
        return timer_handle(state_, state_->add(when, std::move(callback)));
    }

    template <class Rep, class Period>
    timer_handle schedule_after(std::chrono::duration<Rep, Period> delay,
                                std::function<void()> callback) {
        const auto when = std::chrono::steady_clock::now() +
                          std::chrono::ceil<std::chrono::steady_clock::duration>(delay);
        return schedule_at(when, std::move(callback));
    }

private:
    std::shared_ptr<detail::timer_state> state_;
    std::thread thread_;
};

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/executor.hpp
// ---- begin dbxserve/model/model.hpp

// Every request and response type of the serving APIs.

// ---- begin dbxserve/model/chat.hpp



// ---- begin dbxserve/model/common.hpp



// ---- begin dbxserve/model/detail/json_fields.hpp

#include <limits>



namespace dbxserve {
inline namespace v0 {
namespace detail {

// Reads one JSON value into a typed member without throwing. `read` returns false and leaves `out`
// untouched when the value has another JSON type; the caller then keeps the value in `extra`, so a
// server that changes a field's type costs us the typed view of that field but never the data.
//
// A class template rather than overloads: specialisations are found at instantiation time, so
// `std::vector<T>` and `std::optional<T>` work for types declared in headers included later.
template <class T, class Enable = void>
struct value_reader;

template <>
struct value_reader<std::string> {
    static bool read(const nlohmann::json& value, std::string& out) {
        const auto* text = value.get_ptr<const nlohmann::json::string_t*>();
        if (text == nullptr) {
            return false;
        }
        out = *text;
        return true;
    }
};

template <>
struct value_reader<std::int64_t> {
    static bool read(const nlohmann::json& value, std::int64_t& out) {
        // Unsigned first: nlohmann also hands out its signed slot for an unsigned value, which
        // would turn 2^64-1 into -1.
        if (const auto* positive = unsigned_number(value)) {
            constexpr auto max =
                static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
            if (*positive > max) {
                return false;
            }
            out = static_cast<std::int64_t>(*positive);
            return true;
        }
        const auto* number = value.get_ptr<const nlohmann::json::number_integer_t*>();
        if (number == nullptr) {
            return false;
        }
        out = *number;
        return true;
    }

    static const nlohmann::json::number_unsigned_t* unsigned_number(const nlohmann::json& value) {
        return value.is_number_unsigned()
                   ? value.get_ptr<const nlohmann::json::number_unsigned_t*>()
                   : nullptr;
    }
};

template <>
struct value_reader<int> {
    static bool read(const nlohmann::json& value, int& out) {
        std::int64_t wide = 0;
        if (!value_reader<std::int64_t>::read(value, wide) ||
            wide < std::numeric_limits<int>::min() || wide > std::numeric_limits<int>::max()) {
            return false;
        }
        out = static_cast<int>(wide);
        return true;
    }
};

template <>
struct value_reader<double> {
    static bool read(const nlohmann::json& value, double& out) {
        using json = nlohmann::json;
        if (const auto* real = value.get_ptr<const json::number_float_t*>()) {
            out = *real;
        } else if (const auto* positive = value_reader<std::int64_t>::unsigned_number(value)) {
            out = static_cast<double>(*positive);
        } else if (const auto* number = value.get_ptr<const json::number_integer_t*>()) {
            out = static_cast<double>(*number);
        } else {
            return false;
        }
        return true;
    }
};

template <>
struct value_reader<bool> {
    static bool read(const nlohmann::json& value, bool& out) {
        const auto* flag = value.get_ptr<const nlohmann::json::boolean_t*>();
        if (flag == nullptr) {
            return false;
        }
        out = *flag;
        return true;
    }
};

// Used for list elements that are kept as plain JSON (Responses input items, for instance).
template <>
struct value_reader<nlohmann::json> {
    static bool read(const nlohmann::json& value, nlohmann::json& out) {
        out = value;
        return true;
    }
};

template <class T>
struct value_reader<std::optional<T>> {
    static bool read(const nlohmann::json& value, std::optional<T>& out) {
        T item{};
        if (!value_reader<T>::read(value, item)) {
            return false;
        }
        out = std::move(item);
        return true;
    }
};

// All or nothing: one element of the wrong type sends the whole list to `extra`, because a
// partial list would silently misnumber the rest.
template <class T>
struct value_reader<std::vector<T>> {
    static bool read(const nlohmann::json& value, std::vector<T>& out) {
        if (!value.is_array()) {
            return false;
        }
        std::vector<T> items;
        items.reserve(value.size());
        for (const auto& element : value) {
            T item{};
            if (!value_reader<T>::read(element, item)) {
                return false;
            }
            items.push_back(std::move(item));
        }
        out = std::move(items);
        return true;
    }
};

// Model types are recognised by their `extra` member and read through their own from_json.
template <class T>
struct value_reader<T, std::void_t<decltype(std::declval<T&>().extra)>> {
    static bool read(const nlohmann::json& value, T& out) {
        if (!value.is_object()) {
            return false;
        }
        T item{};
        from_json(value, item);
        out = std::move(item);
        return true;
    }
};

// What a plain `nlohmann::json` member accepts.
enum class json_shape { any, object, array, string_or_array, string_or_object };

inline bool has_shape(const nlohmann::json& value, json_shape shape) {
    switch (shape) {
    case json_shape::any:
        return true;
    case json_shape::object:
        return value.is_object();
    case json_shape::array:
        return value.is_array();
    case json_shape::string_or_array:
        return value.is_string() || value.is_array();
    case json_shape::string_or_object:
        return value.is_string() || value.is_object();
    }
    return false;
}

// Reads the known fields of one JSON object and collects everything else into `extra`.
//
//     field_reader fields(j);
//     fields.read("id", out.id);
//     fields.finish(out.extra);
class field_reader {
public:
    explicit field_reader(const nlohmann::json& source) : source_(source) {}

    // Each read returns whether it took the key.
    template <class T>
    bool read(const char* key, T& out) {
        const auto* value = find(key);
        return value != nullptr && value_reader<T>::read(*value, out) && take(key);
    }

    // For lists that are left out of the output when empty: an empty list stays in `extra`, so it
    // is written back exactly as it came.
    template <class T>
    bool read_nonempty(const char* key, T& out) {
        const auto* value = find(key);
        return value != nullptr && !value->empty() && value_reader<T>::read(*value, out) &&
               take(key);
    }

    // For `nlohmann::json` members, where null means "not sent": a JSON null, like any value of
    // another shape, stays in `extra`.
    bool read_json(const char* key, nlohmann::json& out, json_shape shape = json_shape::any) {
        const auto* value = find(key);
        if (value == nullptr || value->is_null() || !has_shape(*value, shape)) {
            return false;
        }
        out = *value;
        return take(key);
    }

    void finish(nlohmann::json& extra) const {
        extra = nlohmann::json::object();
        if (!source_.is_object()) {
            return;
        }
        for (auto it = source_.begin(); it != source_.end(); ++it) {
            if (!taken(it.key())) {
                extra[it.key()] = it.value();
            }
        }
    }

private:
    const nlohmann::json* find(const char* key) const {
        if (!source_.is_object()) {
            return nullptr;
        }
        auto it = source_.find(key);
        return it == source_.end() ? nullptr : &*it;
    }

    bool take(const char* key) {
        taken_.push_back(key);
        return true;
    }

    bool taken(std::string_view key) const {
        for (const char* name : taken_) {
            if (key == name) {
                return true;
            }
        }
        return false;
    }

    const nlohmann::json& source_;
    std::vector<const char*> taken_;
};

template <class T>
struct identity {
    using type = T;
};

// Writes typed fields over a copy of `extra`, so typed values win when both name the same key.
class field_writer {
public:
    field_writer(nlohmann::json& out, const nlohmann::json& extra) : out_(out) {
        out_ = extra.is_object() ? extra : nlohmann::json::object();
    }

    // Plain members go through write_required, so none is written by accident through an
    // implicit conversion to nlohmann::json.
    template <class T>
    void write(const char* key, const T& value) = delete;

    // For members that are always written. One that still holds `unset` does not overwrite a
    // value kept in `extra`: that is the field as the server sent it, in a type we did not expect.
    template <class T>
    void write_required(const char* key, const T& value, const typename identity<T>::type& unset) {
        nlohmann::json written = value;
        if (out_.contains(key) && written == nlohmann::json(unset)) {
            return;
        }
        out_[key] = std::move(written);
    }

    template <class T>
    void write(const char* key, const std::optional<T>& value) {
        if (value.has_value()) {
            out_[key] = *value;
        }
    }

    void write(const char* key, const nlohmann::json& value) {
        if (!value.is_null()) {
            out_[key] = value;
        }
    }

    template <class T>
    void write_nonempty(const char* key, const T& values) {
        if (!values.empty()) {
            out_[key] = values;
        }
    }

private:
    nlohmann::json& out_;
};

// `object[key]` when `object` is an object that has it, else nullptr.
inline const nlohmann::json* member(const nlohmann::json& object, const char* key) {
    if (!object.is_object()) {
        return nullptr;
    }
    auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
}

// Concatenated `text` of the parts in `content` whose `type` is one of `types`; a part without
// a `type` counts when `untyped` is set.
inline std::string parts_text(const nlohmann::json& content,
                              std::initializer_list<std::string_view> types, bool untyped) {
    std::string text;
    if (!content.is_array()) {
        return text;
    }
    for (const auto& part : content) {
        const auto* part_text = member(part, "text");
        if (part_text == nullptr || !part_text->is_string()) {
            continue;
        }

        const auto* type = member(part, "type");
        bool wanted = type == nullptr && untyped;
        if (type != nullptr && type->is_string()) {
            const auto& name = *type->get_ptr<const nlohmann::json::string_t*>();
            for (std::string_view candidate : types) {
                wanted = wanted || name == candidate;
            }
        }
        if (wanted) {
            text += *part_text->get_ptr<const nlohmann::json::string_t*>();
        }
    }
    return text;
}

// The text of a chat message's `content`: the string itself, or its text parts joined.
inline std::string message_text(const nlohmann::json& content) {
    if (const auto* whole = content.get_ptr<const nlohmann::json::string_t*>()) {
        return *whole;
    }
    return parts_text(content, {"text", "input_text", "output_text"}, true);
}

// The start of `text` for an error message: at most `limit` bytes, cut on a UTF-8 boundary, with
// control characters blanked so the message stays on one line.

// Parses a response body that must be one JSON object. The error (kind `parse`) carries a short
// excerpt of a body that is not JSON, and the parsed value in `error::body` when it is JSON of
// another type, so nothing the server sent is out of reach.
inline result<nlohmann::json> parse_object(std::string_view body) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        return make_error(error_kind::parse, "response body is empty");
    }

    auto parsed = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
    if (parsed.is_discarded()) {
        return make_error(error_kind::parse,
                          "response body is not JSON (starts with \"" + excerpt(body) + "\")");
    }

    if (!parsed.is_object()) {
        auto failure = make_error(error_kind::parse,
                                  std::string("expected a JSON object, got ") + parsed.type_name());
        failure.body = std::move(parsed);
        return failure;
    }
    return parsed;
}

} // namespace detail
} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/model/detail/json_fields.hpp

// Conventions shared by every model type:
//
// - `extra` holds every field the model does not know, and every known field whose JSON type was
//   not the expected one (a newer server must never make parsing fail or lose data). to_json
//   writes `extra` back, with typed members winning when both name the same key.
// - `std::optional` members, and `nlohmann::json` members that are null, were not received and
//   are not sent. A JSON null received for such a member stays in `extra`, so it is sent back.
// - Lists marked "not sent when empty" behave the same way: an empty list received stays in
//   `extra`.
// - Responses also carry `raw` (the whole body as received) and `meta` (from the HTTP reply); both
//   are filled by `parse_response` and neither is part of the JSON.

namespace dbxserve {
inline namespace v0 {

// Facts about the HTTP reply that carried a response; the client fills it from the headers.
struct response_meta {
    int http_status = 0;
    std::string request_id;        // `x-request-id`
    std::string served_model_name; // `served-model-name`: which served entity answered
};

// Token counts of the chat, completions, embeddings and ChatAgent APIs. Embeddings send no
// `completion_tokens`.
struct usage {
    std::optional<std::int64_t> prompt_tokens;
    std::optional<std::int64_t> completion_tokens;
    std::optional<std::int64_t> total_tokens;
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const usage& value) {
    detail::field_writer fields(j, value.extra);
    fields.write("prompt_tokens", value.prompt_tokens);
    fields.write("completion_tokens", value.completion_tokens);
    fields.write("total_tokens", value.total_tokens);
}

inline void from_json(const nlohmann::json& j, usage& out) {
    out = usage{};
    detail::field_reader fields(j);
    fields.read("prompt_tokens", out.prompt_tokens);
    fields.read("completion_tokens", out.completion_tokens);
    fields.read("total_tokens", out.total_tokens);
    fields.finish(out.extra);
}

// Token counts in the Responses shape; `input_tokens_details` / `output_tokens_details` stay in
// `extra`.
struct responses_usage {
    std::optional<std::int64_t> input_tokens;
    std::optional<std::int64_t> output_tokens;
    std::optional<std::int64_t> total_tokens;
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const responses_usage& value) {
    detail::field_writer fields(j, value.extra);
    fields.write("input_tokens", value.input_tokens);
    fields.write("output_tokens", value.output_tokens);
    fields.write("total_tokens", value.total_tokens);
}

inline void from_json(const nlohmann::json& j, responses_usage& out) {
    out = responses_usage{};
    detail::field_reader fields(j);
    fields.read("input_tokens", out.input_tokens);
    fields.read("output_tokens", out.output_tokens);
    fields.read("total_tokens", out.total_tokens);
    fields.finish(out.extra);
}

// A field the APIs accept either as one string or as a list of strings (`prompt`, `input`,
// `stop`). It remembers which form it was given in, so one string is sent as a string:
//
//     request.input = "hello";              // "input": "hello"
//     request.input = {"hello", "world"};   // "input": ["hello", "world"]
//     request.stop = {"\n"};                // "stop": ["\n"] (braces make a list)
struct string_list {
    std::vector<std::string> items;

    // Sent as a bare string; only honoured while there is exactly one item.
    bool single = false;

    string_list() = default;
    string_list(std::string one) : items{std::move(one)}, single(true) {}
    string_list(const char* one) : items{std::string(one)}, single(true) {}
    string_list(std::vector<std::string> many) : items(std::move(many)) {}
    string_list(std::initializer_list<std::string> many) : items(many) {}

    bool operator==(const string_list& other) const {
        return items == other.items && is_single() == other.is_single();
    }
    bool operator!=(const string_list& other) const { return !(*this == other); }

    bool is_single() const { return single && items.size() == 1; }
    bool empty() const { return items.empty(); }
};

inline void to_json(nlohmann::json& j, const string_list& value) {
    if (value.is_single()) {
        j = value.items.front();
    } else {
        j = value.items;
    }
}

namespace detail {

template <>
struct value_reader<string_list> {
    static bool read(const nlohmann::json& value, string_list& out) {
        std::string one;
        if (value_reader<std::string>::read(value, one)) {
            out = string_list(std::move(one));
            return true;
        }
        std::vector<std::string> many;
        if (value_reader<std::vector<std::string>>::read(value, many)) {
            out = string_list(std::move(many));
            return true;
        }
        return false;
    }
};

} // namespace detail

// Leaves `out` empty when `j` is neither a string nor a list of strings.
inline void from_json(const nlohmann::json& j, string_list& out) {
    out = string_list{};
    detail::value_reader<string_list>::read(j, out);
}

// `context` of ChatAgent and ResponsesAgent requests.
struct chat_context {
    std::optional<std::string> conversation_id;
    std::optional<std::string> user_id;
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const chat_context& value) {
    detail::field_writer fields(j, value.extra);
    fields.write("conversation_id", value.conversation_id);
    fields.write("user_id", value.user_id);
}

inline void from_json(const nlohmann::json& j, chat_context& out) {
    out = chat_context{};
    detail::field_reader fields(j);
    fields.read("conversation_id", out.conversation_id);
    fields.read("user_id", out.user_id);
    fields.finish(out.extra);
}

namespace detail {

template <class T, class = void>
struct has_raw : std::false_type {};
template <class T>
struct has_raw<T, std::void_t<decltype(std::declval<T&>().raw)>> : std::true_type {};

template <class T, class = void>
struct has_meta : std::false_type {};
template <class T>
struct has_meta<T, std::void_t<decltype(std::declval<T&>().meta)>> : std::true_type {};

} // namespace detail

// The metadata the client attaches to every response, read from the reply's headers.
inline response_meta make_response_meta(const http_response& response) {
    response_meta meta;
    meta.http_status = response.status;
    meta.request_id = response.headers.get("x-request-id");
    meta.served_model_name = response.headers.get("served-model-name");
    return meta;
}

// Reads a response body as `T` (chat_completion, embedding_response, prediction_response, ...).
// Fails with `error_kind::parse` only when the body is not JSON or not a JSON object; any object
// parses, with what the model does not know kept in `extra` and the whole body in `raw`.
//
//     auto reply = parse_response<chat_completion>(R"({"choices":[...]})");
//     if (!reply) { return reply.error(); }
//     std::string answer = reply->text();
//
// Request types parse the same way (they have no `raw`), which is what a server-side user needs.
template <class T>
result<T> parse_response(std::string_view body) {
    auto parsed = detail::parse_object(body);
    if (!parsed) {
        return parsed.error();
    }
    T value{};
    from_json(*parsed, value);
    if constexpr (detail::has_raw<T>::value) {
        value.raw = std::move(*parsed);
    }
    return value;
}

// As above, and also fills `meta` from the reply; a failure carries the reply's status and
// request id.
template <class T>
result<T> parse_response(const http_response& response) {
    auto meta = make_response_meta(response);
    auto value = parse_response<T>(std::string_view(response.body));
    if (!value) {
        auto failure = value.error();
        failure.http_status = meta.http_status;
        failure.request_id = meta.request_id;
        return failure;
    }
    if constexpr (detail::has_meta<T>::value) {
        value->meta = std::move(meta);
    }
    return value;
}

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/model/common.hpp

// The chat completions API (foundation models, external models, chat agents), OpenAI-shaped.

namespace dbxserve {
inline namespace v0 {

// The function a tool call names, with its arguments as the model wrote them: a JSON text.
struct tool_call_function {
    std::string name;
    std::string arguments;
    nlohmann::json extra = nlohmann::json::object();

    // `arguments` parsed; a discarded value (`is_discarded()`) when it is not valid JSON. When a
    // server sent the arguments as a JSON object instead of a string, that object (from `extra`).
    nlohmann::json parsed_arguments() const {
        if (const auto* sent = detail::member(extra, "arguments")) {
            if (sent->is_object()) {
                return *sent;
            }
        }
        return nlohmann::json::parse(arguments, nullptr, false);
    }
};

inline void to_json(nlohmann::json& j, const tool_call_function& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("name", value.name, "");
    fields.write_required("arguments", value.arguments, "");
}

inline void from_json(const nlohmann::json& j, tool_call_function& out) {
    out = tool_call_function{};
    detail::field_reader fields(j);
    fields.read("name", out.name);
    fields.read("arguments", out.arguments);
    fields.finish(out.extra);
}

// A call the model asks the caller to make; answer it with `chat_message::tool(id, result)`.
struct tool_call {
    std::string id;
    std::string type = "function";
    tool_call_function function;
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const tool_call& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("id", value.id, "");
    fields.write_required("type", value.type, "function");
    fields.write_required("function", value.function, {});
}

inline void from_json(const nlohmann::json& j, tool_call& out) {
    out = tool_call{};
    detail::field_reader fields(j);
    fields.read("id", out.id);
    fields.read("type", out.type);
    fields.read("function", out.function);
    fields.finish(out.extra);
}

// A function offered to the model in `chat_request::tools`.
struct function_definition {
    std::string name;
    std::optional<std::string> description;
    nlohmann::json parameters; // a JSON Schema object
    // Only GPT models accept `strict`; others reject the request when it is present.
    std::optional<bool> strict;
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const function_definition& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("name", value.name, "");
    fields.write("description", value.description);
    fields.write("parameters", value.parameters);
    fields.write("strict", value.strict);
}

inline void from_json(const nlohmann::json& j, function_definition& out) {
    out = function_definition{};
    detail::field_reader fields(j);
    fields.read("name", out.name);
    fields.read("description", out.description);
    fields.read_json("parameters", out.parameters, detail::json_shape::object);
    fields.read("strict", out.strict);
    fields.finish(out.extra);
}

// One entry of `tools`. `function` is empty for tool types other than "function".
struct tool_definition {
    std::string type = "function";
    std::optional<function_definition> function;
    nlohmann::json extra = nlohmann::json::object();

    //     request.tools.push_back(tool_definition::for_function(
    //         "get_weather", "Current weather in a city",
    //         {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}));
    static tool_definition for_function(std::string name, std::string description,
                                        nlohmann::json parameters) {
        tool_definition tool;
        tool.function = function_definition{};
        tool.function->name = std::move(name);
        tool.function->description = std::move(description);
        tool.function->parameters = std::move(parameters);
        return tool;
    }
};

inline void to_json(nlohmann::json& j, const tool_definition& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("type", value.type, "function");
    fields.write("function", value.function);
}

inline void from_json(const nlohmann::json& j, tool_definition& out) {
    out = tool_definition{};
    detail::field_reader fields(j);
    fields.read("type", out.type);
    fields.read("function", out.function);
    fields.finish(out.extra);
}

// One chat message. `content` is a string, or an array of typed parts in OpenAI-style payloads;
// an assistant message that only calls tools may have none (null).
struct chat_message {
    std::string role;
    nlohmann::json content;
    std::optional<std::string> name;
    std::vector<tool_call> tool_calls; // not sent when empty
    std::optional<std::string> tool_call_id;
    nlohmann::json extra = nlohmann::json::object();

    // The string content, or the text parts of an array content joined; "" when there is none.
    std::string text() const { return detail::message_text(content); }

    static chat_message system(std::string text) { return make("system", std::move(text)); }
    static chat_message user(std::string text) { return make("user", std::move(text)); }
    static chat_message assistant(std::string text) { return make("assistant", std::move(text)); }

    // The result of the tool call with id `call_id`, to send back on the next turn.
    static chat_message tool(std::string call_id, std::string content) {
        auto message = make("tool", std::move(content));
        message.tool_call_id = std::move(call_id);
        return message;
    }

private:
    static chat_message make(std::string role, std::string text) {
        chat_message message;
        message.role = std::move(role);
        message.content = std::move(text);
        return message;
    }
};

inline void to_json(nlohmann::json& j, const chat_message& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("role", value.role, "");
    fields.write("content", value.content);
    fields.write("name", value.name);
    fields.write_nonempty("tool_calls", value.tool_calls);
    fields.write("tool_call_id", value.tool_call_id);
}

inline void from_json(const nlohmann::json& j, chat_message& out) {
    out = chat_message{};
    detail::field_reader fields(j);
    fields.read("role", out.role);
    fields.read_json("content", out.content, detail::json_shape::string_or_array);
    fields.read("name", out.name);
    fields.read_nonempty("tool_calls", out.tool_calls);
    fields.read("tool_call_id", out.tool_call_id);
    fields.finish(out.extra);
}

// A chat completions request. Everything not modelled here (`extra_params`, `response_format`,
// `client_request_id`, `usage_context`, ...) goes into `extra`.
//
//     chat_request request;
//     request.messages = {chat_message::system("Be brief."), chat_message::user("Hi!")};
//     request.max_tokens = 128;
//     nlohmann::json body = request;
struct chat_request {
    std::vector<chat_message> messages;
    std::vector<tool_definition> tools; // not sent when empty
    nlohmann::json tool_choice;         // "auto", "none", "required" or {"type":"function",...}
    std::optional<std::int64_t> max_tokens;
    std::optional<double> temperature;
    std::optional<double> top_p;
    std::optional<std::int64_t> n;
    string_list stop; // not sent when empty
    std::optional<bool> stream;
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const chat_request& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("messages", value.messages, {});
    fields.write_nonempty("tools", value.tools);
    fields.write("tool_choice", value.tool_choice);
    fields.write("max_tokens", value.max_tokens);
    fields.write("temperature", value.temperature);
    fields.write("top_p", value.top_p);
    fields.write("n", value.n);
    fields.write_nonempty("stop", value.stop);
    fields.write("stream", value.stream);
}

inline void from_json(const nlohmann::json& j, chat_request& out) {
    out = chat_request{};
    detail::field_reader fields(j);
    fields.read("messages", out.messages);
    fields.read_nonempty("tools", out.tools);
    fields.read_json("tool_choice", out.tool_choice, detail::json_shape::string_or_object);
    fields.read("max_tokens", out.max_tokens);
    fields.read("temperature", out.temperature);
    fields.read("top_p", out.top_p);
    fields.read("n", out.n);
    fields.read_nonempty("stop", out.stop);
    fields.read("stream", out.stream);
    fields.finish(out.extra);
}

// One alternative of a chat completion; `logprobs` stays in `extra`.
struct chat_choice {
    int index = 0;
    chat_message message;
    std::optional<std::string> finish_reason;
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const chat_choice& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("index", value.index, 0);
    fields.write_required("message", value.message, {});
    fields.write("finish_reason", value.finish_reason);
}

inline void from_json(const nlohmann::json& j, chat_choice& out) {
    out = chat_choice{};
    detail::field_reader fields(j);
    fields.read("index", out.index);
    fields.read("message", out.message);
    fields.read("finish_reason", out.finish_reason);
    fields.finish(out.extra);
}

// A chat completions response (`"object": "chat.completion"`).
//
//     auto reply = parse_response<chat_completion>(body);
//     if (reply) { std::cout << reply->text() << "\n"; }
struct chat_completion {
    std::string id;
    std::string object = "chat.completion";
    std::int64_t created = 0; // Unix seconds
    std::string model;
    std::vector<chat_choice> choices;
    std::optional<dbxserve::usage> usage;
    nlohmann::json extra = nlohmann::json::object();
    nlohmann::json raw;
    response_meta meta;

    // The first choice's message text; "" when there is no choice.
    std::string text() const { return choices.empty() ? std::string() : choices[0].message.text(); }
};

inline void to_json(nlohmann::json& j, const chat_completion& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("id", value.id, "");
    fields.write_required("object", value.object, "chat.completion");
    fields.write_required("created", value.created, 0);
    fields.write_required("model", value.model, "");
    fields.write_required("choices", value.choices, {});
    fields.write("usage", value.usage);
}

inline void from_json(const nlohmann::json& j, chat_completion& out) {
    out = chat_completion{};
    detail::field_reader fields(j);
    fields.read("id", out.id);
    fields.read("object", out.object);
    fields.read("created", out.created);
    fields.read("model", out.model);
    fields.read("choices", out.choices);
    fields.read("usage", out.usage);
    fields.finish(out.extra);
}

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/model/chat.hpp
// ---- begin dbxserve/model/chat_agent.hpp




// MLflow ChatAgent endpoints: a list of messages in, a list of messages out.

namespace dbxserve {
inline namespace v0 {

// A ChatAgent message. Response messages carry a unique `id`; tool messages need `name` and
// `tool_call_id`.
struct chat_agent_message {
    std::string role;
    std::optional<std::string> content;
    std::optional<std::string> name;
    std::optional<std::string> id;
    std::vector<tool_call> tool_calls; // not sent when empty
    std::optional<std::string> tool_call_id;
    nlohmann::json attachments; // {name: value} object; null when not sent
    nlohmann::json extra = nlohmann::json::object();

    static chat_agent_message system(std::string text) { return make("system", std::move(text)); }
    static chat_agent_message user(std::string text) { return make("user", std::move(text)); }
    static chat_agent_message assistant(std::string text) {
        return make("assistant", std::move(text));
    }

    // The result of tool call `call_id` made to the tool called `tool_name`.
    static chat_agent_message tool(std::string call_id, std::string tool_name,
                                   std::string content) {
        auto message = make("tool", std::move(content));
        message.tool_call_id = std::move(call_id);
        message.name = std::move(tool_name);
        return message;
    }

private:
    static chat_agent_message make(std::string role, std::string text) {
        chat_agent_message message;
        message.role = std::move(role);
        message.content = std::move(text);
        return message;
    }
};

inline void to_json(nlohmann::json& j, const chat_agent_message& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("role", value.role, "");
    fields.write("content", value.content);
    fields.write("name", value.name);
    fields.write("id", value.id);
    fields.write_nonempty("tool_calls", value.tool_calls);
    fields.write("tool_call_id", value.tool_call_id);
    fields.write("attachments", value.attachments);
}

inline void from_json(const nlohmann::json& j, chat_agent_message& out) {
    out = chat_agent_message{};
    detail::field_reader fields(j);
    fields.read("role", out.role);
    fields.read("content", out.content);
    fields.read("name", out.name);
    fields.read("id", out.id);
    fields.read_nonempty("tool_calls", out.tool_calls);
    fields.read("tool_call_id", out.tool_call_id);
    fields.read_json("attachments", out.attachments, detail::json_shape::object);
    fields.finish(out.extra);
}

// A ChatAgent request.
//
//     chat_agent_request request;
//     request.messages = {chat_agent_message::user("What is our refund policy?")};
//     request.context = chat_context{};
//     request.context->conversation_id = "conv-42";
//     request.databricks_options = {{"return_trace", true}};
struct chat_agent_request {
    std::vector<chat_agent_message> messages;
    std::optional<chat_context> context;
    nlohmann::json custom_inputs;      // a JSON object; null when not sent
    nlohmann::json databricks_options; // e.g. {"return_trace": true}; null when not sent
    std::optional<bool> stream;
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const chat_agent_request& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("messages", value.messages, {});
    fields.write("context", value.context);
    fields.write("custom_inputs", value.custom_inputs);
    fields.write("databricks_options", value.databricks_options);
    fields.write("stream", value.stream);
}

inline void from_json(const nlohmann::json& j, chat_agent_request& out) {
    out = chat_agent_request{};
    detail::field_reader fields(j);
    fields.read("messages", out.messages);
    fields.read("context", out.context);
    fields.read_json("custom_inputs", out.custom_inputs, detail::json_shape::object);
    fields.read_json("databricks_options", out.databricks_options, detail::json_shape::object);
    fields.read("stream", out.stream);
    fields.finish(out.extra);
}

// A ChatAgent response: every message the agent produced this turn, tool calls included.
struct chat_agent_response {
    std::vector<chat_agent_message> messages;
    std::optional<std::string> finish_reason;
    nlohmann::json custom_outputs; // a JSON object; null when not sent
    std::optional<dbxserve::usage> usage;
    nlohmann::json databricks_output; // holds `trace` when the request asked for it
    nlohmann::json extra = nlohmann::json::object();
    nlohmann::json raw;
    response_meta meta;

    // The content of the last assistant message that has content; "" when there is none.
    std::string text() const {
        for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
            if (it->role == "assistant" && it->content.has_value()) {
                return *it->content;
            }
        }
        return {};
    }

    // `databricks_output.trace`, or nullptr when the response has no trace.
    const nlohmann::json* trace() const { return detail::member(databricks_output, "trace"); }
};

inline void to_json(nlohmann::json& j, const chat_agent_response& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("messages", value.messages, {});
    fields.write("finish_reason", value.finish_reason);
    fields.write("custom_outputs", value.custom_outputs);
    fields.write("usage", value.usage);
    fields.write("databricks_output", value.databricks_output);
}

inline void from_json(const nlohmann::json& j, chat_agent_response& out) {
    out = chat_agent_response{};
    detail::field_reader fields(j);
    fields.read("messages", out.messages);
    fields.read("finish_reason", out.finish_reason);
    fields.read_json("custom_outputs", out.custom_outputs, detail::json_shape::object);
    fields.read("usage", out.usage);
    fields.read_json("databricks_output", out.databricks_output, detail::json_shape::object);
    fields.finish(out.extra);
}

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/model/chat_agent.hpp
// ---- begin dbxserve/model/completions.hpp




// The legacy text completions API.

namespace dbxserve {
inline namespace v0 {

// A completions request.
//
//     completion_request request;
//     request.prompt = "Once upon a time";   // sent as a string; {"a", "b"} sends a list
//     request.max_tokens = 64;
struct completion_request {
    string_list prompt;
    std::optional<std::int64_t> max_tokens;
    std::optional<double> temperature;
    std::optional<double> top_p;
    std::optional<std::int64_t> n;
    string_list stop; // not sent when empty
    std::optional<bool> stream;
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const completion_request& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("prompt", value.prompt, {});
    fields.write("max_tokens", value.max_tokens);
    fields.write("temperature", value.temperature);
    fields.write("top_p", value.top_p);
    fields.write("n", value.n);
    fields.write_nonempty("stop", value.stop);
    fields.write("stream", value.stream);
}

inline void from_json(const nlohmann::json& j, completion_request& out) {
    out = completion_request{};
    detail::field_reader fields(j);
    fields.read("prompt", out.prompt);
    fields.read("max_tokens", out.max_tokens);
    fields.read("temperature", out.temperature);
    fields.read("top_p", out.top_p);
    fields.read("n", out.n);
    fields.read_nonempty("stop", out.stop);
    fields.read("stream", out.stream);
    fields.finish(out.extra);
}

struct completion_choice {
    int index = 0;
    std::string text;
    std::optional<std::string> finish_reason;
    nlohmann::json logprobs; // provider-specific shape; null when not sent
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const completion_choice& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("index", value.index, 0);
    fields.write_required("text", value.text, "");
    fields.write("finish_reason", value.finish_reason);
    fields.write("logprobs", value.logprobs);
}

inline void from_json(const nlohmann::json& j, completion_choice& out) {
    out = completion_choice{};
    detail::field_reader fields(j);
    fields.read("index", out.index);
    fields.read("text", out.text);
    fields.read("finish_reason", out.finish_reason);
    fields.read_json("logprobs", out.logprobs);
    fields.finish(out.extra);
}

// A completions response (`"object": "text_completion"`).
struct completion_response {
    std::string id;
    std::string object = "text_completion";
    std::int64_t created = 0; // Unix seconds
    std::string model;
    std::vector<completion_choice> choices;
    std::optional<dbxserve::usage> usage;
    nlohmann::json extra = nlohmann::json::object();
    nlohmann::json raw;
    response_meta meta;

    // The first choice's text; "" when there is no choice.
    std::string text() const { return choices.empty() ? std::string() : choices[0].text; }
};

inline void to_json(nlohmann::json& j, const completion_response& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("id", value.id, "");
    fields.write_required("object", value.object, "text_completion");
    fields.write_required("created", value.created, 0);
    fields.write_required("model", value.model, "");
    fields.write_required("choices", value.choices, {});
    fields.write("usage", value.usage);
}

inline void from_json(const nlohmann::json& j, completion_response& out) {
    out = completion_response{};
    detail::field_reader fields(j);
    fields.read("id", out.id);
    fields.read("object", out.object);
    fields.read("created", out.created);
    fields.read("model", out.model);
    fields.read("choices", out.choices);
    fields.read("usage", out.usage);
    fields.finish(out.extra);
}

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/model/completions.hpp
// ---- begin dbxserve/model/embeddings.hpp




// The embeddings API.

namespace dbxserve {
inline namespace v0 {

// An embeddings request; `input` is sent as a string when one string was given.
//
//     embedding_request request;
//     request.input = {"first text", "second text"};
struct embedding_request {
    string_list input;
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const embedding_request& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("input", value.input, {});
}

inline void from_json(const nlohmann::json& j, embedding_request& out) {
    out = embedding_request{};
    detail::field_reader fields(j);
    fields.read("input", out.input);
    fields.finish(out.extra);
}

// One vector. An embedding sent in another encoding (a base64 string, say) stays in `extra`.
struct embedding_data {
    std::string object = "embedding";
    int index = 0;
    std::vector<double> embedding;
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const embedding_data& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("object", value.object, "embedding");
    fields.write_required("index", value.index, 0);
    fields.write_required("embedding", value.embedding, {});
}

inline void from_json(const nlohmann::json& j, embedding_data& out) {
    out = embedding_data{};
    detail::field_reader fields(j);
    fields.read("object", out.object);
    fields.read("index", out.index);
    fields.read("embedding", out.embedding);
    fields.finish(out.extra);
}

// An embeddings response (`"object": "list"`); `data[i].index` says which input it belongs to.
struct embedding_response {
    std::string object = "list";
    std::string model;
    std::vector<embedding_data> data;
    std::optional<dbxserve::usage> usage;
    nlohmann::json extra = nlohmann::json::object();
    nlohmann::json raw;
    response_meta meta;
};

inline void to_json(nlohmann::json& j, const embedding_response& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("object", value.object, "list");
    fields.write_required("model", value.model, "");
    fields.write_required("data", value.data, {});
    fields.write("usage", value.usage);
}

inline void from_json(const nlohmann::json& j, embedding_response& out) {
    out = embedding_response{};
    detail::field_reader fields(j);
    fields.read("object", out.object);
    fields.read("model", out.model);
    fields.read("data", out.data);
    fields.read("usage", out.usage);
    fields.finish(out.extra);
}

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/model/embeddings.hpp
// ---- begin dbxserve/model/responses_agent.hpp




// MLflow ResponsesAgent endpoints and the OpenAI Responses shape: a list of input items in, a list
// of output items out.

namespace dbxserve {
inline namespace v0 {

// Builders for `responses_request::input` items. An item is plain JSON because the input takes
// messages, earlier output items (function calls, reasoning, ...) and tool results alike; an
// output item from the last response goes back as `nlohmann::json(item)`.
namespace responses_input {

// `content` is a string or an array of parts (`input_text`, `input_image`, `input_file`).
inline nlohmann::json message(std::string role, nlohmann::json content) {
    auto item = nlohmann::json::object();
    item["role"] = std::move(role);
    item["content"] = std::move(content);
    return item;
}

inline nlohmann::json user(std::string text) {
    return message("user", std::move(text));
}
inline nlohmann::json system(std::string text) {
    return message("system", std::move(text));
}
inline nlohmann::json developer(std::string text) {
    return message("developer", std::move(text));
}
inline nlohmann::json assistant(std::string text) {
    return message("assistant", std::move(text));
}

// The call the model made, replayed in the history of the next turn.
inline nlohmann::json function_call(std::string call_id, std::string name, std::string arguments) {
    auto item = nlohmann::json::object();
    item["type"] = "function_call";
    item["call_id"] = std::move(call_id);
    item["name"] = std::move(name);
    item["arguments"] = std::move(arguments);
    return item;
}

// The caller's answer to the function call `call_id`.
inline nlohmann::json function_call_output(std::string call_id, std::string output) {
    auto item = nlohmann::json::object();
    item["type"] = "function_call_output";
    item["call_id"] = std::move(call_id);
    item["output"] = std::move(output);
    return item;
}

} // namespace responses_input

// A ResponsesAgent request.
//
//     responses_request request;
//     request.input = {responses_input::system("Answer in French."),
//                      responses_input::user("Hello!")};
//     request.max_output_tokens = 256;
struct responses_request {
    // Items that are not objects are kept as they are. An `input` given as one string (which the
    // OpenAI route accepts) stays in `extra`.
    std::vector<nlohmann::json> input;
    nlohmann::json custom_inputs; // a JSON object; null when not sent
    std::optional<chat_context> context;
    nlohmann::json tools;       // an array of tool definitions; null when not sent
    nlohmann::json tool_choice; // "auto", "none", "required" or an object; null when not sent
    std::optional<double> temperature;
    std::optional<std::int64_t> max_output_tokens;
    nlohmann::json metadata;           // a JSON object; null when not sent
    nlohmann::json databricks_options; // e.g. {"return_trace": true}; null when not sent
    std::optional<bool> stream;
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const responses_request& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("input", value.input, {});
    fields.write("custom_inputs", value.custom_inputs);
    fields.write("context", value.context);
    fields.write("tools", value.tools);
    fields.write("tool_choice", value.tool_choice);
    fields.write("temperature", value.temperature);
    fields.write("max_output_tokens", value.max_output_tokens);
    fields.write("metadata", value.metadata);
    fields.write("databricks_options", value.databricks_options);
    fields.write("stream", value.stream);
}

inline void from_json(const nlohmann::json& j, responses_request& out) {
    out = responses_request{};
    detail::field_reader fields(j);
    fields.read("input", out.input);
    fields.read_json("custom_inputs", out.custom_inputs, detail::json_shape::object);
    fields.read("context", out.context);
    fields.read_json("tools", out.tools, detail::json_shape::array);
    fields.read_json("tool_choice", out.tool_choice, detail::json_shape::string_or_object);
    fields.read("temperature", out.temperature);
    fields.read("max_output_tokens", out.max_output_tokens);
    fields.read_json("metadata", out.metadata, detail::json_shape::object);
    fields.read_json("databricks_options", out.databricks_options, detail::json_shape::object);
    fields.read("stream", out.stream);
    fields.finish(out.extra);
}

// One output item. `type` says which members apply: `message` has `id`, `role` and `content`
// (parts such as {"type": "output_text", "text": ...}); `function_call` has `call_id`, `name` and
// `arguments` (a JSON text). Other types (`reasoning`, `web_search_call`, ...) and fields such as
// `status` live in `extra`.
struct responses_output_item {
    std::string type;
    std::optional<std::string> id;
    std::optional<std::string> role;
    nlohmann::json content; // null when not sent
    std::optional<std::string> call_id;
    std::optional<std::string> name;
    std::optional<std::string> arguments;
    nlohmann::json extra = nlohmann::json::object();

    // The `output_text` parts of a `message` item, concatenated; "" for other items.
    std::string text() const {
        return type == "message" ? detail::parts_text(content, {"output_text"}, false)
                                 : std::string();
    }
};

inline void to_json(nlohmann::json& j, const responses_output_item& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("type", value.type, "");
    fields.write("id", value.id);
    fields.write("role", value.role);
    fields.write("content", value.content);
    fields.write("call_id", value.call_id);
    fields.write("name", value.name);
    fields.write("arguments", value.arguments);
}

inline void from_json(const nlohmann::json& j, responses_output_item& out) {
    out = responses_output_item{};
    detail::field_reader fields(j);
    fields.read("type", out.type);
    fields.read("id", out.id);
    fields.read("role", out.role);
    fields.read_json("content", out.content, detail::json_shape::string_or_array);
    fields.read("call_id", out.call_id);
    fields.read("name", out.name);
    fields.read("arguments", out.arguments);
    fields.finish(out.extra);
}

// A ResponsesAgent response (`"object": "response"`).
//
//     auto reply = parse_response<responses_response>(body);
//     for (const auto& item : reply->output) {
//         if (item.type == "function_call") { run_tool(*item.name, *item.arguments); }
//     }
//     std::cout << reply->output_text() << "\n";
struct responses_response {
    std::string object = "response";
    std::optional<std::string> id;
    std::vector<responses_output_item> output;
    std::optional<responses_usage> usage;
    nlohmann::json custom_outputs;    // a JSON object; null when not sent
    nlohmann::json databricks_output; // holds `trace` when the request asked for it
    nlohmann::json extra = nlohmann::json::object();
    nlohmann::json raw;
    response_meta meta;

    // The text of every `message` item, in order.
    std::string output_text() const {
        std::string text;
        for (const auto& item : output) {
            text += item.text();
        }
        return text;
    }

    // `databricks_output.trace`, or nullptr when the response has no trace.
    const nlohmann::json* trace() const { return detail::member(databricks_output, "trace"); }
};

inline void to_json(nlohmann::json& j, const responses_response& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("object", value.object, "response");
    fields.write("id", value.id);
    fields.write_required("output", value.output, {});
    fields.write("usage", value.usage);
    fields.write("custom_outputs", value.custom_outputs);
    fields.write("databricks_output", value.databricks_output);
}

inline void from_json(const nlohmann::json& j, responses_response& out) {
    out = responses_response{};
    detail::field_reader fields(j);
    fields.read("object", out.object);
    fields.read("id", out.id);
    fields.read("output", out.output);
    fields.read("usage", out.usage);
    fields.read_json("custom_outputs", out.custom_outputs, detail::json_shape::object);
    fields.read_json("databricks_output", out.databricks_output, detail::json_shape::object);
    fields.finish(out.extra);
}

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/model/responses_agent.hpp
// ---- begin dbxserve/model/stream.hpp




// The pieces a streaming answer arrives in: one JSON object per server-sent event, in the chat
// completions, ChatAgent or Responses shape, and accumulators that join them into the response
// the same request would have got without streaming.
//
//     dbxserve::chat_stream_accumulator answer;
//     // for each event that is not the [DONE] sentinel:
//     auto chunk = dbxserve::detail::parse_stream_chunk<dbxserve::chat_completion_chunk>(data);
//     if (!chunk) { return chunk.error(); }
//     std::cout << chunk->text() << std::flush;
//     answer.add(*chunk);
//     // at the end:
//     dbxserve::chat_completion whole = answer.result();

namespace dbxserve {
inline namespace v0 {
namespace detail {

// For string members left out of the JSON when empty: an empty string received stays in `extra`
// instead, so it is written back.
inline void read_nonempty_string(field_reader& fields, const nlohmann::json& j, const char* key,
                                 std::string& out) {
    const auto* value = member(j, key);
    if (value != nullptr && value->is_string() &&
        !value->get_ptr<const nlohmann::json::string_t*>()->empty()) {
        fields.read(key, out);
    }
}

} // namespace detail

// A fragment of one tool call. The first fragment of a call usually carries `id`, `type` and
// `function_name`; every fragment carries a piece of `arguments`. `index` says which call of the
// message the fragment belongs to.
struct tool_call_delta {
    std::optional<std::int64_t> index;
    std::optional<std::string> id;
    std::optional<std::string> type;
    std::optional<std::string> function_name; // `function.name` on the wire
    std::string arguments;                    // `function.arguments`: a piece of a JSON text

    // Unknown members of `function`, if any, are kept under `extra["function"]`.
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const tool_call_delta& value) {
    detail::field_writer fields(j, value.extra);
    fields.write("index", value.index);
    fields.write("id", value.id);
    fields.write("type", value.type);

    // A `function` of another type, kept in `extra`, is written back as it came.
    auto& function = j["function"];
    if (function.is_null()) {
        function = nlohmann::json::object();
    }
    if (function.is_object()) {
        if (value.function_name.has_value()) {
            function["name"] = *value.function_name;
        }
        function["arguments"] = value.arguments;
    }
}

inline void from_json(const nlohmann::json& j, tool_call_delta& out) {
    out = tool_call_delta{};
    detail::field_reader fields(j);
    fields.read("index", out.index);
    fields.read("id", out.id);
    fields.read("type", out.type);

    nlohmann::json function;
    nlohmann::json function_rest = nlohmann::json::object();
    if (fields.read_json("function", function, detail::json_shape::object)) {
        detail::field_reader inner(function);
        inner.read("name", out.function_name);
        inner.read("arguments", out.arguments);
        inner.finish(function_rest);
    }
    fields.finish(out.extra);

    if (!function_rest.empty()) {
        out.extra["function"] = std::move(function_rest);
    }
}

// What one chunk adds to a choice's message. `content` is usually a string fragment; null when
// the chunk carries none.
struct chat_delta {
    std::optional<std::string> role;
    nlohmann::json content;
    std::vector<tool_call_delta> tool_calls; // not sent when empty
    nlohmann::json extra = nlohmann::json::object();

    // The content fragment as text; "" when there is none.
    std::string text() const { return detail::message_text(content); }
};

inline void to_json(nlohmann::json& j, const chat_delta& value) {
    detail::field_writer fields(j, value.extra);
    fields.write("role", value.role);
    fields.write("content", value.content);
    fields.write_nonempty("tool_calls", value.tool_calls);
}

inline void from_json(const nlohmann::json& j, chat_delta& out) {
    out = chat_delta{};
    detail::field_reader fields(j);
    fields.read("role", out.role);
    fields.read_json("content", out.content, detail::json_shape::string_or_array);
    fields.read_nonempty("tool_calls", out.tool_calls);
    fields.finish(out.extra);
}

struct chat_chunk_choice {
    std::int64_t index = 0;
    chat_delta delta;
    std::optional<std::string> finish_reason; // set on the choice's last chunk
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const chat_chunk_choice& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("index", value.index, 0);
    fields.write_required("delta", value.delta, {});
    fields.write("finish_reason", value.finish_reason);
}

inline void from_json(const nlohmann::json& j, chat_chunk_choice& out) {
    out = chat_chunk_choice{};
    detail::field_reader fields(j);
    fields.read("index", out.index);
    fields.read("delta", out.delta);
    fields.read("finish_reason", out.finish_reason);
    fields.finish(out.extra);
}

// One event of a streamed chat completion (`"object": "chat.completion.chunk"`). A chunk that
// only reports `usage` may have no choice.
struct chat_completion_chunk {
    std::string id;
    std::string object = "chat.completion.chunk";
    std::int64_t created = 0; // Unix seconds
    std::string model;
    std::vector<chat_chunk_choice> choices;
    std::optional<dbxserve::usage> usage;
    nlohmann::json extra = nlohmann::json::object();
    nlohmann::json raw;

    // The first choice's content fragment; "" when there is none.
    std::string text() const { return choices.empty() ? std::string() : choices[0].delta.text(); }
};

inline void to_json(nlohmann::json& j, const chat_completion_chunk& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("id", value.id, "");
    fields.write_required("object", value.object, "chat.completion.chunk");
    fields.write_required("created", value.created, 0);
    fields.write_required("model", value.model, "");
    fields.write_required("choices", value.choices, {});
    fields.write("usage", value.usage);
}

inline void from_json(const nlohmann::json& j, chat_completion_chunk& out) {
    out = chat_completion_chunk{};
    detail::field_reader fields(j);
    fields.read("id", out.id);
    fields.read("object", out.object);
    fields.read("created", out.created);
    fields.read("model", out.model);
    fields.read("choices", out.choices);
    fields.read("usage", out.usage);
    fields.finish(out.extra);
}

// One event of a streamed ChatAgent answer: a piece of the message `delta.id`. The last chunk
// may carry `finish_reason`, `custom_outputs`, `usage` and the trace in `databricks_output`.
struct chat_agent_chunk {
    chat_agent_message delta;
    std::optional<std::string> finish_reason;
    nlohmann::json custom_outputs; // a JSON object; null when not sent
    std::optional<dbxserve::usage> usage;
    nlohmann::json databricks_output; // a JSON object; null when not sent
    nlohmann::json extra = nlohmann::json::object();
    nlohmann::json raw;

    // The content fragment; "" when there is none.
    std::string text() const { return delta.content.value_or(std::string()); }
};

inline void to_json(nlohmann::json& j, const chat_agent_chunk& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("delta", value.delta, {});
    fields.write("finish_reason", value.finish_reason);
    fields.write("custom_outputs", value.custom_outputs);
    fields.write("usage", value.usage);
    fields.write("databricks_output", value.databricks_output);
}

inline void from_json(const nlohmann::json& j, chat_agent_chunk& out) {
    out = chat_agent_chunk{};
    detail::field_reader fields(j);
    fields.read("delta", out.delta);
    fields.read("finish_reason", out.finish_reason);
    fields.read_json("custom_outputs", out.custom_outputs, detail::json_shape::object);
    fields.read("usage", out.usage);
    fields.read_json("databricks_output", out.databricks_output, detail::json_shape::object);
    fields.finish(out.extra);
}

// One event of a streamed Responses answer. `type` says which members apply:
// `response.output_text.delta` has `item_id`, `delta` and the index fields,
// `response.output_item.added` / `.done` have `item` and `output_index`, and
// `response.created` / `response.completed` have `response`. Everything else (`sequence_number`,
// `annotation`, MLflow's `custom_outputs`, ...) lives in `extra`.
struct responses_stream_event {
    std::string type;
    std::string item_id; // not sent when empty
    std::string delta;   // not sent when empty
    std::optional<std::int64_t> output_index;
    std::optional<std::int64_t> content_index;
    nlohmann::json item;     // a JSON object; null when not sent
    nlohmann::json response; // a JSON object; null when not sent
    nlohmann::json extra = nlohmann::json::object();
    nlohmann::json raw;

    bool is_text_delta() const { return type == "response.output_text.delta"; }
    bool is_item_done() const { return type == "response.output_item.done"; }
    bool is_completed() const { return type == "response.completed"; }

    // The finished output item of a `response.output_item.done` event.
    std::optional<responses_output_item> done_item() const {
        if (!is_item_done() || !item.is_object()) {
            return std::nullopt;
        }
        responses_output_item done;
        from_json(item, done);
        return done;
    }
};

inline void to_json(nlohmann::json& j, const responses_stream_event& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("type", value.type, "");
    fields.write_nonempty("item_id", value.item_id);
    fields.write_nonempty("delta", value.delta);
    fields.write("output_index", value.output_index);
    fields.write("content_index", value.content_index);
    fields.write("item", value.item);
    fields.write("response", value.response);
}

inline void from_json(const nlohmann::json& j, responses_stream_event& out) {
    out = responses_stream_event{};
    detail::field_reader fields(j);
    fields.read("type", out.type);
    detail::read_nonempty_string(fields, j, "item_id", out.item_id);
    detail::read_nonempty_string(fields, j, "delta", out.delta);
    fields.read("output_index", out.output_index);
    fields.read("content_index", out.content_index);
    fields.read_json("item", out.item, detail::json_shape::object);
    fields.read_json("response", out.response, detail::json_shape::object);
    fields.finish(out.extra);
}

namespace detail {

inline std::string stream_error_text(const nlohmann::json& object,
                                     std::initializer_list<const char*> keys) {
    if (!object.is_object()) {
        return {};
    }
    for (const char* key : keys) {
        auto text = json_text(object, key);
        if (!text.empty()) {
            return text;
        }
    }
    return {};
}

inline error make_stream_error(std::string code, std::string message, const nlohmann::json& data) {
    error failure;
    failure.kind = error_kind::http;
    failure.http_status = 200;
    failure.error_code = std::move(code);
    failure.message = message.empty() ? std::string("the server reported an error in the stream")
                                      : std::move(message);
    failure.body = data;
    return failure;
}

// An error the server sent inside a stream whose HTTP reply was already 200: the OpenAI form
// `{"error": {"message", "type" | "code"}}`, the Databricks form `{"error_code", "message"}`, and
// the Responses events `{"type": "error" | "response.error", "code"?, "message" | "error"}` and
// `response.failed` (whose `response.error` says why). The error has kind `http` and
// `http_status` 200, the status the reply really had, so a caller that branches on kind treats
// it as the server's refusal, and `body` holds the event.
inline std::optional<error> stream_error_of(const nlohmann::json& data) {
    if (!data.is_object()) {
        return std::nullopt;
    }

    const auto* type = member(data, "type");
    const std::string type_name = type != nullptr && type->is_string()
                                      ? *type->get_ptr<const nlohmann::json::string_t*>()
                                      : std::string();
    if (type_name == "response.failed") {
        const auto* response = member(data, "response");
        const auto* cause = response != nullptr ? member(*response, "error") : nullptr;
        const nlohmann::json none;
        const auto& why = cause != nullptr ? *cause : none;
        return make_stream_error(stream_error_text(why, {"code", "type"}),
                                 stream_error_text(why, {"message"}), data);
    }

    const auto* nested = member(data, "error");
    if (type_name == "error" || type_name == "response.error") {
        if (nested != nullptr && nested->is_object()) {
            return make_stream_error(stream_error_text(*nested, {"code", "type"}),
                                     stream_error_text(*nested, {"message"}), data);
        }
        auto message = stream_error_text(data, {"message", "error"});
        return make_stream_error(stream_error_text(data, {"code", "error_code"}),
                                 std::move(message), data);
    }

    if (nested != nullptr && nested->is_object()) {
        return make_stream_error(stream_error_text(*nested, {"code", "type", "error_code"}),
                                 stream_error_text(*nested, {"message"}), data);
    }
    if (nested != nullptr && nested->is_string() &&
        !nested->get_ptr<const nlohmann::json::string_t*>()->empty()) {
        return make_stream_error(stream_error_text(data, {"error_code"}),
                                 *nested->get_ptr<const nlohmann::json::string_t*>(), data);
    }

    auto code = stream_error_text(data, {"error_code"});
    if (!code.empty()) {
        return make_stream_error(std::move(code), stream_error_text(data, {"message"}), data);
    }
    return std::nullopt;
}

// Reads the `data` of one stream event as `T` (a chunk or event type above), with `raw` set.
// Fails with kind `parse` when the data is not a JSON object, and with the error the server
// sent when the event is an in-stream error. The `[DONE]` sentinel must be checked first.
template <class T>
result<T> parse_stream_chunk(std::string_view data) {
    auto parsed = parse_object(data);
    if (!parsed) {
        return parsed.error();
    }
    if (auto failure = stream_error_of(*parsed)) {
        return std::move(*failure);
    }

    T chunk{};
    from_json(*parsed, chunk);
    chunk.raw = std::move(*parsed);
    return chunk;
}

} // namespace detail

// Joins the chunks of a streamed chat completion into the `chat_completion` the same request
// returns without streaming: content is concatenated per choice, tool call fragments are joined
// by their `index`, and `usage` comes from whichever chunk carries it. `raw` and `meta` of the
// result are left empty.
class chat_stream_accumulator {
public:
    void add(const chat_completion_chunk& chunk) {
        if (id_.empty()) {
            id_ = chunk.id;
        }
        if (created_ == 0) {
            created_ = chunk.created;
        }
        if (model_.empty()) {
            model_ = chunk.model;
        }
        if (chunk.usage.has_value()) {
            usage_ = chunk.usage;
        }

        for (const auto& piece : chunk.choices) {
            add_choice(piece);
        }
    }

    // The answer so far. A choice whose deltas never named a role gets "assistant", the only
    // role the API answers with. A message that only calls tools has a null content, kept in
    // `extra` as parsing the non-streamed reply keeps it.
    chat_completion result() const {
        chat_completion whole;
        whole.id = id_;
        whole.created = created_;
        whole.model = model_;
        whole.usage = usage_;

        for (const auto& partial : choices_) {
            chat_choice out;
            out.index = static_cast<int>(partial.index);
            out.finish_reason = partial.finish_reason;
            out.message.role = partial.role.value_or("assistant");
            if (partial.has_content && (!partial.content.empty() || partial.calls.empty())) {
                out.message.content = partial.content;
            } else {
                // As the non-streamed reply reads: it sends `"content": null`, which lands here.
                out.message.extra["content"] = nullptr;
            }
            for (const auto& call : partial.calls) {
                tool_call made;
                made.id = call.id.value_or(std::string());
                made.type = call.type.value_or("function");
                made.function.name = call.name.value_or(std::string());
                made.function.arguments = call.arguments;
                out.message.tool_calls.push_back(std::move(made));
            }
            whole.choices.push_back(std::move(out));
        }

        std::stable_sort(
            whole.choices.begin(), whole.choices.end(),
            [](const chat_choice& a, const chat_choice& b) { return a.index < b.index; });
        return whole;
    }

private:
    struct partial_call {
        std::optional<std::int64_t> index;
        std::optional<std::string> id;
        std::optional<std::string> type;
        std::optional<std::string> name;
        std::string arguments;
    };

    struct partial_choice {
        std::int64_t index = 0;
        std::optional<std::string> role;
        std::string content;
        bool has_content = false;
        std::vector<partial_call> calls;
        std::optional<std::string> finish_reason;
    };

    void add_choice(const chat_chunk_choice& piece) {
        auto& choice = choice_at(piece.index);
        if (!choice.role.has_value() && piece.delta.role.has_value()) {
            choice.role = piece.delta.role;
        }
        if (piece.delta.content.is_string() || piece.delta.content.is_array()) {
            choice.content += piece.delta.text();
            choice.has_content = true;
        }
        for (const auto& fragment : piece.delta.tool_calls) {
            add_call(choice, fragment);
        }
        if (piece.finish_reason.has_value()) {
            choice.finish_reason = piece.finish_reason;
        }
    }

    partial_choice& choice_at(std::int64_t index) {
        for (auto& choice : choices_) {
            if (choice.index == index) {
                return choice;
            }
        }
        choices_.emplace_back();
        choices_.back().index = index;
        return choices_.back();
    }

    static void add_call(partial_choice& choice, const tool_call_delta& fragment) {
        auto& call = call_for(choice, fragment);
        if (!call.index.has_value()) {
            call.index = fragment.index;
        }
        if (!call.id.has_value() && fragment.id.has_value()) {
            call.id = fragment.id;
        }
        if (!call.type.has_value() && fragment.type.has_value()) {
            call.type = fragment.type;
        }
        if (!call.name.has_value() && fragment.function_name.has_value()) {
            call.name = fragment.function_name;
        }
        call.arguments += fragment.arguments;
    }

    // The call a fragment continues: the one with its index, or, from a server that sends no
    // index, the one with its id, or the last one when it names no new call.
    static partial_call& call_for(partial_choice& choice, const tool_call_delta& fragment) {
        for (auto& call : choice.calls) {
            if (fragment.index.has_value() && call.index == fragment.index) {
                return call;
            }
        }
        if (!fragment.index.has_value() && !choice.calls.empty()) {
            for (auto& call : choice.calls) {
                if (fragment.id.has_value() && call.id == fragment.id) {
                    return call;
                }
            }
            if (!fragment.id.has_value()) {
                return choice.calls.back();
            }
        }
        choice.calls.emplace_back();
        return choice.calls.back();
    }

    std::string id_;
    std::int64_t created_ = 0;
    std::string model_;
    std::optional<dbxserve::usage> usage_;
    std::vector<partial_choice> choices_;
};

// Joins the chunks of a streamed ChatAgent answer into a `chat_agent_response`: the content of
// every chunk is appended to the message with the same `delta.id`, messages keep the order in
// which their first chunk came, and the last chunk that carries `finish_reason`,
// `custom_outputs`, `usage` or `databricks_output` sets it.
class chat_agent_stream_accumulator {
public:
    void add(const chat_agent_chunk& chunk) {
        merge(chunk.delta);

        if (chunk.finish_reason.has_value()) {
            finish_reason_ = chunk.finish_reason;
        }
        if (!chunk.custom_outputs.is_null()) {
            custom_outputs_ = chunk.custom_outputs;
        }
        if (chunk.usage.has_value()) {
            usage_ = chunk.usage;
        }
        if (!chunk.databricks_output.is_null()) {
            databricks_output_ = chunk.databricks_output;
        }
    }

    chat_agent_response result() const {
        chat_agent_response whole;
        whole.messages = messages_;
        whole.finish_reason = finish_reason_;
        whole.custom_outputs = custom_outputs_;
        whole.usage = usage_;
        whole.databricks_output = databricks_output_;
        return whole;
    }

private:
    // A delta without an id continues the last message when that one has no id either.
    void merge(const chat_agent_message& delta) {
        chat_agent_message* known = nullptr;
        for (auto& message : messages_) {
            if (delta.id.has_value() && message.id == delta.id) {
                known = &message;
                break;
            }
        }
        if (!delta.id.has_value() && !messages_.empty() && !messages_.back().id.has_value()) {
            known = &messages_.back();
        }
        if (known == nullptr) {
            messages_.push_back(delta);
            return;
        }

        if (delta.content.has_value()) {
            if (!known->content.has_value()) {
                known->content.emplace();
            }
            *known->content += *delta.content;
        }
        if (known->role.empty()) {
            known->role = delta.role;
        }
        if (!known->name.has_value()) {
            known->name = delta.name;
        }
        if (!known->tool_call_id.has_value()) {
            known->tool_call_id = delta.tool_call_id;
        }
        if (known->attachments.is_null()) {
            known->attachments = delta.attachments;
        }
        known->tool_calls.insert(known->tool_calls.end(), delta.tool_calls.begin(),
                                 delta.tool_calls.end());
    }

    std::vector<chat_agent_message> messages_;
    std::optional<std::string> finish_reason_;
    nlohmann::json custom_outputs_;
    std::optional<dbxserve::usage> usage_;
    nlohmann::json databricks_output_;
};

// Joins the events of a streamed Responses answer into a `responses_response`. Text deltas build
// `message` items per `item_id`; the item of `response.output_item.done` replaces what the deltas
// built; the `response` of `response.completed`, when it comes, is the result. Events that carry
// MLflow's `custom_outputs` or a `databricks_output` object set those.
class responses_stream_accumulator {
public:
    void add(const responses_stream_event& event) {
        take_side_outputs(event);

        if (event.is_completed() && event.response.is_object()) {
            completed_ = event.response;
            return;
        }
        if (const auto* id = detail::member(event.response, "id")) {
            if (id->is_string() && !id_.has_value()) {
                id_ = *id->get_ptr<const nlohmann::json::string_t*>();
            }
        }

        if (event.is_text_delta()) {
            add_text(event);
        } else if (event.is_item_done() || event.type == "response.output_item.added") {
            add_item(event);
        }
    }

    responses_response result() const {
        if (!completed_.is_null()) {
            responses_response whole;
            from_json(completed_, whole);
            whole.raw = completed_;
            if (whole.custom_outputs.is_null()) {
                whole.custom_outputs = custom_outputs_;
            }
            if (whole.databricks_output.is_null()) {
                whole.databricks_output = databricks_output_;
            }
            return whole;
        }

        responses_response whole;
        whole.id = id_;
        whole.custom_outputs = custom_outputs_;
        whole.databricks_output = databricks_output_;
        for (const auto& partial : items_) {
            whole.output.push_back(built(partial));
        }
        return whole;
    }

private:
    struct partial_item {
        responses_output_item item;
        std::optional<std::int64_t> output_index;
        std::vector<std::pair<std::int64_t, std::string>> texts; // by content_index
        bool done = false;
    };

    void take_side_outputs(const responses_stream_event& event) {
        if (const auto* custom = detail::member(event.extra, "custom_outputs")) {
            if (custom->is_object()) {
                custom_outputs_ = *custom;
            }
        }
        if (const auto* output = detail::member(event.extra, "databricks_output")) {
            if (output->is_object()) {
                databricks_output_ = *output;
            }
        }
    }

    void add_text(const responses_stream_event& event) {
        auto* partial =
            find(event.item_id.empty() ? std::nullopt : std::optional<std::string>(event.item_id),
                 event.output_index);
        if (partial == nullptr) {
            partial = &items_.emplace_back();
            partial->item.type = "message";
            partial->item.role = "assistant";
            if (!event.item_id.empty()) {
                partial->item.id = event.item_id;
            }
            partial->output_index = event.output_index;
        }
        if (partial->done) {
            return;
        }

        const std::int64_t part = event.content_index.value_or(0);
        for (auto& text : partial->texts) {
            if (text.first == part) {
                text.second += event.delta;
                return;
            }
        }
        partial->texts.emplace_back(part, event.delta);
    }

    void add_item(const responses_stream_event& event) {
        if (!event.item.is_object()) {
            return;
        }
        responses_output_item item;
        from_json(event.item, item);

        auto* partial = find(item.id, event.output_index);
        if (partial == nullptr) {
            partial = &items_.emplace_back();
            partial->output_index = event.output_index;
        } else if (!event.is_item_done()) {
            // An `added` event for an item already known must not undo the text it has.
            return;
        }

        partial->item = std::move(item);
        if (event.is_item_done()) {
            partial->done = true;
            partial->texts.clear();
        }
        if (!partial->output_index.has_value()) {
            partial->output_index = event.output_index;
        }
    }

    partial_item* find(const std::optional<std::string>& item_id,
                       std::optional<std::int64_t> output_index) {
        for (auto& partial : items_) {
            if (item_id.has_value() && partial.item.id == item_id) {
                return &partial;
            }
        }
        if (!item_id.has_value() && output_index.has_value()) {
            for (auto& partial : items_) {
                if (partial.output_index == output_index) {
                    return &partial;
                }
            }
        }
        return nullptr;
    }

    // A message item that is still being streamed: its text parts set from the deltas.
    static responses_output_item built(const partial_item& partial) {
        auto item = partial.item;
        if (partial.texts.empty()) {
            return item;
        }

        auto parts = item.content.is_array() ? item.content : nlohmann::json::array();
        for (const auto& text : partial.texts) {
            // An index past the end appends, so a bogus index cannot make us allocate for it.
            auto at = parts.size();
            if (text.first >= 0 && static_cast<std::size_t>(text.first) < parts.size()) {
                at = static_cast<std::size_t>(text.first);
            }
            if (at == parts.size()) {
                parts.push_back({{"type", "output_text"}, {"text", ""}});
            }
            if (!parts[at].is_object()) {
                parts[at] = nlohmann::json::object();
            }
            if (!parts[at].contains("type")) {
                parts[at]["type"] = "output_text";
            }
            parts[at]["text"] = text.second;
        }
        item.content = std::move(parts);
        return item;
    }

    std::optional<std::string> id_;
    std::vector<partial_item> items_;
    nlohmann::json completed_;
    nlohmann::json custom_outputs_;
    nlohmann::json databricks_output_;
};

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/model/stream.hpp
// ---- begin dbxserve/model/tabular.hpp




// Custom (MLflow pyfunc) models and feature serving: pandas frames or tensors in, predictions out.

namespace dbxserve {
inline namespace v0 {

// A pandas DataFrame in "split" orientation. Column labels that are not strings leave `columns`
// empty and stay in `extra`.
struct dataframe_split {
    std::vector<std::string> columns;
    nlohmann::json index; // optional row labels; null when not sent
    nlohmann::json data;  // one array per row
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const dataframe_split& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("columns", value.columns, {});
    fields.write("index", value.index);
    fields.write_required("data", value.data.is_null() ? nlohmann::json::array() : value.data,
                          nlohmann::json::array());
}

inline void from_json(const nlohmann::json& j, dataframe_split& out) {
    out = dataframe_split{};
    detail::field_reader fields(j);
    fields.read("columns", out.columns);
    fields.read_json("index", out.index, detail::json_shape::array);
    fields.read_json("data", out.data, detail::json_shape::array);
    fields.finish(out.extra);
}

// The input kinds of a custom model request; each is also the name of its JSON field.
enum class tabular_format { none, dataframe_split, dataframe_records, instances, inputs };

constexpr const char* to_string(tabular_format format) noexcept {
    switch (format) {
    case tabular_format::none:
        return "none";
    case tabular_format::dataframe_split:
        return "dataframe_split";
    case tabular_format::dataframe_records:
        return "dataframe_records";
    case tabular_format::instances:
        return "instances";
    case tabular_format::inputs:
        return "inputs";
    }
    return "unknown";
}

// A request to a custom model. Serving takes exactly one input kind per request, so the request
// holds one `format` and its payload: `frame` for dataframe_split, `payload` for the others.
//
//     auto request = tabular_request::split({"x", "y"}, {{1.0, 2.0}, {3.0, 4.0}});
//     request.params = {{"threshold", 0.5}};
//     auto rows = tabular_request::records({{{"x", 1.0}, {"y", 2.0}}});
struct tabular_request {
    tabular_format format = tabular_format::none;
    dbxserve::dataframe_split frame; // the input when format is dataframe_split
    nlohmann::json payload;          // the input for the other formats
    nlohmann::json params;           // inference parameters, a JSON object; null when not sent
    nlohmann::json extra = nlohmann::json::object();

    static tabular_request split(std::vector<std::string> columns, nlohmann::json data) {
        tabular_request request;
        request.format = tabular_format::dataframe_split;
        request.frame.columns = std::move(columns);
        request.frame.data = std::move(data);
        return request;
    }

    // `rows` is an array of {column: value} objects.
    static tabular_request records(nlohmann::json rows) {
        return with(tabular_format::dataframe_records, std::move(rows));
    }

    // Tensor input in row form: one element per row.
    static tabular_request instances(nlohmann::json rows) {
        return with(tabular_format::instances, std::move(rows));
    }

    // Tensor input in column form: one named tensor per input, or a single tensor.
    static tabular_request inputs(nlohmann::json tensors) {
        return with(tabular_format::inputs, std::move(tensors));
    }

    // Fails with `error_kind::invalid_input` unless there is exactly one input kind (counting
    // input fields placed in `extra`) and it has a payload.
    result<void> validate() const {
        int kinds = format == tabular_format::none ? 0 : 1;
        for (auto other : {tabular_format::dataframe_split, tabular_format::dataframe_records,
                           tabular_format::instances, tabular_format::inputs}) {
            if (other != format && detail::member(extra, to_string(other)) != nullptr) {
                ++kinds;
            }
        }
        if (kinds == 1 && (format == tabular_format::dataframe_split || !payload.is_null())) {
            return {};
        }
        return make_error(error_kind::invalid_input,
                          "a tabular request needs exactly one of dataframe_split, "
                          "dataframe_records, instances, inputs; it has " +
                              std::to_string(kinds));
    }

private:
    static tabular_request with(tabular_format format, nlohmann::json payload) {
        tabular_request request;
        request.format = format;
        request.payload = std::move(payload);
        return request;
    }
};

inline void to_json(nlohmann::json& j, const tabular_request& value) {
    detail::field_writer fields(j, value.extra);
    if (value.format == tabular_format::dataframe_split) {
        fields.write_required("dataframe_split", value.frame, {});
    } else if (value.format != tabular_format::none) {
        fields.write(to_string(value.format), value.payload);
    }
    fields.write("params", value.params);
}

// A body with several input kinds (which serving rejects) keeps the first in the typed members
// and the others in `extra`, so it is written back unchanged.
inline void from_json(const nlohmann::json& j, tabular_request& out) {
    out = tabular_request{};
    detail::field_reader fields(j);
    if (fields.read("dataframe_split", out.frame)) {
        out.format = tabular_format::dataframe_split;
    } else if (fields.read_json("dataframe_records", out.payload, detail::json_shape::array)) {
        out.format = tabular_format::dataframe_records;
    } else if (fields.read_json("instances", out.payload)) {
        out.format = tabular_format::instances;
    } else if (fields.read_json("inputs", out.payload)) {
        out.format = tabular_format::inputs;
    }
    fields.read_json("params", out.params, detail::json_shape::object);
    fields.finish(out.extra);
}

// What a custom model answers (`predictions`), or a feature serving endpoint (`outputs`).
struct prediction_response {
    nlohmann::json predictions; // null when not sent
    nlohmann::json outputs;     // null when not sent
    nlohmann::json extra = nlohmann::json::object();
    nlohmann::json raw;
    response_meta meta;
};

inline void to_json(nlohmann::json& j, const prediction_response& value) {
    detail::field_writer fields(j, value.extra);
    fields.write("predictions", value.predictions);
    fields.write("outputs", value.outputs);
}

inline void from_json(const nlohmann::json& j, prediction_response& out) {
    out = prediction_response{};
    detail::field_reader fields(j);
    fields.read_json("predictions", out.predictions);
    fields.read_json("outputs", out.outputs);
    fields.finish(out.extra);
}

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/model/tabular.hpp
// ---- end dbxserve/model/model.hpp
// ---- begin dbxserve/version.hpp

// Library version, also reported in the User-Agent of every request.
#define DBXSERVE_VERSION_MAJOR 0
#define DBXSERVE_VERSION_MINOR 1
#define DBXSERVE_VERSION_PATCH 0
#define DBXSERVE_VERSION_STRING "0.1.0"

namespace dbxserve {
// The inline namespace carries the version, so that a plugin and its host that embed two different
// copies of the header cannot silently mix their types (one-definition-rule clashes become link
// errors instead).
inline namespace v0 {

constexpr const char* version() noexcept {
    return DBXSERVE_VERSION_STRING;
}

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/version.hpp

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

    // Sent as X-Databricks-Workspace-Id; when empty, the id the OAuth discovery learned from the
    // host metadata is sent instead (as the official SDKs do).
    std::string workspace_id;

    // Overall deadline of a call that sets none in its `call_options`: covers token fetches,
    // every attempt and the waits between retries.
    std::chrono::milliseconds call_timeout{std::chrono::minutes(10)};

    // What the default retry policy retries, and how long it waits: 429 and 503 and failures
    // before the request was sent, up to 5 attempts, full-jitter backoff from 1 s to 60 s,
    // Retry-After honoured.
    retry_options retry;

    // Worker threads of the executor that runs the `*_async` calls, created on first use.
    std::size_t async_threads = 2;

    // Runs the `*_async` calls instead of the client's own threads, e.g. a game engine's job
    // system. It must run every task it is given, on any thread.
    std::function<void(std::function<void()>)> executor;
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

namespace detail {

template <class Policy, class = void>
struct knows_workspace_id : std::false_type {};
template <class Policy>
struct knows_workspace_id<
    Policy, std::void_t<decltype(std::declval<const Policy&>().discovered_workspace_id())>>
    : std::true_type {};

// The reply type each request type is answered with.
template <class Request>
struct response_of;
template <>
struct response_of<chat_request> {
    using type = chat_completion;
};
template <>
struct response_of<completion_request> {
    using type = completion_response;
};
template <>
struct response_of<embedding_request> {
    using type = embedding_response;
};
template <>
struct response_of<tabular_request> {
    using type = prediction_response;
};
template <>
struct response_of<chat_agent_request> {
    using type = chat_agent_response;
};
template <>
struct response_of<responses_request> {
    using type = responses_response;
};

// The chunk type and accumulator of each streamable request type.
template <class Request>
struct stream_traits;
template <>
struct stream_traits<chat_request> {
    using chunk = chat_completion_chunk;
    using accumulator = chat_stream_accumulator;
    static bool terminal(const chunk& c) {
        return std::any_of(c.choices.begin(), c.choices.end(),
                           [](const chat_chunk_choice& choice) { return choice.finish_reason; });
    }
};
template <>
struct stream_traits<chat_agent_request> {
    using chunk = chat_agent_chunk;
    using accumulator = chat_agent_stream_accumulator;
    static bool terminal(const chunk& c) { return c.finish_reason.has_value(); }
};
template <>
struct stream_traits<responses_request> {
    using chunk = responses_stream_event;
    using accumulator = responses_stream_accumulator;
    static bool terminal(const chunk& c) { return c.is_completed(); }
};

// One call's deadline and cancellation. The caller's token and a timer at the deadline both
// cancel an internal source, so a stalled server or a slow token endpoint cannot hold the call
// past its deadline: the transport sees the cancellation and drops the connection.
class call_scope {
public:
    call_scope(const call_options& call, std::chrono::milliseconds default_timeout,
               timer_service& timers)
        : until_(deadline::after(call.timeout.value_or(default_timeout))),
          expired_(std::make_shared<std::atomic<bool>>(false)) {
        cancellation_source source = source_;
        link_ = call.cancel.on_cancel([source]() mutable { source.cancel(); });
        auto expired = expired_;
        timer_ = timers.schedule_at(until_.when(), [source, expired]() mutable {
            expired->store(true);
            source.cancel();
        });
    }

    call_scope(const call_scope&) = delete;
    call_scope& operator=(const call_scope&) = delete;

    ~call_scope() {
        timer_.cancel();
        link_.reset();
    }

    call_context context() const { return call_context{until_, source_.token()}; }
    const deadline& until() const { return until_; }
    cancellation_token token() const { return source_.token(); }

    // A cancellation that the deadline caused is reported as what it is: a timeout.
    error finish(error e) const {
        if (e.kind == error_kind::cancelled && expired_->load()) {
            e.kind = error_kind::timeout;
            e.message = "the call's deadline passed (" + e.message + ")";
        }
        return e;
    }

private:
    deadline until_;
    cancellation_source source_;
    std::shared_ptr<std::atomic<bool>> expired_;
    cancellation_registration link_;
    timer_handle timer_;
};

inline bool needs_new_token(const http_response& response) {
    if (response.status == 401) {
        return true;
    }
    // Some gateways answer an expired token with 403 rather than 401.
    if (response.status != 403) {
        return false;
    }
    std::string text = ascii_lower(response.body);
    return text.find("expired") != std::string::npos && text.find("token") != std::string::npos;
}

// Bodies kept in memory while streaming: an error reply, or a 2xx reply that is not an event
// stream (a server that ignored "stream": true). Events themselves are never buffered whole.
constexpr std::size_t max_buffered_error_body = 1 << 20;
constexpr std::size_t max_buffered_plain_body = 16 << 20;

// Turns the bytes of one streaming attempt into typed chunks for the caller.
template <class Request, class OnChunk>
class stream_sink {
public:
    using traits = stream_traits<Request>;
    using chunk_type = typename traits::chunk;

    explicit stream_sink(OnChunk& on_chunk) : on_chunk_(on_chunk) {}

    response_sink sink() {
        response_sink s;
        s.on_head = [this](int status, const header_list& headers) {
            return on_head(status, headers);
        };
        s.on_data = [this](std::string_view bytes) { return on_data(bytes); };
        return s;
    }

    bool on_head(int status, const header_list& headers) {
        // A new attempt (after a 401 or a 429) starts from nothing.
        status_ = status;
        body_.clear();
        parser_.reset();
        accumulator_ = typename traits::accumulator();
        complete_ = false;
        const std::string type = ascii_lower(headers.get("Content-Type"));
        event_stream_ = ok() && type.find("text/event-stream") != std::string::npos;
        return true;
    }

    bool on_data(std::string_view bytes) {
        if (!event_stream_) {
            const std::size_t cap = ok() ? max_buffered_plain_body : max_buffered_error_body;
            if (body_.size() + bytes.size() > cap) {
                failure_ = make_error(error_kind::parse, "reply body exceeds the buffering limit");
                return !ok(); // keep reading an error reply: its head is what matters
            }
            body_.append(bytes.data(), bytes.size());
            return true;
        }
        auto fed = parser_.feed(bytes, [this](const sse_event& event) { return on_event(event); });
        if (!fed) {
            failure_ = fed.error();
            return false;
        }
        return *fed;
    }

    // Called when the body ended normally: an event the server did not terminate still counts.
    void finish() {
        if (event_stream_ && !failure_ && !stopped_) {
            auto done = parser_.finish([this](const sse_event& event) { return on_event(event); });
            if (!done) {
                failure_ = done.error();
            }
        }
    }

    bool ok() const { return status_ >= 200 && status_ <= 299; }
    bool event_stream() const { return event_stream_; }
    bool stopped_by_caller() const { return stopped_; }
    bool complete() const { return complete_; }
    const std::optional<error>& failure() const { return failure_; }
    std::string& body() { return body_; }
    auto result() const { return accumulator_.result(); }

private:
    bool on_event(const sse_event& event) {
        if (is_done_sentinel(event)) {
            complete_ = true;
            return true;
        }
        if (event.data.empty()) {
            return true;
        }
        auto parsed = parse_stream_chunk<chunk_type>(event.data);
        if (!parsed) {
            failure_ = parsed.error();
            return false;
        }
        accumulator_.add(*parsed);
        complete_ = complete_ || traits::terminal(*parsed);
        if (!on_chunk_(*parsed)) {
            stopped_ = true;
            return false;
        }
        return true;
    }

    OnChunk& on_chunk_;
    int status_ = 0;
    bool event_stream_ = false;
    bool complete_ = false;
    bool stopped_ = false;
    std::string body_;
    sse_parser parser_;
    typename traits::accumulator accumulator_;
    std::optional<error> failure_;
};

// The sink type of a buffered (non-streaming) call: never dereferenced.
struct buffered_reply {
    response_sink sink() { return {}; }
    bool ok() const { return true; }
    bool event_stream() const { return true; }
    std::string& body() { return unused; }
    std::string unused;
};

constexpr buffered_reply* no_sink() {
    return nullptr;
}

} // namespace detail

// Queries Databricks serving endpoints. `Transport` moves bytes (see transport.hpp),
// `TokenPolicy` supplies the Authorization header (see auth/static_token.hpp), `RetryPolicy`
// decides what is retried (see retry.hpp); `dbxserve::client` is the usual combination, made by
// `dbxserve::make_client`. Safe to use from many threads at once; copies share one client.
//
//     auto client = dbxserve::make_client();          // environment / ~/.databrickscfg
//     if (!client) { ... client.error().to_string() ... }
//     dbxserve::chat_request request;
//     request.messages.push_back(dbxserve::chat_message::user("Hello"));
//     auto reply = client->query("my-agent", request);
//
// Every call takes optional `call_options` (cancellation, overall timeout) and has an async twin
// returning a std::future or taking a completion callback.
template <class Transport, class TokenPolicy, class RetryPolicy = retry_policy>
class basic_client {
public:
    // Fails with a config error when `host` is not a usable https:// URL (plain http:// is
    // accepted for loopback test servers only).
    static result<basic_client> create(std::string host, Transport transport, TokenPolicy policy,
                                       client_options options = {}) {
        RetryPolicy retry = default_retry(options);
        return create(std::move(host), std::move(transport), std::move(policy), std::move(options),
                      std::move(retry));
    }

    static result<basic_client> create(std::string host, Transport transport, TokenPolicy policy,
                                       client_options options, RetryPolicy retry) {
        while (!host.empty() && host.back() == '/') {
            host.pop_back();
        }
        auto secure = detail::require_secure_url(host, "host");
        if (!secure) {
            return secure.error();
        }
        return basic_client(std::make_shared<state>(std::move(host), std::move(transport),
                                                    std::move(policy), std::move(options),
                                                    std::move(retry)));
    }

    result<chat_completion> query(std::string_view endpoint, const chat_request& request,
                                  const call_options& call = {}) const {
        return typed_query(endpoint, request, call);
    }
    result<completion_response> query(std::string_view endpoint, const completion_request& request,
                                      const call_options& call = {}) const {
        return typed_query(endpoint, request, call);
    }
    result<embedding_response> query(std::string_view endpoint, const embedding_request& request,
                                     const call_options& call = {}) const {
        return typed_query(endpoint, request, call);
    }
    result<prediction_response> query(std::string_view endpoint, const tabular_request& request,
                                      const call_options& call = {}) const {
        return typed_query(endpoint, request, call);
    }
    result<chat_agent_response> query(std::string_view endpoint, const chat_agent_request& request,
                                      const call_options& call = {}) const {
        return typed_query(endpoint, request, call);
    }
    result<responses_response> query(std::string_view endpoint, const responses_request& request,
                                     const call_options& call = {}) const {
        return typed_query(endpoint, request, call);
    }

    // Sends any JSON body and returns the JSON reply, for fields and formats the model lacks.
    result<raw_response> invoke(std::string_view endpoint, const nlohmann::json& body,
                                const call_options& call = {}) const {
        detail::call_scope scope(call, state_->options.call_timeout, *state_->timers);
        auto response = execute(endpoint, detail::serialize(body), scope, detail::no_sink());
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

    // Streams a chat, ChatAgent or ResponsesAgent reply: sends "stream": true and calls
    // `on_chunk` with each typed chunk as it arrives (return false to stop early). Returns the
    // chunks joined into the reply a plain query would have returned; after an early stop, what
    // arrived until then. Nothing buffers the whole stream.
    //
    //     auto reply = client.stream("chat", request, [](const dbxserve::chat_completion_chunk& c)
    //     {
    //         std::cout << c.text() << std::flush;
    //         return true;
    //     });
    template <class Request, class OnChunk>
    auto stream(std::string_view endpoint, Request request, OnChunk&& on_chunk,
                const call_options& call = {}) const
        -> result<typename detail::response_of<Request>::type> {
        using reply_type = typename detail::response_of<Request>::type;
        request.stream = true;
        const nlohmann::json body = request;

        detail::call_scope scope(call, state_->options.call_timeout, *state_->timers);
        detail::stream_sink<Request, std::remove_reference_t<OnChunk>> sink(on_chunk);
        auto response = execute(endpoint, detail::serialize(body), scope, &sink);
        if (sink.stopped_by_caller()) {
            return sink.result();
        }
        if (sink.failure() && sink.ok()) {
            return *sink.failure();
        }
        if (!response) {
            return response.error();
        }

        if (!sink.event_stream()) {
            return parse_response<reply_type>(*response); // the server ignored "stream": true
        }
        sink.finish();
        if (sink.failure()) {
            return *sink.failure();
        }
        if (!sink.complete()) {
            error e = make_error(error_kind::transport, "the stream ended before it was complete");
            e.request_may_have_been_sent = true;
            e.http_status = response->status;
            e.request_id = response->headers.get("x-request-id");
            return e;
        }
        reply_type reply = sink.result();
        reply.meta = make_response_meta(*response);
        return reply;
    }

    // Async twins: the call runs on the client's executor and its result arrives through a
    // std::future, or through `on_done` (called on an executor thread).
    template <class Request>
    auto query_async(std::string_view endpoint, Request request, call_options call = {}) const
        -> std::future<result<typename detail::response_of<Request>::type>> {
        return run_async<typename detail::response_of<Request>::type>(
            [self = *this, ep = std::string(endpoint), request = std::move(request), call] {
                return self.query(ep, request, call);
            });
    }
    template <class Request, class OnDone>
    void query_async(std::string_view endpoint, Request request, OnDone on_done,
                     call_options call = {}) const {
        post([self = *this, ep = std::string(endpoint), request = std::move(request), call,
              on_done = std::move(on_done)]() mutable { on_done(self.query(ep, request, call)); });
    }

    std::future<result<raw_response>> invoke_async(std::string_view endpoint, nlohmann::json body,
                                                   call_options call = {}) const {
        return run_async<raw_response>([self = *this, ep = std::string(endpoint),
                                        body = std::move(body),
                                        call] { return self.invoke(ep, body, call); });
    }
    template <class OnDone>
    void invoke_async(std::string_view endpoint, nlohmann::json body, OnDone on_done,
                      call_options call = {}) const {
        post([self = *this, ep = std::string(endpoint), body = std::move(body), call,
              on_done = std::move(on_done)]() mutable { on_done(self.invoke(ep, body, call)); });
    }

    // `on_chunk` runs on an executor thread.
    template <class Request, class OnChunk>
    auto stream_async(std::string_view endpoint, Request request, OnChunk on_chunk,
                      call_options call = {}) const
        -> std::future<result<typename detail::response_of<Request>::type>> {
        return run_async<typename detail::response_of<Request>::type>(
            [self = *this, ep = std::string(endpoint), request = std::move(request),
             on_chunk = std::move(on_chunk),
             call]() mutable { return self.stream(ep, request, on_chunk, call); });
    }
    template <class Request, class OnChunk, class OnDone>
    void stream_async(std::string_view endpoint, Request request, OnChunk on_chunk, OnDone on_done,
                      call_options call = {}) const {
        post([self = *this, ep = std::string(endpoint), request = std::move(request),
              on_chunk = std::move(on_chunk), on_done = std::move(on_done),
              call]() mutable { on_done(self.stream(ep, request, on_chunk, call)); });
    }

    const std::string& host() const { return state_->host; }
    TokenPolicy& token_policy() const { return state_->policy; }
    Transport& transport() const { return *state_->transport; }

private:
    struct state {
        state(std::string h, Transport t, TokenPolicy p, client_options o, RetryPolicy r)
            : host(std::move(h)), transport(std::make_shared<Transport>(std::move(t))),
              policy(std::move(p)), retry(std::move(r)), options(std::move(o)),
              timers(std::make_shared<timer_service>()) {
            // The policy keeps the transport alive through its own handle, so a background
            // token refresh never outlives what it sends with.
            auto shared = transport;
            policy.bind([shared](const http_request& req) { return shared->send(req); },
                        options.on_event);
            user_agent = options.user_agent_product.empty() ? "" : options.user_agent_product + " ";
            user_agent += std::string("dbxserve/") + version() + " cpp/" +
                          std::to_string(detail::cpp_standard()) + " os/" + detail::os_name() +
                          " auth/" + policy.auth_type();
        }

        std::string host;
        std::shared_ptr<Transport> transport;
        TokenPolicy policy;
        RetryPolicy retry;
        client_options options;
        std::string user_agent;
        std::shared_ptr<timer_service> timers;

        std::mutex pool_mutex;
        std::shared_ptr<thread_pool> pool; // created by the first async call
    };

    explicit basic_client(std::shared_ptr<state> s) : state_(std::move(s)) {}

    static RetryPolicy default_retry(const client_options& options) {
        if constexpr (std::is_constructible_v<RetryPolicy, retry_options>) {
            return RetryPolicy(options.retry);
        } else {
            return RetryPolicy();
        }
    }

    template <class Request>
    auto typed_query(std::string_view endpoint, const Request& request,
                     const call_options& call) const
        -> result<typename detail::response_of<Request>::type> {
        if constexpr (std::is_same_v<Request, tabular_request>) {
            auto valid = request.validate();
            if (!valid) {
                return valid.error();
            }
        }
        const nlohmann::json body = request;
        detail::call_scope scope(call, state_->options.call_timeout, *state_->timers);
        auto response = execute(endpoint, detail::serialize(body), scope, detail::no_sink());
        if (!response) {
            return response.error();
        }
        return parse_response<typename detail::response_of<Request>::type>(*response);
    }

    // One invocation: authorisation, the attempts the retry policy allows, and the mapping of
    // the final reply to a value or an error. `sink` is null for buffered replies.
    template <class Sink>
    result<http_response> execute(std::string_view endpoint, std::string body,
                                  const detail::call_scope& scope, Sink* sink) const {
        if (!detail::valid_endpoint_name(endpoint)) {
            return make_error(error_kind::invalid_input,
                              "invalid serving endpoint name '" + std::string(endpoint) +
                                  "': use letters, digits, '-', '_' and '.'");
        }

        http_request request;
        request.method = "POST";
        request.url = state_->host + "/serving-endpoints/" + std::string(endpoint) + "/invocations";
        for (const auto& [name, value] : state_->options.default_headers) {
            request.headers.add(name, value);
        }
        request.headers.set("Accept", sink != nullptr ? "text/event-stream" : "application/json");
        request.headers.set("Content-Type", "application/json");
        request.headers.set("User-Agent", state_->user_agent);
        request.body = std::move(body);
        request.cancel = scope.token();

        auto attempt = [&](int) { return send_authorized(request, scope, sink); };
        auto on_retry = [&](int n, std::chrono::milliseconds delay) {
            emit(event_level::warning, "http.retry",
                 "attempt " + std::to_string(n) + " at " + request.url + " failed; retrying in " +
                     std::to_string(delay.count()) + " ms");
        };
        auto response =
            run_with_retries(state_->retry, scope.until(), scope.token(), attempt, on_retry);
        if (!response) {
            return scope.finish(response.error());
        }
        if (response->status < 200 || response->status > 299) {
            error e = detail::error_from_response(*response);
            e.retry_after = parse_retry_after(response->headers.get("Retry-After"),
                                              std::chrono::system_clock::now());
            return e;
        }
        return response;
    }

    // Attaches the token and sends. A 401 (or a 403 saying the token expired) means the server
    // no longer accepts a token we still considered valid (revoked, or rotated early): drop it
    // and send once more with a fresh one.
    template <class Sink>
    result<http_response> send_authorized(http_request& request, const detail::call_scope& scope,
                                          Sink* sink) const {
        if (!detail::same_origin(request.url, state_->host)) {
            return make_error(error_kind::invalid_input,
                              "refusing to send the token to a host other than " + state_->host);
        }

        std::string used;
        for (int round = 0;; ++round) {
            auto authorization = state_->policy.authorization(scope.context());
            if (!authorization) {
                return scope.finish(authorization.error());
            }
            used = *authorization;
            request.headers.set("Authorization", used);
            set_workspace_id(request);

            const auto left = scope.until().remaining();
            request.connect_timeout = std::min(state_->options.connect_timeout, left);
            request.read_timeout = std::min(state_->options.read_timeout, left);
            emit(event_level::debug, "http.request", request.method + " " + request.url);
            auto response = sink != nullptr ? state_->transport->send(request, sink->sink())
                                            : state_->transport->send(request);
            if (!response) {
                return response;
            }
            // An error reply, or a 2xx that is not an event stream, was buffered by the sink.
            if (sink != nullptr && (!sink->ok() || !sink->event_stream())) {
                response->body = std::move(sink->body());
            }
            emit(event_level::debug, "http.response",
                 std::to_string(response->status) + " " + request.url + " request-id " +
                     response->headers.get("x-request-id"));

            if (round > 0 || !detail::needs_new_token(*response)) {
                return response;
            }
            state_->policy.invalidate(used);
            auto fresh = state_->policy.authorization(scope.context());
            if (!fresh || *fresh == used) {
                return response; // the policy has nothing newer to offer
            }
        }
    }

    // The official SDKs send the workspace id whenever they know it, configured or learned
    // from the host metadata during OAuth discovery (which has run once a token exists).
    void set_workspace_id(http_request& request) const {
        std::string id = state_->options.workspace_id;
        if constexpr (detail::knows_workspace_id<TokenPolicy>::value) {
            if (id.empty()) {
                id = state_->policy.discovered_workspace_id();
            }
        }
        if (!id.empty()) {
            request.headers.set("X-Databricks-Workspace-Id", id);
        }
    }

    template <class Reply, class Work>
    std::future<result<Reply>> run_async(Work work) const {
        auto promise = std::make_shared<std::promise<result<Reply>>>();
        auto future = promise->get_future();
        post([promise, work = std::move(work)]() mutable { promise->set_value(work()); });
        return future;
    }

    template <class Task>
    void post(Task task) const {
        if (state_->options.executor) {
            state_->options.executor(std::function<void()>(std::move(task)));
            return;
        }
        std::shared_ptr<thread_pool> pool;
        {
            std::lock_guard<std::mutex> lock(state_->pool_mutex);
            if (!state_->pool) {
                state_->pool = std::make_shared<thread_pool>(
                    std::max<std::size_t>(1, state_->options.async_threads));
            }
            pool = state_->pool;
        }
        pool->post(std::function<void()>(std::move(task)));
    }

    void emit(event_level level, const char* name, std::string message) const {
        if (state_->options.on_event) {
            state_->options.on_event(event{level, name, std::move(message)});
        }
    }

    std::shared_ptr<state> state_;
};

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/client.hpp
// ---- end dbxserve/core.hpp
// ---- begin dbxserve/default_client.hpp


// ---- begin dbxserve/transport/httplib_transport.hpp

// The default transport, on cpp-httplib with OpenSSL. This is the only dbxserve header that
// includes <httplib.h>: the header-only httplib with OpenSSL costs seconds of compile time per
// translation unit, so code that plugs in its own transport never pays for it.

#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#include <httplib.h>

#if !defined(_WIN32)
#include <csignal>
#include <ctime>
#include <pthread.h>
#endif

// ---- begin dbxserve/proxy.hpp

// Which HTTP proxy, if any, a request goes through, decided the way curl decides it. Transports
// call `resolve_proxy` once per request URL and hand the route to their HTTP stack; HTTPS then
// travels inside a CONNECT tunnel, so the proxy sees the host name but never the bearer token.



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
// ---- end dbxserve/proxy.hpp

namespace dbxserve {
inline namespace v0 {

struct tls_options {
    // Verify the server's certificate chain and host name. Turn off only against a test server.
    bool verify = true;

    // PEM bundle or hashed directory of trusted CAs. When both are empty the transport uses
    // SSL_CERT_FILE / SSL_CERT_DIR from the environment, else the system store.
    std::string ca_file;
    std::string ca_dir;
};

struct httplib_transport_options {
    tls_options tls;

    // An explicit proxy, else HTTPS_PROXY / https_proxy and NO_PROXY from `env`, as curl reads
    // them. Only https:// requests go through a proxy, always tunnelled with CONNECT, so the
    // bearer token travels inside TLS end to end; plain http:// (loopback only) never does.
    proxy_options proxy;

    // Where SSL_CERT_FILE, SSL_CERT_DIR and the proxy variables are read from.
    environment env = environment::process();

    // Idle keep-alive connections kept per origin. More callers than this still run at once (each
    // gets its own connection); the surplus connections are closed when they finish.
    std::size_t max_idle_connections_per_host = 8;
};

namespace detail {

inline error from_httplib_error(httplib::Error failure, const std::string& origin) {
    error e;
    e.kind = error_kind::transport;
    e.message = "request to " + origin + " failed: " + httplib::to_string(failure);

    // Only failures that happen before a byte of the request could have left are safe to
    // repeat; everything else may have reached the model.
    switch (failure) {
    case httplib::Error::SSLLoadingCerts:
    case httplib::Error::SSLServerVerification:
        e.error_code = tls_verification_failed;
        e.request_may_have_been_sent = false;
        break;
    case httplib::Error::Connection:
    case httplib::Error::BindIPAddress:
    case httplib::Error::SSLConnection:
        e.request_may_have_been_sent = false;
        break;
    case httplib::Error::ConnectionTimeout:
        e.kind = error_kind::timeout;
        e.request_may_have_been_sent = false;
        break;
    case httplib::Error::Canceled:
        e.kind = error_kind::cancelled;
        e.request_may_have_been_sent = true;
        break;
    default:
        e.request_may_have_been_sent = true;
        break;
    }
    return e;
}

// OpenSSL writes to sockets with write(), so a TLS close_notify sent on a connection that a
// cancellation shut down raises SIGPIPE, whose default action kills the process. Blocking it in
// this thread for the duration of an exchange, and swallowing one that arrived meanwhile, keeps
// the host application's process-wide signal setup untouched.
class sigpipe_guard {
public:
#if !defined(_WIN32)
    sigpipe_guard() {
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        blocked_here_ = pthread_sigmask(SIG_BLOCK, &pipe_only, &previous_) == 0 &&
                        sigismember(&previous_, SIGPIPE) == 0;
    }

    ~sigpipe_guard() {
        if (!blocked_here_) {
            return;
        }
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        const timespec no_wait{0, 0};
        while (sigtimedwait(&pipe_only, nullptr, &no_wait) > 0) {
        }
        pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    }

private:
    sigset_t previous_{};
    bool blocked_here_ = false;
#endif
};

template <class Duration>
void split_duration(Duration d, time_t& sec, time_t& usec) {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    sec = static_cast<time_t>(micros / 1000000);
    usec = static_cast<time_t>(micros % 1000000);
}

} // namespace detail

// A thread-safe HTTP/1.1 transport with a small pool of keep-alive connections per origin. One
// httplib client owns one socket and serialises its callers, so each concurrent call leases its
// own client from the pool and returns it afterwards. Copies share the pool.
class httplib_transport {
public:
    explicit httplib_transport(httplib_transport_options options = {})
        : state_(std::make_shared<state>(std::move(options))) {}

    result<http_response> send(const http_request& request) const {
        return exchange(request, nullptr);
    }

    result<http_response> send(const http_request& request, const response_sink& sink) const {
        return exchange(request, &sink);
    }

private:
    using connection = std::unique_ptr<httplib::Client>;

    struct state {
        explicit state(httplib_transport_options o) : options(std::move(o)) {
            if (options.tls.ca_file.empty() && options.tls.ca_dir.empty()) {
                options.tls.ca_file = options.env.get("SSL_CERT_FILE").value_or("");
                options.tls.ca_dir = options.env.get("SSL_CERT_DIR").value_or("");
            }
        }

        httplib_transport_options options;
        std::mutex mutex;
        std::map<std::string, std::vector<connection>> idle;
    };

    result<connection> lease(const std::string& origin, const detail::url_parts& url) const {
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            auto& pool = state_->idle[origin];
            if (!pool.empty()) {
                connection reused = std::move(pool.back());
                pool.pop_back();
                return result<connection>(std::move(reused));
            }
        }

        auto client = std::make_unique<httplib::Client>(origin);
        if (url.scheme == "https") {
            auto route = resolve_proxy(state_->options.proxy, origin, state_->options.env);
            if (!route) {
                return route.error();
            }
            if (*route) {
                client->set_proxy((*route)->host, (*route)->port);
                if (!(*route)->username.empty()) {
                    client->set_proxy_basic_auth((*route)->username, (*route)->password);
                }
            }
        }
        const auto& tls = state_->options.tls;
        client->set_tcp_nodelay(true); // avoids 40 ms delayed-ACK stalls on small requests
        client->set_keep_alive(true);
        client->set_follow_location(false); // a redirect must not carry the bearer token away
        client->enable_server_certificate_verification(tls.verify);
        if (!tls.ca_file.empty() || !tls.ca_dir.empty()) {
            client->set_ca_cert_path(tls.ca_file, tls.ca_dir);
        }
        return result<connection>(std::move(client));
    }

    void give_back(const std::string& origin, connection client) const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        auto& pool = state_->idle[origin];
        if (pool.size() < state_->options.max_idle_connections_per_host) {
            pool.push_back(std::move(client));
        }
    }

    result<http_response> exchange(const http_request& request, const response_sink* sink) const {
        auto url = detail::parse_url(request.url);
        if (!url) {
            return url.error();
        }
        const std::string origin = detail::format_origin(*url);

        httplib::Request req;
        req.method = request.method;
        req.path = url->path_and_query.empty() ? "/" : url->path_and_query;
        for (const auto& [name, value] : request.headers) {
            req.headers.emplace(name, value);
        }
        req.body = request.body;

        const cancellation_token& cancel = request.cancel;
        http_response response;
        bool stopped_by_sink = false;
        if (sink != nullptr) {
            req.response_handler = [&](const httplib::Response& head) {
                response.status = head.status;
                for (const auto& [name, value] : head.headers) {
                    response.headers.add(name, value);
                }
                const bool go_on = !sink->on_head || sink->on_head(head.status, response.headers);
                stopped_by_sink = !go_on;
                return go_on && !cancel.cancelled();
            };
            req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
                const bool go_on = !sink->on_data || sink->on_data(std::string_view(data, size));
                stopped_by_sink = !go_on;
                return go_on && !cancel.cancelled();
            };
        }
        if (cancel.cancelled()) {
            return cancelled_error(origin, false);
        }

        // Declared before the connection, so it also covers the connection's destruction.
        detail::sigpipe_guard no_sigpipe;
        auto leased = lease(origin, *url);
        if (!leased) {
            return leased.error();
        }
        connection client = std::move(*leased);
        time_t sec = 0;
        time_t usec = 0;
        detail::split_duration(request.connect_timeout, sec, usec);
        client->set_connection_timeout(sec, usec);
        detail::split_duration(request.read_timeout, sec, usec);
        client->set_read_timeout(sec, usec);
        client->set_write_timeout(sec, usec);

        // Cancelling shuts the socket down under httplib's feet, which makes a blocked read return
        // at once; httplib documents stop() as the one call that is safe from another thread.
        httplib::Client* raw = client.get();
        auto registration = cancel.on_cancel([raw] {
            detail::sigpipe_guard no_sigpipe_in_canceller;
            raw->stop();
        });

        const auto started = std::chrono::steady_clock::now();
        httplib::Response res;
        httplib::Error failure = httplib::Error::Success;
        const bool sent = client->send(req, res, failure);
        registration.reset();
        if (cancel.cancelled()) {
            return cancelled_error(origin, true); // the connection is dropped, not pooled
        }
        if (!sent && stopped_by_sink) {
            error e = cancelled_error(origin, true);
            e.message = "the response sink stopped the transfer from " + origin;
            return e;
        }
        if (!sent) {
            // httplib reports a read timeout as a plain read failure; the clock tells them apart.
            auto e = detail::from_httplib_error(failure, origin);
            const auto waited = std::chrono::steady_clock::now() - started;
            if (failure == httplib::Error::Read && waited >= request.read_timeout) {
                e.kind = error_kind::timeout;
                e.message = "no response from " + origin + " within the read timeout";
            }
            return e;
        }

        if (sink == nullptr) {
            response.status = res.status;
            for (const auto& [name, value] : res.headers) {
                response.headers.add(name, value);
            }
            response.body = std::move(res.body);
        }
        give_back(origin, std::move(client));
        return response;
    }

    static error cancelled_error(const std::string& origin, bool maybe_sent) {
        error e = make_error(error_kind::cancelled, "request to " + origin + " was cancelled");
        e.request_may_have_been_sent = maybe_sent;
        return e;
    }

    std::shared_ptr<state> state_;
};

} // namespace v0
} // namespace dbxserve
// ---- end dbxserve/transport/httplib_transport.hpp

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
// ---- end dbxserve/default_client.hpp
// ---- end dbxserve/dbxserve.hpp
#endif // DBXSERVE_SINGLE_INCLUDE_HPP
