// Tests of dbxserve-emulator itself, over real loopback sockets and verified TLS, with a
// raw httplib client standing in for dbxserve and for the official SDKs.
#include "emulator.hpp"
#include "test_pki.hpp"

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#ifndef _WIN32
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#endif

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace emu = dbxserve::emulator;
using json = nlohmann::json;

struct scratch_dir {
    std::string path;

    scratch_dir() {
        std::string error;
        path = emu::make_scratch_dir("dbxserve-emulator-test", error);
        REQUIRE_MESSAGE(!path.empty(), error);
    }
    ~scratch_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

void configure(httplib::ClientImpl& client) {
    // Without TCP_NODELAY, Nagle plus delayed ACKs adds ~40 ms to every request.
    client.set_tcp_nodelay(true);
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(10, 0);
    client.set_write_timeout(10, 0);
}

// An HTTPS emulator with its own throwaway CA; members are destroyed in reverse, so
// the server stops before its certificates are deleted.
struct tls_emulator {
    scratch_dir dir;
    emu::test_pki_files pki;
    std::unique_ptr<emu::workspace_emulator> server;

    explicit tls_emulator(emu::emulator_options options = {}) {
        std::string error;
        REQUIRE_MESSAGE(emu::generate_test_pki(dir.path, pki, error), error);
        options.cert_file = pki.server_cert;
        options.key_file = pki.server_key;
        server = std::make_unique<emu::workspace_emulator>(options);
        REQUIRE_MESSAGE(server->start(), server->last_error());
    }

    std::unique_ptr<httplib::SSLClient> client(const std::string& host = "127.0.0.1") const {
        auto c = std::make_unique<httplib::SSLClient>(host, server->port());
        c->set_ca_cert_path(pki.ca_cert);
        c->enable_server_certificate_verification(true);
        configure(*c);
        return c;
    }
};

std::string base64(const std::string& in) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                           (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (i + 1 == in.size()) {
        const unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                           (static_cast<unsigned char>(in[i + 1]) << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

// Form encoding the way Go's url.QueryEscape and the JS SDK apply it to credentials.
std::string form_escape(const std::string& in) {
    static const char digits[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : in) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else if (c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += digits[c >> 4];
            out += digits[c & 15];
        }
    }
    return out;
}

std::string basic(const std::string& id, const std::string& secret) {
    return "Basic " + base64(id + ":" + secret);
}

json body_of(const httplib::Result& res) {
    REQUIRE(res);
    const json body = json::parse(res->body, nullptr, false);
    REQUIRE_MESSAGE(!body.is_discarded(), res->body);
    return body;
}

httplib::Result post_token(httplib::ClientImpl& client, const std::string& form,
                           const httplib::Headers& headers) {
    return client.Post("/oidc/v1/token", headers, form, "application/x-www-form-urlencoded");
}

std::string fetch_token(httplib::ClientImpl& client, const emu::emulator_options& o = {}) {
    auto res = post_token(client, "grant_type=client_credentials&scope=all-apis",
                          {{"Authorization", basic(o.client_id, o.client_secret)}});
    REQUIRE(res);
    REQUIRE_MESSAGE(res->status == 200, res->body);
    return body_of(res).at("access_token").get<std::string>();
}

httplib::Result invoke(httplib::ClientImpl& client, const std::string& endpoint,
                       const std::string& body, const std::string& token) {
    return client.Post("/serving-endpoints/" + endpoint + "/invocations",
                       {{"Authorization", "Bearer " + token}}, body, "application/json");
}

httplib::Result invoke(httplib::ClientImpl& client, const std::string& endpoint, const char* body,
                       const std::string& token) {
    return invoke(client, endpoint, std::string(body), token);
}

httplib::Result invoke(httplib::ClientImpl& client, const std::string& endpoint, const json& body,
                       const std::string& token) {
    return invoke(client, endpoint, body.dump(), token);
}

const std::string pat = emu::emulator_options{}.pat;

void check_api_error(const httplib::Result& res, int status, const std::string& code) {
    REQUIRE(res);
    CHECK(res->status == status);
    const json body = body_of(res);
    CHECK(body.value("error_code", "") == code);
    CHECK(body.at("message").is_string());
    const std::string id = res->get_header_value("x-request-id");
    CHECK_FALSE(id.empty());
    REQUIRE(body.at("details").is_array());
    CHECK(body["details"][0]["@type"] == "type.googleapis.com/google.rpc.RequestInfo");
    CHECK(body["details"][0]["request_id"] == id);
}

} // namespace

TEST_CASE("emulator: serves host metadata and OIDC discovery over verified TLS") {
    tls_emulator emulator;
    const std::string url = emulator.server->url();
    CHECK(url == "https://127.0.0.1:" + std::to_string(emulator.server->port()));
    auto client = emulator.client();

    SUBCASE("host metadata") {
        auto res = client->Get("/.well-known/databricks-config");
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK_FALSE(res->get_header_value("x-request-id").empty());
        const json body = body_of(res);
        CHECK(body["oidc_endpoint"] == url + "/oidc");
        CHECK(body["workspace_id"] == "1234567890");
        CHECK(body["account_id"].is_string());
        CHECK(body["cloud"] == "AWS");
        CHECK(body["host_type"] == "workspace");
    }

    SUBCASE("OIDC discovery") {
        auto res = client->Get("/oidc/.well-known/oauth-authorization-server");
        REQUIRE(res);
        CHECK(res->status == 200);
        const json body = body_of(res);
        CHECK(body["issuer"] == url + "/oidc");
        CHECK(body["token_endpoint"] == url + "/oidc/v1/token");
        CHECK(body["authorization_endpoint"].is_string());
        CHECK(body["grant_types_supported"] == json::array({"client_credentials"}));
        CHECK(body["token_endpoint_auth_methods_supported"].size() == 2);
    }

    SUBCASE("links follow the host name the client used") {
        auto by_name = emulator.client("localhost");
        const json body = body_of(by_name->Get("/.well-known/databricks-config"));
        CHECK(body["oidc_endpoint"] ==
              "https://localhost:" + std::to_string(emulator.server->port()) + "/oidc");
    }
}

TEST_CASE("emulator: issues tokens to authenticated clients") {
    emu::emulator_options options;
    tls_emulator emulator(options);
    auto client = emulator.client();

    SUBCASE("HTTP Basic, Python order") {
        auto res = post_token(*client, "grant_type=client_credentials&scope=all-apis",
                              {{"Authorization", basic(options.client_id, options.client_secret)}});
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->get_header_value("Cache-Control") == "no-store");
        const json body = body_of(res);
        CHECK(body["token_type"] == "Bearer");
        CHECK(body["expires_in"] == 3600);
        CHECK(body["scope"] == "all-apis");
        CHECK(body["access_token"].get<std::string>().size() >= 32);
    }

    SUBCASE("HTTP Basic, JS order and lower-case headers") {
        auto res = post_token(*client, "scope=all-apis&grant_type=client_credentials",
                              {{"authorization", basic(options.client_id, options.client_secret)}});
        REQUIRE(res);
        CHECK(res->status == 200);
    }

    SUBCASE("tokens are unpredictable") {
        std::set<std::string> seen;
        for (int i = 0; i < 5; ++i) {
            seen.insert(fetch_token(*client));
        }
        CHECK(seen.size() == 5);
    }

    SUBCASE("client_secret_post") {
        auto res = post_token(*client,
                              "grant_type=client_credentials&client_id=" + options.client_id +
                                  "&client_secret=" + options.client_secret,
                              {});
        REQUIRE(res);
        CHECK(res->status == 200);
    }

    SUBCASE("default scope") {
        auto res = post_token(*client, "grant_type=client_credentials",
                              {{"Authorization", basic(options.client_id, options.client_secret)}});
        CHECK(body_of(res)["scope"] == "all-apis");
    }

    SUBCASE("wrong secret") {
        auto res = post_token(*client, "grant_type=client_credentials&scope=all-apis",
                              {{"Authorization", basic(options.client_id, "wrong")}});
        REQUIRE(res);
        CHECK(res->status == 401);
        const json body = body_of(res);
        CHECK(body["error"] == "invalid_client");
        CHECK(body["error_description"] == "Client authentication failed");
        CHECK_FALSE(res->get_header_value("x-request-id").empty());
    }

    SUBCASE("no client authentication") {
        auto res = post_token(*client, "grant_type=client_credentials", {});
        REQUIRE(res);
        CHECK(res->status == 401);
        CHECK(body_of(res)["error"] == "invalid_client");
    }
}

TEST_CASE("emulator: accepts form-encoded credentials inside HTTP Basic") {
    emu::emulator_options options;
    options.client_id = "sp id+1";
    options.client_secret = "s3cr%t/=:&é";
    tls_emulator emulator(options);
    auto client = emulator.client();

    SUBCASE("percent-encoded before base64, as Go and JS do") {
        const std::string header =
            basic(form_escape(options.client_id), form_escape(options.client_secret));
        auto res = post_token(*client, "grant_type=client_credentials&scope=all-apis",
                              {{"Authorization", header}});
        REQUIRE(res);
        CHECK(res->status == 200);
    }

    SUBCASE("raw, as Python does") {
        auto res = post_token(*client, "grant_type=client_credentials&scope=all-apis",
                              {{"Authorization", basic(options.client_id, options.client_secret)}});
        REQUIRE(res);
        CHECK(res->status == 200);
    }
}

TEST_CASE("emulator: rejects malformed and unsupported token requests") {
    emu::emulator_options options;
    tls_emulator emulator(options);
    auto client = emulator.client();
    const httplib::Headers auth = {
        {"Authorization", basic(options.client_id, options.client_secret)}};

    SUBCASE("unsupported grant") {
        auto res = post_token(*client, "grant_type=password&scope=all-apis", auth);
        REQUIRE(res);
        CHECK(res->status == 400);
        CHECK(body_of(res)["error"] == "unsupported_grant_type");
    }

    SUBCASE("broken percent escape") {
        auto res = post_token(*client, "grant_type=client%zzcredentials", auth);
        REQUIRE(res);
        CHECK(res->status == 400);
        CHECK(body_of(res)["error"] == "invalid_request");
    }

    SUBCASE("missing grant_type") {
        auto res = post_token(*client, "scope=all-apis", auth);
        REQUIRE(res);
        CHECK(res->status == 400);
        CHECK(body_of(res)["error"] == "invalid_request");
    }

    SUBCASE("repeated parameter") {
        auto res = post_token(*client,
                              "grant_type=client_credentials&grant_type=client_credentials", auth);
        REQUIRE(res);
        CHECK(res->status == 400);
        CHECK(body_of(res)["error"] == "invalid_request");
    }

    SUBCASE("JSON instead of a form") {
        auto res = client->Post("/oidc/v1/token", auth, R"({"grant_type":"client_credentials"})",
                                "application/json");
        REQUIRE(res);
        CHECK(res->status == 400);
        CHECK(body_of(res)["error"] == "invalid_request");
    }

    SUBCASE("empty body") {
        auto res = post_token(*client, "", auth);
        REQUIRE(res);
        CHECK(res->status == 400);
        CHECK(body_of(res)["error"] == "invalid_request");
    }
}

TEST_CASE("emulator: each endpoint answers in its own format") {
    tls_emulator emulator;
    auto client = emulator.client();
    const std::string token = fetch_token(*client);

    SUBCASE("chat") {
        auto res = invoke(*client, "chat",
                          json{{"messages",
                                {{{"role", "system"}, {"content", "Be brief."}},
                                 {{"role", "user"}, {"content", "Hello agent!"}}}}},
                          token);
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->get_header_value("served-model-name") == "chat-model-1");
        const json body = body_of(res);
        CHECK(body["object"] == "chat.completion");
        CHECK(body["id"].is_string());
        CHECK(body["created"].is_number_integer());
        CHECK(body["model"] == "chat-model-1");
        REQUIRE(body["choices"].size() == 1);
        CHECK(body["choices"][0]["index"] == 0);
        CHECK(body["choices"][0]["message"]["role"] == "assistant");
        CHECK(body["choices"][0]["message"]["content"] == "Echo: Hello agent!");
        CHECK(body["choices"][0]["finish_reason"] == "stop");
        CHECK(body["usage"]["prompt_tokens"] == 4);
        CHECK(body["usage"]["completion_tokens"] == 3);
        CHECK(body["usage"]["total_tokens"] == 7);
    }

    SUBCASE("chat honours max_tokens") {
        const json request = {{"messages", {{{"role", "user"}, {"content", "one two three four"}}}},
                              {"max_tokens", 3}};
        const json body = body_of(invoke(*client, "chat", request, token));
        CHECK(body["choices"][0]["message"]["content"] == "Echo: one two");
        CHECK(body["choices"][0]["finish_reason"] == "length");
        CHECK(body["usage"]["completion_tokens"] == 3);
    }

    SUBCASE("chat through the served-models route") {
        auto res =
            client->Post("/serving-endpoints/chat/served-models/chat-model-1/invocations",
                         {{"Authorization", "Bearer " + token}},
                         R"({"messages":[{"role":"user","content":"hi"}]})", "application/json");
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(body_of(res)["choices"][0]["message"]["content"] == "Echo: hi");

        auto missing =
            client->Post("/serving-endpoints/chat/served-models/other/invocations",
                         {{"Authorization", "Bearer " + token}},
                         R"({"messages":[{"role":"user","content":"hi"}]})", "application/json");
        check_api_error(missing, 404, "RESOURCE_DOES_NOT_EXIST");
    }

    SUBCASE("chat through the OpenAI-compatible route") {
        auto res = client->Post(
            "/serving-endpoints/chat/completions", {{"Authorization", "Bearer " + token}},
            R"({"model":"chat","messages":[{"role":"user","content":"hi"}]})", "application/json");
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(body_of(res)["object"] == "chat.completion");
        CHECK(emulator.server->invocations("chat") == 1);
    }

    SUBCASE("agent") {
        const json request = {{"messages", {{{"role", "user"}, {"content", "What is up?"}}}},
                              {"custom_inputs", {{"session", "s-1"}, {"n", 2}}},
                              {"databricks_options", {{"return_trace", true}}}};
        auto res = invoke(*client, "agent", request, token);
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->get_header_value("served-model-name") == "agent-model-1");
        const json body = body_of(res);
        REQUIRE(body["messages"].size() == 1);
        CHECK(body["messages"][0]["role"] == "assistant");
        CHECK(body["messages"][0]["content"] == "Echo: What is up?");
        CHECK(body["messages"][0]["id"].is_string());
        CHECK(body["custom_outputs"] == request["custom_inputs"]);
        CHECK(body["databricks_output"]["trace"].is_object());
    }

    SUBCASE("agent without a trace request has no databricks_output") {
        const json body = body_of(invoke(
            *client, "agent", json{{"messages", {{{"role", "user"}, {"content", "x"}}}}}, token));
        CHECK_FALSE(body.contains("databricks_output"));
        CHECK_FALSE(body.contains("custom_outputs"));
    }

    SUBCASE("responses") {
        const json request = {
            {"input",
             {{{"role", "user"}, {"content", "first"}},
              {{"type", "message"},
               {"role", "user"},
               {"content", {{{"type", "input_text"}, {"text", "second question"}}}}}}}};
        auto res = invoke(*client, "responses", request, token);
        REQUIRE(res);
        CHECK(res->status == 200);
        const json body = body_of(res);
        CHECK(body["object"] == "response");
        CHECK(body["id"].is_string());
        REQUIRE(body["output"].size() == 1);
        const json& item = body["output"][0];
        CHECK(item["type"] == "message");
        CHECK(item["role"] == "assistant");
        CHECK(item["id"].is_string());
        CHECK(item["content"][0]["type"] == "output_text");
        CHECK(item["content"][0]["text"] == "Echo: second question");
        CHECK(body["usage"]["input_tokens"] == 3);
        CHECK(body["usage"]["output_tokens"] == 3);
        CHECK(body["usage"]["total_tokens"] == 6);
    }

    SUBCASE("embeddings are deterministic unit vectors") {
        const json body = body_of(
            invoke(*client, "embeddings", json{{"input", {"alpha", "beta", "alpha"}}}, token));
        CHECK(body["object"] == "list");
        CHECK(body["model"] == "embeddings-model-1");
        REQUIRE(body["data"].size() == 3);
        for (std::size_t i = 0; i < 3; ++i) {
            CHECK(body["data"][i]["object"] == "embedding");
            CHECK(body["data"][i]["index"] == i);
        }
        const json& a = body["data"][0]["embedding"];
        double norm = 0;
        for (const auto& x : a) {
            norm += x.get<double>() * x.get<double>();
        }
        CHECK(norm == doctest::Approx(1.0).epsilon(1e-4));
        CHECK(a == body["data"][2]["embedding"]);
        CHECK(a != body["data"][1]["embedding"]);
        CHECK(body["usage"]["prompt_tokens"] == 3);
        CHECK(body["usage"]["total_tokens"] == 3);

        const json single = body_of(invoke(*client, "embeddings", json{{"input", "alpha"}}, token));
        CHECK(single["data"][0]["embedding"] == a);
    }

    SUBCASE("tabular accepts every pandas and tensor format") {
        const json split = {
            {"dataframe_split", {{"columns", {"x", "y"}}, {"data", {{1, 2}, {3.5, 4}}}}}};
        CHECK(body_of(invoke(*client, "tabular", split, token)) == json{{"predictions", {3, 7.5}}});

        const json records = {{"dataframe_records", {{{"x", 1}, {"y", 2}}, {{"x", 10}}}}};
        CHECK(body_of(invoke(*client, "tabular", records, token))["predictions"] ==
              json::array({3, 10}));

        const json instances = {{"instances", {{1, 2, 3}, {4}}}};
        CHECK(body_of(invoke(*client, "tabular", instances, token))["predictions"] ==
              json::array({6, 4}));

        const json columns = {{"inputs", {{"a", {1, 2}}, {"b", {10, 20}}}}};
        CHECK(body_of(invoke(*client, "tabular", columns, token))["predictions"] ==
              json::array({11, 22}));
    }
}

TEST_CASE("emulator: rejects requests without a valid token") {
    tls_emulator emulator;
    auto client = emulator.client();
    const std::string chat = R"({"messages":[{"role":"user","content":"hi"}]})";

    SUBCASE("missing") {
        auto res = client->Post("/serving-endpoints/chat/invocations", chat, "application/json");
        check_api_error(res, 401, "UNAUTHENTICATED");
        CHECK(body_of(res)["message"] ==
              "Credential was not sent or was of an unsupported type for this API.");
    }

    SUBCASE("wrong scheme") {
        auto res = client->Post("/serving-endpoints/chat/invocations",
                                {{"Authorization", basic("dbxserve-sp", "dbxserve-secret")}}, chat,
                                "application/json");
        check_api_error(res, 401, "UNAUTHENTICATED");
    }

    SUBCASE("unknown token") {
        auto res = invoke(*client, "chat", chat, "not-a-token");
        check_api_error(res, 401, "UNAUTHENTICATED");
        const std::string message = body_of(res)["message"];
        CHECK(message.find("invalid") != std::string::npos);
        CHECK(message.find("expired") != std::string::npos);
    }

    SUBCASE("revoked token; the PAT keeps working") {
        const std::string token = fetch_token(*client);
        REQUIRE(invoke(*client, "chat", chat, token)->status == 200);
        emulator.server->revoke_tokens();
        check_api_error(invoke(*client, "chat", chat, token), 401, "UNAUTHENTICATED");
        CHECK(invoke(*client, "chat", chat, pat)->status == 200);
        CHECK(invoke(*client, "chat", chat, fetch_token(*client))->status == 200);
    }

    SUBCASE("bearer scheme is case-insensitive") {
        auto res = client->Post("/serving-endpoints/chat/invocations",
                                {{"Authorization", "bearer " + pat}}, chat, "application/json");
        REQUIRE(res);
        CHECK(res->status == 200);
    }
}

TEST_CASE("emulator: OAuth tokens expire after their ttl") {
    emu::emulator_options options;
    options.token_ttl = std::chrono::seconds(1);
    tls_emulator emulator(options);
    auto client = emulator.client();
    const std::string chat = R"({"messages":[{"role":"user","content":"hi"}]})";

    auto res = post_token(*client, "grant_type=client_credentials&scope=all-apis",
                          {{"Authorization", basic(options.client_id, options.client_secret)}});
    const json token = body_of(res);
    CHECK(token["expires_in"] == 1);
    CHECK(invoke(*client, "chat", chat, token["access_token"])->status == 200);

    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    check_api_error(invoke(*client, "chat", chat, token["access_token"]), 401, "UNAUTHENTICATED");
}

TEST_CASE("emulator: unknown endpoints and routes are 404 with a request id") {
    tls_emulator emulator;
    auto client = emulator.client();

    auto res = invoke(*client, "no-such-endpoint", R"({"messages":[]})", pat);
    check_api_error(res, 404, "RESOURCE_DOES_NOT_EXIST");
    CHECK(body_of(res)["message"] == "Endpoint with name 'no-such-endpoint' does not exist.");

    auto route = client->Get("/api/2.0/clusters/list", {{"Authorization", "Bearer " + pat}});
    check_api_error(route, 404, "ENDPOINT_NOT_FOUND");

    auto method =
        client->Get("/serving-endpoints/chat/invocations", {{"Authorization", "Bearer " + pat}});
    REQUIRE(method);
    CHECK(method->status == 405);
    CHECK(method->get_header_value("Allow") == "POST");
}

TEST_CASE("emulator: malformed and incomplete bodies are 400") {
    tls_emulator emulator;
    auto client = emulator.client();

    SUBCASE("malformed JSON") {
        auto res = invoke(*client, "chat", std::string(R"({"messages": [)"), pat);
        check_api_error(res, 400, "BAD_REQUEST");
    }

    SUBCASE("invalid UTF-8 and binary noise") {
        const std::string noise("\xff\xfe{\"messages\":\x80\x00]", 17);
        check_api_error(invoke(*client, "chat", noise, pat), 400, "BAD_REQUEST");
    }

    SUBCASE("nesting too deep") {
        const std::string deep =
            "{\"instances\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
        check_api_error(invoke(*client, "tabular", deep, pat), 400, "BAD_REQUEST");
    }

    SUBCASE("well-formed but missing fields") {
        check_api_error(invoke(*client, "chat", json{{"prompt", "hi"}}, pat), 400,
                        "INVALID_PARAMETER_VALUE");
        check_api_error(invoke(*client, "agent", json{{"messages", json::array()}}, pat), 400,
                        "INVALID_PARAMETER_VALUE");
        check_api_error(invoke(*client, "responses", json{{"messages", json::array()}}, pat), 400,
                        "INVALID_PARAMETER_VALUE");
        check_api_error(invoke(*client, "embeddings", json{{"input", {1, 2}}}, pat), 400,
                        "INVALID_PARAMETER_VALUE");
        check_api_error(invoke(*client, "tabular", json{{"instances", {1}}, {"inputs", {1}}}, pat),
                        400, "INVALID_PARAMETER_VALUE");
        check_api_error(invoke(*client, "chat", json::array({1, 2}), pat), 400,
                        "INVALID_PARAMETER_VALUE");
        check_api_error(
            invoke(*client, "chat",
                   json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", 0}},
                   pat),
            400, "INVALID_PARAMETER_VALUE");
    }

    SUBCASE("wrong content type") {
        auto res = client->Post("/serving-endpoints/chat/invocations",
                                {{"Authorization", "Bearer " + pat}}, "hi", "text/plain");
        check_api_error(res, 400, "BAD_REQUEST");
    }
}

TEST_CASE("emulator: counts token requests and invocation attempts") {
    emu::emulator_options options;
    tls_emulator emulator(options);
    auto client = emulator.client();
    const std::string chat = R"({"messages":[{"role":"user","content":"hi"}]})";

    CHECK(emulator.server->token_requests() == 0);
    const std::string token = fetch_token(*client);
    post_token(*client, "grant_type=client_credentials", {{"Authorization", basic("x", "y")}});
    CHECK(emulator.server->token_requests() == 2);

    invoke(*client, "chat", chat, token);
    invoke(*client, "chat", chat, "bad-token");
    invoke(*client, "chat", "{", token);
    invoke(*client, "embeddings", json{{"input", "x"}}, token);
    CHECK(emulator.server->invocations("chat") == 3);
    CHECK(emulator.server->invocations("embeddings") == 1);
    CHECK(emulator.server->invocations("agent") == 0);
    CHECK(emulator.server->token_requests() == 2);
}

TEST_CASE("emulator: records what clients sent") {
    tls_emulator emulator;
    auto client = emulator.client();

    auto res = client->Post(
        "/serving-endpoints/chat/invocations",
        {{"Authorization", "Bearer " + pat}, {"X-Databricks-Workspace-Id", "1234567890"}},
        R"({"messages":[{"role":"user","content":"hi"}]})", "application/json");
    REQUIRE(res);

    const auto requests = emulator.server->requests();
    REQUIRE(requests.size() == 1);
    const emu::recorded_request& r = requests[0];
    CHECK(r.method == "POST");
    CHECK(r.path == "/serving-endpoints/chat/invocations");
    CHECK(r.header("x-databricks-workspace-id") == "1234567890");
    CHECK(r.header("AUTHORIZATION") == "Bearer " + pat);
    CHECK(r.header("content-type") == "application/json");
    CHECK_FALSE(r.has_header("REMOTE_ADDR"));
    CHECK(r.body == R"({"messages":[{"role":"user","content":"hi"}]})");
    CHECK(r.request_id == res->get_header_value("x-request-id"));
    CHECK(r.status == 200);

    REQUIRE(client->Get("/.well-known/databricks-config?probe=1&x=%20"));
    CHECK(emulator.server->requests().back().query == "probe=1&x=%20");
    CHECK(emulator.server->requests().back().path == "/.well-known/databricks-config");

    emulator.server->clear_requests();
    CHECK(emulator.server->requests().empty());
}

TEST_CASE("emulator: request log lines leave credentials out") {
    auto lines = std::make_shared<std::vector<std::string>>();
    auto lines_mu = std::make_shared<std::mutex>();
    emu::emulator_options options;
    options.log = [lines, lines_mu](const std::string& line) {
        std::lock_guard<std::mutex> lock(*lines_mu);
        lines->push_back(line);
    };
    tls_emulator emulator(options);
    auto client = emulator.client();

    const std::string token = fetch_token(*client, options);
    REQUIRE(invoke(*client, "chat", R"({"messages":[{"role":"user","content":"hi"}]})", token));
    REQUIRE(client->Post("/oidc/v1/token", {},
                         "grant_type=client_credentials&client_id=" + options.client_id +
                             "&client_secret=" + options.client_secret,
                         "application/x-www-form-urlencoded"));
    emulator.server->stop();

    std::lock_guard<std::mutex> lock(*lines_mu);
    REQUIRE(lines->size() == 3);
    CHECK((*lines)[1].find("POST /serving-endpoints/chat/invocations -> 200") == 0);
    for (const auto& line : *lines) {
        CAPTURE(line);
        CHECK(line.find(token) == std::string::npos);
        CHECK(line.find(options.client_secret) == std::string::npos);
        CHECK(line.find(base64(options.client_id + ":" + options.client_secret)) ==
              std::string::npos);
    }
}

TEST_CASE("emulator: every response carries a unique x-request-id") {
    tls_emulator emulator;
    auto client = emulator.client();
    std::set<std::string> ids;
    const std::vector<httplib::Result> results = [&] {
        std::vector<httplib::Result> out;
        out.push_back(client->Get("/.well-known/databricks-config"));
        out.push_back(client->Get("/oidc/.well-known/oauth-authorization-server"));
        out.push_back(post_token(*client, "grant_type=client_credentials", {}));
        out.push_back(
            invoke(*client, "chat", R"({"messages":[{"role":"user","content":"x"}]})", pat));
        out.push_back(invoke(*client, "chat", "{", pat));
        out.push_back(client->Get("/nowhere"));
        return out;
    }();
    for (const auto& res : results) {
        REQUIRE(res);
        const std::string id = res->get_header_value("x-request-id");
        CHECK(id.size() == 36);
        ids.insert(id);
    }
    CHECK(ids.size() == results.size());
}

TEST_CASE("emulator: accepts the requests the official SDKs send") {
    emu::emulator_options options;
    tls_emulator emulator(options);
    auto client = emulator.client();
    const std::string query = R"({"messages": [{"content": "Hello agent!", "role": "user"}]})";

    SUBCASE("Python SDK, OAuth M2M (traces/py-sdk-m2m.txt)") {
        const httplib::Headers common = {
            {"User-Agent", "unknown/0.0.0 databricks-sdk-py/0.133.0 python/3.11.2 os/linux"},
            {"Accept-Encoding", "gzip, deflate"},
            {"Accept", "*/*"},
            {"Connection", "keep-alive"}};
        CHECK(client->Get("/.well-known/databricks-config", common)->status == 200);
        CHECK(client->Get("/oidc/.well-known/oauth-authorization-server", common)->status == 200);

        httplib::Headers token_headers = common;
        token_headers.emplace("Authorization", basic(options.client_id, options.client_secret));
        auto token =
            post_token(*client, "grant_type=client_credentials&scope=all-apis", token_headers);
        REQUIRE(token);
        REQUIRE(token->status == 200);

        httplib::Headers query_headers = {
            {"User-Agent",
             "unknown/0.0.0 databricks-sdk-py/0.133.0 python/3.11.2 os/linux auth/oauth-m2m"},
            {"Accept-Encoding", "gzip, deflate"},
            {"Accept", "application/json"},
            {"Connection", "keep-alive"},
            {"X-Databricks-Workspace-Id", "1234567890"},
            {"Authorization", "Bearer " + body_of(token)["access_token"].get<std::string>()}};
        for (int i = 0; i < 2; ++i) {
            auto res = client->Post("/serving-endpoints/chat/invocations", query_headers, query,
                                    "application/json");
            REQUIRE(res);
            CHECK(res->status == 200);
            CHECK(body_of(res)["choices"][0]["message"]["content"] == "Echo: Hello agent!");
        }
    }

    SUBCASE("JS SDK, OAuth M2M (traces/js-sdk-m2m.txt)") {
        CHECK(client
                  ->Get("/oidc/.well-known/oauth-authorization-server",
                        {{"Connection", "keep-alive"}})
                  ->status == 200);
        auto token = post_token(*client, "scope=all-apis&grant_type=client_credentials",
                                {{"authorization", basic(form_escape(options.client_id),
                                                         form_escape(options.client_secret))}});
        REQUIRE(token);
        REQUIRE(token->status == 200);

        auto res = client->Post(
            "/serving-endpoints/chat/invocations",
            {{"accept", "application/json"},
             {"authorization", "Bearer " + body_of(token)["access_token"].get<std::string>()},
             {"user-agent",
              "unknown/0.0.0 databricks-sdk-js/0.17.0 nodejs/20.20.2 os/linux auth/oauth-m2m"}},
            R"({"messages":[{"role":"user","content":"Hello agent!"}]})", "application/json");
        REQUIRE(res);
        CHECK(res->status == 200);
    }
}

TEST_CASE("emulator: a request hook can answer in the emulator's place") {
    tls_emulator emulator;
    auto client = emulator.client();
    const std::string chat = R"({"messages":[{"role":"user","content":"hi"}]})";

    std::atomic<int> remaining{2};
    emulator.server->set_request_hook(
        [&remaining](const emu::recorded_request& r) -> std::optional<emu::canned_reply> {
            if (r.path != "/serving-endpoints/chat/invocations" || remaining-- <= 0) {
                return std::nullopt;
            }
            return emu::canned_reply{503, {{"Retry-After", "1"}}, R"({"error_code":"X"})"};
        });

    auto first = invoke(*client, "chat", chat, pat);
    REQUIRE(first);
    CHECK(first->status == 503);
    CHECK(first->get_header_value("Retry-After") == "1");
    CHECK_FALSE(first->get_header_value("x-request-id").empty());
    CHECK(invoke(*client, "chat", chat, pat)->status == 503);
    CHECK(invoke(*client, "chat", chat, pat)->status == 200);
    CHECK(emulator.server->invocations("chat") == 3);

    emulator.server->set_request_hook(
        [](const emu::recorded_request&) -> std::optional<emu::canned_reply> {
            throw std::runtime_error("hook failed");
        });
    check_api_error(invoke(*client, "chat", chat, pat), 500, "INTERNAL_ERROR");
    CHECK(emulator.server->requests().back().status == 500);

    emulator.server->set_request_hook(nullptr);
    CHECK(invoke(*client, "chat", chat, pat)->status == 200);
}

TEST_CASE("emulator: a client that trusts another CA refuses the server") {
    tls_emulator emulator;
    std::string error;
    const std::string other_ca = emulator.dir.path + "/other-ca.pem";
    REQUIRE_MESSAGE(emu::generate_unrelated_ca(other_ca, error), error);

    httplib::SSLClient client("127.0.0.1", emulator.server->port());
    client.set_ca_cert_path(other_ca);
    client.enable_server_certificate_verification(true);
    configure(client);
    auto res = client.Get("/.well-known/databricks-config");
    CHECK_FALSE(res);
    CHECK(res.error() == httplib::Error::SSLServerVerification);
}

TEST_CASE("emulator: refuses to listen beyond loopback") {
    for (const char* host : {"0.0.0.0", "::", "192.168.1.10", "localhost", "example.com", ""}) {
        CAPTURE(host);
        emu::emulator_options options;
        options.bind_host = host;
        emu::workspace_emulator emulator(options);
        CHECK_FALSE(emulator.start());
        CHECK(emulator.last_error().find("loopback") != std::string::npos);
        CHECK_FALSE(emulator.running());
    }

    emu::emulator_options other_loopback;
    other_loopback.bind_host = "127.0.0.2";
    emu::workspace_emulator emulator(other_loopback);
    if (emulator.start()) {
        CHECK(emulator.url().rfind("http://127.0.0.2:", 0) == 0);
    }
}

TEST_CASE("emulator: serves plain HTTP on loopback") {
    emu::emulator_options options;
    emu::workspace_emulator emulator(options);
    REQUIRE_MESSAGE(emulator.start(), emulator.last_error());
    CHECK_FALSE(emulator.uses_tls());
    CHECK(emulator.url() == "http://127.0.0.1:" + std::to_string(emulator.port()));

    httplib::ClientImpl client("127.0.0.1", emulator.port());
    configure(client);
    CHECK(body_of(client.Get("/.well-known/databricks-config"))["oidc_endpoint"] ==
          emulator.url() + "/oidc");
    const std::string token = fetch_token(client, options);
    CHECK(invoke(client, "tabular", json{{"instances", {{1, 2}}}}, token)->status == 200);

    SUBCASE("and on IPv6 loopback where available") {
        emu::emulator_options v6;
        v6.bind_host = "::1";
        emu::workspace_emulator emulator6(v6);
        if (!emulator6.start()) {
            MESSAGE("IPv6 loopback unavailable: " << emulator6.last_error());
            return;
        }
        CHECK(emulator6.url() == "http://[::1]:" + std::to_string(emulator6.port()));
        httplib::ClientImpl client6("::1", emulator6.port());
        configure(client6);
        auto res = client6.Get("/.well-known/databricks-config");
        REQUIRE(res);
        CHECK(res->status == 200);
    }
}

TEST_CASE("emulator: start, stop and restart") {
    emu::workspace_emulator emulator;
    REQUIRE(emulator.start());
    CHECK(emulator.running());
    CHECK_FALSE(emulator.start());
    CHECK(emulator.last_error().find("already running") != std::string::npos);

    emulator.stop();
    emulator.stop();
    CHECK_FALSE(emulator.running());
    CHECK(emulator.url().empty());

    REQUIRE(emulator.start());
    httplib::ClientImpl client("127.0.0.1", emulator.port());
    configure(client);
    auto res = client.Get("/.well-known/databricks-config");
    REQUIRE(res);
    CHECK(res->status == 200);
}

TEST_CASE("emulator: refuses a port that is already in use") {
    emu::workspace_emulator first;
    REQUIRE(first.start());

    emu::emulator_options options;
    options.port = first.port();
    emu::workspace_emulator second(options);
    CHECK_FALSE(second.start());
    CHECK_FALSE(second.last_error().empty());
}

#ifndef _WIN32
namespace {

// A raw loopback connection that sends only `prefix`, as a stalled client would.
struct stalled_connection {
    int fd = -1;

    stalled_connection(int port, const std::string& prefix) {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        timeval timeout{2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
        REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        if (!prefix.empty()) {
            REQUIRE(::send(fd, prefix.data(), prefix.size(), 0) ==
                    static_cast<ssize_t>(prefix.size()));
        }
    }
    ~stalled_connection() { ::close(fd); }

    // True once the server has closed its end, gracefully or with a reset; false when
    // the receive timeout hits first.
    bool closed_by_server() const {
        char buffer[256];
        ssize_t n = 0;
        while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
        }
        return n == 0 || errno == ECONNRESET;
    }
};

} // namespace

TEST_CASE("emulator: stop() does not wait for connections clients keep open") {
    using clock = std::chrono::steady_clock;

    SUBCASE("an idle keep-alive connection and a silent TLS handshake") {
        tls_emulator emulator;
        auto idle = emulator.client();
        idle->set_keep_alive(true);
        REQUIRE(idle->Get("/.well-known/databricks-config"));
        stalled_connection silent(emulator.server->port(), "");

        const auto started = clock::now();
        emulator.server->stop();
        CHECK(clock::now() - started < std::chrono::seconds(1));
        CHECK(silent.closed_by_server());
        CHECK_FALSE(idle->Get("/.well-known/databricks-config"));
    }

    SUBCASE("a request whose body never arrives") {
        emu::workspace_emulator emulator;
        REQUIRE(emulator.start());
        stalled_connection half(emulator.port(),
                                "POST /oidc/v1/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Content-Length: 100\r\n\r\ngrant_type=");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));

        const auto started = clock::now();
        emulator.stop();
        CHECK(clock::now() - started < std::chrono::seconds(1));
        CHECK(half.closed_by_server());
    }
}
#endif

TEST_CASE("emulator: many concurrent keep-alive TLS connections") {
    tls_emulator emulator;
    constexpr int connections = 24;
    constexpr int requests_each = 20;
    const std::string chat = R"({"messages":[{"role":"user","content":"hi"}]})";

    std::atomic<int> ok{0};
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < connections; ++t) {
        threads.emplace_back([&] {
            auto client = emulator.client();
            client->set_keep_alive(true);
            for (int i = 0; i < requests_each; ++i) {
                auto res = invoke(*client, "chat", chat, pat);
                if (res && res->status == 200) {
                    ++ok;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    const auto elapsed = std::chrono::steady_clock::now() - started;

    CHECK(ok == connections * requests_each);
    CHECK(emulator.server->invocations("chat") ==
          static_cast<std::size_t>(connections * requests_each));
    // Generous: this takes well under a second unless connections queue or stall.
    CHECK(elapsed < std::chrono::seconds(10));
}

// ----------------------------------------------------------------------------------
// Streams and faults

namespace {

using test_clock = std::chrono::steady_clock;

// The data payloads of an SSE body, in order; comment blocks (": keep-alive") are
// skipped. Every block must be a single data line and the body must end on a boundary.
std::vector<std::string> sse_data(const std::string& body) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < body.size()) {
        const std::size_t end = body.find("\n\n", pos);
        REQUIRE_MESSAGE(end != std::string::npos, "unterminated event: " << body.substr(pos));
        const std::string block = body.substr(pos, end - pos);
        pos = end + 2;
        if (block.front() == ':') {
            continue;
        }
        REQUIRE_MESSAGE(block.rfind("data: ", 0) == 0, block);
        REQUIRE_MESSAGE(block.find('\n') == std::string::npos, block);
        out.push_back(block.substr(6));
    }
    return out;
}

std::vector<json> sse_json(const std::vector<std::string>& data) {
    std::vector<json> out;
    for (const auto& d : data) {
        if (d != "[DONE]") {
            out.push_back(json::parse(d));
        }
    }
    return out;
}

httplib::Result stream(httplib::ClientImpl& client, const std::string& endpoint, json body,
                       const std::string& token = pat) {
    body["stream"] = true;
    return client.Post("/serving-endpoints/" + endpoint + "/invocations",
                       {{"Authorization", "Bearer " + token}, {"Accept", "text/event-stream"}},
                       body.dump(), "application/json");
}

// The concatenated deltas of a chat stream, checking the chunk envelope on the way.
std::string chat_text(const std::vector<json>& chunks) {
    std::string text;
    for (const json& c : chunks) {
        CHECK(c["object"] == "chat.completion.chunk");
        CHECK(c["id"] == chunks.front()["id"]);
        for (const json& choice : c["choices"]) {
            text += choice["delta"].value("content", "");
        }
    }
    return text;
}

const json hello = {{"messages", {{{"role", "user"}, {"content", "Hello  streaming\tworld"}}}}};

emu::fault_scope on(const std::string& target, int count) {
    return emu::fault_scope{target, count};
}

} // namespace

TEST_CASE("emulator: streams chat, agent and responses replies as server-sent events") {
    tls_emulator emulator;
    auto client = emulator.client();

    SUBCASE("chat") {
        json request = hello;
        request["stream_options"] = {{"include_usage", true}};
        const json plain = body_of(invoke(*client, "chat", hello, pat));
        const std::string text = plain["choices"][0]["message"]["content"];
        CHECK(text == "Echo: Hello  streaming\tworld");

        auto res = stream(*client, "chat", request);
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->get_header_value("Content-Type") == "text/event-stream");
        CHECK_FALSE(res->get_header_value("x-request-id").empty());
        const auto data = sse_data(res->body);
        REQUIRE(data.size() >= 4);
        CHECK(data.back() == "[DONE]");
        const auto chunks = sse_json(data);
        // role, one chunk per word, finish, usage
        REQUIRE(chunks.size() == 1 + 4 + 1 + 1);
        CHECK(chunks[0]["choices"][0]["delta"] == json{{"role", "assistant"}, {"content", ""}});
        CHECK(chunks[1]["choices"][0]["delta"]["content"] == "Echo:");
        CHECK(chunks[2]["choices"][0]["delta"]["content"] == " Hello");
        CHECK(chat_text(chunks) == text);
        CHECK(chunks[5]["choices"][0]["finish_reason"] == "stop");
        CHECK(chunks[5]["choices"][0]["delta"] == json::object());
        CHECK(chunks[6]["choices"] == json::array());
        CHECK(chunks[6]["usage"] == plain["usage"]);
        CHECK(chunks[1]["usage"].is_null());
        CHECK(emulator.server->processed("chat") == 2);

        SUBCASE("usage only on request") {
            const auto without = sse_json(sse_data(stream(*client, "chat", hello)->body));
            CHECK(without.size() == 6);
            CHECK_FALSE(without.back().contains("usage"));
        }

        SUBCASE("through the OpenAI-compatible route") {
            json openai = hello;
            openai["model"] = "chat";
            openai["stream"] = true;
            auto res = client->Post("/serving-endpoints/chat/completions",
                                    {{"Authorization", "Bearer " + pat}}, openai.dump(),
                                    "application/json");
            REQUIRE(res);
            const auto data = sse_data(res->body);
            CHECK(data.back() == "[DONE]");
            CHECK(chat_text(sse_json(data)) == text);
        }
    }

    SUBCASE("agent") {
        json request = hello;
        request["custom_inputs"] = {{"k", 1}};
        const json plain = body_of(invoke(*client, "agent", request, pat));
        const std::string text = plain["messages"][0]["content"];

        auto res = stream(*client, "agent", request);
        REQUIRE(res);
        CHECK(res->status == 200);
        const auto data = sse_data(res->body);
        CHECK(data.back() == "[DONE]");
        const auto chunks = sse_json(data);
        REQUIRE(chunks.size() == 4 + 1);
        std::string joined;
        for (const json& c : chunks) {
            CHECK(c["delta"]["role"] == "assistant");
            CHECK(c["delta"]["id"] == chunks[0]["delta"]["id"]);
            joined += c["delta"]["content"].get<std::string>();
        }
        CHECK(joined == text);
        CHECK_FALSE(chunks[0].contains("finish_reason"));
        CHECK(chunks.back()["finish_reason"] == "stop");
        CHECK(chunks.back()["custom_outputs"] == json{{"k", 1}});
    }

    SUBCASE("responses") {
        const json request = {{"input", "Hello  streaming\tworld"}};
        const json plain = body_of(invoke(*client, "responses", request, pat));
        const std::string text = plain["output"][0]["content"][0]["text"];

        auto res = stream(*client, "responses", request);
        REQUIRE(res);
        CHECK(res->status == 200);
        const auto data = sse_data(res->body);
        CHECK(data.back() == "[DONE]");
        const auto events = sse_json(data);
        REQUIRE(events.size() == 4 + 2);
        std::string joined;
        for (std::size_t i = 0; i < 4; ++i) {
            CHECK(events[i]["type"] == "response.output_text.delta");
            CHECK(events[i]["item_id"] == events[4]["item"]["id"]);
            CHECK(events[i]["output_index"] == 0);
            CHECK(events[i]["content_index"] == 0);
            joined += events[i]["delta"].get<std::string>();
        }
        CHECK(joined == text);
        CHECK(events[4]["type"] == "response.output_item.done");
        CHECK(events[4]["item"]["content"][0]["text"] == text);
        CHECK(events[5]["type"] == "response.completed");
        CHECK(events[5]["response"]["status"] == "completed");
        CHECK(events[5]["response"]["output"][0] == events[4]["item"]);
        CHECK(events[5]["response"]["usage"] == plain["usage"]);
    }

    SUBCASE("errors are plain JSON, not events") {
        auto missing = stream(*client, "nope", hello);
        check_api_error(missing, 404, "RESOURCE_DOES_NOT_EXIST");
        CHECK(missing->get_header_value("Content-Type") == "application/json");
        check_api_error(stream(*client, "chat", hello, "bad-token"), 401, "UNAUTHENTICATED");
        json bad = hello;
        bad["stream_options"] = {{"include_usage", "yes"}};
        check_api_error(stream(*client, "chat", bad), 400, "INVALID_PARAMETER_VALUE");
        bad = hello;
        bad["stream"] = "yes";
        check_api_error(invoke(*client, "chat", bad, pat), 400, "INVALID_PARAMETER_VALUE");
        CHECK(emulator.server->processed("chat") == 0);
    }
}

TEST_CASE("emulator: a paced stream sends each event as it is ready") {
    using std::chrono::milliseconds;
    constexpr milliseconds pace{40};
    tls_emulator emulator;
    emu::fault_plan plan;
    plan.pace_stream = {on("chat", -1), pace};
    emulator.server->set_fault_plan(plan);
    auto client = emulator.client();

    httplib::Request req;
    req.method = "POST";
    req.path = "/serving-endpoints/chat/invocations";
    req.headers = {{"Authorization", "Bearer " + pat}, {"Content-Type", "application/json"}};
    json body = {{"messages", {{{"role", "user"}, {"content", "a b"}}}}, {"stream", true}};
    req.body = body.dump();
    std::vector<std::pair<test_clock::time_point, std::string>> pieces;
    req.content_receiver = [&pieces](const char* data, std::size_t n, std::uint64_t,
                                     std::uint64_t) {
        pieces.emplace_back(test_clock::now(), std::string(data, n));
        return true;
    };
    httplib::Response res;
    httplib::Error error = httplib::Error::Success;
    const auto started = test_clock::now();
    REQUIRE(client->send(req, res, error));
    const auto elapsed = test_clock::now() - started;
    CHECK(res.status == 200);

    std::string raw;
    for (const auto& p : pieces) {
        raw += p.second;
    }
    const auto data = sse_data(raw);
    // role, "Echo:", " a", " b", finish, [DONE]: five pauses between six events
    REQUIRE(data.size() == 6);
    CHECK(data.back() == "[DONE]");
    CHECK(chat_text(sse_json(data)) == "Echo: a b");
    CHECK(raw.find(": keep-alive\n\n") != std::string::npos);
    CHECK(elapsed >= 5 * pace);
    // The first event arrived while the rest were still being paced out.
    REQUIRE(pieces.size() >= 2);
    CHECK(pieces.back().first - pieces.front().first >= 4 * pace);
}

TEST_CASE("emulator: 429 and 503 faults answer before the model") {
    emu::emulator_options options;
    options.faults.status_429 = {on("chat", 3), 2, false};
    tls_emulator emulator(options);
    auto client = emulator.client();
    const json chat = hello;

    SUBCASE("three 429s with Retry-After, then success") {
        CHECK(invoke(*client, "embeddings", json{{"input", "x"}}, pat)->status == 200);
        for (int i = 0; i < 3; ++i) {
            auto res = invoke(*client, "chat", chat, pat);
            check_api_error(res, 429, "REQUEST_LIMIT_EXCEEDED");
            CHECK(res->get_header_value("Retry-After") == "2");
        }
        auto ok = invoke(*client, "chat", chat, pat);
        REQUIRE(ok);
        CHECK(ok->status == 200);
        CHECK_FALSE(ok->has_header("Retry-After"));
        CHECK(emulator.server->invocations("chat") == 4);
        CHECK(emulator.server->processed("chat") == 1);
        CHECK(emulator.server->faults().status_429.scope.count == 0);
    }

    SUBCASE("Retry-After as an HTTP-date") {
        emu::fault_plan plan;
        plan.status_429 = {on("*", 1), 5, true};
        emulator.server->set_fault_plan(plan);
        auto res = stream(*client, "chat", chat);
        check_api_error(res, 429, "REQUEST_LIMIT_EXCEEDED");
        const std::string date = res->get_header_value("Retry-After");
        CAPTURE(date);
        CHECK(date.size() == 29); // "Sun, 06 Nov 1994 08:49:37 GMT"
        CHECK(date.substr(3, 2) == ", ");
        CHECK(date.substr(26) == "GMT");
        CHECK(emulator.server->processed("chat") == 0);
    }

    SUBCASE("503, with and without Retry-After, on endpoints and the token endpoint") {
        emu::fault_plan plan;
        plan.status_503 = {on("*", 2), std::nullopt, false};
        emulator.server->set_fault_plan(plan);
        auto first = invoke(*client, "agent", chat, pat);
        check_api_error(first, 503, "TEMPORARILY_UNAVAILABLE");
        CHECK_FALSE(first->has_header("Retry-After"));
        check_api_error(post_token(*client, "grant_type=client_credentials", {}), 503,
                        "TEMPORARILY_UNAVAILABLE");
        CHECK(invoke(*client, "agent", chat, pat)->status == 200);
        CHECK(emulator.server->processed("agent") == 1);

        plan.status_503 = {on("token", -1), 7, false};
        emulator.server->set_fault_plan(plan);
        CHECK(invoke(*client, "agent", chat, pat)->status == 200);
        auto token = post_token(*client, "grant_type=client_credentials", {});
        check_api_error(token, 503, "TEMPORARILY_UNAVAILABLE");
        CHECK(token->get_header_value("Retry-After") == "7");
    }
}

TEST_CASE("emulator: a reset mid-body fails the client after the model ran") {
    tls_emulator emulator;
    auto client = emulator.client();
    emu::fault_plan plan;
    plan.reset_mid_body = on("chat", 1);
    emulator.server->set_fault_plan(plan);

    SUBCASE("plain reply") {
        auto res = invoke(*client, "chat", hello, pat);
        CHECK_FALSE(res);
        CHECK(res.error() == httplib::Error::Read);
    }

    SUBCASE("stream") {
        auto res = stream(*client, "chat", hello);
        CHECK_FALSE(res);
        CHECK(res.error() == httplib::Error::Read);
    }

    CHECK(emulator.server->invocations("chat") == 1);
    CHECK(emulator.server->processed("chat") == 1);
    CHECK(emulator.server->requests().back().status == 200);
    // The fault was used up: the next attempt gets the whole reply.
    auto again = invoke(*client, "chat", hello, pat);
    REQUIRE(again);
    CHECK(again->status == 200);
    CHECK(emulator.server->processed("chat") == 2);
}

TEST_CASE("emulator: a stall before headers times clients out without blocking others") {
    using std::chrono::milliseconds;
    tls_emulator emulator;
    emu::fault_plan plan;
    plan.stall_before_headers = {on("chat", 1), milliseconds(500)};
    emulator.server->set_fault_plan(plan);

    auto stalled = emulator.client();
    stalled->set_read_timeout(0, 100000);
    const auto started = test_clock::now();
    auto res = invoke(*stalled, "chat", hello, pat);
    CHECK_FALSE(res);
    CHECK(test_clock::now() - started < milliseconds(450));

    // The stalled request still holds its worker; others are served meanwhile.
    auto other = emulator.client();
    const auto other_started = test_clock::now();
    CHECK(invoke(*other, "chat", hello, pat)->status == 200);
    CHECK(test_clock::now() - other_started < milliseconds(300));

    const auto stopping = test_clock::now();
    emulator.server->stop();
    CHECK(test_clock::now() - stopping < std::chrono::seconds(1));
    // stop() cut the stall short, so the stalled request never reached the model.
    CHECK(emulator.server->processed("chat") == 1);
    CHECK(emulator.server->invocations("chat") == 2);
}

TEST_CASE("emulator: a stall during the body delays the rest of it") {
    using std::chrono::milliseconds;
    constexpr milliseconds stall{150};
    tls_emulator emulator;
    emu::fault_plan plan;
    plan.stall_during_body = {on("*", -1), stall};
    emulator.server->set_fault_plan(plan);
    auto client = emulator.client();

    auto started = test_clock::now();
    const json plain = body_of(invoke(*client, "chat", hello, pat));
    CHECK(test_clock::now() - started >= stall);
    CHECK(plain["choices"][0]["message"]["content"] == "Echo: Hello  streaming\tworld");

    started = test_clock::now();
    auto res = stream(*client, "responses", json{{"input", "a b"}});
    REQUIRE(res);
    CHECK(test_clock::now() - started >= stall);
    CHECK(sse_data(res->body).back() == "[DONE]");
}

TEST_CASE("emulator: token endpoint failures and hangs") {
    using std::chrono::milliseconds;
    emu::emulator_options options;
    tls_emulator emulator(options);
    auto client = emulator.client();
    const std::string form = "grant_type=client_credentials";
    const httplib::Headers auth = {
        {"Authorization", basic(options.client_id, options.client_secret)}};

    SUBCASE("failures") {
        emu::fault_plan plan;
        plan.token_fail = {2, 500};
        emulator.server->set_fault_plan(plan);
        for (int i = 0; i < 2; ++i) {
            auto res = post_token(*client, form, auth);
            REQUIRE(res);
            CHECK(res->status == 500);
            CHECK(body_of(res)["error"] == "server_error");
        }
        CHECK(post_token(*client, form, auth)->status == 200);

        plan.token_fail = {1, 503};
        emulator.server->set_fault_plan(plan);
        CHECK(invoke(*client, "chat", hello, pat)->status == 200); // not a token request
        auto res = post_token(*client, form, auth);
        REQUIRE(res);
        CHECK(res->status == 503);
        CHECK(body_of(res)["error"] == "temporarily_unavailable");
        CHECK(emulator.server->token_requests() == 4);
    }

    SUBCASE("a hang shorter than the client's timeout") {
        emu::fault_plan plan;
        plan.token_hang = {1, milliseconds(200)};
        emulator.server->set_fault_plan(plan);
        const auto started = test_clock::now();
        CHECK(post_token(*client, form, auth)->status == 200);
        CHECK(test_clock::now() - started >= milliseconds(200));
    }

    SUBCASE("a hang longer than the client's timeout") {
        emu::fault_plan plan;
        plan.token_hang = {-1, milliseconds(400)};
        emulator.server->set_fault_plan(plan);
        client->set_read_timeout(0, 100000);
        CHECK_FALSE(post_token(*client, form, auth));
        const auto stopping = test_clock::now();
        emulator.server->stop();
        CHECK(test_clock::now() - stopping < std::chrono::seconds(1));
    }
}

TEST_CASE("emulator: streams that end early or with an error event") {
    tls_emulator emulator;
    auto client = emulator.client();
    emu::fault_plan plan;

    SUBCASE("without [DONE]") {
        plan.stream_without_done = on("agent", 1);
        emulator.server->set_fault_plan(plan);
        auto res = stream(*client, "agent", hello);
        REQUIRE(res);
        CHECK(res->status == 200);
        const auto data = sse_data(res->body);
        REQUIRE_FALSE(data.empty());
        CHECK(data.back() != "[DONE]");
        CHECK(json::parse(data.back())["finish_reason"] == "stop");
        // Plain replies do not use up a stream fault.
        emulator.server->set_fault_plan(plan);
        CHECK(invoke(*client, "agent", hello, pat)->status == 200);
        CHECK(emulator.server->faults().stream_without_done.count == 1);
    }

    SUBCASE("an error event after two chunks") {
        plan.stream_error_event.scope = on("chat", 1);
        plan.stream_error_event.after_chunks = 2;
        plan.stream_error_event.code = "MODEL_ERROR";
        emulator.server->set_fault_plan(plan);
        auto res = stream(*client, "chat", hello);
        REQUIRE(res);
        CHECK(res->status == 200);
        const auto data = sse_data(res->body);
        REQUIRE(data.size() == 3);
        CHECK(json::parse(data[1])["choices"][0]["delta"]["content"] == "Echo:");
        const json error = json::parse(data[2]);
        CHECK(error["error"]["code"] == "MODEL_ERROR");
        CHECK(error["error"]["message"].is_string());
        CHECK(emulator.server->processed("chat") == 1);
        // Only the next stream was hit.
        CHECK(sse_data(stream(*client, "chat", hello)->body).back() == "[DONE]");
    }
}
