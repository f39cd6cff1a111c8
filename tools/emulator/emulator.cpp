#include "emulator.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/rand.h>

#ifdef _WIN32
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_map>

namespace dbxserve::emulator {
namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

// Each keep-alive connection pins one pool thread for its whole life, and tests open
// 16+ connections at once; a smaller pool would queue them behind each other.
constexpr std::size_t worker_threads = 96;
constexpr std::size_t keep_alive_requests = 10000;
// Long enough for a connection to survive the pauses tests make (token expiry waits),
// short enough that a connection a client forgot to close frees its pool thread soon.
constexpr time_t keep_alive_seconds = 10;
// Serving accepts 16 MB bodies; a bit more lets tests probe the limit from above.
constexpr std::size_t max_body_bytes = 64u << 20;
constexpr int listen_backlog = 512;
constexpr std::size_t embedding_dimensions = 16;
// Replies are built and serialised recursively; capping client nesting keeps a hostile
// body like [[[[...]]]] from exhausting a worker thread's stack.
constexpr std::size_t max_json_depth = 64;
constexpr const char* account_id = "7a1f2c3e-0000-4000-8000-00000000e301";
// A fault plan typo (minutes for milliseconds) must not park a worker for hours.
constexpr std::chrono::milliseconds max_stall = std::chrono::seconds(30);

// ----------------------------------------------------------------------------------
// Small text helpers

std::string to_lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && to_lower(a) == to_lower(b);
}

std::string_view trim(std::string_view s) {
    const char* blanks = " \t\r\n";
    const auto first = s.find_first_not_of(blanks);
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = s.find_last_not_of(blanks);
    return s.substr(first, last - first + 1);
}

std::size_t json_nesting(std::string_view text) {
    std::size_t depth = 0;
    std::size_t deepest = 0;
    bool in_string = false;
    bool escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

// "application/json; charset=utf-8" -> "application/json"
std::string media_type(std::string_view content_type) {
    return to_lower(trim(content_type.substr(0, content_type.find(';'))));
}

std::vector<std::string> split_words(std::string_view text) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) {
            ++i;
        }
        std::size_t start = i;
        while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) {
            ++i;
        }
        if (i > start) {
            words.emplace_back(text.substr(start, i - start));
        }
    }
    return words;
}

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&out[0]), static_cast<int>(n)) != 1) {
        throw std::runtime_error("RAND_bytes failed");
    }
    return out;
}

std::string to_hex(std::string_view bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 0x0f];
    }
    return out;
}

std::string random_hex(std::size_t bytes) {
    return to_hex(random_bytes(bytes));
}

std::string new_uuid() {
    std::string b = random_bytes(16);
    b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
    const std::string h = to_hex(b);
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
           "-" + h.substr(20);
}

// Accepts padded and unpadded input; anything outside the standard alphabet fails.
bool base64_decode(std::string_view in, std::string& out) {
    while (!in.empty() && in.back() == '=') {
        in.remove_suffix(1);
    }
    out.clear();
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;
        } else if (c == '+') {
            v = 62;
        } else if (c == '/') {
            v = 63;
        } else {
            return false;
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    return bits < 6;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// application/x-www-form-urlencoded decoding; false on a broken %XX escape.
bool form_decode(std::string_view in, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '+') {
            out += ' ';
        } else if (in[i] == '%') {
            if (i + 2 >= in.size()) {
                return false;
            }
            const int hi = hex_value(in[i + 1]);
            const int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) {
                return false;
            }
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += in[i];
        }
    }
    return true;
}

bool parse_form(std::string_view body, std::map<std::string, std::string>& form, std::string& why) {
    if (trim(body).empty()) {
        why = "The request body is empty.";
        return false;
    }
    std::size_t pos = 0;
    while (pos <= body.size()) {
        std::size_t end = body.find('&', pos);
        if (end == std::string_view::npos) {
            end = body.size();
        }
        const std::string_view pair = body.substr(pos, end - pos);
        pos = end + 1;
        if (pair.empty()) {
            continue;
        }

        const std::size_t eq = pair.find('=');
        std::string key;
        std::string value;
        if (eq == std::string_view::npos || !form_decode(pair.substr(0, eq), key) ||
            !form_decode(pair.substr(eq + 1), value) || key.empty()) {
            why = "The request body is not valid application/x-www-form-urlencoded data.";
            return false;
        }
        // RFC 6749 section 3.2: parameters must not be repeated.
        if (!form.emplace(std::move(key), std::move(value)).second) {
            why = "A request parameter was sent more than once.";
            return false;
        }
    }
    return true;
}

bool is_loopback_literal(const std::string& host) {
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
        static const unsigned char loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        return std::equal(std::begin(loopback), std::end(loopback),
                          reinterpret_cast<const unsigned char*>(&v6));
    }
    return false;
}

bool all_digits(std::string_view s) {
    return !s.empty() && s.size() <= 5 &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// A Host header naming this machine, e.g. "127.0.0.1:8443", "[::1]:8443", "localhost".
bool is_loopback_authority(std::string_view authority) {
    std::string_view host = authority;
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        host = authority.substr(1, close - 1);
        std::string_view rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return false;
            }
            port = rest.substr(1);
            if (!all_digits(port)) {
                return false;
            }
        }
        return is_loopback_literal(std::string(host)) && host.find(':') != std::string::npos;
    }
    const auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
        if (!all_digits(port)) {
            return false;
        }
    }
    return iequals(host, "localhost") ||
           (host.find(':') == std::string_view::npos && is_loopback_literal(std::string(host)));
}

std::string url_host(const std::string& host) {
    return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::int64_t unix_seconds() {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

std::int64_t unix_millis() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// IMF-fixdate (RFC 9110 5.6.7), spelled by hand because strftime follows the locale.
std::string http_date(std::int64_t unix_time) {
    static const char* days[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::int64_t day = unix_time / 86400;
    const std::int64_t second_of_day = unix_time % 86400;
    // Civil-from-days (Howard Hinnant), valid for every date after 1970.
    const std::int64_t z = day + 719468;
    const std::int64_t era = z / 146097;
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);

    char out[40];
    std::snprintf(out, sizeof out, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[day % 7],
                  static_cast<int>(d), months[m - 1], static_cast<int>(y),
                  static_cast<int>(second_of_day / 3600), static_cast<int>(second_of_day / 60 % 60),
                  static_cast<int>(second_of_day % 60));
    return out;
}

// Bodies may carry bytes that are not UTF-8 (endpoint names come from the URL);
// replacing them keeps dump() from throwing on client input.
std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

const char* reason_code(int status) {
    switch (status) {
    case 400:
        return "BAD_REQUEST";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "ENDPOINT_NOT_FOUND";
    case 405:
        return "BAD_REQUEST";
    case 413:
        return "REQUEST_ENTITY_TOO_LARGE";
    case 414:
        return "REQUEST_URI_TOO_LONG";
    case 416:
        return "BAD_REQUEST";
    case 429:
        return "REQUEST_LIMIT_EXCEEDED";
    case 503:
        return "TEMPORARILY_UNAVAILABLE";
    default:
        return status >= 500 ? "INTERNAL_ERROR" : "BAD_REQUEST";
    }
}

// ----------------------------------------------------------------------------------
// Replies

struct reply {
    int status = 200;
    json body = json::object();
    header_list headers;
    // When set, the reply goes out as these SSE data payloads (then [DONE]) instead of
    // `body`.
    std::optional<std::vector<std::string>> events;
};

json request_info(const std::string& request_id) {
    return json::array({{{"@type", "type.googleapis.com/google.rpc.RequestInfo"},
                         {"request_id", request_id},
                         {"serving_data", ""}}});
}

reply api_error(int status, const std::string& code, const std::string& message,
                const std::string& request_id) {
    reply r;
    r.status = status;
    r.body = {{"error_code", code}, {"message", message}, {"details", request_info(request_id)}};
    return r;
}

reply oauth_error(int status, const std::string& code, const std::string& description) {
    reply r;
    r.status = status;
    r.body = {{"error", code}, {"error_description", description}};
    r.headers = {{"Cache-Control", "no-store"}, {"Pragma", "no-cache"}};
    return r;
}

// Thrown by the endpoint bodies below for a well-formed request that lacks what the
// endpoint needs; the invocation handler turns it into 400 INVALID_PARAMETER_VALUE.
struct invalid_parameter : std::runtime_error {
    using std::runtime_error::runtime_error;
};

[[noreturn]] void reject(const std::string& message) {
    throw invalid_parameter(message);
}

// ----------------------------------------------------------------------------------
// Faults

// What the fault plan decided for one request.
struct fault_actions {
    std::chrono::milliseconds stall_before{0};
    std::optional<reply> refusal; // answered instead of the request
    bool reset = false;
    std::chrono::milliseconds stall_body{0};
    std::chrono::milliseconds pace{0};
    bool without_done = false;
    std::optional<stream_error_fault> error_event;

    bool cuts_body() const { return reset || stall_body.count() > 0; }
};

// Uses up one hit of `scope` when it covers the request's target ("" = not faultable).
bool take(fault_scope& scope, const std::string& target) {
    if (scope.count == 0 || target.empty() || (scope.target != "*" && scope.target != target)) {
        return false;
    }
    if (scope.count > 0) {
        --scope.count;
    }
    return true;
}

bool take(int& count) {
    if (count == 0) {
        return false;
    }
    if (count > 0) {
        --count;
    }
    return true;
}

reply status_refusal(const status_fault& fault, int status, const std::string& request_id) {
    reply r =
        status == 429
            ? api_error(429, "REQUEST_LIMIT_EXCEEDED",
                        "The request rate exceeds the endpoint's limit; retry later.", request_id)
            : api_error(503, "TEMPORARILY_UNAVAILABLE",
                        "The service is temporarily unavailable; retry later.", request_id);
    if (fault.retry_after_seconds) {
        const int seconds = std::max(0, *fault.retry_after_seconds);
        r.headers.emplace_back("Retry-After", fault.retry_after_http_date
                                                  ? http_date(unix_seconds() + seconds)
                                                  : std::to_string(seconds));
    }
    return r;
}

reply token_failure(int status) {
    return status == 503 ? oauth_error(503, "temporarily_unavailable",
                                       "The token service is temporarily unavailable.")
                         : oauth_error(status, "server_error", "The token service failed.");
}

// One stream on its way out; the content provider sends a frame per call.
struct stream_state {
    static constexpr std::size_t never = static_cast<std::size_t>(-1);

    std::vector<std::string> frames; // complete SSE frames, [DONE] included when sent
    std::size_t next = 0;
    std::size_t reset_after = never;  // frames sent before the connection is dropped
    std::size_t stall_before = never; // the frame the stall precedes
    std::chrono::milliseconds stall{0};
    std::chrono::milliseconds pace{0};
};

// ----------------------------------------------------------------------------------
// Routes

enum class endpoint_kind { chat, agent, responses, embeddings, tabular };

struct endpoint_def {
    const char* name;
    endpoint_kind kind;
};

constexpr endpoint_def endpoint_table[] = {
    {"chat", endpoint_kind::chat},           {"agent", endpoint_kind::agent},
    {"responses", endpoint_kind::responses}, {"embeddings", endpoint_kind::embeddings},
    {"tabular", endpoint_kind::tabular},
};

const endpoint_def* find_endpoint(const std::string& name) {
    for (const auto& e : endpoint_table) {
        if (name == e.name) {
            return &e;
        }
    }
    return nullptr;
}

std::string served_model_of(const endpoint_def& e) {
    return std::string(e.name) + "-model-1";
}

enum class route_kind {
    unknown,
    host_metadata,
    oidc_discovery,
    token,
    invocation,
    openai_chat,
    openai_embeddings,
    openai_responses,
};

struct route {
    route_kind kind = route_kind::unknown;
    const char* method = nullptr; // the one method the route answers
    std::string endpoint;         // invocation routes: from the path
    std::string served_model;     // served-models/{name}/invocations only
};

std::vector<std::string> path_segments(const std::string& path) {
    std::vector<std::string> segments;
    std::size_t pos = 1;
    if (path.empty() || path[0] != '/') {
        return segments;
    }
    while (pos <= path.size()) {
        std::size_t end = path.find('/', pos);
        if (end == std::string::npos) {
            end = path.size();
        }
        segments.push_back(path.substr(pos, end - pos));
        pos = end + 1;
    }
    return segments;
}

route classify(const std::string& path) {
    const std::vector<std::string> s = path_segments(path);
    auto is = [&s](std::initializer_list<const char*> expected) {
        if (s.size() != expected.size()) {
            return false;
        }
        std::size_t i = 0;
        for (const char* e : expected) {
            if (e != nullptr && s[i] != e) {
                return false;
            }
            ++i;
        }
        return true;
    };

    route r;
    if (is({".well-known", "databricks-config"})) {
        r = {route_kind::host_metadata, "GET", {}, {}};
    } else if (is({"oidc", ".well-known", "oauth-authorization-server"})) {
        r = {route_kind::oidc_discovery, "GET", {}, {}};
    } else if (is({"oidc", "v1", "token"})) {
        r = {route_kind::token, "POST", {}, {}};
    } else if (is({"serving-endpoints", nullptr, "invocations"}) && !s[1].empty()) {
        r = {route_kind::invocation, "POST", s[1], {}};
    } else if (is({"serving-endpoints", nullptr, "served-models", nullptr, "invocations"}) &&
               !s[1].empty() && !s[3].empty()) {
        r = {route_kind::invocation, "POST", s[1], s[3]};
    } else if (is({"serving-endpoints", "chat", "completions"})) {
        r = {route_kind::openai_chat, "POST", {}, {}};
    } else if (is({"serving-endpoints", "embeddings"})) {
        r = {route_kind::openai_embeddings, "POST", {}, {}};
    } else if (is({"serving-endpoints", "responses"})) {
        r = {route_kind::openai_responses, "POST", {}, {}};
    }
    return r;
}

bool is_model_route(route_kind k) {
    return k == route_kind::invocation || k == route_kind::openai_chat ||
           k == route_kind::openai_embeddings || k == route_kind::openai_responses;
}

struct request_context {
    const httplib::Request& http;
    std::string request_id;
    std::string base_url;
    route target;
    json body; // parsed for model routes; discarded when not JSON
    bool body_too_deep = false;
};

// ----------------------------------------------------------------------------------
// Endpoint bodies. Replies are deterministic functions of the request so tests can
// assert exact content; ids and timestamps are the only varying fields.

std::string content_text(const json& content, const std::string& where) {
    if (content.is_null()) {
        return {};
    }
    if (content.is_string()) {
        return content.get<std::string>();
    }
    if (!content.is_array()) {
        reject(where + " must be a string or a list of content parts.");
    }
    std::string text;
    for (const auto& part : content) {
        if (!part.is_object()) {
            reject(where + " parts must be objects.");
        }
        const auto t = part.find("text");
        if (t != part.end() && t->is_string()) {
            text += (text.empty() ? "" : " ") + t->get<std::string>();
        }
    }
    return text;
}

struct conversation {
    std::string last_user_text;
    std::size_t prompt_words = 0;
};

conversation read_messages(const json& body) {
    const auto messages = body.find("messages");
    if (messages == body.end()) {
        reject("Missing required field 'messages'.");
    }
    if (!messages->is_array() || messages->empty()) {
        reject("'messages' must be a non-empty list.");
    }

    conversation c;
    for (std::size_t i = 0; i < messages->size(); ++i) {
        const json& m = (*messages)[i];
        const std::string where = "messages[" + std::to_string(i) + "]";
        if (!m.is_object()) {
            reject(where + " must be an object.");
        }
        const auto role = m.find("role");
        if (role == m.end() || !role->is_string()) {
            reject(where + ".role must be a string.");
        }
        const auto content = m.find("content");
        if (content == m.end() && *role == "user") {
            reject(where + ".content is required for user messages.");
        }
        const std::string text =
            content == m.end() ? std::string() : content_text(*content, where + ".content");
        c.prompt_words += split_words(text).size();
        if (*role == "user") {
            c.last_user_text = text;
        }
    }
    return c;
}

std::optional<std::int64_t> optional_integer(const json& body, const char* key, std::int64_t lo,
                                             std::int64_t hi) {
    const auto it = body.find(key);
    if (it == body.end() || it->is_null()) {
        return std::nullopt;
    }
    const std::string range = std::to_string(lo) + " and " + std::to_string(hi);
    if (!it->is_number_integer()) {
        reject(std::string("'") + key + "' must be an integer between " + range + ".");
    }
    const std::int64_t v = it->is_number_unsigned() && it->get<std::uint64_t>() > INT64_MAX
                               ? INT64_MAX
                               : it->get<std::int64_t>();
    if (v < lo || v > hi) {
        reject(std::string("'") + key + "' must be between " + range + ".");
    }
    return v;
}

void check_optional_object(const json& body, const char* key) {
    const auto it = body.find(key);
    if (it != body.end() && !it->is_object() && !it->is_null()) {
        reject(std::string("'") + key + "' must be an object.");
    }
}

bool optional_flag(const json& body, const char* key, const std::string& where) {
    const auto it = body.find(key);
    if (it == body.end() || it->is_null()) {
        return false;
    }
    if (!it->is_boolean()) {
        reject("'" + where + "' must be a boolean.");
    }
    return it->get<bool>();
}

bool stream_requested(const json& body) {
    return optional_flag(body, "stream", "stream");
}

bool usage_requested(const json& body) {
    check_optional_object(body, "stream_options");
    const auto options = body.find("stream_options");
    return options != body.end() && options->is_object() &&
           optional_flag(*options, "include_usage", "stream_options.include_usage");
}

struct generated_text {
    std::string text;
    std::size_t words = 0;
    bool truncated = false;
};

generated_text echo_reply(const std::string& user_text, std::optional<std::int64_t> limit) {
    std::string full = "Echo:";
    if (!trim(user_text).empty()) {
        full += " " + std::string(trim(user_text));
    }
    std::vector<std::string> words = split_words(full);

    generated_text out{full, words.size(), false};
    if (limit && words.size() > static_cast<std::size_t>(*limit)) {
        words.resize(static_cast<std::size_t>(*limit));
        out.text.clear();
        for (const auto& w : words) {
            out.text += (out.text.empty() ? "" : " ") + w;
        }
        out.words = words.size();
        out.truncated = true;
    }
    return out;
}

json chat_completion(const json& body, const std::string& model) {
    const conversation c = read_messages(body);
    const auto max_tokens = optional_integer(body, "max_tokens", 1, 1 << 20);
    const auto n = optional_integer(body, "n", 1, 5).value_or(1);
    const auto temperature = body.find("temperature");
    if (temperature != body.end() && !temperature->is_null() &&
        (!temperature->is_number() || temperature->get<double>() < 0.0 ||
         temperature->get<double>() > 2.0)) {
        reject("'temperature' must be a number between 0.0 and 2.0.");
    }
    stream_requested(body);
    usage_requested(body);

    const generated_text answer = echo_reply(c.last_user_text, max_tokens);
    json choices = json::array();
    for (std::int64_t i = 0; i < n; ++i) {
        choices.push_back({{"index", i},
                           {"message", {{"role", "assistant"}, {"content", answer.text}}},
                           {"finish_reason", answer.truncated ? "length" : "stop"}});
    }
    const std::size_t completion = answer.words * static_cast<std::size_t>(n);
    return {{"id", "chatcmpl-" + random_hex(12)},
            {"object", "chat.completion"},
            {"created", unix_seconds()},
            {"model", model},
            {"choices", choices},
            {"usage",
             {{"prompt_tokens", c.prompt_words},
              {"completion_tokens", completion},
              {"total_tokens", c.prompt_words + completion}}}};
}

json agent_trace(const std::string& model, const std::string& question, const std::string& answer) {
    const std::int64_t ms = unix_millis();
    const std::int64_t ns = ms * 1000000;
    const std::string trace_id = "tr-" + random_hex(16);
    return {
        {"info",
         {{"request_id", trace_id},
          {"experiment_id", "0"},
          {"timestamp_ms", ms},
          {"execution_time_ms", 0},
          {"status", "OK"},
          {"request_metadata", {{"mlflow.modelId", model}}},
          {"tags", json::object()}}},
        {"data",
         {{"request", dump({{"question", question}})},
          {"response", dump({{"answer", answer}})},
          {"spans", json::array({{{"name", "chat_agent"},
                                  {"context", {{"trace_id", trace_id}, {"span_id", random_hex(8)}}},
                                  {"parent_id", nullptr},
                                  {"start_time", ns},
                                  {"end_time", ns},
                                  {"status_code", "OK"},
                                  {"attributes", {{"mlflow.spanType", "\"AGENT\""}}},
                                  {"events", json::array()}}})}}}};
}

json chat_agent(const json& body, const std::string& model) {
    const conversation c = read_messages(body);
    check_optional_object(body, "custom_inputs");
    check_optional_object(body, "context");
    check_optional_object(body, "databricks_options");
    stream_requested(body);

    bool return_trace = false;
    const auto options = body.find("databricks_options");
    if (options != body.end() && options->is_object()) {
        const auto flag = options->find("return_trace");
        if (flag != options->end() && !flag->is_boolean() && !flag->is_null()) {
            reject("'databricks_options.return_trace' must be a boolean.");
        }
        return_trace = flag != options->end() && flag->is_boolean() && flag->get<bool>();
    }

    const generated_text answer = echo_reply(c.last_user_text, std::nullopt);
    json out = {
        {"messages",
         json::array({{{"role", "assistant"}, {"content", answer.text}, {"id", new_uuid()}}})}};
    const auto custom = body.find("custom_inputs");
    if (custom != body.end() && custom->is_object()) {
        out["custom_outputs"] = *custom;
    }
    if (return_trace) {
        out["databricks_output"] = {{"trace", agent_trace(model, c.last_user_text, answer.text)}};
    }
    return out;
}

json responses_agent(const json& body, const std::string& model) {
    const auto input = body.find("input");
    if (input == body.end()) {
        reject("Missing required field 'input'.");
    }
    check_optional_object(body, "custom_inputs");
    check_optional_object(body, "context");
    stream_requested(body);
    const auto limit = optional_integer(body, "max_output_tokens", 1, 1 << 20);

    std::string user_text;
    std::size_t input_words = 0;
    if (input->is_string()) {
        user_text = input->get<std::string>();
        input_words = split_words(user_text).size();
    } else if (input->is_array() && !input->empty()) {
        for (std::size_t i = 0; i < input->size(); ++i) {
            const json& item = (*input)[i];
            const std::string where = "input[" + std::to_string(i) + "]";
            if (!item.is_object()) {
                reject(where + " must be an object.");
            }
            const auto type = item.find("type");
            const auto role = item.find("role");
            const bool is_message = (type == item.end() && role != item.end()) ||
                                    (type != item.end() && *type == "message");
            if (is_message) {
                if (role == item.end() || !role->is_string()) {
                    reject(where + ".role must be a string.");
                }
                const auto content = item.find("content");
                if (content == item.end()) {
                    reject(where + ".content is required.");
                }
                const std::string text = content_text(*content, where + ".content");
                input_words += split_words(text).size();
                if (*role == "user") {
                    user_text = text;
                }
            } else if (type == item.end() || !type->is_string()) {
                reject(where + " must be a message or carry a string 'type'.");
            } else if (*type == "function_call_output") {
                const auto output = item.find("output");
                if (output != item.end() && output->is_string()) {
                    input_words += split_words(output->get<std::string>()).size();
                }
            }
        }
    } else {
        reject("'input' must be a string or a non-empty list of input items.");
    }

    const generated_text answer = echo_reply(user_text, limit);
    json out = {
        {"object", "response"},
        {"id", "resp_" + random_hex(12)},
        {"created_at", unix_seconds()},
        {"model", model},
        {"status", answer.truncated ? "incomplete" : "completed"},
        {"output", json::array({{{"type", "message"},
                                 {"id", "msg_" + random_hex(12)},
                                 {"status", "completed"},
                                 {"role", "assistant"},
                                 {"content", json::array({{{"type", "output_text"},
                                                           {"text", answer.text},
                                                           {"annotations", json::array()}}})}}})},
        {"usage",
         {{"input_tokens", input_words},
          {"output_tokens", answer.words},
          {"total_tokens", input_words + answer.words}}}};
    if (answer.truncated) {
        out["incomplete_details"] = {{"reason", "max_output_tokens"}};
    }
    const auto custom = body.find("custom_inputs");
    if (custom != body.end() && custom->is_object()) {
        out["custom_outputs"] = *custom;
    }
    return out;
}

// ----------------------------------------------------------------------------------
// Streams. Each is derived from the finished non-streamed reply, so the deltas of a
// stream concatenate to exactly the text the same request gets without "stream".

// One piece per word, each carrying the whitespace before it, so joining the pieces
// gives back `text` byte for byte.
std::vector<std::string> text_pieces(std::string_view text) {
    std::vector<std::string> pieces;
    std::size_t start = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) {
            ++i;
        }
        while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) {
            ++i;
        }
        pieces.emplace_back(text.substr(start, i - start));
        start = i;
    }
    return pieces;
}

std::vector<std::string> chat_stream(const json& completion, bool include_usage) {
    std::vector<std::string> events;
    auto chunk = [&](json choices) {
        json c = {{"id", completion["id"]},
                  {"object", "chat.completion.chunk"},
                  {"created", completion["created"]},
                  {"model", completion["model"]},
                  {"choices", std::move(choices)}};
        if (include_usage) {
            c["usage"] = nullptr;
        }
        return c;
    };
    auto choice = [](const json& index, json delta, json finish) {
        return json::array({{{"index", index},
                             {"delta", std::move(delta)},
                             {"finish_reason", std::move(finish)}}});
    };
    for (const json& c : completion["choices"]) {
        events.push_back(
            dump(chunk(choice(c["index"], {{"role", "assistant"}, {"content", ""}}, nullptr))));
        for (const std::string& piece : text_pieces(c["message"]["content"].get<std::string>())) {
            events.push_back(dump(chunk(choice(c["index"], {{"content", piece}}, nullptr))));
        }
        events.push_back(dump(chunk(choice(c["index"], json::object(), c["finish_reason"]))));
    }
    if (include_usage) {
        json last = chunk(json::array());
        last["usage"] = completion["usage"];
        events.push_back(dump(last));
    }
    return events;
}

std::vector<std::string> agent_stream(const json& reply) {
    const json& message = reply["messages"][0];
    auto delta = [&message](const std::string& content) {
        return json{{"role", "assistant"}, {"content", content}, {"id", message["id"]}};
    };
    std::vector<std::string> events;
    for (const std::string& piece : text_pieces(message["content"].get<std::string>())) {
        events.push_back(dump({{"delta", delta(piece)}}));
    }
    // ChatAgentChunk requires a delta even on the closing chunk; an empty one keeps
    // the concatenated text unchanged.
    json last = {{"delta", delta("")}, {"finish_reason", "stop"}};
    for (const char* key : {"custom_outputs", "databricks_output"}) {
        if (reply.contains(key)) {
            last[key] = reply[key];
        }
    }
    events.push_back(dump(last));
    return events;
}

std::vector<std::string> responses_stream(const json& response) {
    const json& item = response["output"][0];
    std::vector<std::string> events;
    for (const std::string& piece : text_pieces(item["content"][0]["text"].get<std::string>())) {
        events.push_back(dump({{"type", "response.output_text.delta"},
                               {"item_id", item["id"]},
                               {"output_index", 0},
                               {"content_index", 0},
                               {"delta", piece}}));
    }
    events.push_back(
        dump({{"type", "response.output_item.done"}, {"output_index", 0}, {"item", item}}));
    events.push_back(dump({{"type", "response.completed"}, {"response", response}}));
    return events;
}

std::uint64_t fnv1a(std::string_view text) {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

std::uint64_t splitmix(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// A unit vector seeded by the text: equal texts embed equally, others almost never do.
json embed(std::string_view text) {
    std::uint64_t state = fnv1a(text);
    std::vector<double> v(embedding_dimensions);
    double norm = 0.0;
    for (double& x : v) {
        x = static_cast<double>(splitmix(state) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
        norm += x * x;
    }
    norm = std::sqrt(norm);
    json out = json::array();
    for (double x : v) {
        // Six decimals keep bodies short and make the values exact after a round trip.
        out.push_back(std::round(x / norm * 1e6) / 1e6);
    }
    return out;
}

json embeddings(const json& body, const std::string& model) {
    const auto input = body.find("input");
    if (input == body.end()) {
        reject("Missing required field 'input'.");
    }
    std::vector<std::string> texts;
    if (input->is_string()) {
        texts.push_back(input->get<std::string>());
    } else if (input->is_array() && !input->empty()) {
        for (const auto& t : *input) {
            if (!t.is_string()) {
                reject("'input' must be a string or a non-empty list of strings.");
            }
            texts.push_back(t.get<std::string>());
        }
    } else {
        reject("'input' must be a string or a non-empty list of strings.");
    }

    json data = json::array();
    std::size_t words = 0;
    for (std::size_t i = 0; i < texts.size(); ++i) {
        data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", embed(texts[i])}});
        words += split_words(texts[i]).size();
    }
    return {{"object", "list"},
            {"data", data},
            {"model", model},
            {"usage", {{"prompt_tokens", words}, {"total_tokens", words}}}};
}

struct row_sum {
    double value = 0.0;
    bool fractional = false;

    void add(const json& v) {
        if (v.is_number_float()) {
            value += v.get<double>();
            fractional = true;
        } else if (v.is_number_unsigned()) {
            value += static_cast<double>(v.get<std::uint64_t>());
        } else if (v.is_number_integer()) {
            value += static_cast<double>(v.get<std::int64_t>());
        } else if (v.is_array() || v.is_object()) {
            for (const auto& child : v) {
                add(child);
            }
        }
    }

    json result() const {
        if (!fractional && std::fabs(value) < 9007199254740992.0) {
            return static_cast<std::int64_t>(value);
        }
        return value;
    }
};

json predict_row(const json& row) {
    row_sum sum;
    sum.add(row);
    return sum.result();
}

json tabular(const json& body) {
    static const char* formats[] = {"dataframe_split", "dataframe_records", "instances", "inputs"};
    const char* format = nullptr;
    int present = 0;
    for (const char* f : formats) {
        if (body.contains(f)) {
            format = f;
            ++present;
        }
    }
    if (present != 1) {
        reject("The request must contain exactly one of 'dataframe_split', "
               "'dataframe_records', 'instances' or 'inputs'.");
    }

    const json& in = body.at(format);
    json predictions = json::array();
    const std::string which = format;
    if (which == "dataframe_split") {
        const auto data = in.is_object() ? in.find("data") : in.end();
        if (!in.is_object() || data == in.end() || !data->is_array()) {
            reject("'dataframe_split' must be an object with a 'data' list of rows.");
        }
        const auto columns = in.find("columns");
        if (columns != in.end() && !columns->is_array()) {
            reject("'dataframe_split.columns' must be a list.");
        }
        for (const auto& row : *data) {
            if (!row.is_array()) {
                reject("Each row of 'dataframe_split.data' must be a list.");
            }
            if (columns != in.end() && row.size() != columns->size()) {
                reject("A row of 'dataframe_split.data' has " + std::to_string(row.size()) +
                       " values for " + std::to_string(columns->size()) + " columns.");
            }
            predictions.push_back(predict_row(row));
        }
    } else if (which == "dataframe_records") {
        if (!in.is_array()) {
            reject("'dataframe_records' must be a list of records.");
        }
        for (const auto& record : in) {
            if (!record.is_object()) {
                reject("Each entry of 'dataframe_records' must be an object.");
            }
            predictions.push_back(predict_row(record));
        }
    } else if (in.is_array()) {
        for (const auto& row : in) {
            predictions.push_back(predict_row(row));
        }
    } else if (which == "inputs" && in.is_object() && !in.empty()) {
        // Column-oriented tensors: {"a": [1, 2], "b": [3, 4]} is two rows.
        std::optional<std::size_t> rows;
        for (const auto& column : in) {
            const std::size_t n = column.is_array() ? column.size() : 1;
            if (rows && *rows != n) {
                reject("All columns of 'inputs' must have the same length.");
            }
            rows = n;
        }
        for (std::size_t i = 0; i < *rows; ++i) {
            row_sum sum;
            for (const auto& column : in) {
                sum.add(column.is_array() ? column[i] : column);
            }
            predictions.push_back(sum.result());
        }
    } else {
        reject("'" + which + "' must be a list" +
               (which == "inputs" ? " or an object of columns." : "."));
    }
    return {{"predictions", predictions}};
}

} // namespace

// ----------------------------------------------------------------------------------
// recorded_request

std::string recorded_request::header(const std::string& name) const {
    for (const auto& h : headers) {
        if (iequals(h.first, name)) {
            return h.second;
        }
    }
    return {};
}

bool recorded_request::has_header(const std::string& name) const {
    return std::any_of(headers.begin(), headers.end(),
                       [&name](const auto& h) { return iequals(h.first, name); });
}

// ----------------------------------------------------------------------------------
// impl

class workspace_emulator::impl {
public:
    explicit impl(emulator_options options)
        : options_(std::move(options)), faults_(options_.faults) {}
    ~impl() { stop(); }

    bool start();
    void stop();

    bool running() const {
        std::lock_guard<std::mutex> lock(info_mu_);
        return running_;
    }
    int port() const {
        std::lock_guard<std::mutex> lock(info_mu_);
        return port_;
    }
    std::string url() const {
        std::lock_guard<std::mutex> lock(info_mu_);
        return url_;
    }
    bool uses_tls() const { return !options_.cert_file.empty() && !options_.key_file.empty(); }
    std::string last_error() const {
        std::lock_guard<std::mutex> lock(info_mu_);
        return last_error_;
    }

    std::size_t token_requests() const { return token_requests_.load(); }
    std::size_t invocations(const std::string& endpoint) const {
        std::lock_guard<std::mutex> lock(state_mu_);
        const auto it = invocations_.find(endpoint);
        return it == invocations_.end() ? 0 : it->second;
    }
    std::size_t processed(const std::string& endpoint) const {
        std::lock_guard<std::mutex> lock(state_mu_);
        const auto it = processed_.find(endpoint);
        return it == processed_.end() ? 0 : it->second;
    }
    std::vector<recorded_request> requests() const {
        std::lock_guard<std::mutex> lock(state_mu_);
        return records_;
    }
    void clear_requests() {
        std::lock_guard<std::mutex> lock(state_mu_);
        records_.clear();
    }
    void revoke_tokens() {
        std::lock_guard<std::mutex> lock(state_mu_);
        tokens_.clear();
    }
    void set_request_hook(request_hook hook) {
        std::lock_guard<std::mutex> lock(state_mu_);
        hook_ = hook ? std::make_shared<const request_hook>(std::move(hook)) : nullptr;
    }
    void set_fault_plan(fault_plan plan) {
        std::lock_guard<std::mutex> lock(fault_mu_);
        faults_ = std::move(plan);
    }
    fault_plan faults() const {
        std::lock_guard<std::mutex> lock(fault_mu_);
        return faults_;
    }

private:
    bool fail(const std::string& message) {
        std::lock_guard<std::mutex> lock(info_mu_);
        last_error_ = message;
        return false;
    }

    void configure(httplib::Server& server);
    void handle(const httplib::Request& req, httplib::Response& res);
    std::string fault_target(const request_context& ctx) const;
    void count(const request_context& ctx, const std::string& target);
    fault_actions faults_before(const request_context& ctx, const std::string& target);
    void faults_after(const std::string& target, bool stream, fault_actions& actions);
    bool pause(std::chrono::milliseconds delay);
    void send_stream(httplib::Response& res, const std::vector<std::string>& events,
                     const fault_actions& faults);
    void send_cut(httplib::Response& res, std::string body, const fault_actions& faults);
    std::optional<canned_reply> run_hook(const recorded_request& record) const;
    reply dispatch(const request_context& ctx);
    reply host_metadata(const request_context& ctx) const;
    reply oidc_discovery(const request_context& ctx) const;
    reply issue_token(const request_context& ctx);
    bool client_authenticated(const request_context& ctx,
                              const std::map<std::string, std::string>& form,
                              std::optional<reply>& refusal) const;
    std::optional<reply> check_bearer(const request_context& ctx) const;
    reply invoke(const request_context& ctx);
    std::string base_url_for(const httplib::Request& req) const;
    void finish_record(const std::string& request_id, int status);

    const emulator_options options_;

    std::mutex lifecycle_mu_; // serialises start() and stop()
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    std::atomic<bool> listen_returned_{false};
#ifndef _WIN32
    void wake_connections() const;

    int listen_socket_ = -1;
    sockaddr_storage listen_addr_{};
#endif

    mutable std::mutex info_mu_;
    bool running_ = false;
    int port_ = 0;
    std::string url_;
    std::string last_error_;

    std::atomic<std::size_t> token_requests_{0};
    mutable std::mutex state_mu_;
    std::unordered_map<std::string, std::size_t> invocations_;
    std::unordered_map<std::string, steady::time_point> tokens_; // token -> expiry
    std::unordered_map<std::string, std::size_t> processed_;
    std::vector<recorded_request> records_;
    std::shared_ptr<const request_hook> hook_;

    mutable std::mutex fault_mu_;
    fault_plan faults_;

    // Stalls wait on this, so stop() can cut them short instead of waiting them out.
    std::mutex stop_mu_;
    std::condition_variable stop_cv_;
    bool stopping_ = false;
};

bool workspace_emulator::impl::start() {
    std::lock_guard<std::mutex> lock(lifecycle_mu_);
    if (server_) {
        return fail("the emulator is already running on " + url());
    }
    if (!is_loopback_literal(options_.bind_host)) {
        return fail("refusing to bind to '" + options_.bind_host +
                    "': the emulator only listens on loopback (127.0.0.0/8 or ::1)");
    }
    if (options_.cert_file.empty() != options_.key_file.empty()) {
        return fail("TLS needs both cert_file and key_file");
    }
    if (options_.port < 0 || options_.port > 65535) {
        return fail("port " + std::to_string(options_.port) + " is out of range");
    }
    if (options_.token_ttl.count() < 0) {
        return fail("token_ttl must not be negative");
    }

    {
        std::lock_guard<std::mutex> stopping(stop_mu_);
        stopping_ = false;
    }
#ifndef _WIN32
    listen_socket_ = -1; // filled in by the socket-options callback during bind
#endif
    std::unique_ptr<httplib::Server> server;
    if (uses_tls()) {
        auto tls = std::make_unique<httplib::SSLServer>(options_.cert_file.c_str(),
                                                        options_.key_file.c_str());
        if (!tls->is_valid()) {
            return fail("cannot load TLS certificate '" + options_.cert_file + "' or key '" +
                        options_.key_file + "'");
        }
        server = std::move(tls);
    } else {
        server = std::make_unique<httplib::Server>();
    }
    configure(*server);

    int bound = options_.port;
    if (bound == 0) {
        bound = server->bind_to_any_port(options_.bind_host);
    } else if (!server->bind_to_port(options_.bind_host, bound)) {
        bound = -1;
    }
    if (bound <= 0) {
        return fail("cannot listen on " + url_host(options_.bind_host) + ":" +
                    std::to_string(options_.port) + " (address in use or unavailable)");
    }
#ifndef _WIN32
    // httplib listens with a backlog of 5; a burst of concurrent connects from a test
    // would overflow it and the kernel would make clients retry SYNs a second later.
    // Calling listen() again on a listening socket only raises the backlog.
    if (listen_socket_ >= 0) {
        ::listen(listen_socket_, listen_backlog);
        socklen_t len = sizeof listen_addr_;
        if (getsockname(listen_socket_, reinterpret_cast<sockaddr*>(&listen_addr_), &len) != 0) {
            listen_addr_ = sockaddr_storage{};
        }
    }
#endif

    {
        std::lock_guard<std::mutex> info(info_mu_);
        port_ = bound;
        url_ = std::string(uses_tls() ? "https" : "http") + "://" + url_host(options_.bind_host) +
               ":" + std::to_string(bound);
        last_error_.clear();
    }

    listen_returned_ = false;
    httplib::Server* raw = server.get();
    server_ = std::move(server);
    thread_ = std::thread([this, raw] {
        raw->listen_after_bind();
        listen_returned_ = true;
    });

    // stop() is a no-op until the accept loop is running, so wait for it here; the
    // socket already queues connections, which is what "ready" means to callers.
    const auto deadline = steady::now() + std::chrono::seconds(10);
    while (!raw->is_running() && !listen_returned_ && steady::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!raw->is_running()) {
        raw->stop();
        if (listen_returned_) {
            thread_.join();
            server_.reset();
        } else {
            // A thread that neither runs nor returns cannot be joined; leaking the
            // server it uses is the only safe way out.
            thread_.detach();
            server_.release();
        }
        std::lock_guard<std::mutex> info(info_mu_);
        port_ = 0;
        url_.clear();
        last_error_ = "the server thread did not start";
        return false;
    }

    std::lock_guard<std::mutex> info(info_mu_);
    running_ = true;
    return true;
}

void workspace_emulator::impl::stop() {
    std::lock_guard<std::mutex> lock(lifecycle_mu_);
    if (!server_) {
        return;
    }
    {
        std::lock_guard<std::mutex> stopping(stop_mu_);
        stopping_ = true;
    }
    stop_cv_.notify_all();
    server_->stop();
#ifndef _WIN32
    wake_connections();
#endif
    if (thread_.joinable()) {
        thread_.join();
    }
    server_.reset();
#ifndef _WIN32
    listen_socket_ = -1;
    listen_addr_ = sockaddr_storage{};
#endif

    std::lock_guard<std::mutex> info(info_mu_);
    running_ = false;
    port_ = 0;
    url_.clear();
}

#ifndef _WIN32
namespace {

bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
    if (a.ss_family != b.ss_family) {
        return false;
    }
    if (a.ss_family == AF_INET) {
        const auto& x = reinterpret_cast<const sockaddr_in&>(a);
        const auto& y = reinterpret_cast<const sockaddr_in&>(b);
        return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
    }
    if (a.ss_family == AF_INET6) {
        const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
        const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
        return x.sin6_port == y.sin6_port &&
               std::equal(std::begin(x.sin6_addr.s6_addr), std::end(x.sin6_addr.s6_addr),
                          std::begin(y.sin6_addr.s6_addr));
    }
    return false;
}

std::vector<int> open_descriptors() {
    std::vector<int> fds;
    if (DIR* dir = opendir("/proc/self/fd")) {
        while (const dirent* entry = readdir(dir)) {
            if (std::isdigit(static_cast<unsigned char>(entry->d_name[0]))) {
                fds.push_back(std::atoi(entry->d_name));
            }
        }
        closedir(dir);
        return fds;
    }
    long limit = sysconf(_SC_OPEN_MAX);
    if (limit <= 0 || limit > 65536) {
        limit = 65536;
    }
    for (int fd = 0; fd < limit; ++fd) {
        fds.push_back(fd);
    }
    return fds;
}

} // namespace

// httplib 0.11 checks for stop() only between requests: a worker parked on an idle
// keep-alive connection (or on a request that never finishes arriving) would hold
// stop() for its whole timeout, and a test that stops the server while its client
// still pools a connection would stall for seconds. Shutting down the sockets accepted
// on our address wakes those workers at once; they still close the descriptors.
void workspace_emulator::impl::wake_connections() const {
    if (listen_addr_.ss_family == 0) {
        return;
    }
    for (int fd : open_descriptors()) {
        sockaddr_storage local{};
        sockaddr_storage peer{};
        socklen_t local_len = sizeof local;
        socklen_t peer_len = sizeof peer;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0 &&
            same_address(local, listen_addr_) &&
            getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0) {
            ::shutdown(fd, SHUT_RDWR);
        }
    }
}
#endif

void workspace_emulator::impl::configure(httplib::Server& server) {
    server.new_task_queue = [] { return new httplib::ThreadPool(worker_threads); };
    server.set_tcp_nodelay(true);
    server.set_keep_alive_max_count(keep_alive_requests);
    server.set_keep_alive_timeout(keep_alive_seconds);
    server.set_payload_max_length(max_body_bytes);
    // httplib's default options include SO_REUSEPORT, which lets a second emulator bind
    // a port that is in use and silently share its connections; a busy port must fail.
#ifdef _WIN32
    server.set_socket_options([](auto sock) {
        BOOL on = TRUE;
        setsockopt(sock, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, reinterpret_cast<const char*>(&on),
                   sizeof on);
    });
#else
    server.set_socket_options([this](auto sock) {
        int on = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (listen_socket_ < 0) {
            listen_socket_ = static_cast<int>(sock);
        }
    });
#endif

    // One catch-all handler per method keeps every decision in handle(), where the
    // fault stage sees each request before it is answered.
    const httplib::Server::Handler all = [this](const httplib::Request& req,
                                                httplib::Response& res) { handle(req, res); };
    server.Get(".*", all);
    server.Post(".*", all);
    server.Put(".*", all);
    server.Patch(".*", all);
    server.Delete(".*", all);
    server.Options(".*", all);

    // Errors httplib produces itself (unparsable request line, oversized body) still
    // get a request id and a Databricks-style body.
    const httplib::Server::HandlerWithResponse on_error = [](const httplib::Request&,
                                                             httplib::Response& res) {
        if (res.has_header("x-request-id")) {
            return httplib::Server::HandlerResponse::Unhandled;
        }
        const std::string id = new_uuid();
        res.set_header("x-request-id", id);
        if (res.body.empty()) {
            res.set_content(dump({{"error_code", reason_code(res.status)},
                                  {"message", "HTTP " + std::to_string(res.status)},
                                  {"details", request_info(id)}}),
                            "application/json");
        }
        return httplib::Server::HandlerResponse::Handled;
    };
    server.set_error_handler(on_error);

    server.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
            const std::string id = new_uuid();
            res.status = 500;
            res.set_header("x-request-id", id);
            res.set_content(dump({{"error_code", "INTERNAL_ERROR"},
                                  {"message", "The emulator failed to handle the request."},
                                  {"details", request_info(id)}}),
                            "application/json");
        });

    if (options_.log) {
        // Only method, path, status and request id: headers and bodies can hold
        // secrets and tokens.
        server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
            options_.log(req.method + " " + req.path + " -> " + std::to_string(res.status) +
                         " x-request-id=" + res.get_header_value("x-request-id"));
        });
    }
}

std::string workspace_emulator::impl::base_url_for(const httplib::Request& req) const {
    // Links in discovery documents follow the name the client used (127.0.0.1,
    // localhost, [::1]) so they match its TLS name checks and its idea of the host.
    const std::string authority = req.get_header_value("Host");
    if (is_loopback_authority(authority)) {
        return std::string(uses_tls() ? "https" : "http") + "://" + authority;
    }
    return url();
}

void workspace_emulator::impl::handle(const httplib::Request& req, httplib::Response& res) {
    request_context ctx{req, new_uuid(), base_url_for(req), classify(req.path), json(), false};
    if (is_model_route(ctx.target.kind)) {
        ctx.body_too_deep = json_nesting(req.body) > max_json_depth;
        ctx.body = ctx.body_too_deep ? json(json::value_t::discarded)
                                     : json::parse(req.body, nullptr, false);
    }

    recorded_request record;
    record.method = req.method;
    record.path = req.path;
    const auto q = req.target.find('?');
    record.query = q == std::string::npos ? std::string() : req.target.substr(q + 1);
    for (const auto& h : req.headers) {
        // httplib files the peer and local addresses among the request headers.
        if (h.first != "REMOTE_ADDR" && h.first != "REMOTE_PORT" && h.first != "LOCAL_ADDR" &&
            h.first != "LOCAL_PORT") {
            record.headers.emplace_back(h.first, h.second);
        }
    }
    record.body = req.body;
    record.request_id = ctx.request_id;
    {
        std::lock_guard<std::mutex> lock(state_mu_);
        records_.push_back(record);
    }
    const std::string target = fault_target(ctx);
    count(ctx, target);

    // The single place every request is answered, and the only one faults act in: the
    // hook first, then the fault plan around dispatch and around the write below.
    std::optional<canned_reply> canned;
    reply out;
    fault_actions faults;
    try {
        canned = run_hook(record);
        if (!canned) {
            faults = faults_before(ctx, target);
            if (!pause(faults.stall_before)) {
                out = api_error(503, "TEMPORARILY_UNAVAILABLE", "The emulator is shutting down.",
                                ctx.request_id);
            } else if (faults.refusal) {
                out = std::move(*faults.refusal);
            } else {
                out = dispatch(ctx);
                if (out.status == 200) {
                    faults_after(target, out.events.has_value(), faults);
                }
            }
        }
    } catch (const std::exception&) {
        canned.reset();
        faults = fault_actions{};
        out = api_error(500, "INTERNAL_ERROR", "The emulator failed to handle the request.",
                        ctx.request_id);
    }

    if (canned) {
        res.status = canned->status;
        for (const auto& h : canned->headers) {
            res.set_header(h.first, h.second);
        }
        res.set_header("x-request-id", ctx.request_id);
        res.set_content(canned->body, canned->content_type);
    } else {
        res.status = out.status;
        for (const auto& h : out.headers) {
            res.set_header(h.first, h.second);
        }
        res.set_header("x-request-id", ctx.request_id);
        if (out.events) {
            send_stream(res, *out.events, faults);
        } else if (faults.cuts_body()) {
            send_cut(res, dump(out.body), faults);
        } else {
            res.set_content(dump(out.body), "application/json");
        }
    }
    finish_record(ctx.request_id, res.status);
}

fault_actions workspace_emulator::impl::faults_before(const request_context& ctx,
                                                      const std::string& target) {
    fault_actions a;
    const bool token = ctx.target.kind == route_kind::token;
    std::lock_guard<std::mutex> lock(fault_mu_);
    fault_plan& p = faults_;
    if (take(p.stall_before_headers.scope, target)) {
        a.stall_before += p.stall_before_headers.delay;
    }
    if (token && take(p.token_hang.count)) {
        a.stall_before += p.token_hang.delay;
    }
    // At most one refusal per request, so a count is never used up by a request that
    // another fault already answered.
    if (take(p.status_429.scope, target)) {
        a.refusal = status_refusal(p.status_429, 429, ctx.request_id);
    } else if (take(p.status_503.scope, target)) {
        a.refusal = status_refusal(p.status_503, 503, ctx.request_id);
    } else if (token && take(p.token_fail.count)) {
        a.refusal = token_failure(p.token_fail.status);
    }
    return a;
}

void workspace_emulator::impl::faults_after(const std::string& target, bool stream,
                                            fault_actions& a) {
    std::lock_guard<std::mutex> lock(fault_mu_);
    fault_plan& p = faults_;
    a.reset = take(p.reset_mid_body, target);
    if (take(p.stall_during_body.scope, target)) {
        a.stall_body = p.stall_during_body.delay;
    }
    if (!stream) {
        return;
    }
    if (take(p.pace_stream.scope, target)) {
        a.pace = p.pace_stream.delay;
    }
    a.without_done = take(p.stream_without_done, target);
    if (take(p.stream_error_event.scope, target)) {
        a.error_event = p.stream_error_event;
    }
}

bool workspace_emulator::impl::pause(std::chrono::milliseconds delay) {
    std::unique_lock<std::mutex> lock(stop_mu_);
    if (delay.count() <= 0) {
        return !stopping_;
    }
    return !stop_cv_.wait_for(lock, std::min(delay, max_stall), [this] { return stopping_; });
}

void workspace_emulator::impl::send_stream(httplib::Response& res,
                                           const std::vector<std::string>& events,
                                           const fault_actions& f) {
    auto state = std::make_shared<stream_state>();
    std::size_t sent = events.size();
    if (f.error_event) {
        sent = std::min(sent, f.error_event->after_chunks);
    }
    for (std::size_t i = 0; i < sent; ++i) {
        state->frames.push_back("data: " + events[i] + "\n\n");
    }
    if (f.error_event) {
        const json error = {
            {"error", {{"message", f.error_event->message}, {"code", f.error_event->code}}}};
        state->frames.push_back("data: " + dump(error) + "\n\n");
    } else if (!f.without_done) {
        state->frames.push_back("data: [DONE]\n\n");
    }
    // Halfway, but after at least one frame, so the client has seen the stream start.
    const std::size_t halfway = std::max<std::size_t>(1, state->frames.size() / 2);
    if (f.reset) {
        state->reset_after = halfway;
    }
    if (f.stall_body.count() > 0) {
        state->stall_before = halfway;
        state->stall = f.stall_body;
    }
    state->pace = f.pace;

    res.set_header("Cache-Control", "no-cache");
    // Exactly "text/event-stream": httplib compresses other text/ types, and a
    // compressor would hold events back instead of sending each when it is ready.
    res.set_chunked_content_provider(
        "text/event-stream", [this, state](std::size_t, httplib::DataSink& sink) {
            stream_state& s = *state;
            if (s.next == s.reset_after) {
                return false; // httplib drops a connection whose provider fails
            }
            if (s.next == s.stall_before) {
                s.stall_before = stream_state::never;
                if (!pause(s.stall)) {
                    return false;
                }
            }
            if (s.next == s.frames.size()) {
                sink.done();
                return true;
            }
            if (s.next > 0 && s.pace.count() > 0) {
                static const std::string keep_alive = ": keep-alive\n\n";
                if (!pause(s.pace / 2) || !sink.write(keep_alive.data(), keep_alive.size()) ||
                    !pause(s.pace - s.pace / 2)) {
                    return false;
                }
            }
            const std::string& frame = s.frames[s.next++];
            return sink.write(frame.data(), frame.size());
        });
}

void workspace_emulator::impl::send_cut(httplib::Response& res, std::string body,
                                        const fault_actions& f) {
    auto text = std::make_shared<const std::string>(std::move(body));
    const bool reset = f.reset;
    const std::chrono::milliseconds stall = f.stall_body;
    // A provider with a length makes httplib send the full Content-Length up front, which
    // is what lets a client tell a cut body from a short one.
    res.set_content_provider(
        text->size(), "application/json",
        [this, text, reset, stall](std::size_t offset, std::size_t, httplib::DataSink& sink) {
            const std::size_t half = text->size() / 2;
            if (offset < half) {
                return sink.write(text->data() + offset, half - offset);
            }
            if (reset || !pause(stall)) {
                return false;
            }
            return sink.write(text->data() + offset, text->size() - offset);
        });
}

// "token", the endpoint a model route addresses, or "" for routes faults never hit.
std::string workspace_emulator::impl::fault_target(const request_context& ctx) const {
    const route& r = ctx.target;
    if (r.kind == route_kind::token) {
        return "token";
    }
    if (r.kind != route_kind::invocation && is_model_route(r.kind)) {
        // OpenAI-style routes name the endpoint in the body's "model" field.
        const auto model = ctx.body.is_object() ? ctx.body.find("model") : ctx.body.end();
        if (ctx.body.is_object() && model != ctx.body.end() && model->is_string()) {
            return model->get<std::string>();
        }
    }
    return r.endpoint;
}

void workspace_emulator::impl::count(const request_context& ctx, const std::string& target) {
    if (ctx.target.kind == route_kind::token) {
        ++token_requests_;
        return;
    }
    if (!target.empty()) {
        std::lock_guard<std::mutex> lock(state_mu_);
        ++invocations_[target];
    }
}

std::optional<canned_reply>
workspace_emulator::impl::run_hook(const recorded_request& record) const {
    std::shared_ptr<const request_hook> hook;
    {
        std::lock_guard<std::mutex> lock(state_mu_);
        hook = hook_;
    }
    if (!hook) {
        return std::nullopt;
    }
    return (*hook)(record);
}

void workspace_emulator::impl::finish_record(const std::string& request_id, int status) {
    std::lock_guard<std::mutex> lock(state_mu_);
    // Newest first: the record was appended moments ago, unless cleared meanwhile.
    for (auto it = records_.rbegin(); it != records_.rend(); ++it) {
        if (it->request_id == request_id) {
            it->status = status;
            return;
        }
    }
}

reply workspace_emulator::impl::dispatch(const request_context& ctx) {
    const route& r = ctx.target;
    const std::string& method = ctx.http.method;
    if (r.kind == route_kind::unknown) {
        return api_error(404, "ENDPOINT_NOT_FOUND",
                         "No API found for '" + method + " " + ctx.http.path + "'", ctx.request_id);
    }
    if (method != r.method && !(method == "HEAD" && std::string(r.method) == "GET")) {
        reply refusal = api_error(405, "BAD_REQUEST",
                                  "Method " + method + " is not allowed on " + ctx.http.path +
                                      "; use " + r.method + ".",
                                  ctx.request_id);
        refusal.headers.emplace_back("Allow", r.method);
        return refusal;
    }

    switch (r.kind) {
    case route_kind::host_metadata:
        return host_metadata(ctx);
    case route_kind::oidc_discovery:
        return oidc_discovery(ctx);
    case route_kind::token:
        return issue_token(ctx);
    default:
        return invoke(ctx);
    }
}

reply workspace_emulator::impl::host_metadata(const request_context& ctx) const {
    reply r;
    r.body = {{"oidc_endpoint", ctx.base_url + "/oidc"},
              {"account_id", account_id},
              {"workspace_id", options_.workspace_id},
              {"cloud", "AWS"},
              {"host_type", "workspace"},
              {"token_federation_default_oidc_audiences",
               json::array({ctx.base_url + "/oidc/v1/token"})}};
    return r;
}

reply workspace_emulator::impl::oidc_discovery(const request_context& ctx) const {
    const std::string oidc = ctx.base_url + "/oidc";
    reply r;
    r.body = {{"issuer", oidc},
              {"authorization_endpoint", oidc + "/v1/authorize"},
              {"token_endpoint", oidc + "/v1/token"},
              {"jwks_uri", oidc + "/jwks.json"},
              {"response_types_supported", json::array({"code"})},
              {"grant_types_supported", json::array({"client_credentials"})},
              {"token_endpoint_auth_methods_supported",
               json::array({"client_secret_basic", "client_secret_post"})},
              {"scopes_supported", json::array({"all-apis"})},
              {"code_challenge_methods_supported", json::array({"S256"})}};
    return r;
}

bool workspace_emulator::impl::client_authenticated(const request_context& ctx,
                                                    const std::map<std::string, std::string>& form,
                                                    std::optional<reply>& refusal) const {
    // Go's oauth2 and the JS SDK form-encode id and secret before base64 (RFC 6749
    // section 2.3.1), Python does not; a credential matches in either spelling.
    auto matches = [](const std::string& sent, const std::string& expected) {
        std::string decoded;
        return sent == expected || (form_decode(sent, decoded) && decoded == expected);
    };
    const reply unauthorized = oauth_error(401, "invalid_client", "Client authentication failed");

    const std::string authorization = std::string(trim(ctx.http.get_header_value("Authorization")));
    const auto form_id = form.find("client_id");
    const auto form_secret = form.find("client_secret");

    if (!authorization.empty()) {
        if (form_secret != form.end()) {
            refusal =
                oauth_error(400, "invalid_request", "Use only one client authentication method.");
            return false;
        }
        const auto space = authorization.find(' ');
        std::string decoded;
        if (space == std::string::npos || !iequals(authorization.substr(0, space), "basic") ||
            !base64_decode(trim(std::string_view(authorization).substr(space + 1)), decoded) ||
            decoded.find(':') == std::string::npos) {
            refusal = unauthorized;
            refusal->headers.emplace_back("WWW-Authenticate", "Basic realm=\"dbxserve-emulator\"");
            return false;
        }
        const std::string id = decoded.substr(0, decoded.find(':'));
        const std::string secret = decoded.substr(decoded.find(':') + 1);
        const bool form_id_agrees = form_id == form.end() || form_id->second == options_.client_id;
        if (!matches(id, options_.client_id) || !matches(secret, options_.client_secret) ||
            !form_id_agrees) {
            refusal = unauthorized;
            refusal->headers.emplace_back("WWW-Authenticate", "Basic realm=\"dbxserve-emulator\"");
            return false;
        }
        return true;
    }

    if (form_id == form.end() || form_secret == form.end() ||
        form_id->second != options_.client_id || form_secret->second != options_.client_secret) {
        refusal = unauthorized;
        return false;
    }
    return true;
}

reply workspace_emulator::impl::issue_token(const request_context& ctx) {
    if (media_type(ctx.http.get_header_value("Content-Type")) !=
        "application/x-www-form-urlencoded") {
        return oauth_error(400, "invalid_request",
                           "The token request must be application/x-www-form-urlencoded.");
    }
    std::map<std::string, std::string> form;
    std::string why;
    if (!parse_form(ctx.http.body, form, why)) {
        return oauth_error(400, "invalid_request", why);
    }

    std::optional<reply> refusal;
    if (!client_authenticated(ctx, form, refusal)) {
        return *refusal;
    }

    const auto grant = form.find("grant_type");
    if (grant == form.end() || grant->second.empty()) {
        return oauth_error(400, "invalid_request", "Missing required parameter 'grant_type'.");
    }
    if (grant->second != "client_credentials") {
        return oauth_error(400, "unsupported_grant_type",
                           "Grant type '" + grant->second + "' is not supported.");
    }
    const auto details = form.find("authorization_details");
    if (details != form.end()) {
        const json parsed = json::parse(details->second, nullptr, false);
        if (!parsed.is_array() || parsed.empty()) {
            return oauth_error(400, "invalid_request",
                               "'authorization_details' must be a non-empty JSON array.");
        }
    }
    const auto scope_param = form.find("scope");
    std::string scope =
        scope_param == form.end() ? std::string() : std::string(trim(scope_param->second));
    if (scope.empty()) {
        scope = "all-apis";
    }

    const std::string token = "dbxemu." + to_hex(random_bytes(32));
    {
        std::lock_guard<std::mutex> lock(state_mu_);
        const auto now = steady::now();
        // Expired tokens would answer 401 anyway; dropping them keeps the map small
        // in long-running load tests.
        for (auto it = tokens_.begin(); it != tokens_.end();) {
            it = it->second <= now ? tokens_.erase(it) : std::next(it);
        }
        tokens_[token] = now + options_.token_ttl;
    }

    reply r;
    r.body = {{"access_token", token},
              {"token_type", "Bearer"},
              {"expires_in", options_.token_ttl.count()},
              {"scope", scope}};
    r.headers = {{"Cache-Control", "no-store"}, {"Pragma", "no-cache"}};
    return r;
}

std::optional<reply> workspace_emulator::impl::check_bearer(const request_context& ctx) const {
    const std::string authorization = std::string(trim(ctx.http.get_header_value("Authorization")));
    const auto space = authorization.find(' ');
    if (space == std::string::npos || !iequals(authorization.substr(0, space), "bearer") ||
        trim(std::string_view(authorization).substr(space + 1)).empty()) {
        return api_error(401, "UNAUTHENTICATED",
                         "Credential was not sent or was of an unsupported type for this API.",
                         ctx.request_id);
    }
    const std::string token(trim(std::string_view(authorization).substr(space + 1)));
    if (!options_.pat.empty() && token == options_.pat) {
        return std::nullopt;
    }
    {
        std::lock_guard<std::mutex> lock(state_mu_);
        const auto it = tokens_.find(token);
        if (it != tokens_.end() && steady::now() < it->second) {
            return std::nullopt;
        }
    }
    return api_error(401, "UNAUTHENTICATED", "Invalid access token: it is invalid or has expired.",
                     ctx.request_id);
}

reply workspace_emulator::impl::invoke(const request_context& ctx) {
    if (auto refusal = check_bearer(ctx)) {
        return *refusal;
    }
    const route& r = ctx.target;
    const bool openai = r.kind != route_kind::invocation;

    const std::string content_type = ctx.http.get_header_value("Content-Type");
    if (!content_type.empty() && media_type(content_type) != "application/json") {
        return api_error(400, "BAD_REQUEST",
                         "Unsupported Content-Type '" + content_type + "'; send application/json.",
                         ctx.request_id);
    }

    if (ctx.body_too_deep) {
        return api_error(400, "BAD_REQUEST",
                         "The request body nests deeper than " + std::to_string(max_json_depth) +
                             " levels.",
                         ctx.request_id);
    }
    std::string name = r.endpoint;
    if (openai) {
        if (ctx.body.is_discarded()) {
            return api_error(400, "BAD_REQUEST", "The request body is not valid JSON.",
                             ctx.request_id);
        }
        const auto model = ctx.body.is_object() ? ctx.body.find("model") : ctx.body.end();
        if (!ctx.body.is_object() || model == ctx.body.end() || !model->is_string()) {
            return api_error(400, "INVALID_PARAMETER_VALUE",
                             "Missing required field 'model' (the serving endpoint name).",
                             ctx.request_id);
        }
        name = model->get<std::string>();
    }

    const endpoint_def* endpoint = find_endpoint(name);
    if (endpoint == nullptr) {
        return api_error(404, "RESOURCE_DOES_NOT_EXIST",
                         "Endpoint with name '" + name + "' does not exist.", ctx.request_id);
    }
    const std::string served = served_model_of(*endpoint);
    if (!r.served_model.empty() && r.served_model != served) {
        return api_error(404, "RESOURCE_DOES_NOT_EXIST",
                         "Served model with name '" + r.served_model +
                             "' does not exist in endpoint '" + name + "'.",
                         ctx.request_id);
    }
    const endpoint_kind wanted = r.kind == route_kind::openai_chat ? endpoint_kind::chat
                                 : r.kind == route_kind::openai_embeddings
                                     ? endpoint_kind::embeddings
                                     : endpoint_kind::responses;
    if (openai && endpoint->kind != wanted) {
        return api_error(400, "INVALID_PARAMETER_VALUE",
                         "Endpoint '" + name + "' does not serve this API.", ctx.request_id);
    }

    if (ctx.body.is_discarded()) {
        return api_error(400, "BAD_REQUEST", "The request body is not valid JSON.", ctx.request_id);
    }
    if (!ctx.body.is_object()) {
        return api_error(400, "INVALID_PARAMETER_VALUE", "The request body must be a JSON object.",
                         ctx.request_id);
    }

    reply out;
    try {
        // The endpoint functions validate "stream" and "stream_options" before this
        // reads them back.
        switch (endpoint->kind) {
        case endpoint_kind::chat:
            out.body = chat_completion(ctx.body, served);
            if (stream_requested(ctx.body)) {
                out.events = chat_stream(out.body, usage_requested(ctx.body));
            }
            break;
        case endpoint_kind::agent:
            out.body = chat_agent(ctx.body, served);
            if (stream_requested(ctx.body)) {
                out.events = agent_stream(out.body);
            }
            break;
        case endpoint_kind::responses:
            out.body = responses_agent(ctx.body, served);
            if (stream_requested(ctx.body)) {
                out.events = responses_stream(out.body);
            }
            break;
        case endpoint_kind::embeddings:
            out.body = embeddings(ctx.body, served);
            break;
        case endpoint_kind::tabular:
            out.body = tabular(ctx.body);
            break;
        }
    } catch (const invalid_parameter& e) {
        return api_error(400, "INVALID_PARAMETER_VALUE", e.what(), ctx.request_id);
    } catch (const json::exception&) {
        return api_error(400, "INVALID_PARAMETER_VALUE",
                         "The request body does not have the shape this endpoint expects.",
                         ctx.request_id);
    }
    {
        std::lock_guard<std::mutex> lock(state_mu_);
        ++processed_[name];
    }
    out.headers.emplace_back("served-model-name", served);
    return out;
}

// ----------------------------------------------------------------------------------
// workspace_emulator

workspace_emulator::workspace_emulator(emulator_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

workspace_emulator::~workspace_emulator() = default;

bool workspace_emulator::start() {
    return impl_->start();
}
void workspace_emulator::stop() {
    impl_->stop();
}
bool workspace_emulator::running() const {
    return impl_->running();
}
int workspace_emulator::port() const {
    return impl_->port();
}
std::string workspace_emulator::url() const {
    return impl_->url();
}
bool workspace_emulator::uses_tls() const {
    return impl_->uses_tls();
}
std::string workspace_emulator::last_error() const {
    return impl_->last_error();
}
std::size_t workspace_emulator::token_requests() const {
    return impl_->token_requests();
}

std::size_t workspace_emulator::invocations(const std::string& endpoint) const {
    return impl_->invocations(endpoint);
}
std::size_t workspace_emulator::processed(const std::string& endpoint) const {
    return impl_->processed(endpoint);
}

std::vector<recorded_request> workspace_emulator::requests() const {
    return impl_->requests();
}
void workspace_emulator::clear_requests() {
    impl_->clear_requests();
}
void workspace_emulator::revoke_tokens() {
    impl_->revoke_tokens();
}

void workspace_emulator::set_request_hook(request_hook hook) {
    impl_->set_request_hook(std::move(hook));
}
void workspace_emulator::set_fault_plan(fault_plan plan) {
    impl_->set_fault_plan(std::move(plan));
}
fault_plan workspace_emulator::faults() const {
    return impl_->faults();
}

} // namespace dbxserve::emulator
