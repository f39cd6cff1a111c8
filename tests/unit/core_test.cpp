#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <dbxserve/core.hpp>
#include <dbxserve/detail/base64.hpp>

#include "../support/fake_transport.hpp"

using dbxserve::error_kind;
using dbxserve_test::json_reply;

TEST_CASE("result: holds a value or an error") {
    dbxserve::result<int> value(7);
    dbxserve::result<int> failure(dbxserve::make_error(error_kind::http, "boom"));

    CHECK(value.ok());
    CHECK(*value == 7);
    CHECK_FALSE(failure.ok());
    CHECK(failure.error().kind == error_kind::http);
    CHECK(failure.value_or(3) == 3);

    dbxserve::result<void> done;
    CHECK(done.ok());
    dbxserve::result<void> not_done(dbxserve::make_error(error_kind::config, "x"));
    CHECK_FALSE(not_done.ok());
}

TEST_CASE("error: to_string has a stable prefix per kind") {
    dbxserve::error e;
    e.kind = error_kind::http;
    e.http_status = 404;
    e.error_code = "RESOURCE_DOES_NOT_EXIST";
    e.message = "Endpoint with name 'x' does not exist.";
    e.request_id = "req-1";
    CHECK(e.to_string() == "dbxserve.http: 404 RESOURCE_DOES_NOT_EXIST: Endpoint with name 'x' "
                           "does not exist. [request-id req-1]");
    CHECK(dbxserve::make_error(error_kind::config, "no host").to_string() ==
          "dbxserve.config: no host");
}

TEST_CASE("error bodies are read leniently") {
    auto read = [](int status, const std::string& body, dbxserve::header_list headers = {}) {
        dbxserve::http_response response;
        response.status = status;
        response.headers = std::move(headers);
        response.body = body;
        return dbxserve::detail::error_from_response(response);
    };

    SUBCASE("standard body with a RequestInfo detail") {
        auto e = read(404, R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"gone",
            "details":[{"@type":"type.googleapis.com/google.rpc.RequestInfo",
                        "request_id":"abc"}]})");
        CHECK(e.kind == error_kind::http);
        CHECK(e.http_status == 404);
        CHECK(e.error_code == "RESOURCE_DOES_NOT_EXIST");
        CHECK(e.message == "gone");
        CHECK(e.request_id == "abc");
        CHECK(e.body["details"].is_array());
    }
    SUBCASE("numeric error_code") {
        auto e = read(401, R"({"error_code":401,"message":"no credential"})");
        CHECK(e.error_code == "401");
        CHECK(e.message == "no credential");
    }
    SUBCASE("empty body keeps the status, reason and request id header") {
        auto e = read(503, "", {{"x-request-id", "r-9"}});
        CHECK(e.http_status == 503);
        CHECK(e.message == "Service Unavailable");
        CHECK(e.request_id == "r-9");
    }
    SUBCASE("plain text ERROR_CODE: message") {
        auto e = read(429, "REQUEST_LIMIT_EXCEEDED: Exceeded workspace QPS rate limit");
        CHECK(e.error_code == "REQUEST_LIMIT_EXCEEDED");
        CHECK(e.message == "Exceeded workspace QPS rate limit");
    }
    SUBCASE("HTML is cut short") {
        auto e = read(502, "<html>" + std::string(1000, 'x') + "</html>");
        CHECK(e.message.rfind("Bad Gateway (<html>", 0) == 0);
        CHECK(e.message.size() < 260);
    }
    SUBCASE("API 1.2 error field") {
        auto e = read(400, R"({"error":"bad thing"})");
        CHECK(e.message == "bad thing");
    }
}

TEST_CASE("base64 matches RFC 4648 test vectors") {
    using dbxserve::detail::base64_encode;
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
    CHECK(base64_encode("b:c") == "Yjpj"); // the Go SDK's own Basic-auth test value
}

TEST_CASE("header_list looks names up case-insensitively") {
    dbxserve::header_list headers{{"Content-Type", "application/json"}};
    headers.add("X-Request-Id", "1");
    CHECK(headers.get("content-type") == "application/json");
    CHECK(headers.contains("x-request-id"));
    headers.set("x-request-id", "2");
    CHECK(headers.size() == 2);
    CHECK(headers.get("X-REQUEST-ID") == "2");
}

namespace {

using test_client = dbxserve::basic_client<dbxserve_test::fake_transport, dbxserve::static_token>;

// A token policy whose tokens the test can watch being invalidated.
struct counting_policy {
    int issued = 0;
    std::vector<std::string> invalidated;
    void bind(const dbxserve::http_sender&, const dbxserve::event_hook&) {}
    dbxserve::result<std::string> authorization(const dbxserve::call_context&) {
        return "Bearer t" + std::to_string(issued);
    }
    void invalidate(const std::string& header) {
        invalidated.push_back(header);
        ++issued;
    }
    const char* auth_type() const { return "test"; }
};

const char* chat_reply = R"({"id":"c1","object":"chat.completion","created":1,"model":"m",
    "choices":[{"index":0,"message":{"role":"assistant","content":"hi there"},
    "finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,
    "total_tokens":3}})";

} // namespace

TEST_CASE("client: builds the invocation request the way the official clients do") {
    dbxserve_test::fake_transport transport([](const dbxserve::http_request&) {
        return json_reply(200, chat_reply, {{"x-request-id", "rid"}, {"served-model-name", "v1"}});
    });
    dbxserve::client_options options;
    options.workspace_id = "1234567890";
    options.user_agent_product = "my-game/1.4";
    auto client = test_client::create("https://dbc-1.cloud.databricks.com/", transport,
                                      dbxserve::static_token("dapi-secret"), options);
    REQUIRE(client.ok());

    dbxserve::chat_request request;
    request.messages.push_back(dbxserve::chat_message::user("Hello agent!"));
    auto reply = client->query("chat", request);
    REQUIRE(reply.ok());
    CHECK(reply->text() == "hi there");
    CHECK(reply->meta.http_status == 200);
    CHECK(reply->meta.request_id == "rid");
    CHECK(reply->meta.served_model_name == "v1");

    const auto sent = transport.requests().at(0);
    CHECK(sent.method == "POST");
    CHECK(sent.url == "https://dbc-1.cloud.databricks.com/serving-endpoints/chat/invocations");
    CHECK(sent.headers.get("Authorization") == "Bearer dapi-secret");
    CHECK(sent.headers.get("Accept") == "application/json");
    CHECK(sent.headers.get("Content-Type") == "application/json");
    CHECK(sent.headers.get("X-Databricks-Workspace-Id") == "1234567890");
    CHECK(sent.headers.get("User-Agent").rfind("my-game/1.4 dbxserve/", 0) == 0);
    CHECK(sent.headers.get("User-Agent").find(" auth/pat") != std::string::npos);
    CHECK(nlohmann::json::parse(sent.body) ==
          nlohmann::json::parse(R"({"messages":[{"role":"user","content":"Hello agent!"}]})"));
}

TEST_CASE("client: bad input and insecure hosts are refused before anything is sent") {
    dbxserve_test::fake_transport transport(
        [](const dbxserve::http_request&) { return json_reply(200, "{}"); });

    auto insecure = test_client::create("http://dbc-1.cloud.databricks.com", transport,
                                        dbxserve::static_token("t"));
    REQUIRE_FALSE(insecure.ok());
    CHECK(insecure.error().kind == error_kind::config);
    CHECK(insecure.error().message.find("http://") != std::string::npos);

    CHECK(test_client::create("http://127.0.0.1:8080", transport, dbxserve::static_token("t")));
    CHECK(test_client::create("http://[::1]:8080", transport, dbxserve::static_token("t")));

    auto client =
        test_client::create("https://h.example.com", transport, dbxserve::static_token("t"));
    REQUIRE(client.ok());
    for (const char* name : {"", "a/b", "../x", "a b", "x?y"}) {
        auto reply = client->invoke(name, nlohmann::json::object());
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().kind == error_kind::invalid_input);
    }
    CHECK(transport.requests().empty());
}

TEST_CASE("client: non-2xx replies become http errors; a 2xx that is not JSON a parse error") {
    int status = 404;
    std::string body = R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no such endpoint"})";
    dbxserve_test::fake_transport transport([&](const dbxserve::http_request&) {
        return json_reply(status, body, {{"x-request-id", "rq"}});
    });
    auto client =
        test_client::create("https://h.example.com", transport, dbxserve::static_token("t"));
    REQUIRE(client.ok());

    auto missing = client->invoke("nope", nlohmann::json::object());
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().kind == error_kind::http);
    CHECK(missing.error().http_status == 404);
    CHECK(missing.error().error_code == "RESOURCE_DOES_NOT_EXIST");
    CHECK(missing.error().request_id == "rq");

    status = 200;
    body = "<html>not json</html>";
    dbxserve::chat_request request;
    request.messages.push_back(dbxserve::chat_message::user("x"));
    auto garbled = client->query("chat", request);
    REQUIRE_FALSE(garbled.ok());
    CHECK(garbled.error().kind == error_kind::parse);
    CHECK(garbled.error().request_id == "rq");
}

TEST_CASE("client: a 401 invalidates the token and retries once with a fresh one") {
    std::vector<std::string> seen;
    dbxserve_test::fake_transport transport([&](const dbxserve::http_request& r) {
        seen.push_back(r.headers.get("Authorization"));
        return seen.size() == 1 ? json_reply(401, R"({"error_code":"UNAUTHENTICATED"})")
                                : json_reply(200, chat_reply);
    });
    auto client = dbxserve::basic_client<dbxserve_test::fake_transport, counting_policy>::create(
        "https://h.example.com", transport, counting_policy{});
    REQUIRE(client.ok());

    auto reply = client->invoke("chat", nlohmann::json::object());
    REQUIRE(reply.ok());
    CHECK(seen == std::vector<std::string>{"Bearer t0", "Bearer t1"});
    CHECK(client->token_policy().invalidated == std::vector<std::string>{"Bearer t0"});
}

TEST_CASE("client: a 401 with a static token is returned without a pointless retry") {
    int calls = 0;
    dbxserve_test::fake_transport transport([&](const dbxserve::http_request&) {
        ++calls;
        return json_reply(401, R"({"error_code":"UNAUTHENTICATED","message":"bad token"})");
    });
    auto client = test_client::create("https://h.example.com", transport,
                                      dbxserve::static_token("dapi-very-secret"));
    REQUIRE(client.ok());

    auto reply = client->invoke("chat", nlohmann::json::object());
    REQUIRE_FALSE(reply.ok());
    CHECK(reply.error().http_status == 401);
    CHECK(calls == 1);
    CHECK(reply.error().to_string().find("dapi-very-secret") == std::string::npos);
}
