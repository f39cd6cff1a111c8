#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../detail/http_error.hpp"
#include "../error.hpp"
#include "../result.hpp"
#include "chat.hpp"
#include "chat_agent.hpp"
#include "common.hpp"
#include "detail/json_fields.hpp"
#include "responses_agent.hpp"

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
