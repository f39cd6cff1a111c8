#include <dbxserve/proxy.hpp>

#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using dbxserve::environment;
using dbxserve::error_kind;
using dbxserve::proxy_options;
using dbxserve::proxy_route;
using dbxserve::resolve_proxy;
using vars = std::map<std::string, std::string>;

constexpr const char* workspace = "https://adb-123.4.azuredatabricks.net/serving-endpoints/x";

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

// The route for `target`, failing the test when resolution fails.
std::optional<proxy_route> route_for(const proxy_options& options, std::string_view target,
                                     const vars& env) {
    auto resolved = resolve_proxy(options, target, environment::from_map(env));
    REQUIRE_MESSAGE(resolved.ok(), (resolved.ok() ? "" : resolved.error().to_string()));
    return *resolved;
}

std::optional<proxy_route> env_route(std::string_view target, const vars& env) {
    return route_for(proxy_options{}, target, env);
}

// True when NO_PROXY=`list` sends `target` direct although HTTPS_PROXY / http_proxy are set.
bool bypassed(std::string_view list, std::string_view target) {
    return !env_route(target, {{"HTTPS_PROXY", "http://proxy.corp:3128"},
                               {"http_proxy", "http://proxy.corp:3128"},
                               {"NO_PROXY", std::string(list)}})
                .has_value();
}

dbxserve::error failure_for(const proxy_options& options, std::string_view target,
                            const vars& env) {
    auto resolved = resolve_proxy(options, target, environment::from_map(env));
    REQUIRE_FALSE(resolved.ok());
    return resolved.error();
}

} // namespace

TEST_CASE("proxy: nothing configured means a direct connection") {
    CHECK_FALSE(env_route(workspace, {}).has_value());
    CHECK_FALSE(env_route("http://127.0.0.1:8080/x", {}).has_value());
}

TEST_CASE("proxy: an explicit url wins over the environment") {
    proxy_options options;
    options.url = "http://explicit.corp:8080";
    const auto route =
        route_for(options, workspace,
                  {{"https_proxy", "http://env.corp:3128"}, {"ALL_PROXY", "http://all.corp:3128"}});
    REQUIRE(route);
    CHECK(route->host == "explicit.corp");
    CHECK(route->port == 8080);
    CHECK(route->username.empty());
    CHECK(route->password.empty());
}

TEST_CASE("proxy: from_environment=false ignores every variable") {
    proxy_options options;
    options.from_environment = false;
    const vars env = {{"https_proxy", "http://env.corp:3128"},
                      {"ALL_PROXY", "http://all.corp:3128"}};
    CHECK_FALSE(route_for(options, workspace, env).has_value());

    // NO_PROXY from the environment is ignored as well; only options.no_proxy counts.
    options.url = "http://explicit.corp:8080";
    const auto route = route_for(options, workspace, {{"NO_PROXY", "*"}});
    REQUIRE(route);
    CHECK(route->host == "explicit.corp");
}

TEST_CASE("proxy: https targets read https_proxy, lower case first") {
    auto route = env_route(workspace, {{"HTTPS_PROXY", "http://upper.corp:1111"}});
    REQUIRE(route);
    CHECK(route->host == "upper.corp");
    CHECK(route->port == 1111);

    route = env_route(workspace, {{"https_proxy", "http://lower.corp:2222"}});
    REQUIRE(route);
    CHECK(route->host == "lower.corp");

    route = env_route(workspace, {{"HTTPS_PROXY", "http://upper.corp:1111"},
                                  {"https_proxy", "http://lower.corp:2222"}});
    REQUIRE(route);
    CHECK(route->host == "lower.corp");
    CHECK(route->port == 2222);

    // An empty variable counts as unset, so the upper-case one is used.
    route = env_route(workspace, {{"https_proxy", ""}, {"HTTPS_PROXY", "http://upper.corp:1111"}});
    REQUIRE(route);
    CHECK(route->host == "upper.corp");
}

TEST_CASE("proxy: http_proxy is for http targets and HTTP_PROXY is never read") {
    const vars lower = {{"http_proxy", "http://plain.corp:3128"}};
    auto route = env_route("http://127.0.0.1:8080/x", lower);
    REQUIRE(route);
    CHECK(route->host == "plain.corp");
    CHECK_FALSE(env_route(workspace, lower).has_value()); // not for https targets

    // A CGI server sets HTTP_PROXY from the client's "Proxy:" header; curl ignores it.
    CHECK_FALSE(env_route("http://127.0.0.1:8080/x", {{"HTTP_PROXY", "http://evil:1"}}));
    CHECK_FALSE(env_route(workspace, {{"HTTP_PROXY", "http://evil:1"}}).has_value());

    // https_proxy is not for http targets either.
    CHECK_FALSE(env_route("http://127.0.0.1:8080/x", {{"https_proxy", "http://s.corp:1"}}));
}

TEST_CASE("proxy: all_proxy is the fallback, lower case first") {
    auto route = env_route(workspace, {{"ALL_PROXY", "http://all-upper.corp:1"}});
    REQUIRE(route);
    CHECK(route->host == "all-upper.corp");

    route = env_route(workspace, {{"ALL_PROXY", "http://all-upper.corp:1"},
                                  {"all_proxy", "http://all-lower.corp:2"}});
    REQUIRE(route);
    CHECK(route->host == "all-lower.corp");

    route = env_route("http://localhost:8080/", {{"all_proxy", "http://all-lower.corp:2"}});
    REQUIRE(route);
    CHECK(route->host == "all-lower.corp");

    // The scheme's own variable wins over the fallback.
    route = env_route(workspace,
                      {{"all_proxy", "http://all.corp:2"}, {"HTTPS_PROXY", "http://https.corp:3"}});
    REQUIRE(route);
    CHECK(route->host == "https.corp");
}

TEST_CASE("proxy: scheme-less values mean http:// and a missing port means 1080") {
    auto route = env_route(workspace, {{"https_proxy", "proxy.corp:3128"}});
    REQUIRE(route);
    CHECK(route->host == "proxy.corp");
    CHECK(route->port == 3128);

    route = env_route(workspace, {{"https_proxy", "proxy.corp"}});
    REQUIRE(route);
    CHECK(route->host == "proxy.corp");
    CHECK(route->port == 1080);

    route = env_route(workspace, {{"https_proxy", "HTTP://Proxy.Corp/"}});
    REQUIRE(route);
    CHECK(route->host == "proxy.corp");
    CHECK(route->port == 1080);

    route = env_route(workspace, {{"https_proxy", "http://proxy.corp:/"}});
    REQUIRE(route);
    CHECK(route->port == 1080);

    route = env_route(workspace, {{"https_proxy", "http://[fd00::1]:8080"}});
    REQUIRE(route);
    CHECK(route->host == "fd00::1");
    CHECK(route->port == 8080);

    route = env_route(workspace, {{"https_proxy", "[::1]"}});
    REQUIRE(route);
    CHECK(route->host == "::1");
    CHECK(route->port == 1080);
}

TEST_CASE("proxy: user info is percent-decoded and options override it") {
    auto route = env_route(workspace, {{"https_proxy", "http://al%40ice:p%3Ass%2Fw%25rd@proxy:8"}});
    REQUIRE(route);
    CHECK(route->host == "proxy");
    CHECK(route->port == 8);
    CHECK(route->username == "al@ice");
    CHECK(route->password == "p:ss/w%rd");

    route = env_route(workspace, {{"https_proxy", "bob@proxy:8"}});
    REQUIRE(route);
    CHECK(route->username == "bob");
    CHECK(route->password.empty());

    // The last '@' ends the user info, as in curl and urllib.
    route = env_route(workspace, {{"https_proxy", "http://bob:p@ss@proxy:8"}});
    REQUIRE(route);
    CHECK(route->host == "proxy");
    CHECK(route->password == "p@ss");

    proxy_options options;
    options.url = "http://url-user:url-pass@proxy.corp:3128";
    options.username = "opt-user";
    options.password = "opt-pass";
    route = route_for(options, workspace, {});
    REQUIRE(route);
    CHECK(route->username == "opt-user");
    CHECK(route->password == "opt-pass");

    // The overrides apply to a proxy from the environment too, one field at a time.
    proxy_options password_only;
    password_only.password = "from-vault";
    route = route_for(password_only, workspace, {{"https_proxy", "http://svc@proxy.corp:3128"}});
    REQUIRE(route);
    CHECK(route->username == "svc");
    CHECK(route->password == "from-vault");
}

TEST_CASE("proxy: only http:// proxies are accepted") {
    for (const char* value : {"socks5://proxy:1080", "socks5h://u:secret@proxy:1080",
                              "https://proxy:443", "SOCKS4://proxy:1080"}) {
        CAPTURE(value);
        const auto e = failure_for(proxy_options{}, workspace, {{"https_proxy", value}});
        CHECK(e.kind == error_kind::config);
        CHECK(contains(e.message, "only http:// proxies are supported"));
        CHECK(contains(e.message, "https_proxy"));
        CHECK_FALSE(contains(e.message, "secret"));
    }

    proxy_options options;
    options.url = "socks5://proxy:1080";
    const auto e = failure_for(options, workspace, {});
    CHECK(e.kind == error_kind::config);
    CHECK(contains(e.message, "proxy_options.url"));
    CHECK(contains(e.message, "socks5://"));
}

TEST_CASE("proxy: malformed values are config errors that never show the password") {
    for (const char* value : {"http://user:hunter2@proxy:99999", "http://user:hunter2@",
                              "http://user:hunter2@proxy:12ab", "http://us%zzer:hunter2@proxy:1",
                              "http://user:hunter2%@proxy:1", "http://user:hunter2@pro xy:1"}) {
        CAPTURE(value);
        const auto e = failure_for(proxy_options{}, workspace, {{"HTTPS_PROXY", value}});
        CHECK(e.kind == error_kind::config);
        CHECK(contains(e.message, "HTTPS_PROXY"));
        CHECK_FALSE(contains(e.message, "hunter2"));
        CHECK_FALSE(contains(e.to_string(), "hunter2"));
    }

    // An explicit url is checked even for a host that bypasses it.
    proxy_options options;
    options.url = "http://user:hunter2@proxy:0";
    options.no_proxy = {"*"};
    const auto e = failure_for(options, workspace, {});
    CHECK(e.kind == error_kind::config);
    CHECK_FALSE(contains(e.message, "hunter2"));

    // An environment value is only read for a target that would use it.
    CHECK_FALSE(env_route(workspace, {{"https_proxy", "socks5://p:1"}, {"no_proxy", "*"}}));
}

TEST_CASE("proxy: the target URL is validated") {
    const auto e = failure_for(proxy_options{}, "not a url", {});
    CHECK(e.kind == error_kind::invalid_input);
    const auto ws = failure_for(proxy_options{}, "wss://host/x", {});
    CHECK(ws.kind == error_kind::invalid_input);
}

TEST_CASE("proxy: describe masks the password") {
    proxy_route route{"proxy.corp", 3128, "alice", "hunter2"};
    CHECK(dbxserve::describe(route) == "http://alice:***@proxy.corp:3128");
    CHECK_FALSE(contains(dbxserve::describe(route), "hunter2"));

    route = {"proxy.corp", 3128, "alice", ""};
    CHECK(dbxserve::describe(route) == "http://alice@proxy.corp:3128");
    route = {"proxy.corp", 3128, "", ""};
    CHECK(dbxserve::describe(route) == "http://proxy.corp:3128");
    route = {"fd00::1", 8080, "", "hunter2"};
    CHECK(dbxserve::describe(route) == "http://:***@[fd00::1]:8080");
    route = {"proxy", 8, "al@ice", "p:w"};
    CHECK(dbxserve::describe(route) == "http://al%40ice:***@proxy:8");

    // Nor does an error about a route taken from the environment carry the password.
    const auto e = failure_for(proxy_options{}, workspace, {{"https_proxy", "http://u:pw1@h:0"}});
    CHECK_FALSE(contains(e.to_string(), "pw1"));
}

TEST_CASE("proxy: NO_PROXY matches names exactly or as a domain suffix") {
    CHECK(bypassed("adb-123.4.azuredatabricks.net", workspace));
    CHECK(bypassed("azuredatabricks.net", workspace));
    CHECK(bypassed(".azuredatabricks.net", workspace));
    CHECK(bypassed("*.azuredatabricks.net", workspace));
    CHECK(bypassed("AzureDatabricks.NET", workspace));
    CHECK(bypassed("azuredatabricks.net.", "https://adb-1.azuredatabricks.net./x"));
    CHECK(bypassed(".example.com", "https://example.com/"));
    CHECK(bypassed("example.com", "https://a.b.example.com/"));

    CHECK_FALSE(bypassed("databricks.net", workspace)); // not a label boundary
    CHECK_FALSE(bypassed("ample.com", "https://example.com/"));
    CHECK_FALSE(bypassed("a.example.com", "https://example.com/"));
    CHECK_FALSE(bypassed("other.net", workspace));
    CHECK_FALSE(bypassed("", workspace));
    CHECK_FALSE(bypassed(".", workspace));
}

TEST_CASE("proxy: NO_PROXY lists split on commas and white space; * bypasses all") {
    CHECK(bypassed("foo.com,azuredatabricks.net", workspace));
    CHECK(bypassed("foo.com, azuredatabricks.net", workspace));
    CHECK(bypassed("foo.com azuredatabricks.net", workspace));
    CHECK(bypassed(" ,, foo.com ,\tazuredatabricks.net ,", workspace));
    CHECK(bypassed("*", workspace));
    CHECK(bypassed("*", "http://10.1.2.3:8080/"));
    CHECK(bypassed("foo.com,*", workspace));
    CHECK_FALSE(bypassed("foo.com, bar.com", workspace));
}

TEST_CASE("proxy: a port on a NO_PROXY entry restricts it to that port") {
    CHECK(bypassed("example.com:8443", "https://example.com:8443/"));
    CHECK(bypassed("example.com:443", "https://api.example.com/"));
    CHECK_FALSE(bypassed("example.com:8443", "https://example.com/"));
    CHECK_FALSE(bypassed("example.com:8443", "https://example.com:9443/"));
    CHECK(bypassed("127.0.0.1:8080", "http://127.0.0.1:8080/"));
    CHECK_FALSE(bypassed("127.0.0.1:8080", "http://127.0.0.1:9090/"));
    CHECK(bypassed("[::1]:8443", "https://[::1]:8443/"));
    CHECK_FALSE(bypassed("[::1]:8443", "https://[::1]:9443/"));
    CHECK_FALSE(bypassed("example.com:notaport", "https://example.com/"));
}

TEST_CASE("proxy: NO_PROXY matches IP targets by address and CIDR range") {
    CHECK(bypassed("10.1.2.3", "https://10.1.2.3/"));
    CHECK(bypassed("10.0.0.0/8", "https://10.1.2.3/"));
    CHECK(bypassed("10.1.2.0/24", "https://10.1.2.3/"));
    CHECK(bypassed("0.0.0.0/0", "https://192.0.2.1/"));
    CHECK(bypassed("127.0.0.0/8", "http://127.0.0.1:8080/"));
    CHECK_FALSE(bypassed("10.0.0.0/8", "https://11.1.2.3/"));
    CHECK_FALSE(bypassed("10.1.2.0/25", "https://10.1.2.200/"));
    CHECK_FALSE(bypassed("10.1.2.4", "https://10.1.2.3/"));
    CHECK_FALSE(bypassed("10.0.0.0/33", "https://10.1.2.3/"));
    CHECK_FALSE(bypassed("10.0.0.0/x", "https://10.1.2.3/"));

    // An IP target never matches a name suffix, even one that looks like its tail.
    CHECK_FALSE(bypassed("2.3", "https://10.1.2.3/"));
    CHECK_FALSE(bypassed("localhost", "http://127.0.0.1:8080/"));
    // Nor does a name target match a range.
    CHECK_FALSE(bypassed("10.0.0.0/8", "https://ten.example.com/"));
}

TEST_CASE("proxy: NO_PROXY matches IPv6 targets by address and prefix") {
    CHECK(bypassed("::1", "https://[::1]:8443/"));
    CHECK(bypassed("[::1]", "https://[::1]:8443/"));
    CHECK(bypassed("0:0:0:0:0:0:0:1", "https://[::1]/"));
    CHECK(bypassed("::1/128", "https://[::1]/"));
    CHECK(bypassed("fd00::/8", "https://[fd12:3456::1]/"));
    CHECK(bypassed("[fd00::]/8", "https://[fd12:3456::1]/"));
    CHECK(bypassed("FD00::/8", "https://[fd12:3456::1]/"));
    CHECK_FALSE(bypassed("fd00::/8", "https://[fe80::1]/"));
    CHECK_FALSE(bypassed("::1", "https://[::2]/"));
    CHECK_FALSE(bypassed("::1/129", "https://[::1]/"));
    CHECK_FALSE(bypassed("127.0.0.1", "https://[::1]/")); // families never mix
}

TEST_CASE("proxy: loopback targets are proxied unless NO_PROXY lists them, as in curl") {
    const vars env = {{"https_proxy", "http://127.0.0.1:3128"}};
    for (const char* target :
         {"https://127.0.0.1:8443/x", "https://localhost:8443/x", "https://[::1]:8443/x"}) {
        CAPTURE(target);
        const auto route = env_route(target, env);
        REQUIRE(route);
        CHECK(route->host == "127.0.0.1");
        CHECK(route->port == 3128);
    }
    CHECK(bypassed("localhost", "https://localhost:8443/x"));
    CHECK(bypassed("127.0.0.1", "https://127.0.0.1:8443/x"));
}

TEST_CASE("proxy: lower-case no_proxy wins over NO_PROXY") {
    const vars env = {{"https_proxy", "http://proxy:3128"},
                      {"no_proxy", "other.com"},
                      {"NO_PROXY", "azuredatabricks.net"}};
    CHECK(env_route(workspace, env).has_value());

    const vars upper_only = {{"https_proxy", "http://proxy:3128"},
                             {"NO_PROXY", "azuredatabricks.net"}};
    CHECK_FALSE(env_route(workspace, upper_only).has_value());
}

TEST_CASE("proxy: options.no_proxy applies with NO_PROXY, to explicit and env proxies") {
    proxy_options options;
    options.no_proxy = {"foo.com", "azuredatabricks.net"};
    CHECK_FALSE(route_for(options, workspace, {{"https_proxy", "http://proxy:3128"}}));

    options.url = "http://explicit:3128";
    CHECK_FALSE(route_for(options, workspace, {}).has_value());
    CHECK(route_for(options, "https://other.example/", {}).has_value());

    // Each element may itself be a list.
    options.no_proxy = {"foo.com, azuredatabricks.net"};
    CHECK_FALSE(route_for(options, workspace, {}).has_value());

    // NO_PROXY from the environment still applies to an explicit url, as in curl.
    options.no_proxy.clear();
    CHECK_FALSE(route_for(options, workspace, {{"NO_PROXY", ".azuredatabricks.net"}}));
    CHECK(route_for(options, workspace, {{"NO_PROXY", "other.net"}}).has_value());
}
