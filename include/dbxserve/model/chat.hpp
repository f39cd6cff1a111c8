#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common.hpp"

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
