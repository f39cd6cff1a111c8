#include <dbxserve/model/model.hpp>

#include <doctest/doctest.h>

#include <string>

using nlohmann::json;
namespace dbx = dbxserve;

namespace {

// Parses test fixtures; a fixture that is not JSON is a bug in the test itself.
json fixture(const char* text) {
    auto parsed = json::parse(text, nullptr, false);
    REQUIRE_FALSE(parsed.is_discarded());
    return parsed;
}

// Reads `body` through the public entry point and writes it back.
template <class T>
json reparse(const json& body) {
    auto parsed = dbx::parse_response<T>(body.dump());
    REQUIRE(parsed.ok());
    return json(*parsed);
}

const char* const chat_completion_body = R"({
  "id": "chatcmpl-8a1b",
  "object": "chat.completion",
  "created": 1718000000,
  "model": "databricks-meta-llama-3-3-70b-instruct",
  "choices": [{
    "index": 0,
    "message": {
      "role": "assistant",
      "content": null,
      "tool_calls": [{
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}
      }]
    },
    "finish_reason": "tool_calls",
    "logprobs": null
  }],
  "usage": {"prompt_tokens": 52, "completion_tokens": 17, "total_tokens": 69}
})";

} // namespace

TEST_CASE("model: chat completion") {
    const json body = fixture(chat_completion_body);

    SUBCASE("typed view of a tool-calling answer") {
        auto reply = dbx::parse_response<dbx::chat_completion>(body.dump());
        REQUIRE(reply.ok());
        CHECK(reply->id == "chatcmpl-8a1b");
        CHECK(reply->object == "chat.completion");
        CHECK(reply->created == 1718000000);
        CHECK(reply->model == "databricks-meta-llama-3-3-70b-instruct");
        REQUIRE(reply->choices.size() == 1);

        const auto& choice = reply->choices[0];
        CHECK(choice.index == 0);
        CHECK(choice.finish_reason == "tool_calls");
        CHECK(choice.message.role == "assistant");
        CHECK(choice.message.content.is_null());
        REQUIRE(choice.message.tool_calls.size() == 1);

        const auto& call = choice.message.tool_calls[0];
        CHECK(call.id == "call_1");
        CHECK(call.type == "function");
        CHECK(call.function.name == "get_weather");
        CHECK(call.function.parsed_arguments() == json{{"city", "Paris"}});

        REQUIRE(reply->usage.has_value());
        CHECK(reply->usage->prompt_tokens == 52);
        CHECK(reply->usage->completion_tokens == 17);
        CHECK(reply->usage->total_tokens == 69);
        CHECK(reply->text().empty());
        CHECK(reply->raw == body);
    }

    SUBCASE("round trip keeps every byte of meaning, nulls included") {
        CHECK(reparse<dbx::chat_completion>(body) == body);

        dbx::chat_completion typed;
        dbx::from_json(body, typed);
        dbx::chat_completion again;
        dbx::from_json(json(typed), again);
        CHECK(json(again) == body);
    }

    SUBCASE("text is the first choice's message content") {
        auto answer = fixture(R"({"id":"x","object":"chat.completion","created":1,"model":"m",
            "choices":[{"index":0,"message":{"role":"assistant","content":"Bonjour"},
                        "finish_reason":"stop"},
                       {"index":1,"message":{"role":"assistant","content":"Salut"},
                        "finish_reason":"stop"}]})");
        auto reply = dbx::parse_response<dbx::chat_completion>(answer.dump());
        REQUIRE(reply.ok());
        CHECK(reply->text() == "Bonjour");
        CHECK_FALSE(reply->usage.has_value());
        CHECK(reparse<dbx::chat_completion>(answer) == answer);
    }

    SUBCASE("no choice gives empty text") {
        auto reply = dbx::parse_response<dbx::chat_completion>(R"({"choices":[]})");
        REQUIRE(reply.ok());
        CHECK(reply->text().empty());
    }
}

TEST_CASE("model: unknown fields are preserved") {
    auto body = fixture(chat_completion_body);
    body["system_fingerprint"] = "fp_1";
    body["choices"][0]["content_filter"] = {{"hate", false}};
    body["choices"][0]["message"]["reasoning_content"] = "thinking...";
    body["choices"][0]["message"]["tool_calls"][0]["index"] = 0;
    body["choices"][0]["message"]["tool_calls"][0]["function"]["strict"] = true;
    body["usage"]["prompt_tokens_details"] = {{"cached_tokens", 12}};

    auto reply = dbx::parse_response<dbx::chat_completion>(body.dump());
    REQUIRE(reply.ok());

    SUBCASE("each at its own level") {
        CHECK(reply->extra == json{{"system_fingerprint", "fp_1"}});
        const auto& choice = reply->choices[0];
        CHECK(choice.extra == json{{"content_filter", {{"hate", false}}}, {"logprobs", nullptr}});
        CHECK(choice.message.extra ==
              json{{"reasoning_content", "thinking..."}, {"content", nullptr}});
        CHECK(choice.message.tool_calls[0].extra == json{{"index", 0}});
        CHECK(choice.message.tool_calls[0].function.extra == json{{"strict", true}});
        CHECK(reply->usage->extra == json{{"prompt_tokens_details", {{"cached_tokens", 12}}}});
    }

    SUBCASE("and written back") {
        CHECK(json(*reply) == body);
    }

    SUBCASE("typed members win over extra on a clash") {
        auto changed = *reply;
        changed.extra["model"] = "from-extra";
        changed.model = "typed";
        CHECK(json(changed)["model"] == "typed");
        CHECK(json(changed)["system_fingerprint"] == "fp_1");
    }

    SUBCASE("unknown request fields too") {
        auto request = fixture(R"({"messages":[{"role":"user","content":"hi","cache":true}],
            "extra_params":{"top_k":"5"},"response_format":{"type":"json_object"}})");
        dbx::chat_request typed = request;
        CHECK(typed.extra.size() == 2);
        CHECK(typed.messages[0].extra == json{{"cache", true}});
        CHECK(json(typed) == request);
    }
}

TEST_CASE("model: a known field with a wrong type") {
    auto body = fixture(R"({
      "id": 42,
      "object": "chat.completion",
      "created": "yesterday",
      "model": "m",
      "choices": [{"index": 0, "message": {"role": "assistant", "content": {"odd": 1},
        "tool_calls": [{"id": "c", "type": "function",
                        "function": {"name": "f", "arguments": {"x": 1}}}]},
        "finish_reason": 7}],
      "usage": {"prompt_tokens": 1.5, "total_tokens": 3}
    })");

    auto reply = dbx::parse_response<dbx::chat_completion>(body.dump());
    REQUIRE(reply.ok());

    SUBCASE("lands in extra untouched and the rest still parses") {
        CHECK(reply->id.empty());
        CHECK(reply->extra["id"] == 42);
        CHECK(reply->created == 0);
        CHECK(reply->extra["created"] == "yesterday");
        CHECK(reply->model == "m");

        const auto& message = reply->choices[0].message;
        CHECK(message.content.is_null());
        CHECK(message.extra["content"] == json{{"odd", 1}});
        CHECK_FALSE(reply->choices[0].finish_reason.has_value());
        CHECK(reply->choices[0].extra["finish_reason"] == 7);

        CHECK_FALSE(reply->usage->prompt_tokens.has_value());
        CHECK(reply->usage->extra["prompt_tokens"] == 1.5);
        CHECK(reply->usage->total_tokens == 3);
    }

    SUBCASE("arguments sent as an object are still reachable") {
        const auto& function = reply->choices[0].message.tool_calls[0].function;
        CHECK(function.arguments.empty());
        CHECK(function.parsed_arguments() == json{{"x", 1}});
    }

    SUBCASE("a list with one bad element goes to extra whole") {
        auto embeddings = fixture(R"({"object":"list","model":"e",
            "data":[{"object":"embedding","index":0,"embedding":[0.1,"oops",0.3]}]})");
        auto parsed = dbx::parse_response<dbx::embedding_response>(embeddings.dump());
        REQUIRE(parsed.ok());
        CHECK(parsed->data[0].embedding.empty());
        CHECK(parsed->data[0].extra["embedding"] == json::array({0.1, "oops", 0.3}));
    }

    SUBCASE("an integer too large for int64 stays in extra") {
        auto parsed =
            dbx::parse_response<dbx::chat_completion>(R"({"created":18446744073709551615})");
        REQUIRE(parsed.ok());
        CHECK(parsed->created == 0);
        CHECK(parsed->extra["created"] == 18446744073709551615ULL);
    }

    SUBCASE("written back exactly") {
        CHECK(json(*reply) == body);
    }
}

TEST_CASE("model: parse errors") {
    SUBCASE("a body that is not JSON") {
        auto reply = dbx::parse_response<dbx::chat_completion>("<html>502 Bad Gateway</html>");
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().kind == dbx::error_kind::parse);
        CHECK(reply.error().message ==
              "response body is not JSON (starts with \"<html>502 Bad Gateway</html>\")");
        CHECK(reply.error().to_string().rfind("dbxserve.parse: response body is not JSON", 0) == 0);
    }

    SUBCASE("truncated JSON") {
        auto reply = dbx::parse_response<dbx::chat_completion>(R"({"id": "x", "choices": [)");
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().kind == dbx::error_kind::parse);
    }

    SUBCASE("a large body is cut to a one-line excerpt") {
        std::string body = "line one\nline two " + std::string(5000, 'x');
        auto reply = dbx::parse_response<dbx::prediction_response>(body);
        REQUIRE_FALSE(reply.ok());
        const auto& message = reply.error().message;
        CHECK(message.size() < 260);
        CHECK(message.find('\n') == std::string::npos);
        CHECK(message.find("line one line two xxx") != std::string::npos);
        CHECK(message.find("...") != std::string::npos);
    }

    SUBCASE("the excerpt never splits a UTF-8 character") {
        std::string body = std::string(199, 'a') + "\xC3\xA9" + std::string(50, 'b');
        auto excerpt = dbx::detail::excerpt(body);
        CHECK(excerpt == std::string(199, 'a') + "...");
    }

    SUBCASE("an array body") {
        auto reply = dbx::parse_response<dbx::prediction_response>("[1, 2, 3]");
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().kind == dbx::error_kind::parse);
        CHECK(reply.error().message == "expected a JSON object, got array");
        CHECK(reply.error().body == json::array({1, 2, 3}));
    }

    SUBCASE("an empty body") {
        auto reply = dbx::parse_response<dbx::embedding_response>("  \r\n");
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().kind == dbx::error_kind::parse);
        CHECK(reply.error().message == "response body is empty");
    }

    SUBCASE("from an HTTP reply, with its status and request id") {
        dbx::http_response response;
        response.status = 200;
        response.headers.add("X-Request-Id", "req-7");
        response.body = "not json";
        auto reply = dbx::parse_response<dbx::chat_completion>(response);
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().http_status == 200);
        CHECK(reply.error().request_id == "req-7");
    }
}

TEST_CASE("model: response meta") {
    dbx::http_response response;
    response.status = 200;
    response.headers.add("x-request-id", "req-1");
    response.headers.add("Served-Model-Name", "llama-v2");
    response.body = R"({"predictions":[1]})";

    auto reply = dbx::parse_response<dbx::prediction_response>(response);
    REQUIRE(reply.ok());
    CHECK(reply->meta.http_status == 200);
    CHECK(reply->meta.request_id == "req-1");
    CHECK(reply->meta.served_model_name == "llama-v2");

    SUBCASE("is not part of the JSON") {
        CHECK(json(*reply) == json{{"predictions", {1}}});
    }
}

TEST_CASE("model: chat request") {
    SUBCASE("unset optional fields are omitted") {
        dbx::chat_request request;
        request.messages = {dbx::chat_message::user("hi")};
        CHECK(json(request) == json{{"messages", {{{"role", "user"}, {"content", "hi"}}}}});
    }

    SUBCASE("every field written when set") {
        dbx::chat_request request;
        request.messages = {dbx::chat_message::system("Be brief."),
                            dbx::chat_message::user("Weather in Paris?")};
        request.tools.push_back(dbx::tool_definition::for_function("get_weather", "Current weather",
                                                                   {{"type", "object"}}));
        request.tool_choice = "auto";
        request.max_tokens = 128;
        request.temperature = 0.2;
        request.top_p = 0.9;
        request.n = 1;
        request.stop = {"\n\n"};
        request.stream = false;

        auto expected = fixture(R"({
          "messages": [{"role": "system", "content": "Be brief."},
                       {"role": "user", "content": "Weather in Paris?"}],
          "tools": [{"type": "function", "function": {"name": "get_weather",
                     "description": "Current weather", "parameters": {"type": "object"}}}],
          "tool_choice": "auto", "max_tokens": 128, "temperature": 0.2, "top_p": 0.9, "n": 1,
          "stop": ["\n\n"], "stream": false})");
        CHECK(json(request) == expected);

        dbx::chat_request back = expected;
        CHECK(back.tools.at(0).function->name == "get_weather");
        CHECK(back.tool_choice == "auto");
        CHECK(back.temperature == doctest::Approx(0.2));
        CHECK(json(back) == expected);
    }

    SUBCASE("stop accepts a single string and writes it back as one") {
        auto request = fixture(R"({"messages": [], "stop": "END"})");
        dbx::chat_request typed = request;
        CHECK(typed.stop.items == std::vector<std::string>{"END"});
        CHECK(json(typed)["stop"] == "END");

        typed.stop = "STOP";
        CHECK(json(typed)["stop"] == "STOP");
        typed.stop = {"a", "b"};
        CHECK(json(typed)["stop"] == json::array({"a", "b"}));
    }

    SUBCASE("a named tool choice and tool results") {
        auto request = fixture(R"({
          "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": " ", "tool_calls": [{"id": "call_1",
              "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}],
          "tool_choice": {"type": "function", "function": {"name": "w"}}})");
        dbx::chat_request typed = request;
        CHECK(typed.tool_choice.is_object());
        CHECK(typed.messages[1].tool_calls.size() == 1);
        CHECK(typed.messages[2].tool_call_id == "call_1");
        CHECK(json(typed) == request);

        auto tool = dbx::chat_message::tool("call_1", "sunny");
        CHECK(json(tool) == request["messages"][2]);
    }

    SUBCASE("an empty tools list round-trips") {
        auto request = fixture(R"({"messages": [], "tools": []})");
        dbx::chat_request typed = request;
        CHECK(typed.tools.empty());
        CHECK(json(typed) == request);
    }
}

TEST_CASE("model: chat message content") {
    SUBCASE("a string") {
        CHECK(dbx::chat_message::assistant("Hello").text() == "Hello");
        CHECK(dbx::chat_message{}.text().empty());
    }

    SUBCASE("an array of parts joins its text parts") {
        auto message = fixture(R"({"role": "assistant", "content": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "hmm"}]},
            {"type": "text", "text": "Hello, "},
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            {"type": "text", "text": "world"}]})");
        dbx::chat_message typed = message;
        CHECK(typed.content.is_array());
        CHECK(typed.text() == "Hello, world");
        CHECK(json(typed) == message);
    }
}

TEST_CASE("model: completions") {
    SUBCASE("one prompt stays a string") {
        dbx::completion_request request;
        request.prompt = "Once upon a time";
        request.max_tokens = 16;
        CHECK(json(request) == json{{"prompt", "Once upon a time"}, {"max_tokens", 16}});

        dbx::completion_request back = json(request);
        CHECK(back.prompt.is_single());
        CHECK(json(back)["prompt"] == "Once upon a time");
    }

    SUBCASE("a list of prompts stays a list, even of one") {
        auto request = fixture(R"({"prompt": ["only one"], "temperature": 0.5, "stop": "."})");
        dbx::completion_request typed = request;
        CHECK_FALSE(typed.prompt.is_single());
        CHECK(typed.stop.items == std::vector<std::string>{"."});
        CHECK(json(typed) == request);
    }

    SUBCASE("response") {
        auto body = fixture(R"({"id": "cmpl-1", "object": "text_completion",
            "created": 1718000001, "model": "m",
            "choices": [{"index": 0, "text": " there was a cat.", "finish_reason": "stop",
                         "logprobs": {"tokens": [" there"], "token_logprobs": [-0.1]}}],
            "usage": {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}})");
        auto reply = dbx::parse_response<dbx::completion_response>(body.dump());
        REQUIRE(reply.ok());
        CHECK(reply->text() == " there was a cat.");
        CHECK(reply->choices[0].logprobs["tokens"][0] == " there");
        CHECK(reply->usage->total_tokens == 10);
        CHECK(json(*reply) == body);
    }

    SUBCASE("null logprobs round-trips") {
        auto body = fixture(R"({"id": "c", "object": "text_completion", "created": 1,
            "model": "m", "choices": [{"index": 0, "text": "x", "finish_reason": null,
            "logprobs": null}]})");
        CHECK(reparse<dbx::completion_response>(body) == body);
    }
}

TEST_CASE("model: embeddings") {
    SUBCASE("one input stays a string, a list stays a list") {
        dbx::embedding_request one;
        one.input = "hello";
        CHECK(json(one) == json{{"input", "hello"}});

        dbx::embedding_request many;
        many.input = {"a", "b"};
        CHECK(json(many) == json{{"input", {"a", "b"}}});

        dbx::embedding_request braced;
        braced.input = {"only"};
        CHECK(json(braced) == json{{"input", {"only"}}});

        auto request = fixture(R"({"input": "single", "encoding_format": "float"})");
        dbx::embedding_request typed = request;
        CHECK(typed.input.items == std::vector<std::string>{"single"});
        CHECK(typed.extra == json{{"encoding_format", "float"}});
        CHECK(json(typed) == request);
    }

    SUBCASE("a list response") {
        auto body = fixture(R"({"object": "list", "model": "databricks-gte-large-en",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -1.5, 3]},
                     {"object": "embedding", "index": 1, "embedding": [0.0, 0.5, 1e-3]}],
            "usage": {"prompt_tokens": 6, "total_tokens": 6}})");
        auto reply = dbx::parse_response<dbx::embedding_response>(body.dump());
        REQUIRE(reply.ok());
        REQUIRE(reply->data.size() == 2);
        CHECK(reply->data[0].embedding == std::vector<double>{0.25, -1.5, 3.0});
        CHECK(reply->data[1].index == 1);
        CHECK(reply->model == "databricks-gte-large-en");
        CHECK_FALSE(reply->usage->completion_tokens.has_value());
        CHECK(json(*reply) == body);
    }
}

TEST_CASE("model: tabular") {
    SUBCASE("dataframe_split round trip") {
        auto request = fixture(R"({"dataframe_split": {"columns": ["x", "y"],
            "index": [10, 11], "data": [[1.0, "a"], [2.5, "b"]]},
            "params": {"threshold": 0.5}})");
        dbx::tabular_request typed = request;
        CHECK(typed.format == dbx::tabular_format::dataframe_split);
        CHECK(typed.frame.columns == std::vector<std::string>{"x", "y"});
        CHECK(typed.frame.index == json::array({10, 11}));
        CHECK(typed.frame.data.size() == 2);
        CHECK(typed.params["threshold"] == 0.5);
        CHECK(typed.validate().ok());
        CHECK(json(typed) == request);
    }

    SUBCASE("named constructors write one input kind") {
        auto split = dbx::tabular_request::split({"x"}, {{1.0}});
        CHECK(json(split) ==
              fixture(R"({"dataframe_split": {"columns": ["x"], "data": [[1.0]]}})"));

        auto records = dbx::tabular_request::records({{{"x", 1}}});
        CHECK(json(records) == fixture(R"({"dataframe_records": [{"x": 1}]})"));

        auto instances = dbx::tabular_request::instances({{1, 2}, {3, 4}});
        CHECK(json(instances) == fixture(R"({"instances": [[1, 2], [3, 4]]})"));

        auto inputs = dbx::tabular_request::inputs({{"a", {1, 2}}});
        CHECK(json(inputs) == fixture(R"({"inputs": {"a": [1, 2]}})"));
        CHECK(inputs.validate().ok());
    }

    SUBCASE("reading each kind back") {
        for (const char* text :
             {R"({"dataframe_records": [{"x": 1}, {"x": 2}]})", R"({"instances": [{"t": [1, 2]}]})",
              R"({"inputs": [[1], [2]]})"}) {
            auto request = fixture(text);
            dbx::tabular_request typed = request;
            CHECK(typed.format != dbx::tabular_format::none);
            CHECK(request.contains(dbx::to_string(typed.format)));
            CHECK(json(typed) == request);
        }
    }

    SUBCASE("validate wants exactly one input kind") {
        CHECK(dbx::tabular_request{}.validate().error().kind == dbx::error_kind::invalid_input);

        dbx::tabular_request two = fixture(R"({"instances": [1], "inputs": [2]})");
        CHECK(two.format == dbx::tabular_format::instances);
        CHECK(two.extra == json{{"inputs", {2}}});
        auto check = two.validate();
        REQUIRE_FALSE(check.ok());
        CHECK(check.error().message.find("it has 2") != std::string::npos);
    }

    SUBCASE("non-string column labels stay in extra") {
        auto request = fixture(R"({"dataframe_split": {"columns": [0, 1], "data": [[1, 2]]}})");
        dbx::tabular_request typed = request;
        CHECK(typed.frame.columns.empty());
        CHECK(typed.frame.extra["columns"] == json::array({0, 1}));
        CHECK(json(typed) == request);
    }

    SUBCASE("predictions and feature serving outputs") {
        auto body = fixture(R"({"predictions": [{"label": "spam", "score": 0.93}]})");
        auto reply = dbx::parse_response<dbx::prediction_response>(body.dump());
        REQUIRE(reply.ok());
        CHECK(reply->predictions[0]["label"] == "spam");
        CHECK(reply->outputs.is_null());
        CHECK(json(*reply) == body);

        auto features = fixture(R"({"outputs": [{"user_id": 1, "avg_spend": 12.5}]})");
        auto served = dbx::parse_response<dbx::prediction_response>(features.dump());
        REQUIRE(served.ok());
        CHECK(served->predictions.is_null());
        CHECK(served->outputs[0]["avg_spend"] == 12.5);
        CHECK(json(*served) == features);
    }
}

TEST_CASE("model: chat agent") {
    SUBCASE("request with context, custom inputs and options") {
        dbx::chat_agent_request request;
        request.messages = {dbx::chat_agent_message::user("Refund policy?")};
        request.context = dbx::chat_context{};
        request.context->conversation_id = "conv-42";
        request.custom_inputs = {{"locale", "fr"}};
        request.databricks_options = {{"return_trace", true}};

        auto expected = fixture(R"({"messages": [{"role": "user", "content": "Refund policy?"}],
            "context": {"conversation_id": "conv-42"}, "custom_inputs": {"locale": "fr"},
            "databricks_options": {"return_trace": true}})");
        CHECK(json(request) == expected);

        dbx::chat_agent_request back = expected;
        CHECK(back.context->conversation_id == "conv-42");
        CHECK_FALSE(back.context->user_id.has_value());
        CHECK_FALSE(back.stream.has_value());
        CHECK(json(back) == expected);
    }

    SUBCASE("response with tool messages, custom outputs and a trace") {
        auto body = fixture(R"({
          "messages": [
            {"role": "assistant", "id": "m1", "content": "",
             "tool_calls": [{"id": "call_9", "type": "function",
                             "function": {"name": "lookup", "arguments": "{\"q\":\"refund\"}"}}]},
            {"role": "tool", "id": "m2", "name": "lookup", "tool_call_id": "call_9",
             "content": "30 days"},
            {"role": "assistant", "id": "m3", "content": "Refunds within 30 days.",
             "attachments": {"doc": "policy.pdf"}}],
          "finish_reason": "stop",
          "custom_outputs": {"sources": ["policy.pdf"]},
          "usage": {"prompt_tokens": 80, "completion_tokens": 20, "total_tokens": 100},
          "databricks_output": {"trace": {"info": {"trace_id": "tr-1"}, "data": {"spans": []}}}
        })");
        auto reply = dbx::parse_response<dbx::chat_agent_response>(body.dump());
        REQUIRE(reply.ok());
        REQUIRE(reply->messages.size() == 3);
        CHECK(reply->messages[0].tool_calls[0].function.name == "lookup");
        CHECK(reply->messages[1].name == "lookup");
        CHECK(reply->messages[2].attachments["doc"] == "policy.pdf");
        CHECK(reply->text() == "Refunds within 30 days.");
        CHECK(reply->finish_reason == "stop");
        CHECK(reply->custom_outputs["sources"][0] == "policy.pdf");
        CHECK(reply->usage->total_tokens == 100);
        REQUIRE(reply->trace() != nullptr);
        CHECK((*reply->trace())["info"]["trace_id"] == "tr-1");
        CHECK(json(*reply) == body);
    }

    SUBCASE("no trace, no assistant text") {
        auto reply = dbx::parse_response<dbx::chat_agent_response>(
            R"({"messages": [{"role": "tool", "id": "a", "content": "x"}]})");
        REQUIRE(reply.ok());
        CHECK(reply->trace() == nullptr);
        CHECK(reply->text().empty());
    }

    SUBCASE("tool message helper") {
        auto tool = dbx::chat_agent_message::tool("call_9", "lookup", "30 days");
        CHECK(json(tool) == fixture(R"({"role": "tool", "tool_call_id": "call_9",
            "name": "lookup", "content": "30 days"})"));
    }
}

TEST_CASE("model: responses agent") {
    SUBCASE("request built from helpers") {
        dbx::responses_request request;
        request.input = {dbx::responses_input::system("Answer briefly."),
                         dbx::responses_input::user("Weather in Paris?"),
                         dbx::responses_input::function_call("call_1", "weather", "{}"),
                         dbx::responses_input::function_call_output("call_1", "sunny")};
        request.max_output_tokens = 200;
        request.custom_inputs = {{"session", "s1"}};

        auto expected = fixture(R"({"input": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Weather in Paris?"},
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}],
            "max_output_tokens": 200, "custom_inputs": {"session": "s1"}})");
        CHECK(json(request) == expected);

        dbx::responses_request back = expected;
        CHECK(back.input.size() == 4);
        CHECK(json(back) == expected);
    }

    SUBCASE("request with every optional field") {
        auto request = fixture(R"({"input": [{"role": "user", "content": [
            {"type": "input_text", "text": "Describe"},
            {"type": "input_image", "image_url": "https://x/y.png"}]}],
            "context": {"conversation_id": "c", "user_id": "u"},
            "tools": [{"type": "function", "name": "w", "parameters": {}}],
            "tool_choice": "required", "temperature": 0.1, "metadata": {"k": "v"},
            "stream": true, "databricks_options": {"return_trace": true},
            "previous_response_id": "resp_0"})");
        dbx::responses_request typed = request;
        CHECK(typed.context->user_id == "u");
        CHECK(typed.tools.size() == 1);
        CHECK(typed.tool_choice == "required");
        CHECK(typed.stream == true);
        CHECK(typed.extra == json{{"previous_response_id", "resp_0"}});
        CHECK(json(typed) == request);
    }

    SUBCASE("response with message and function_call items") {
        auto body = fixture(R"({
          "object": "response",
          "id": "resp_1",
          "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text",
             "text": "need weather"}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "weather",
             "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
            {"type": "message", "id": "msg_1", "role": "assistant", "content": [
              {"type": "output_text", "text": "It is ", "annotations": []},
              {"type": "refusal", "refusal": "no"},
              {"type": "output_text", "text": "sunny."}]},
            {"type": "message", "id": "msg_2", "role": "assistant", "content": [
              {"type": "output_text", "text": " Enjoy!"}]}],
          "usage": {"input_tokens": 30, "output_tokens": 12, "total_tokens": 42,
                    "output_tokens_details": {"reasoning_tokens": 4}},
          "custom_outputs": {"route": "weather"},
          "databricks_output": {"trace": {"info": {"trace_id": "tr-2"}}}
        })");
        auto reply = dbx::parse_response<dbx::responses_response>(body.dump());
        REQUIRE(reply.ok());
        CHECK(reply->object == "response");
        CHECK(reply->id == "resp_1");
        REQUIRE(reply->output.size() == 4);

        const auto& call = reply->output[1];
        CHECK(call.type == "function_call");
        CHECK(call.call_id == "call_1");
        CHECK(call.name == "weather");
        CHECK(call.arguments == R"({"city":"Paris"})");
        CHECK(call.extra == json{{"status", "completed"}});
        CHECK(call.text().empty());

        CHECK(reply->output[0].extra.contains("summary"));
        CHECK(reply->output[2].role == "assistant");
        CHECK(reply->output[2].text() == "It is sunny.");
        CHECK(reply->output_text() == "It is sunny. Enjoy!");
        CHECK(reply->usage->input_tokens == 30);
        CHECK(reply->usage->extra["output_tokens_details"]["reasoning_tokens"] == 4);
        CHECK(reply->custom_outputs["route"] == "weather");
        CHECK((*reply->trace())["info"]["trace_id"] == "tr-2");
        CHECK(json(*reply) == body);
    }

    SUBCASE("output items feed the next request") {
        auto reply = dbx::parse_response<dbx::responses_response>(R"({"object": "response",
            "output": [{"type": "function_call", "call_id": "c", "name": "f",
                        "arguments": "{}"}]})");
        REQUIRE(reply.ok());
        dbx::responses_request next;
        next.input = {dbx::responses_input::user("go")};
        next.input.push_back(json(reply->output[0]));
        next.input.push_back(dbx::responses_input::function_call_output("c", "done"));
        CHECK(json(next)["input"][1] == dbx::responses_input::function_call("c", "f", "{}"));
    }

    SUBCASE("a string input stays in extra") {
        auto request = fixture(R"({"input": "hello"})");
        dbx::responses_request typed = request;
        CHECK(typed.input.empty());
        CHECK(json(typed) == request);
    }
}

TEST_CASE("model: unset optional fields are omitted") {
    SUBCASE("completions") {
        dbx::completion_request request;
        request.prompt = {"a", "b"};
        CHECK(json(request) == json{{"prompt", {"a", "b"}}});
    }

    SUBCASE("chat agent") {
        dbx::chat_agent_request request;
        request.messages = {dbx::chat_agent_message::user("hi")};
        CHECK(json(request) == json{{"messages", {{{"role", "user"}, {"content", "hi"}}}}});

        dbx::chat_agent_message call;
        call.role = "assistant";
        call.tool_calls.push_back({"call_1", "function", {"f", "{}"}});
        CHECK(json(call) == fixture(R"({"role": "assistant", "tool_calls": [{"id": "call_1",
            "type": "function", "function": {"name": "f", "arguments": "{}"}}]})"));
    }

    SUBCASE("responses agent") {
        dbx::responses_request request;
        request.input = {dbx::responses_input::user("hi")};
        CHECK(json(request) == json{{"input", {{{"role", "user"}, {"content", "hi"}}}}});

        dbx::responses_output_item item;
        item.type = "message";
        CHECK(json(item) == json{{"type", "message"}});
    }

    SUBCASE("tabular and responses") {
        CHECK(json(dbx::tabular_request::instances({1})) == json{{"instances", {1}}});
        CHECK(json(dbx::tabular_request{}) == json::object());
        CHECK(json(dbx::chat_completion{}) == json{{"id", ""},
                                                   {"object", "chat.completion"},
                                                   {"created", 0},
                                                   {"model", ""},
                                                   {"choices", json::array()}});
    }
}

TEST_CASE("model: requests parse through parse_response too") {
    auto request = dbx::parse_response<dbx::chat_request>(
        R"({"messages": [{"role": "user", "content": "hi"}], "stream": true})");
    REQUIRE(request.ok());
    CHECK(request->messages.at(0).text() == "hi");
    CHECK(request->stream == true);
    CHECK(dbx::parse_response<dbx::embedding_request>("[]").error().kind == dbx::error_kind::parse);
}

TEST_CASE("model: non-throwing entry points") {
    SUBCASE("from_json on a value that is not an object gives defaults") {
        dbx::chat_completion typed;
        typed.id = "stale";
        dbx::from_json(json::array({1}), typed);
        CHECK(typed.id.empty());
        CHECK(typed.extra == json::object());
    }

    SUBCASE("get<T> works through ADL") {
        auto value = fixture(R"({"prompt_tokens": 3})").get<dbx::usage>();
        CHECK(value.prompt_tokens == 3);
        CHECK_FALSE(value.total_tokens.has_value());
        CHECK(json(value) == json{{"prompt_tokens", 3}});
    }

    SUBCASE("a non-object extra is ignored on output") {
        dbx::usage value;
        value.extra = 5;
        value.total_tokens = 1;
        CHECK(json(value) == json{{"total_tokens", 1}});
    }
}
