#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat.hpp"
#include "common.hpp"

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
