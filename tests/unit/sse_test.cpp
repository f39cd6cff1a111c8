#include <dbxserve/detail/sse.hpp>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dbx = dbxserve;
using dbx::detail::sse_event;
using dbx::detail::sse_parser;

namespace {

// What a parser produced for a whole body: its events, or the error that ended it.
struct outcome {
    std::vector<sse_event> events;
    std::optional<dbx::error> failure;
};

outcome parse_pieces(const std::vector<std::string_view>& pieces,
                     std::size_t limit = sse_parser::default_max_event_bytes) {
    sse_parser parser(limit);
    outcome out;
    auto collect = [&](const sse_event& event) {
        out.events.push_back(event);
        return true;
    };

    for (auto piece : pieces) {
        auto fed = parser.feed(piece, collect);
        if (!fed) {
            out.failure = fed.error();
            return out;
        }
    }

    auto finished = parser.finish(collect);
    if (!finished) {
        out.failure = finished.error();
    }
    return out;
}

std::vector<sse_event> parse_whole(std::string_view body) {
    auto out = parse_pieces({body});
    REQUIRE_FALSE(out.failure.has_value());
    return out.events;
}

std::vector<sse_event> parse_bytewise(std::string_view body) {
    std::vector<std::string_view> pieces;
    for (std::size_t i = 0; i < body.size(); ++i) {
        pieces.push_back(body.substr(i, 1));
    }
    auto out = parse_pieces(pieces);
    REQUIRE_FALSE(out.failure.has_value());
    return out.events;
}

std::string with_line_ends(std::string_view text, std::string_view line_end) {
    std::string out;
    for (char c : text) {
        if (c == '\n') {
            out += line_end;
        } else {
            out += c;
        }
    }
    return out;
}

sse_event make_event(std::string data, std::string type = {}, std::string id = {}) {
    sse_event event;
    event.data = std::move(data);
    event.event = std::move(type);
    event.id = std::move(id);
    return event;
}

// Joins `lines` with LF line ends; tests swap in other line ends afterwards.
std::string lines(std::initializer_list<std::string_view> parts) {
    std::string out;
    for (auto part : parts) {
        out += part;
        out += '\n';
    }
    return out;
}

std::string chat_data(std::string_view choices, std::string_view tail = "") {
    std::string out = R"(data: {"id":"chatcmpl-9","object":"chat.completion.chunk",)"
                      R"("created":1718000000,"model":"databricks-claude-sonnet-4","choices":)";
    out += choices;
    out += tail;
    out += "}";
    return out;
}

// An OpenAI-style chat stream: role delta, content deltas with multi-byte characters, one tool
// call in three fragments, a usage-only chunk and the sentinel, with keep-alive comments.
const std::string chat_stream = lines({
    ": ping",
    "",
    chat_data(R"([{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}])"),
    "",
    chat_data(R"([{"index":0,"delta":{"content":"Il fait beau "},"finish_reason":null}])"),
    "",
    chat_data(
        R"([{"index":0,"delta":{"content":"à Paris ☀️ — 東京?"},"finish_reason":null}])"),
    "",
    chat_data(R"([{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_7","type":"function",)"
              R"("function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}])"),
    "",
    chat_data(R"([{"index":0,"delta":{"tool_calls":[{"index":0,)"
              R"("function":{"arguments":"{\"city\":"}}]},"finish_reason":null}])"),
    "",
    ":",
    "",
    chat_data(R"([{"index":0,"delta":{"tool_calls":[{"index":0,)"
              R"("function":{"arguments":"\"Tōkyō\"}"}}]},"finish_reason":"tool_calls"}])"),
    "",
    chat_data("[]", R"(,"usage":{"prompt_tokens":52,"completion_tokens":17,"total_tokens":69})"),
    "",
    "data: [DONE]",
    "",
});

// A Responses stream in the OpenAI style, with `event:`, `id:` and `retry:` fields.
const std::string responses_item =
    R"({"id":"msg_1","type":"message","status":"completed","role":"assistant",)"
    R"("content":[{"type":"output_text","text":"Bonjour, ça va ? 👋","annotations":[]}]})";

const std::string responses_stream = lines({
    "retry: 3000",
    "",
    "event: response.created",
    "id: 1",
    R"(data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1",)"
    R"("object":"response","status":"in_progress","output":[]}})",
    "",
    "event: response.output_item.added",
    "id: 2",
    R"(data: {"type":"response.output_item.added","sequence_number":1,"output_index":0,)"
    R"("item":{"id":"msg_1","type":"message","status":"in_progress","role":"assistant",)"
    R"("content":[]}})",
    "",
    "event: response.output_text.delta",
    "id: 3",
    R"(data: {"type":"response.output_text.delta","sequence_number":2,"item_id":"msg_1",)"
    R"("output_index":0,"content_index":0,"delta":"Bonjour, "})",
    "",
    "event: response.output_text.delta",
    R"(data: {"type":"response.output_text.delta","sequence_number":3,"item_id":"msg_1",)"
    R"("output_index":0,"content_index":0,"delta":"ça va ? 👋"})",
    "",
    "event: response.output_item.done",
    "id: 5",
    R"(data: {"type":"response.output_item.done","sequence_number":4,"output_index":0,"item":)" +
        responses_item + "}",
    "",
    "event: response.completed",
    "id: 6",
    R"(data: {"type":"response.completed","sequence_number":5,"response":{"id":"resp_1",)"
    R"("object":"response","status":"completed","output":[)" +
        responses_item + R"(],"usage":{"input_tokens":12,"output_tokens":7,"total_tokens":19}}})",
    "",
});

// An MLflow ChatAgent stream, written with `data:` and no space, one event in two data lines,
// and no blank line after the last event.
const std::string chat_agent_stream = lines({
    R"(data:{"delta":{"role":"assistant","content":"","id":"msg-1","tool_calls":[{"id":"call_1",)"
    R"("type":"function","function":{"name":"lookup","arguments":"{\"q\":\"refunds\"}"}}]}})",
    "",
    R"(data:{"delta":{"role":"tool","content":"30 days","id":"msg-2","name":"lookup",)"
    R"("tool_call_id":"call_1"}})",
    "",
    R"(data:{"delta":{"role":"assistant","content":"Refunds are ","id":"msg-3"}})",
    "",
    R"(data:{"delta":{"role":"assistant",)",
    R"(data:"content":"accepted within 30 days.","id":"msg-3"}})",
    "",
    R"(data:{"delta":{"role":"assistant","content":"","id":"msg-3"},"finish_reason":"stop",)"
    R"("custom_outputs":{"sources":["policy.md"]}})",
});

void check_chat_events(const std::vector<sse_event>& events) {
    REQUIRE(events.size() == 8);
    for (std::size_t i = 0; i + 1 < events.size(); ++i) {
        CHECK(events[i].event.empty());
        CHECK(events[i].id.empty());
        auto chunk = nlohmann::json::parse(events[i].data, nullptr, false);
        REQUIRE(chunk.is_object());
        CHECK(chunk["object"] == "chat.completion.chunk");
    }
    CHECK(events[2].data.find("à Paris ☀️ — 東京?") != std::string::npos);
    CHECK(dbx::detail::is_done_sentinel(events.back()));
    CHECK_FALSE(dbx::detail::is_done_sentinel(events.front()));
}

void check_responses_events(const std::vector<sse_event>& events) {
    REQUIRE(events.size() == 6);
    const char* const types[] = {"response.created",           "response.output_item.added",
                                 "response.output_text.delta", "response.output_text.delta",
                                 "response.output_item.done",  "response.completed"};
    const char* const ids[] = {"1", "2", "3", "3", "5", "6"};
    for (std::size_t i = 0; i < events.size(); ++i) {
        CHECK(events[i].event == types[i]);
        CHECK(events[i].id == ids[i]);
        auto data = nlohmann::json::parse(events[i].data, nullptr, false);
        REQUIRE(data.is_object());
        CHECK(data["type"] == types[i]);
    }
}

void check_chat_agent_events(const std::vector<sse_event>& events) {
    REQUIRE(events.size() == 5);
    CHECK(events[3].data == "{\"delta\":{\"role\":\"assistant\",\n"
                            "\"content\":\"accepted within 30 days.\",\"id\":\"msg-3\"}}");
    for (const auto& event : events) {
        CHECK(nlohmann::json::parse(event.data, nullptr, false).is_object());
    }
}

// Every split of `body` into two pieces, and one byte at a time, gives `expected`.
void check_every_split(const std::string& body, const std::vector<sse_event>& expected) {
    std::size_t mismatches = 0;
    for (std::size_t at = 0; at <= body.size(); ++at) {
        std::string_view whole(body);
        auto out = parse_pieces({whole.substr(0, at), whole.substr(at)});
        if (out.failure.has_value() || out.events != expected) {
            ++mismatches;
            INFO("first bad split at byte " << at);
            CHECK(out.events == expected);
            break;
        }
    }
    CHECK(mismatches == 0);
    CHECK(parse_bytewise(body) == expected);
}

} // namespace

TEST_CASE("sse: realistic streams split at every byte") {
    struct sample {
        const char* name;
        const std::string& text;
        void (*check)(const std::vector<sse_event>&);
    };
    const sample samples[] = {{"chat", chat_stream, check_chat_events},
                              {"responses", responses_stream, check_responses_events},
                              {"chat agent", chat_agent_stream, check_chat_agent_events}};
    const char* const line_ends[] = {"\n", "\r\n", "\r"};

    for (const auto& stream : samples) {
        const auto reference = parse_whole(stream.text);
        stream.check(reference);

        for (const char* line_end : line_ends) {
            for (bool bom : {false, true}) {
                const auto body =
                    std::string(bom ? "\xEF\xBB\xBF" : "") + with_line_ends(stream.text, line_end);
                CAPTURE(stream.name);
                CAPTURE(std::string_view(line_end).size());
                CAPTURE(bom);

                CHECK(parse_whole(body) == reference);
                check_every_split(body, reference);
            }
        }
    }

    SUBCASE("in pieces of uneven sizes") {
        const std::string body = with_line_ends(chat_stream, "\r\n");
        const auto reference = parse_whole(body);
        for (std::size_t size : {2u, 3u, 7u, 64u, 1000u}) {
            std::vector<std::string_view> pieces;
            for (std::size_t at = 0; at < body.size(); at += size) {
                pieces.push_back(std::string_view(body).substr(at, size));
            }
            auto out = parse_pieces(pieces);
            CHECK_FALSE(out.failure.has_value());
            CHECK(out.events == reference);
        }
    }
}

TEST_CASE("sse: field rules") {
    SUBCASE("one leading space is stripped, and only one") {
        CHECK(parse_whole("data:x\n\ndata: x\n\ndata:  x\n\n") ==
              std::vector<sse_event>{make_event("x"), make_event("x"), make_event(" x")});
    }

    SUBCASE("data lines are joined with LF, keeping empty ones") {
        CHECK(parse_whole("data: a\ndata:\ndata: b\n\n") ==
              std::vector<sse_event>{make_event("a\n\nb")});
        CHECK(parse_whole("data\n\n") == std::vector<sse_event>{make_event("")});
        CHECK(parse_whole("data:\n\n") == std::vector<sse_event>{make_event("")});
    }

    SUBCASE("colons after the first belong to the value") {
        CHECK(parse_whole("data: {\"a\": \"b:c\"}\n\n") ==
              std::vector<sse_event>{make_event("{\"a\": \"b:c\"}")});
    }

    SUBCASE("event type applies to one event, id carries over") {
        CHECK(parse_whole("event: delta\nid: 7\ndata: 1\n\ndata: 2\n\nid:\ndata: 3\n\n") ==
              std::vector<sse_event>{make_event("1", "delta", "7"), make_event("2", "", "7"),
                                     make_event("3")});
    }

    SUBCASE("an id with a NUL is ignored") {
        std::string body = "id: 1\ndata: a\n\nid: 2";
        body += '\0';
        body += "\ndata: b\n\n";
        CHECK(parse_whole(body) ==
              std::vector<sse_event>{make_event("a", "", "1"), make_event("b", "", "1")});
    }

    SUBCASE("retry takes digits only") {
        sse_parser parser;
        auto ignore = [](const sse_event&) { return true; };
        CHECK(parser.feed("retry: 2500\n\n", ignore).value());
        CHECK(parser.retry_ms() == 2500);
        CHECK(parser.feed("retry: soon\nretry: 12x\nretry:\n\n", ignore).value());
        CHECK(parser.retry_ms() == 2500);
    }

    SUBCASE("unknown fields, comments and keep-alive lines produce nothing") {
        CHECK(parse_whole(": hello\n\n\n\nfoo: bar\nDATA: no\n\r\n\r:\r\n").empty());
        CHECK(parse_whole("foo: bar\ndata: kept\nfoo\n\n") ==
              std::vector<sse_event>{make_event("kept")});
        CHECK(parse_whole("data: a\n: in the middle\ndata: b\n\n") ==
              std::vector<sse_event>{make_event("a\nb")});
    }

    SUBCASE("an event type without data dispatches nothing and is forgotten") {
        CHECK(parse_whole("event: ping\n\ndata: x\n\n") == std::vector<sse_event>{make_event("x")});
    }

    SUBCASE("mixed line ends in one stream") {
        CHECK(parse_whole("data: a\r\rdata: b\n\r\ndata: c\r\n\n") ==
              std::vector<sse_event>{make_event("a"), make_event("b"), make_event("c")});
    }

    SUBCASE("a CR at the end of one piece and LF at the start of the next are one line end") {
        auto out = parse_pieces({"data: a\r", "\ndata: b\r", "\n\r", "\n"});
        CHECK(out.events == std::vector<sse_event>{make_event("a\nb")});
    }

    SUBCASE("the byte order mark") {
        CHECK(parse_whole("\xEF\xBB\xBF"
                          "data: a\n\n") == std::vector<sse_event>{make_event("a")});

        auto split = parse_pieces({"\xEF", "\xBB", "\xBF", "data: a\n\n"});
        CHECK(split.events == std::vector<sse_event>{make_event("a")});

        // Only one, and only at the start: a second one is part of the field name.
        CHECK(parse_whole("\xEF\xBB\xBF\xEF\xBB\xBF"
                          "data: a\n\n")
                  .empty());

        // Bytes that only begin like a mark are kept.
        auto partial = parse_pieces({"\xEF\xBB", "data: a\n\n"});
        CHECK(partial.events.empty());
        CHECK(parse_whole("data: \xEF\xBB\xBF\n\n") ==
              std::vector<sse_event>{make_event("\xEF\xBB\xBF")});
    }

    SUBCASE("[DONE] is an ordinary data event") {
        auto events = parse_whole("data: [DONE]\n\n");
        REQUIRE(events.size() == 1);
        CHECK(dbx::detail::is_done_sentinel(events[0]));
        CHECK_FALSE(dbx::detail::is_done_sentinel(make_event("[DONE] ")));
        CHECK_FALSE(dbx::detail::is_done_sentinel(make_event("{}")));
    }
}

TEST_CASE("sse: end of body") {
    SUBCASE("an event whose blank line never came is still delivered") {
        CHECK(parse_whole("data: a\n\ndata: b\n") ==
              std::vector<sse_event>{make_event("a"), make_event("b")});
        CHECK(parse_whole("data: a\n\ndata: b") ==
              std::vector<sse_event>{make_event("a"), make_event("b")});
        CHECK(parse_whole("data: a\r") == std::vector<sse_event>{make_event("a")});
    }

    SUBCASE("nothing extra after a complete stream") {
        CHECK(parse_whole("data: a\n\n").size() == 1);
        CHECK(parse_whole("data: a\n\n: bye").size() == 1);
        CHECK(parse_whole("").empty());
        CHECK(parse_whole("\xEF\xBB").empty());
    }

    SUBCASE("finish leaves the parser ready for a new stream") {
        sse_parser parser;
        std::vector<sse_event> events;
        auto collect = [&](const sse_event& event) {
            events.push_back(event);
            return true;
        };
        CHECK(parser.feed("id: 1\nevent: x\ndata: one", collect).value());
        CHECK(parser.finish(collect).value());
        CHECK(parser
                  .feed("\xEF\xBB\xBF"
                        "data: two\n\n",
                        collect)
                  .value());
        CHECK(events == std::vector<sse_event>{make_event("one", "x", "1"), make_event("two")});
    }
}

TEST_CASE("sse: stopping") {
    sse_parser parser;
    std::vector<sse_event> events;
    auto first_only = [&](const sse_event& event) {
        events.push_back(event);
        return false;
    };

    auto fed = parser.feed("data: a\n\ndata: b\n\n", first_only);
    REQUIRE(fed.ok());
    CHECK_FALSE(*fed);
    CHECK(parser.feed("data: c\n\n", first_only).ok());
    CHECK_FALSE(parser.finish(first_only).value());
    CHECK(events == std::vector<sse_event>{make_event("a")});

    SUBCASE("a callback that returns nothing goes on") {
        std::size_t count = 0;
        auto counter = [&](const sse_event&) { ++count; };
        CHECK(parser.feed("data: a\n\ndata: b\n\n", counter).value());
        CHECK(parser.finish(counter).value());
        CHECK(count == 2);
    }

    SUBCASE("stopping at the last event delivered by finish") {
        CHECK(parser.feed("data: z", first_only).value());
        CHECK_FALSE(parser.finish(first_only).value());
        CHECK(events.size() == 2);
    }
}

TEST_CASE("sse: size limit") {
    SUBCASE("one oversized line") {
        const std::string body = "data: " + std::string(2000, 'x') + "\n\n";
        auto out = parse_pieces({body}, 1024);
        REQUIRE(out.failure.has_value());
        CHECK(out.failure->kind == dbx::error_kind::parse);
        CHECK(out.failure->message.find("1024") != std::string::npos);
        CHECK(out.events.empty());
    }

    SUBCASE("many lines that only together exceed it, fed in small pieces") {
        std::string body;
        for (int i = 0; i < 100; ++i) {
            body += "data: " + std::string(20, 'y') + "\n";
        }
        body += "\n";
        std::vector<std::string_view> pieces;
        for (std::size_t at = 0; at < body.size(); at += 5) {
            pieces.push_back(std::string_view(body).substr(at, 5));
        }
        auto out = parse_pieces(pieces, 1024);
        REQUIRE(out.failure.has_value());
        CHECK(out.failure->kind == dbx::error_kind::parse);
    }

    SUBCASE("the default is 8 MiB") {
        const std::string big = "data: " + std::string(9 * 1024 * 1024, 'z');
        auto out = parse_pieces({big});
        REQUIRE(out.failure.has_value());
        CHECK(out.failure->kind == dbx::error_kind::parse);

        const std::string fits = "data: " + std::string(7 * 1024 * 1024, 'z') + "\n\n";
        auto fine = parse_pieces({fits});
        CHECK_FALSE(fine.failure.has_value());
        REQUIRE(fine.events.size() == 1);
        CHECK(fine.events[0].data.size() == 7 * 1024 * 1024);
    }

    SUBCASE("the failure sticks until finish") {
        sse_parser parser(16);
        std::size_t count = 0;
        auto counter = [&](const sse_event&) { ++count; };
        CHECK_FALSE(parser.feed("data: 01234567890123456789\n\n", counter).ok());
        CHECK_FALSE(parser.feed("data: a\n\n", counter).ok());
        CHECK_FALSE(parser.finish(counter).ok());
        CHECK(parser.feed("data: a\n\n", counter).value());
        CHECK(count == 1);
    }

    SUBCASE("comments are skipped, not buffered, so they never count") {
        const std::string body = ": " + std::string(5000, 'c') + "\ndata: ok\n\n";
        auto out = parse_pieces(
            {std::string_view(body).substr(0, 100), std::string_view(body).substr(100)}, 64);
        CHECK_FALSE(out.failure.has_value());
        CHECK(out.events == std::vector<sse_event>{make_event("ok")});
    }

    SUBCASE("events up to the limit pass") {
        const std::string body = "data: " + std::string(1000, 'x') + "\n\n";
        auto out = parse_pieces({body}, 1024);
        CHECK_FALSE(out.failure.has_value());
        CHECK(out.events.size() == 1);
    }
}

TEST_CASE("sse: memory stays bounded over a long stream") {
    sse_parser parser;
    std::size_t count = 0;
    std::size_t largest = 0;
    std::size_t data_bytes = 0;
    auto counter = [&](const sse_event& event) {
        ++count;
        data_bytes += event.data.size();
        return true;
    };

    const std::string event = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"token "
                              "text\"},\"finish_reason\":null}]}\n\n: keep-alive\n\n";
    std::string body;
    for (int i = 0; i < 10000; ++i) {
        body += event;
    }

    // Pieces of an odd size, so events straddle them at every offset.
    const std::string_view whole(body);
    for (std::size_t at = 0; at < whole.size(); at += 61) {
        CHECK(parser.feed(whole.substr(at, 61), counter).value());
        largest = std::max(largest, parser.buffered_bytes());
    }
    CHECK(parser.finish(counter).value());

    CHECK(count == 10000);
    CHECK(data_bytes > 700000);
    CHECK(largest < 1024);

    SUBCASE("and a huge event does not pin its memory") {
        const std::string huge = "data: " + std::string(1024 * 1024, 'h') + "\n\n";
        CHECK(parser.feed(huge, counter).value());
        CHECK(parser.feed(event, counter).value());
        CHECK(parser.buffered_bytes() < 1024);
    }
}
