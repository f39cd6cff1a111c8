#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common.hpp"

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
