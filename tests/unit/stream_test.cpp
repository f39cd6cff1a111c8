#include <dbxserve/detail/sse.hpp>
#include <dbxserve/model/model.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

using nlohmann::json;
namespace dbx = dbxserve;

namespace {

json fixture(std::string_view text) {
    auto parsed = json::parse(text.begin(), text.end(), nullptr, false);
    REQUIRE_FALSE(parsed.is_discarded());
    return parsed;
}

// An event-stream body with one `data:` event per chunk, then the sentinel.
std::string sse_body(const std::vector<std::string>& chunks, std::string_view line_end = "\n") {
    std::string body;
    for (const auto& chunk : chunks) {
        body += "data: " + chunk;
        body += line_end;
        body += line_end;
    }
    body += "data: [DONE]";
    body += line_end;
    body += line_end;
    return body;
}

// Streams `body` through the parser one byte at a time and adds every chunk to an accumulator,
// the way a client reads an answer as it arrives.
template <class Chunk, class Accumulator>
void accumulate(const std::string& body, Accumulator& accumulator) {
    dbx::detail::sse_parser parser;
    bool done = false;
    std::vector<std::string> failures;
    auto on_event = [&](const dbx::detail::sse_event& event) {
        if (dbx::detail::is_done_sentinel(event)) {
            done = true;
            return false;
        }
        auto chunk = dbx::detail::parse_stream_chunk<Chunk>(event.data);
        if (!chunk) {
            failures.push_back(chunk.error().to_string());
            return false;
        }
        accumulator.add(*chunk);
        return true;
    };

    for (std::size_t at = 0; at < body.size(); ++at) {
        auto fed = parser.feed(std::string_view(body).substr(at, 1), on_event);
        REQUIRE(fed.ok());
        if (!*fed) {
            break;
        }
    }
    CHECK(parser.finish(on_event).ok());
    CHECK(failures.empty());
    CHECK(done);
}

const char* const chat_head = R"("id":"chatcmpl-9","object":"chat.completion.chunk",)"
                              R"("created":1718000000,"model":"databricks-claude-sonnet-4")";

std::string chat_chunk(std::string_view choices, std::string_view tail = "") {
    return std::string("{") + chat_head + ",\"choices\":" + std::string(choices) +
           std::string(tail) + "}";
}

// Text, then a tool call in three fragments, then a usage-only chunk.
std::vector<std::string> chat_chunks() {
    return {
        chat_chunk(R"([{"index":0,"delta":{"role":"assistant","content":""},)"
                   R"("finish_reason":null}])"),
        chat_chunk(R"([{"index":0,"delta":{"content":"Il fait beau "},"finish_reason":null}])"),
        chat_chunk(R"([{"index":0,"delta":{"content":"à Paris ☀️ — 東京?"},)"
                   R"("finish_reason":null}])"),
        chat_chunk(R"([{"index":0,"delta":{"content":null,"tool_calls":[{"index":0,)"
                   R"("id":"call_7","type":"function","function":{"name":"get_weather",)"
                   R"("arguments":""}}]},"finish_reason":null}])"),
        chat_chunk(R"([{"index":0,"delta":{"tool_calls":[{"index":0,)"
                   R"("function":{"arguments":"{\"city\":"}}]},"finish_reason":null}])"),
        chat_chunk(R"([{"index":0,"delta":{"tool_calls":[{"index":0,)"
                   R"("function":{"arguments":"\"Tōkyō\"}"}}]},"finish_reason":"tool_calls"}])"),
        chat_chunk("[]", R"(,"usage":{"prompt_tokens":52,"completion_tokens":17,)"
                         R"("total_tokens":69})"),
    };
}

// What the same request returns without streaming.
const char* const chat_answer = R"({
  "id": "chatcmpl-9", "object": "chat.completion", "created": 1718000000,
  "model": "databricks-claude-sonnet-4",
  "choices": [{
    "index": 0,
    "message": {
      "role": "assistant",
      "content": "Il fait beau à Paris ☀️ — 東京?",
      "tool_calls": [{"id": "call_7", "type": "function",
                      "function": {"name": "get_weather", "arguments": "{\"city\":\"Tōkyō\"}"}}]
    },
    "finish_reason": "tool_calls"
  }],
  "usage": {"prompt_tokens": 52, "completion_tokens": 17, "total_tokens": 69}
})";

dbx::chat_completion accumulate_chat(const std::vector<std::string>& chunks,
                                     std::string_view line_end = "\n") {
    dbx::chat_stream_accumulator accumulator;
    accumulate<dbx::chat_completion_chunk>(sse_body(chunks, line_end), accumulator);
    return accumulator.result();
}

} // namespace

TEST_CASE("stream: chat chunks") {
    const auto chunks = chat_chunks();

    SUBCASE("typed view") {
        auto first = dbx::detail::parse_stream_chunk<dbx::chat_completion_chunk>(chunks[0]);
        REQUIRE(first.ok());
        CHECK(first->id == "chatcmpl-9");
        CHECK(first->object == "chat.completion.chunk");
        CHECK(first->created == 1718000000);
        CHECK(first->model == "databricks-claude-sonnet-4");
        REQUIRE(first->choices.size() == 1);
        CHECK(first->choices[0].delta.role == "assistant");
        CHECK(first->text().empty());
        CHECK_FALSE(first->choices[0].finish_reason.has_value());
        CHECK(first->raw == fixture(chunks[0]));

        auto text = dbx::detail::parse_stream_chunk<dbx::chat_completion_chunk>(chunks[2]);
        REQUIRE(text.ok());
        CHECK(text->text() == "à Paris ☀️ — 東京?");
        CHECK_FALSE(text->choices[0].delta.role.has_value());

        auto call = dbx::detail::parse_stream_chunk<dbx::chat_completion_chunk>(chunks[3]);
        REQUIRE(call.ok());
        const auto& fragment = call->choices[0].delta.tool_calls.at(0);
        CHECK(fragment.index == 0);
        CHECK(fragment.id == "call_7");
        CHECK(fragment.type == "function");
        CHECK(fragment.function_name == "get_weather");
        CHECK(fragment.arguments.empty());
        CHECK(call->choices[0].delta.content.is_null());

        auto last = dbx::detail::parse_stream_chunk<dbx::chat_completion_chunk>(chunks[5]);
        REQUIRE(last.ok());
        CHECK(last->choices[0].finish_reason == "tool_calls");
        CHECK(last->choices[0].delta.tool_calls.at(0).arguments == "\"Tōkyō\"}");
        CHECK_FALSE(last->choices[0].delta.tool_calls.at(0).id.has_value());

        auto usage = dbx::detail::parse_stream_chunk<dbx::chat_completion_chunk>(chunks[6]);
        REQUIRE(usage.ok());
        CHECK(usage->choices.empty());
        CHECK(usage->text().empty());
        REQUIRE(usage->usage.has_value());
        CHECK(usage->usage->total_tokens == 69);
    }

    SUBCASE("every chunk round-trips") {
        for (const auto& text : chunks) {
            const auto body = fixture(text);
            dbx::chat_completion_chunk chunk;
            dbx::from_json(body, chunk);
            CHECK(json(chunk) == body);
        }
    }

    SUBCASE("unknown members of a fragment's function are kept") {
        const auto body = fixture(R"({"index":1,"function":{"arguments":"{","strict":true},
                                      "x":1})");
        dbx::tool_call_delta fragment = body;
        CHECK(fragment.index == 1);
        CHECK(fragment.arguments == "{");
        CHECK_FALSE(fragment.function_name.has_value());
        CHECK(fragment.extra == json{{"x", 1}, {"function", {{"strict", true}}}});
        CHECK(json(fragment) == body);

        const auto odd = fixture(R"({"index":0,"function":"f"})");
        dbx::tool_call_delta kept = odd;
        CHECK(json(kept) == odd);
    }
}

TEST_CASE("stream: chat accumulator equals the non-streamed answer") {
    SUBCASE("text and a tool call in fragments") {
        const auto expected = fixture(chat_answer);
        for (const char* line_end : {"\n", "\r\n"}) {
            const auto whole = accumulate_chat(chat_chunks(), line_end);
            REQUIRE(whole.choices.size() == 1);
            CHECK(json(whole.choices[0].message) == expected["choices"][0]["message"]);
            CHECK(whole.choices[0].finish_reason == "tool_calls");
            CHECK(json(whole) == expected);
            CHECK(whole.text() == "Il fait beau à Paris ☀️ — 東京?");
            CHECK(whole.choices[0].message.tool_calls[0].function.parsed_arguments() ==
                  json{{"city", "Tōkyō"}});
        }
    }

    SUBCASE("a tool call alone keeps content null") {
        const std::vector<std::string> chunks = {
            chat_chunk(R"([{"index":0,"delta":{"role":"assistant","content":null,)"
                       R"("tool_calls":[{"index":0,"id":"call_1","type":"function",)"
                       R"("function":{"name":"get_weather","arguments":""}}]}}])"),
            chat_chunk(R"([{"index":0,"delta":{"tool_calls":[{"index":0,)"
                       R"("function":{"arguments":"{\"city\":"}}]}}])"),
            chat_chunk(R"([{"index":0,"delta":{"tool_calls":[{"index":0,)"
                       R"("function":{"arguments":"\"Paris\"}"}}]}}])"),
            chat_chunk(R"([{"index":0,"delta":{},"finish_reason":"tool_calls"}])"),
        };
        const auto whole = accumulate_chat(chunks);
        const auto expected = fixture(R"({"role":"assistant","content":null,
            "tool_calls":[{"id":"call_1","type":"function",
            "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]})");

        dbx::chat_message message = expected;
        CHECK(json(whole.choices.at(0).message) == json(message));
        CHECK(whole.choices[0].message.content.is_null());
        CHECK(whole.choices[0].finish_reason == "tool_calls");
        CHECK_FALSE(whole.usage.has_value());
    }

    SUBCASE("two parallel tool calls and two choices, interleaved") {
        const std::vector<std::string> chunks = {
            chat_chunk(R"([{"index":1,"delta":{"role":"assistant","content":"B"}},)"
                       R"({"index":0,"delta":{"role":"assistant","tool_calls":[)"
                       R"({"index":0,"id":"a","type":"function","function":{"name":"f",)"
                       R"("arguments":"{\"n\":"}},)"
                       R"({"index":1,"id":"b","type":"function","function":{"name":"g",)"
                       R"("arguments":"["}}]}}])"),
            chat_chunk(R"([{"index":0,"delta":{"tool_calls":[)"
                       R"({"index":1,"function":{"arguments":"]"}},)"
                       R"({"index":0,"function":{"arguments":"1}"}}]}},)"
                       R"({"index":1,"delta":{"content":"ye"},"finish_reason":"stop"}])"),
            chat_chunk(R"([{"index":0,"delta":{},"finish_reason":"tool_calls"}])",
                       R"(,"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3})"),
        };
        const auto whole = accumulate_chat(chunks);
        REQUIRE(whole.choices.size() == 2);
        CHECK(whole.choices[0].index == 0);
        CHECK(whole.choices[1].index == 1);
        CHECK(whole.choices[1].message.content == "Bye");
        CHECK(whole.choices[1].finish_reason == "stop");

        const auto& calls = whole.choices[0].message.tool_calls;
        REQUIRE(calls.size() == 2);
        CHECK(calls[0].id == "a");
        CHECK(calls[0].function.name == "f");
        CHECK(calls[0].function.arguments == "{\"n\":1}");
        CHECK(calls[1].id == "b");
        CHECK(calls[1].function.name == "g");
        CHECK(calls[1].function.arguments == "[]");
        CHECK(whole.usage->total_tokens == 3);
    }

    SUBCASE("fragments without an index follow the call they continue") {
        const std::vector<std::string> chunks = {
            chat_chunk(R"([{"index":0,"delta":{"tool_calls":[{"id":"x","type":"function",)"
                       R"("function":{"name":"f","arguments":"{"}}]}}])"),
            chat_chunk(R"([{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"}"}}]}}])"),
            chat_chunk(R"([{"index":0,"delta":{"tool_calls":[{"id":"y",)"
                       R"("function":{"name":"g","arguments":"[]"}}]}}])"),
        };
        const auto whole = accumulate_chat(chunks);
        const auto& calls = whole.choices.at(0).message.tool_calls;
        REQUIRE(calls.size() == 2);
        CHECK(calls[0].function.arguments == "{}");
        CHECK(calls[1].id == "y");
        CHECK(calls[1].function.arguments == "[]");
        CHECK(whole.choices[0].message.role == "assistant");
    }
}

namespace {

const char* const chat_agent_answer = R"({
  "messages": [
    {"role": "assistant", "content": "", "id": "msg-1",
     "tool_calls": [{"id": "call_1", "type": "function",
                     "function": {"name": "lookup", "arguments": "{\"q\":\"refunds\"}"}}]},
    {"role": "tool", "content": "30 days", "id": "msg-2", "name": "lookup",
     "tool_call_id": "call_1"},
    {"role": "assistant", "content": "Refunds are accepted within 30 days.", "id": "msg-3"}
  ],
  "finish_reason": "stop",
  "custom_outputs": {"sources": ["policy.md"]},
  "usage": {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39}
})";

std::vector<std::string> chat_agent_chunks() {
    return {
        R"({"delta":{"role":"assistant","content":"","id":"msg-1","tool_calls":[{"id":"call_1",)"
        R"("type":"function","function":{"name":"lookup","arguments":"{\"q\":\"refunds\"}"}}]}})",
        R"({"delta":{"role":"tool","content":"30 days","id":"msg-2","name":"lookup",)"
        R"("tool_call_id":"call_1"}})",
        R"({"delta":{"role":"assistant","content":"Refunds are ","id":"msg-3"}})",
        R"({"delta":{"role":"assistant","content":"accepted within ","id":"msg-3"}})",
        R"({"delta":{"role":"assistant","content":"30 days.","id":"msg-3"}})",
        R"({"delta":{"role":"assistant","content":"","id":"msg-3"},"finish_reason":"stop",)"
        R"("custom_outputs":{"sources":["policy.md"]},)"
        R"("usage":{"prompt_tokens":30,"completion_tokens":9,"total_tokens":39}})",
    };
}

} // namespace

TEST_CASE("stream: chat agent accumulator") {
    SUBCASE("equals the non-streamed answer") {
        dbx::chat_agent_stream_accumulator accumulator;
        accumulate<dbx::chat_agent_chunk>(sse_body(chat_agent_chunks()), accumulator);
        const auto whole = accumulator.result();

        const auto expected = fixture(chat_agent_answer);
        CHECK(json(whole) == expected);
        CHECK(whole.text() == "Refunds are accepted within 30 days.");
        CHECK(whole.messages.size() == 3);
    }

    SUBCASE("chunk typed view and round trip") {
        const auto body = fixture(chat_agent_chunks().back());
        auto chunk = dbx::detail::parse_stream_chunk<dbx::chat_agent_chunk>(body.dump());
        REQUIRE(chunk.ok());
        CHECK(chunk->delta.id == "msg-3");
        CHECK(chunk->text().empty());
        CHECK(chunk->finish_reason == "stop");
        CHECK(chunk->custom_outputs == json{{"sources", {"policy.md"}}});
        CHECK(chunk->usage->total_tokens == 39);
        CHECK(json(*chunk) == body);
    }

    SUBCASE("messages keep the order of their first chunk") {
        dbx::chat_agent_stream_accumulator accumulator;
        for (const char* text : {R"({"delta":{"role":"assistant","content":"A1","id":"a"}})",
                                 R"({"delta":{"role":"assistant","content":"B1","id":"b"}})",
                                 R"({"delta":{"role":"assistant","content":"A2","id":"a"}})",
                                 R"({"delta":{"role":"assistant","content":"x"}})",
                                 R"({"delta":{"role":"assistant","content":"y"}})"}) {
            dbx::chat_agent_chunk chunk = fixture(text);
            accumulator.add(chunk);
        }
        const auto whole = accumulator.result();
        REQUIRE(whole.messages.size() == 3);
        CHECK(whole.messages[0].content == "A1A2");
        CHECK(whole.messages[1].content == "B1");
        CHECK(whole.messages[2].content == "xy");
    }
}

namespace {

const char* const responses_item =
    R"({"id":"msg_1","type":"message","status":"completed","role":"assistant",)"
    R"("content":[{"type":"output_text","text":"Bonjour, ça va ? 👋","annotations":[]}]})";

const char* const responses_call =
    R"({"type":"function_call","id":"fc_1","call_id":"call_9","name":"get_weather",)"
    R"("arguments":"{\"city\":\"Lyon\"}","status":"completed"})";

std::vector<std::string> responses_events(bool completed) {
    std::vector<std::string> events = {
        R"({"type":"response.created","sequence_number":0,"response":{"id":"resp_1",)"
        R"("object":"response","status":"in_progress","output":[]}})",
        R"({"type":"response.output_item.added","sequence_number":1,"output_index":0,)"
        R"("item":{"id":"msg_1","type":"message","status":"in_progress","role":"assistant",)"
        R"("content":[]}})",
        R"({"type":"response.output_text.delta","sequence_number":2,"item_id":"msg_1",)"
        R"("output_index":0,"content_index":0,"delta":"Bonjour, "})",
        R"({"type":"response.output_text.delta","sequence_number":3,"item_id":"msg_1",)"
        R"("output_index":0,"content_index":0,"delta":"ça va ? 👋"})",
        std::string(R"({"type":"response.output_item.done","sequence_number":4,)"
                    R"("output_index":0,"item":)") +
            responses_item + "}",
        std::string(R"({"type":"response.output_item.done","sequence_number":5,)"
                    R"("output_index":1,"item":)") +
            responses_call + "}",
    };
    if (completed) {
        events.push_back(std::string(R"({"type":"response.completed","sequence_number":6,)"
                                     R"("response":{"id":"resp_1","object":"response",)"
                                     R"("status":"completed","output":[)") +
                         responses_item + "," + responses_call +
                         R"(],"usage":{"input_tokens":12,"output_tokens":7,)"
                         R"("total_tokens":19}}})");
    }
    return events;
}

} // namespace

TEST_CASE("stream: responses accumulator") {
    SUBCASE("response.completed is the result") {
        const auto events = responses_events(true);
        dbx::responses_stream_accumulator accumulator;
        accumulate<dbx::responses_stream_event>(sse_body(events, "\r\n"), accumulator);
        const auto whole = accumulator.result();

        const auto expected = fixture(events.back())["response"];
        CHECK(json(whole) == expected);
        CHECK(whole.raw == expected);
        CHECK(whole.output_text() == "Bonjour, ça va ? 👋");
        CHECK(whole.usage->total_tokens == 19);
    }

    SUBCASE("without it, the done items make the output") {
        dbx::responses_stream_accumulator accumulator;
        accumulate<dbx::responses_stream_event>(sse_body(responses_events(false)), accumulator);
        const auto whole = accumulator.result();

        CHECK(whole.id == "resp_1");
        REQUIRE(whole.output.size() == 2);
        CHECK(json(whole.output[0]) == fixture(responses_item));
        CHECK(json(whole.output[1]) == fixture(responses_call));
        CHECK(whole.output_text() == "Bonjour, ça va ? 👋");
        CHECK(whole.output[1].arguments == "{\"city\":\"Lyon\"}");
    }

    SUBCASE("text deltas alone, as some agents send them") {
        dbx::responses_stream_accumulator accumulator;
        for (const char* text :
             {R"({"type":"response.output_text.delta","item_id":"m1","delta":"Hel"})",
              R"({"type":"response.output_text.delta","item_id":"m2","delta":"[2]"})",
              R"({"type":"response.output_text.delta","item_id":"m1","delta":"lo"})",
              R"({"type":"response.output_text.delta","item_id":"m1","content_index":1,)"
              R"("delta":" again"})",
              R"({"type":"response.output_text.annotation.added","item_id":"m1"})"}) {
            auto event = dbx::detail::parse_stream_chunk<dbx::responses_stream_event>(text);
            REQUIRE(event.ok());
            accumulator.add(*event);
        }
        const auto whole = accumulator.result();
        REQUIRE(whole.output.size() == 2);
        CHECK(whole.output[0].id == "m1");
        CHECK(whole.output[0].role == "assistant");
        CHECK(whole.output[0].text() == "Hello again");
        CHECK(whole.output_text() == "Hello again[2]");
    }

    SUBCASE("MLflow's custom_outputs on an event") {
        dbx::responses_stream_accumulator accumulator;
        dbx::responses_stream_event event =
            fixture(std::string(R"({"type":"response.output_item.done","item":)") + responses_item +
                    R"(,"custom_outputs":{"k":1}})");
        accumulator.add(event);
        CHECK(accumulator.result().custom_outputs == json{{"k", 1}});
        CHECK(accumulator.result().output_text() == "Bonjour, ça va ? 👋");
    }
}

TEST_CASE("stream: responses events") {
    SUBCASE("typed view and helpers") {
        const auto events = responses_events(true);
        auto delta = dbx::detail::parse_stream_chunk<dbx::responses_stream_event>(events[2]);
        REQUIRE(delta.ok());
        CHECK(delta->is_text_delta());
        CHECK_FALSE(delta->is_item_done());
        CHECK(delta->item_id == "msg_1");
        CHECK(delta->delta == "Bonjour, ");
        CHECK(delta->output_index == 0);
        CHECK(delta->content_index == 0);
        CHECK(delta->extra == json{{"sequence_number", 2}});
        CHECK_FALSE(delta->done_item().has_value());

        auto done = dbx::detail::parse_stream_chunk<dbx::responses_stream_event>(events[4]);
        REQUIRE(done.ok());
        CHECK(done->is_item_done());
        auto item = done->done_item();
        REQUIRE(item.has_value());
        CHECK(item->text() == "Bonjour, ça va ? 👋");

        auto completed =
            dbx::detail::parse_stream_chunk<dbx::responses_stream_event>(events.back());
        REQUIRE(completed.ok());
        CHECK(completed->is_completed());
        CHECK(completed->response["id"] == "resp_1");
    }

    SUBCASE("round trip, empty strings included") {
        auto events = responses_events(true);
        events.push_back(R"({"type":"response.output_text.delta","item_id":"m","delta":""})");
        events.push_back(R"({"type":"response.output_text.delta","item_id":"","delta":7})");
        for (const auto& text : events) {
            const auto body = fixture(text);
            dbx::responses_stream_event event = body;
            CHECK(json(event) == body);
        }
    }
}

TEST_CASE("stream: in-stream errors") {
    using dbx::detail::stream_error_of;

    SUBCASE("OpenAI form") {
        auto failure = stream_error_of(fixture(
            R"({"error":{"message":"Rate limit reached","type":"rate_limit_error","code":null}})"));
        REQUIRE(failure.has_value());
        CHECK(failure->kind == dbx::error_kind::http);
        CHECK(failure->http_status == 200);
        CHECK(failure->error_code == "rate_limit_error");
        CHECK(failure->message == "Rate limit reached");
        CHECK(failure->body["error"]["type"] == "rate_limit_error");

        auto coded = stream_error_of(fixture(R"({"error":{"message":"m","code":"overloaded"}})"));
        REQUIRE(coded.has_value());
        CHECK(coded->error_code == "overloaded");
    }

    SUBCASE("Databricks form") {
        auto failure = stream_error_of(fixture(
            R"({"error_code":"BAD_REQUEST","message":"Input is too long for requested model."})"));
        REQUIRE(failure.has_value());
        CHECK(failure->error_code == "BAD_REQUEST");
        CHECK(failure->message == "Input is too long for requested model.");
        CHECK(failure->to_string() ==
              "dbxserve.http: 200 BAD_REQUEST: Input is too long for requested model.");

        auto plain = stream_error_of(fixture(R"({"error":"upstream closed"})"));
        REQUIRE(plain.has_value());
        CHECK(plain->message == "upstream closed");
    }

    SUBCASE("Responses events") {
        auto top = stream_error_of(fixture(
            R"({"type":"error","code":"ERR_TOOL","message":"tool failed","sequence_number":3})"));
        REQUIRE(top.has_value());
        CHECK(top->error_code == "ERR_TOOL");
        CHECK(top->message == "tool failed");

        auto nested = stream_error_of(fixture(
            R"({"type":"response.error","error":{"type":"server_error","message":"boom"}})"));
        REQUIRE(nested.has_value());
        CHECK(nested->error_code == "server_error");
        CHECK(nested->message == "boom");

        auto bare = stream_error_of(fixture(R"({"type":"error"})"));
        REQUIRE(bare.has_value());
        CHECK_FALSE(bare->message.empty());

        auto failed = stream_error_of(fixture(R"({"type":"response.failed","response":{
            "id":"r","status":"failed","error":{"code":"server_error","message":"down"}}})"));
        REQUIRE(failed.has_value());
        CHECK(failed->error_code == "server_error");
        CHECK(failed->message == "down");
    }

    SUBCASE("ordinary chunks are not errors") {
        for (const auto& text : chat_chunks()) {
            CHECK_FALSE(stream_error_of(fixture(text)).has_value());
        }
        for (const auto& text : chat_agent_chunks()) {
            CHECK_FALSE(stream_error_of(fixture(text)).has_value());
        }
        for (const auto& text : responses_events(true)) {
            CHECK_FALSE(stream_error_of(fixture(text)).has_value());
        }
        CHECK_FALSE(stream_error_of(fixture(R"({"error":null,"message":"hi"})")).has_value());
        CHECK_FALSE(stream_error_of(fixture("[1]")).has_value());
    }

    SUBCASE("parse_stream_chunk reports them, and data that is not an object") {
        auto failure = dbx::detail::parse_stream_chunk<dbx::chat_completion_chunk>(
            R"({"error_code":"TEMPORARILY_UNAVAILABLE","message":"try later"})");
        REQUIRE_FALSE(failure.ok());
        CHECK(failure.error().kind == dbx::error_kind::http);
        CHECK(failure.error().error_code == "TEMPORARILY_UNAVAILABLE");

        auto garbage = dbx::detail::parse_stream_chunk<dbx::chat_completion_chunk>("[DONE]");
        REQUIRE_FALSE(garbage.ok());
        CHECK(garbage.error().kind == dbx::error_kind::parse);

        auto list = dbx::detail::parse_stream_chunk<dbx::chat_agent_chunk>("[1,2]");
        REQUIRE_FALSE(list.ok());
        CHECK(list.error().kind == dbx::error_kind::parse);
    }
}
