#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <dbxserve/auth/oauth_m2m.hpp>

#include "../support/fake_transport.hpp"

using namespace std::chrono_literals;
using dbxserve_test::json_reply;

namespace {

constexpr const char* host = "https://dbc-test.cloud.databricks.com";

// A workspace with discovery documents and a token endpoint that counts and numbers its tokens.
struct fake_workspace {
    std::atomic<int> tokens_issued{0};
    std::atomic<int> token_status{200};
    std::atomic<int> token_delay_ms{0};
    std::string expires_in = "3600";
    bool metadata = true;

    dbxserve::result<dbxserve::http_response> handle(const dbxserve::http_request& r) {
        const std::string url = r.url;
        if (url == std::string(host) + "/.well-known/databricks-config") {
            return metadata ? json_reply(200, R"({"oidc_endpoint":")" + std::string(host) +
                                                  R"(/oidc","workspace_id":"42"})")
                            : json_reply(404, "{}");
        }
        if (url == std::string(host) + "/oidc/.well-known/oauth-authorization-server") {
            return metadata ? json_reply(200, R"({"token_endpoint":")" + std::string(host) +
                                                  R"(/oidc/v1/token"})")
                            : json_reply(404, "{}");
        }
        if (url == std::string(host) + "/oidc/v1/token") {
            std::this_thread::sleep_for(std::chrono::milliseconds(token_delay_ms.load()));
            if (token_status != 200) {
                return json_reply(token_status,
                                  R"({"error":"invalid_client",)"
                                  R"("error_description":"Client authentication failed"})");
            }
            const int n = ++tokens_issued;
            return json_reply(200, R"({"access_token":"tok-)" + std::to_string(n) +
                                       R"(","token_type":"Bearer","expires_in":)" + expires_in +
                                       "}");
        }
        return json_reply(404, R"({"error_code":"ENDPOINT_NOT_FOUND"})");
    }
};

struct fixture {
    fake_workspace workspace;
    dbxserve_test::manual_clock clock;
    dbxserve_test::fake_transport transport{
        [this](const dbxserve::http_request& r) { return workspace.handle(r); }};

    dbxserve::oauth_m2m make_policy(bool async_refresh = true) {
        dbxserve::oauth_m2m_options o;
        o.host = host;
        o.client_id = "sp-id";
        o.client_secret = "sp-secret-value";
        o.async_refresh = async_refresh;
        o.clock = [this] { return clock.now(); };
        dbxserve::oauth_m2m policy(std::move(o));
        auto t = transport;
        policy.bind([t](const dbxserve::http_request& r) { return t.send(r); }, {});
        return policy;
    }
};

template <class Predicate>
bool eventually(Predicate p) {
    for (int i = 0; i < 400; ++i) { // at most 2 s
        if (p()) {
            return true;
        }
        std::this_thread::sleep_for(5ms);
    }
    return false;
}

} // namespace

TEST_CASE("oauth_m2m: discovery, client credentials grant and Basic authentication") {
    fixture f;
    auto policy = f.make_policy();

    auto header = policy.authorization();
    REQUIRE(header.ok());
    CHECK(*header == "Bearer tok-1");

    const auto requests = f.transport.requests();
    REQUIRE(requests.size() == 3);
    CHECK(requests[0].url == std::string(host) + "/.well-known/databricks-config");
    CHECK(requests[1].url == std::string(host) + "/oidc/.well-known/oauth-authorization-server");
    CHECK(requests[2].url == std::string(host) + "/oidc/v1/token");
    CHECK(requests[2].method == "POST");
    CHECK(requests[2].headers.get("Content-Type") == "application/x-www-form-urlencoded");
    // base64("sp-id:sp-secret-value")
    CHECK(requests[2].headers.get("Authorization") == "Basic c3AtaWQ6c3Atc2VjcmV0LXZhbHVl");
    CHECK(requests[2].body == "grant_type=client_credentials&scope=all-apis");
    CHECK(policy.discovered_workspace_id() == "42");
}

TEST_CASE("oauth_m2m: the token is cached") {
    fixture f;
    auto policy = f.make_policy();
    for (int i = 0; i < 100; ++i) {
        REQUIRE(policy.authorization().ok());
        f.clock.advance(10s); // 1000 s in all: still outside the stale window
    }
    CHECK(f.workspace.tokens_issued == 1);
    CHECK(policy.token_requests() == 1);
}

TEST_CASE("oauth_m2m: a stale token is refreshed in the background while still served") {
    fixture f;
    auto policy = f.make_policy();
    REQUIRE(*policy.authorization() == "Bearer tok-1");

    // A 3600 s token becomes stale min(1800, 1200) s before expiry, i.e. after 2400 s.
    f.clock.advance(2399s);
    CHECK(*policy.authorization() == "Bearer tok-1");
    CHECK(f.workspace.tokens_issued == 1);

    f.clock.advance(2s);
    CHECK(*policy.authorization() == "Bearer tok-1"); // served while the refresh runs
    REQUIRE(eventually([&] { return f.workspace.tokens_issued == 2; }));
    REQUIRE(eventually([&] { return *policy.authorization() == "Bearer tok-2"; }));
    CHECK(f.workspace.tokens_issued == 2);
}

TEST_CASE("oauth_m2m: a token is never used in its last 40 seconds") {
    fixture f;
    auto policy = f.make_policy(false);
    REQUIRE(*policy.authorization() == "Bearer tok-1");

    f.clock.advance(3559s);
    CHECK(*policy.authorization() == "Bearer tok-1");
    f.clock.advance(2s); // 39 s left
    CHECK(*policy.authorization() == "Bearer tok-2");
}

TEST_CASE("oauth_m2m: many threads at once cause one token request") {
    fixture f;
    f.workspace.token_delay_ms = 100;
    auto policy = f.make_policy();

    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 16; ++i) {
        threads.emplace_back([&] {
            auto header = policy.authorization();
            if (header && *header == "Bearer tok-1") {
                ++ok;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(ok == 16);
    CHECK(f.workspace.tokens_issued == 1);
}

TEST_CASE("oauth_m2m: a refused token request is a typed auth error without the secret") {
    fixture f;
    f.workspace.token_status = 401;
    auto policy = f.make_policy();

    auto header = policy.authorization();
    REQUIRE_FALSE(header.ok());
    CHECK(header.error().kind == dbxserve::error_kind::auth);
    CHECK(header.error().http_status == 401);
    CHECK(header.error().error_code == "invalid_client");
    CHECK(header.error().message == "Client authentication failed");
    CHECK(header.error().to_string().find("sp-secret-value") == std::string::npos);
}

TEST_CASE("oauth_m2m: a failed background refresh waits a minute before the next attempt") {
    fixture f;
    auto policy = f.make_policy();
    REQUIRE(policy.authorization().ok());

    f.workspace.token_status = 503;
    f.clock.advance(2500s); // stale
    CHECK(*policy.authorization() == "Bearer tok-1");
    REQUIRE(eventually([&] { return policy.token_requests() == 2; }));

    // Still within the minute: the failed refresh is not repeated, the valid token is served.
    std::this_thread::sleep_for(20ms);
    f.clock.advance(30s);
    CHECK(*policy.authorization() == "Bearer tok-1");
    std::this_thread::sleep_for(20ms);
    CHECK(policy.token_requests() == 2);

    f.workspace.token_status = 200;
    f.clock.advance(31s);
    CHECK(policy.authorization().ok());
    REQUIRE(eventually([&] { return *policy.authorization() == "Bearer tok-2"; }));
}

TEST_CASE("oauth_m2m: invalidate drops the cached token") {
    fixture f;
    auto policy = f.make_policy();
    REQUIRE(*policy.authorization() == "Bearer tok-1");

    policy.invalidate("Bearer some-other-token"); // not ours: ignored
    CHECK(*policy.authorization() == "Bearer tok-1");

    policy.invalidate("Bearer tok-1");
    CHECK(*policy.authorization() == "Bearer tok-2");
}

TEST_CASE("oauth_m2m: without discovery documents the workspace token path is used") {
    fixture f;
    f.workspace.metadata = false;
    auto policy = f.make_policy();

    REQUIRE(policy.authorization().ok());
    CHECK(f.transport.requests().back().url == std::string(host) + "/oidc/v1/token");
}

TEST_CASE("oauth_m2m: expires_in given as a string is accepted") {
    fixture f;
    f.workspace.expires_in = R"("3600")";
    auto policy = f.make_policy();
    CHECK(policy.authorization().ok());
}

TEST_CASE("oauth_m2m: account hosts use the fixed account token URL") {
    std::vector<std::string> urls;
    dbxserve_test::fake_transport transport([&](const dbxserve::http_request& r) {
        urls.push_back(r.url);
        return json_reply(200, R"({"access_token":"a","token_type":"bearer","expires_in":60})");
    });
    dbxserve::oauth_m2m_options o;
    o.host = "https://accounts.cloud.databricks.com";
    o.account_host = true;
    o.account_id = "acc-1";
    o.client_id = "id";
    o.client_secret = "secret";
    dbxserve::oauth_m2m policy(std::move(o));
    policy.bind([transport](const dbxserve::http_request& r) { return transport.send(r); }, {});

    auto header = policy.authorization();
    REQUIRE(header.ok());
    CHECK(*header == "Bearer a"); // any-case token_type is sent as Bearer
    REQUIRE(urls.size() == 1);
    CHECK(urls[0] == "https://accounts.cloud.databricks.com/oidc/accounts/acc-1/v1/token");
}

TEST_CASE("oauth_m2m: the secret is never sent to a plain-http token endpoint") {
    std::vector<std::string> urls;
    dbxserve_test::fake_transport transport([&](const dbxserve::http_request& r) {
        urls.push_back(r.url);
        return json_reply(200, R"({"token_endpoint":"http://idp.example.com/token"})");
    });
    dbxserve::oauth_m2m_options o;
    o.host = host;
    o.client_id = "id";
    o.client_secret = "secret";
    dbxserve::oauth_m2m policy(std::move(o));
    policy.bind([transport](const dbxserve::http_request& r) { return transport.send(r); }, {});

    auto header = policy.authorization();
    REQUIRE_FALSE(header.ok());
    CHECK(header.error().kind == dbxserve::error_kind::config);
    for (const auto& url : urls) {
        CHECK(url.rfind("http://idp.example.com", 0) != 0);
    }
}
