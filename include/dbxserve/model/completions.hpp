#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common.hpp"

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
