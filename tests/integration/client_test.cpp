// The client end to end: real sockets, real TLS, the project's workspace emulator.
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <dbxserve/dbxserve.hpp>

#include "../support/workspace_fixture.hpp"

using namespace std::chrono_literals;
using dbxserve::error_kind;
namespace emu = dbxserve::emulator;

namespace {

using dbxserve_test::test_pki;
using dbxserve_test::tls_workspace;

dbxserve::chat_request hello(const std::string& text = "Hello agent!") {
    dbxserve::chat_request request;
    request.messages.push_back(dbxserve::chat_message::user(text));
    return request;
}

} // namespace

TEST_CASE("client: a PAT chat query over TLS returns the typed reply and its metadata") {
    tls_workspace ws;
    auto client = ws.make(ws.pat());

    auto reply = client.query("chat", hello("ping"));
    REQUIRE_MESSAGE(reply.ok(), reply.error().to_string());
    CHECK(reply->text().find("ping") != std::string::npos);
    CHECK(reply->meta.http_status == 200);
    CHECK_FALSE(reply->meta.request_id.empty());
    CHECK(reply->meta.served_model_name == "chat-model-1");

    const auto recorded = ws.server->requests();
    REQUIRE(recorded.size() == 1);
    CHECK(recorded[0].request_id == reply->meta.request_id);
    CHECK(recorded[0].header("Authorization") == "Bearer dapi-emulator-pat");
    CHECK(recorded[0].header("User-Agent").find("dbxserve/") == 0);
    CHECK(recorded[0].header("User-Agent").find("auth/pat") != std::string::npos);
}

TEST_CASE("client: M2M over TLS, many queries cost one token request") {
    tls_workspace ws;
    auto client = ws.make(ws.m2m());

    for (int i = 0; i < 25; ++i) {
        auto reply = client.query("chat", hello());
        REQUIRE_MESSAGE(reply.ok(), reply.error().to_string());
    }
    CHECK(ws.server->token_requests() == 1);
    CHECK(ws.server->invocations("chat") == 25);
    // Learned from the host metadata, and sent as the official SDKs send it.
    CHECK(ws.server->requests().back().header("X-Databricks-Workspace-Id") == "1234567890");

    // Only invocations carry the bearer token; discovery is anonymous, the token request Basic.
    for (const auto& r : ws.server->requests()) {
        const std::string auth = r.header("Authorization");
        if (r.path.find("/serving-endpoints/") == 0) {
            CHECK(auth.rfind("Bearer ", 0) == 0);
        } else if (r.path == "/oidc/v1/token") {
            CHECK(auth.rfind("Basic ", 0) == 0);
        } else {
            CHECK(auth.empty());
        }
    }
}

TEST_CASE("client: 16 threads at once cause one token request") {
    tls_workspace ws;
    auto client = ws.make(ws.m2m());

    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 16; ++i) {
        threads.emplace_back([&] {
            for (int j = 0; j < 4; ++j) {
                if (client.query("chat", hello()).ok()) {
                    ++ok;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(ok == 64);
    CHECK(ws.server->token_requests() == 1);
}

TEST_CASE("client: a short token TTL causes refreshes and no failed query") {
    emu::emulator_options o;
    o.token_ttl = 3s;
    tls_workspace ws(o);

    dbxserve::oauth_m2m_options m2m;
    m2m.host = ws.server->url();
    m2m.client_id = "dbxserve-sp";
    m2m.client_secret = "dbxserve-secret";
    m2m.expiry_margin = 1s; // scaled down with the TTL: the token is unusable in its last second
    auto client = dbxserve::basic_client<dbxserve::httplib_transport, dbxserve::oauth_m2m>::create(
        ws.server->url(), dbxserve::httplib_transport(ws.trusted()), dbxserve::oauth_m2m(m2m));
    REQUIRE(client.ok());

    int failures = 0;
    int queries = 0;
    const auto until = std::chrono::steady_clock::now() + 4500ms;
    while (std::chrono::steady_clock::now() < until && queries < 400) {
        auto reply = client->query("chat", hello());
        failures += reply.ok() ? 0 : 1;
        ++queries;
        std::this_thread::sleep_for(20ms);
    }
    CHECK(failures == 0);
    CHECK(queries > 20);
    CHECK(ws.server->token_requests() >= 2);
    CHECK(ws.server->token_requests() <= 6);
}

TEST_CASE("client: a revoked token is replaced once and the query retried") {
    tls_workspace ws;
    auto client = ws.make(ws.m2m());
    REQUIRE(client.query("chat", hello()).ok());

    ws.server->revoke_tokens();
    auto reply = client.query("chat", hello());
    REQUIRE_MESSAGE(reply.ok(), reply.error().to_string());
    CHECK(ws.server->token_requests() == 2);
    CHECK(ws.server->invocations("chat") == 3);
}

TEST_CASE("client: a server whose certificate is not trusted is refused") {
    tls_workspace ws;

    SUBCASE("unrelated CA") {
        dbxserve::httplib_transport_options t;
        t.tls.ca_file = test_pki().unrelated_ca;
        auto client = dbxserve::make_client(ws.pat(), {}, t, dbxserve::environment::from_map({}));
        REQUIRE(client.ok());
        auto reply = client->query("chat", hello());
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().kind == error_kind::transport);
        CHECK_FALSE(reply.error().request_may_have_been_sent);
    }
    SUBCASE("system store") {
        dbxserve::httplib_transport_options t;
        t.tls.ca_file = "/nonexistent/dbxserve-no-such-ca.pem";
        auto client = dbxserve::make_client(ws.pat(), {}, t, dbxserve::environment::from_map({}));
        REQUIRE(client.ok());
        auto reply = client->query("chat", hello());
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().kind == error_kind::transport);
    }
    CHECK(ws.server->invocations("chat") == 0);
}

TEST_CASE("client: http:// to a non-loopback host is refused") {
    dbxserve::config cfg;
    cfg.host = "http://dbc-1234.cloud.databricks.com";
    cfg.token = "dapi-x";
    auto client = dbxserve::make_client(cfg, {}, {}, dbxserve::environment::from_map({}));
    REQUIRE_FALSE(client.ok());
    CHECK(client.error().kind == error_kind::config);
    CHECK(client.error().message.find("http://") != std::string::npos);
}

TEST_CASE("client: plain http works against a loopback emulator") {
    emu::workspace_emulator server;
    REQUIRE(server.start());
    dbxserve::config cfg;
    cfg.host = server.url();
    cfg.token = "dapi-emulator-pat";
    auto client = dbxserve::make_client(cfg, {}, {}, dbxserve::environment::from_map({}));
    REQUIRE(client.ok());
    CHECK(client->query("chat", hello()).ok());
}

TEST_CASE("client: 400, 401 and 404 map to typed errors with error_code and request id") {
    tls_workspace ws;
    auto client = ws.make(ws.pat());

    SUBCASE("404 unknown endpoint") {
        auto reply = client.query("no-such-endpoint", hello());
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().kind == error_kind::http);
        CHECK(reply.error().http_status == 404);
        CHECK(reply.error().error_code == "RESOURCE_DOES_NOT_EXIST");
        CHECK(reply.error().request_id == ws.server->requests().back().request_id);
    }
    SUBCASE("400 body the endpoint cannot use") {
        auto reply = client.invoke("chat", nlohmann::json{{"unexpected", 1}});
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().http_status == 400);
        CHECK(reply.error().error_code == "INVALID_PARAMETER_VALUE");
        CHECK_FALSE(reply.error().request_id.empty());
    }
    SUBCASE("401 bad PAT") {
        auto bad = ws.make(ws.pat("dapi-wrong"));
        auto reply = bad.query("chat", hello());
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().http_status == 401);
        CHECK(reply.error().error_code == "UNAUTHENTICATED");
        CHECK(reply.error().to_string().find("dapi-wrong") == std::string::npos);
    }
}

TEST_CASE("client: a bad client secret is an auth error that does not contain the secret") {
    tls_workspace ws;
    std::vector<std::string> events;
    std::mutex events_mutex;
    dbxserve::client_options o;
    o.on_event = [&](const dbxserve::event& e) {
        std::lock_guard<std::mutex> lock(events_mutex);
        events.push_back(e.name + " " + e.message);
    };
    auto client = ws.make(ws.m2m("wrong-secret-7f3a"), o);

    auto reply = client.query("chat", hello());
    REQUIRE_FALSE(reply.ok());
    CHECK(reply.error().kind == error_kind::auth);
    CHECK(reply.error().http_status == 401);
    CHECK(reply.error().error_code == "invalid_client");
    CHECK(reply.error().to_string().find("wrong-secret-7f3a") == std::string::npos);
    CHECK_FALSE(events.empty());
    for (const auto& line : events) {
        CHECK(line.find("wrong-secret-7f3a") == std::string::npos);
    }
    CHECK(ws.server->invocations("chat") == 0);
}

TEST_CASE("client: events never carry the access token") {
    tls_workspace ws;
    std::vector<std::string> events;
    dbxserve::client_options o;
    o.on_event = [&](const dbxserve::event& e) { events.push_back(e.message); };
    auto client = ws.make(ws.m2m(), o);
    REQUIRE(client.query("chat", hello()).ok());

    std::string token;
    for (const auto& r : ws.server->requests()) {
        if (r.path == "/serving-endpoints/chat/invocations") {
            token = r.header("Authorization").substr(7);
        }
    }
    REQUIRE(token.size() > 8);
    CHECK(events.size() >= 3);
    for (const auto& line : events) {
        CHECK(line.find(token) == std::string::npos);
        CHECK(line.find("dbxserve-secret") == std::string::npos);
    }
}

TEST_CASE("client: every endpoint kind answers with its typed reply") {
    tls_workspace ws;
    auto client = ws.make(ws.m2m());

    SUBCASE("ChatAgent") {
        dbxserve::chat_agent_request request;
        dbxserve::chat_agent_message message;
        message.role = "user";
        message.content = "plan a trip";
        request.messages.push_back(message);
        request.custom_inputs = nlohmann::json{{"city", "Oslo"}};
        auto reply = client.query("agent", request);
        REQUIRE_MESSAGE(reply.ok(), reply.error().to_string());
        CHECK_FALSE(reply->text().empty());
        CHECK(reply->custom_outputs.value("city", "") == "Oslo");
    }
    SUBCASE("ResponsesAgent") {
        dbxserve::responses_request request;
        request.input.push_back(dbxserve::responses_input::user("what is up"));
        auto reply = client.query("responses", request);
        REQUIRE_MESSAGE(reply.ok(), reply.error().to_string());
        CHECK(reply->output_text().find("what is up") != std::string::npos);
    }
    SUBCASE("embeddings") {
        dbxserve::embedding_request request;
        request.input = dbxserve::string_list{std::vector<std::string>{"a", "b", "c"}};
        auto reply = client.query("embeddings", request);
        REQUIRE_MESSAGE(reply.ok(), reply.error().to_string());
        REQUIRE(reply->data.size() == 3);
        CHECK_FALSE(reply->data[0].embedding.empty());
    }
    SUBCASE("tabular") {
        auto request = dbxserve::tabular_request::split({"x", "y"}, {{1.0, 2.0}, {3.0, 4.0}});
        auto reply = client.query("tabular", request);
        REQUIRE_MESSAGE(reply.ok(), reply.error().to_string());
        CHECK(reply->predictions.size() == 2);
    }
}

TEST_CASE("client: an IPv6 loopback emulator works") {
    emu::emulator_options o;
    o.bind_host = "::1";
    tls_workspace ws(o);
    auto client = ws.make(ws.m2m());
    auto reply = client.query("chat", hello());
    REQUIRE_MESSAGE(reply.ok(), reply.error().to_string());
}

TEST_CASE("client: configuration from the standard environment variables") {
    tls_workspace ws;
    auto env = dbxserve::environment::from_map({{"DATABRICKS_HOST", ws.server->url()},
                                                {"DATABRICKS_CLIENT_ID", "dbxserve-sp"},
                                                {"DATABRICKS_CLIENT_SECRET", "dbxserve-secret"},
                                                {"HOME", "/nonexistent-dbxserve-home"}});
    auto client = dbxserve::make_client({}, {}, ws.trusted(), env);
    REQUIRE_MESSAGE(client.ok(), client.error().to_string());
    auto reply = client->query("chat", hello());
    REQUIRE_MESSAGE(reply.ok(), reply.error().to_string());
    CHECK(std::string(client->token_policy().auth_type()) == "oauth-m2m");
}
