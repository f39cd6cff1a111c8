#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../error.hpp"
#include "../result.hpp"
#include "../transport.hpp"
#include "detail/json_fields.hpp"

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
