#include <dbxserve/config.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <string_view>

namespace {

namespace fs = std::filesystem;
using dbxserve::config;
using dbxserve::environment;
using dbxserve::resolve_config;
using vars = std::map<std::string, std::string>;

// A fresh directory that stands in for HOME, removed afterwards.
class temp_home {
public:
    temp_home() {
        std::random_device seed;
        std::mt19937_64 random(seed());
        dir_ = fs::temp_directory_path() / ("dbxserve-config-test-" + std::to_string(random()));
        fs::create_directories(dir_);
    }
    ~temp_home() {
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }
    temp_home(const temp_home&) = delete;
    temp_home& operator=(const temp_home&) = delete;

    std::string path() const { return dir_.string(); }
    std::string file(const std::string& name) const { return (dir_ / name).string(); }

    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream out(dir_ / name, std::ios::binary);
        out << text;
        return file(name);
    }

    // Writes ~/.databrickscfg and returns its path.
    std::string write_cfg(const std::string& text) const { return write(".databrickscfg", text); }

private:
    fs::path dir_;
};

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

config with_profile(std::string name) {
    config c;
    c.profile = std::move(name);
    return c;
}

const char* const two_profiles = "[DEFAULT]\n"
                                 "host = https://default.example.com\n"
                                 "token = default-token\n"
                                 "workspace_id = 111\n"
                                 "\n"
                                 "[prod]\n"
                                 "host = https://prod.example.com\n"
                                 "client_id = prod-client\n"
                                 "client_secret = prod-secret\n";

} // namespace

TEST_CASE("config: explicit values win over environment variables, which win over the profile") {
    temp_home home;
    home.write_cfg("[p]\n"
                   "host = https://file.example.com\n"
                   "token = file-token\n"
                   "workspace_id = 42\n"
                   "account_id = file-account\n");
    const auto env = environment::from_map({{"HOME", home.path()},
                                            {"DATABRICKS_CONFIG_PROFILE", "p"},
                                            {"DATABRICKS_HOST", "https://env.example.com"},
                                            {"DATABRICKS_TOKEN", "env-token"}});

    SUBCASE("explicit beats environment") {
        config explicit_values;
        explicit_values.host = "https://explicit.example.com";
        explicit_values.token = "explicit-token";

        const auto cfg = resolve_config(explicit_values, env);

        REQUIRE(cfg.ok());
        CHECK(cfg->host == "https://explicit.example.com");
        CHECK(cfg->token == "explicit-token");
    }

    SUBCASE("environment beats the profile, which fills in the rest") {
        const auto cfg = resolve_config({}, env);

        REQUIRE(cfg.ok());
        CHECK(cfg->host == "https://env.example.com");
        CHECK(cfg->token == "env-token");
        CHECK(cfg->workspace_id == "42");
        CHECK(cfg->account_id == "file-account");
        CHECK(cfg->profile == "p");
        CHECK(cfg->config_file == home.file(".databrickscfg"));
    }

    SUBCASE("an empty explicit value counts as unset") {
        config explicit_values;
        explicit_values.host = "";

        const auto cfg = resolve_config(explicit_values, env);

        REQUIRE(cfg.ok());
        CHECK(cfg->host == "https://env.example.com");
    }

    SUBCASE("the explicit profile beats DATABRICKS_CONFIG_PROFILE") {
        home.write_cfg(
            "[p]\ntoken = p-token\n[q]\ntoken = q-token\nhost = https://q.example.com\n");
        const auto only_profile_env =
            environment::from_map({{"HOME", home.path()}, {"DATABRICKS_CONFIG_PROFILE", "p"}});

        const auto cfg = resolve_config(with_profile("q"), only_profile_env);

        REQUIRE(cfg.ok());
        CHECK(cfg->profile == "q");
        CHECK(cfg->token == "q-token");
    }
}

TEST_CASE("config: the file is not read when host or credentials are set and no profile named") {
    temp_home home;
    home.write_cfg("[DEFAULT]\nclient_id = file-client\nclient_secret = file-secret\n");

    SUBCASE("host and token in the environment") {
        const auto env = environment::from_map({{"HOME", home.path()},
                                                {"DATABRICKS_HOST", "https://env.example.com"},
                                                {"DATABRICKS_TOKEN", "env-token"}});

        const auto cfg = resolve_config({}, env);

        REQUIRE(cfg.ok());
        CHECK(cfg->auth_type == "pat");
        CHECK(cfg->client_id.empty());
        CHECK(cfg->profile.empty());
        CHECK(cfg->config_file.empty());
    }

    SUBCASE("host alone is enough to skip the file") {
        const auto env = environment::from_map(
            {{"HOME", home.path()}, {"DATABRICKS_HOST", "https://env.example.com"}});

        const auto cfg = resolve_config({}, env);

        REQUIRE_FALSE(cfg.ok());
        CHECK(cfg.error().kind == dbxserve::error_kind::config);
        CHECK(contains(cfg.error().message, "config file not read"));
    }

    SUBCASE("azure_workspace_resource_id also skips the file") {
        const auto env = environment::from_map(
            {{"HOME", home.path()}, {"DATABRICKS_AZURE_RESOURCE_ID", "/subscriptions/x"}});

        const auto cfg = resolve_config({}, env);

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "config file not read"));
    }

    SUBCASE("auth_type alone does not skip the file") {
        home.write_cfg("[DEFAULT]\nhost = https://file.example.com\ntoken = file-token\n");
        const auto env =
            environment::from_map({{"HOME", home.path()}, {"DATABRICKS_AUTH_TYPE", "pat"}});

        const auto cfg = resolve_config({}, env);

        REQUIRE(cfg.ok());
        CHECK(cfg->token == "file-token");
    }
}

TEST_CASE("config: profile choice") {
    temp_home home;
    const auto env = environment::from_map({{"HOME", home.path()}});

    SUBCASE("DEFAULT is used when no profile is named") {
        home.write_cfg(two_profiles);

        const auto cfg = resolve_config({}, env);

        REQUIRE(cfg.ok());
        CHECK(cfg->auth_type == "pat");
        CHECK(cfg->host == "https://default.example.com");
        CHECK(cfg->profile == "DEFAULT");
    }

    SUBCASE("[__settings__] default_profile comes before DEFAULT") {
        home.write_cfg(std::string("[__settings__]\ndefault_profile =  prod \n") + two_profiles);

        const auto cfg = resolve_config({}, env);

        REQUIRE(cfg.ok());
        CHECK(cfg->auth_type == "oauth-m2m");
        CHECK(cfg->profile == "prod");
        CHECK(cfg->client_id == "prod-client");
    }

    SUBCASE("an empty default_profile falls back to DEFAULT") {
        home.write_cfg(std::string("[__settings__]\ndefault_profile =\n") + two_profiles);

        const auto cfg = resolve_config({}, env);

        REQUIRE(cfg.ok());
        CHECK(cfg->profile == "DEFAULT");
    }

    SUBCASE("DEFAULT is not merged into a named profile") {
        home.write_cfg(two_profiles);

        const auto cfg = resolve_config(with_profile("prod"), env);

        REQUIRE(cfg.ok());
        CHECK(cfg->workspace_id.empty());
        CHECK(cfg->token.empty());
    }

    SUBCASE("a named profile that does not exist is an error naming profile and file") {
        home.write_cfg(two_profiles);

        const auto cfg = resolve_config(with_profile("staging"), env);

        REQUIRE_FALSE(cfg.ok());
        CHECK(cfg.error().kind == dbxserve::error_kind::config);
        CHECK(contains(cfg.error().message, "resolve: " + home.file(".databrickscfg") +
                                                " has no staging profile configured"));
    }

    SUBCASE("a default_profile that does not exist is an error") {
        home.write_cfg(std::string("[__settings__]\ndefault_profile = gone\n") + two_profiles);

        const auto cfg = resolve_config({}, env);

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "has no gone profile configured"));
    }

    SUBCASE("__settings__ is not a profile") {
        home.write_cfg(std::string("[__settings__]\nhost = https://x.example.com\n"));

        const auto cfg = resolve_config(with_profile("__settings__"), env);

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "has no __settings__ profile configured"));
    }

    SUBCASE("no DEFAULT and no profile named is not an error of its own") {
        home.write_cfg("[DEFAULT]\n[prod]\nhost = https://prod.example.com\n");

        const auto cfg = resolve_config({}, env);

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "cannot configure default credentials"));
        CHECK(contains(cfg.error().message, "has no DEFAULT profile"));
    }

    SUBCASE("a missing default file is not an error of its own") {
        const auto cfg = resolve_config({}, env);

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "cannot configure default credentials"));
        CHECK(contains(cfg.error().message, home.file(".databrickscfg") + " not found"));
    }

    SUBCASE("a named profile with a missing file is ignored, as in the SDKs") {
        const auto with_credentials =
            environment::from_map({{"HOME", home.path()},
                                   {"DATABRICKS_HOST", "https://env.example.com"},
                                   {"DATABRICKS_TOKEN", "env-token"}});

        const auto cfg = resolve_config(with_profile("prod"), with_credentials);

        REQUIRE(cfg.ok());
        CHECK(cfg->profile.empty());
        CHECK(cfg->config_file.empty());
    }
}

TEST_CASE("config: DATABRICKS_CONFIG_FILE and config_file choose the file") {
    temp_home home;
    const std::string custom = home.write("custom.cfg", "[DEFAULT]\n"
                                                        "host = custom.example.com\n"
                                                        "token = custom-token\n");

    SUBCASE("environment variable, no HOME needed") {
        const auto cfg =
            resolve_config({}, environment::from_map({{"DATABRICKS_CONFIG_FILE", custom}}));

        REQUIRE(cfg.ok());
        CHECK(cfg->host == "https://custom.example.com");
        CHECK(cfg->config_file == custom);
    }

    SUBCASE("explicit config_file with ~ expanded from HOME") {
        config explicit_values;
        explicit_values.config_file = "~/custom.cfg";

        const auto cfg =
            resolve_config(explicit_values, environment::from_map({{"HOME", home.path()}}));

        REQUIRE(cfg.ok());
        CHECK(cfg->config_file == custom);
        CHECK(cfg->token == "custom-token");
    }

    SUBCASE("a named file that is missing is reported, not fatal on its own") {
        const auto missing = home.file("missing.cfg");

        const auto cfg =
            resolve_config({}, environment::from_map({{"DATABRICKS_CONFIG_FILE", missing}}));

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "cannot configure default credentials"));
        CHECK(contains(cfg.error().message, missing + " not found"));
    }

    SUBCASE("a directory is an error") {
        const auto cfg =
            resolve_config({}, environment::from_map({{"DATABRICKS_CONFIG_FILE", home.path()}}));

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "is a directory"));
    }
}

TEST_CASE("config: INI syntax of the profile file") {
    temp_home home;
    const auto env = environment::from_map({{"HOME", home.path()}});

    SUBCASE("'#' inside a secret is kept, ' # comment' is stripped") {
        home.write_cfg("# full-line comment\n"
                       "; another one\n"
                       "[DEFAULT]\n"
                       "host = https://x.example.com   # the workspace\n"
                       "token = dapi#abc;def ; trailing comment\n");

        const auto cfg = resolve_config({}, env);

        REQUIRE(cfg.ok());
        CHECK(cfg->host == "https://x.example.com");
        CHECK(cfg->token == "dapi#abc;def");
    }

    SUBCASE("colon delimiter, upper-case keys, surrounding quotes, CRLF and BOM") {
        home.write_cfg("\xEF\xBB\xBF[DEFAULT]\r\n"
                       "HOST: https://x.example.com\r\n"
                       "  Token = \"quoted-token\"\r\n");

        const auto cfg = resolve_config({}, env);

        REQUIRE(cfg.ok());
        CHECK(cfg->host == "https://x.example.com");
        CHECK(cfg->token == "quoted-token");
    }

    SUBCASE("keys before the first section belong to DEFAULT") {
        home.write_cfg("host = https://x.example.com\ntoken = t\n[other]\n");

        const auto cfg = resolve_config({}, env);

        REQUIRE(cfg.ok());
        CHECK(cfg->profile == "DEFAULT");
    }

    SUBCASE("a malformed line names the line but never repeats it") {
        home.write_cfg("[DEFAULT]\nhost = https://x.example.com\ndapi-pasted-secret-value\n");

        const auto cfg = resolve_config({}, env);

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "cannot parse config file"));
        CHECK(contains(cfg.error().message, "line 3"));
        CHECK_FALSE(contains(cfg.error().message, "dapi-pasted-secret-value"));
    }

    SUBCASE("an unclosed section header is an error") {
        home.write_cfg("[DEFAULT\nhost = x\n");

        const auto cfg = resolve_config({}, env);

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "line 1: section header has no ']'"));
    }
}

TEST_CASE("config: choosing between pat and oauth-m2m") {
    SUBCASE("host and token: pat") {
        const auto cfg = resolve_config(
            {}, environment::from_map({{"DATABRICKS_HOST", "x.com"}, {"DATABRICKS_TOKEN", "t"}}));

        REQUIRE(cfg.ok());
        CHECK(cfg->auth_type == "pat");
        CHECK(cfg->token == "t");
    }

    SUBCASE("host, client_id and client_secret: oauth-m2m with the default scope") {
        const auto cfg =
            resolve_config({}, environment::from_map({{"DATABRICKS_HOST", "x.com"},
                                                      {"DATABRICKS_CLIENT_ID", "id"},
                                                      {"DATABRICKS_CLIENT_SECRET", "secret"}}));

        REQUIRE(cfg.ok());
        CHECK(cfg->auth_type == "oauth-m2m");
        CHECK(cfg->client_id == "id");
        CHECK(cfg->client_secret == "secret");
        CHECK(cfg->scopes == std::vector<std::string>{"all-apis"});
    }

    SUBCASE("client_id without a secret says what is missing") {
        const auto cfg = resolve_config(
            {},
            environment::from_map({{"DATABRICKS_HOST", "x.com"}, {"DATABRICKS_CLIENT_ID", "id"}}));

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "not set: client_secret"));
    }

    SUBCASE("a token without a host says host is missing") {
        const auto cfg = resolve_config({}, environment::from_map({{"DATABRICKS_TOKEN", "t"}}));

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "not set: host"));
    }

    SUBCASE("scopes are split on commas and spaces, sorted and de-duplicated") {
        config explicit_values;
        explicit_values.scopes = "sql, all-apis  sql,serving";

        const auto cfg = resolve_config(
            explicit_values, environment::from_map({{"DATABRICKS_HOST", "x.com"},
                                                    {"DATABRICKS_CLIENT_ID", "id"},
                                                    {"DATABRICKS_CLIENT_SECRET", "secret"}}));

        REQUIRE(cfg.ok());
        CHECK(cfg->scopes == std::vector<std::string>{"all-apis", "serving", "sql"});
    }
}

TEST_CASE("config: more than one authorization method") {
    SUBCASE("token and client_id, with the SDK wording") {
        const auto cfg =
            resolve_config({}, environment::from_map({{"DATABRICKS_HOST", "x.com"},
                                                      {"DATABRICKS_TOKEN", "pat-secret-123"},
                                                      {"DATABRICKS_CLIENT_ID", "id"}}));

        REQUIRE_FALSE(cfg.ok());
        CHECK(cfg.error().kind == dbxserve::error_kind::config);
        CHECK(contains(cfg.error().message,
                       "validate: more than one authorization method configured: oauth and pat"));
        CHECK(contains(cfg.error().message, "Env: DATABRICKS_HOST, DATABRICKS_TOKEN"));
        CHECK_FALSE(contains(cfg.error().message, "pat-secret-123"));
    }

    SUBCASE("ARM_CLIENT_ID next to a token is the azure group") {
        const auto cfg =
            resolve_config({}, environment::from_map({{"DATABRICKS_HOST", "x.com"},
                                                      {"DATABRICKS_TOKEN", "t"},
                                                      {"ARM_CLIENT_ID", "azure-app"}}));

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "more than one authorization method configured: "
                                            "azure and pat"));
    }

    SUBCASE("three groups are all listed, sorted") {
        config explicit_values;
        explicit_values.username = "u";
        explicit_values.google_service_account = "sa@example.com";

        const auto cfg = resolve_config(
            explicit_values,
            environment::from_map({{"DATABRICKS_HOST", "x.com"}, {"DATABRICKS_TOKEN", "t"}}));

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "configured: basic and google and pat"));
    }

    SUBCASE("ARM_USE_MSI=false does not count") {
        const auto cfg = resolve_config({}, environment::from_map({{"DATABRICKS_HOST", "x.com"},
                                                                   {"DATABRICKS_TOKEN", "t"},
                                                                   {"ARM_USE_MSI", "false"}}));

        REQUIRE(cfg.ok());
        CHECK(cfg->auth_type == "pat");
    }

    SUBCASE("a conflict across sources: token in env, client secret in the named profile") {
        temp_home home;
        home.write_cfg("[sp]\nclient_id = id\nclient_secret = sp-secret-456\n");

        const auto cfg =
            resolve_config(with_profile("sp"), environment::from_map({{"HOME", home.path()},
                                                                      {"DATABRICKS_HOST", "x.com"},
                                                                      {"DATABRICKS_TOKEN", "t"}}));

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "oauth and pat"));
        CHECK_FALSE(contains(cfg.error().message, "sp-secret-456"));
    }
}

TEST_CASE("config: auth_type forces one method") {
    const vars both = {{"DATABRICKS_HOST", "x.com"},
                       {"DATABRICKS_TOKEN", "t"},
                       {"DATABRICKS_CLIENT_ID", "id"},
                       {"DATABRICKS_CLIENT_SECRET", "secret"}};

    SUBCASE("oauth-m2m chosen although a token is set; the token is not passed on") {
        auto with_type = both;
        with_type["DATABRICKS_AUTH_TYPE"] = "oauth-m2m";

        const auto cfg = resolve_config({}, environment::from_map(with_type));

        REQUIRE(cfg.ok());
        CHECK(cfg->auth_type == "oauth-m2m");
        CHECK(cfg->token.empty());
    }

    SUBCASE("explicit auth_type pat") {
        config explicit_values;
        explicit_values.auth_type = "pat";

        const auto cfg = resolve_config(explicit_values, environment::from_map(both));

        REQUIRE(cfg.ok());
        CHECK(cfg->auth_type == "pat");
        CHECK(cfg->client_secret.empty());
    }

    SUBCASE("forced pat without a token") {
        const auto cfg =
            resolve_config({}, environment::from_map({{"DATABRICKS_HOST", "x.com"},
                                                      {"DATABRICKS_CLIENT_ID", "id"},
                                                      {"DATABRICKS_CLIENT_SECRET", "secret"},
                                                      {"DATABRICKS_AUTH_TYPE", "pat"}}));

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "auth_type pat needs host and token; not set: token"));
    }

    SUBCASE("an SDK method dbxserve does not implement") {
        auto with_type = both;
        with_type["DATABRICKS_AUTH_TYPE"] = "azure-cli";

        const auto cfg = resolve_config({}, environment::from_map(with_type));

        REQUIRE_FALSE(cfg.ok());
        CHECK(cfg.error().kind == dbxserve::error_kind::config);
        CHECK(contains(cfg.error().message, "auth_type azure-cli is not supported by dbxserve; "
                                            "supported: pat, oauth-m2m"));
    }

    SUBCASE("a name no SDK knows") {
        auto with_type = both;
        with_type["DATABRICKS_AUTH_TYPE"] = "magic";

        const auto cfg = resolve_config({}, environment::from_map(with_type));

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "unknown auth_type magic; supported: pat, oauth-m2m"));
    }
}

TEST_CASE("config: nothing configured says what was checked") {
    SUBCASE("empty environment") {
        const auto cfg = resolve_config({}, environment::from_map({}));

        REQUIRE_FALSE(cfg.ok());
        const auto& message = cfg.error().message;
        CHECK(cfg.error().kind == dbxserve::error_kind::config);
        CHECK(contains(message, "default auth: cannot configure default credentials, please check "
                                "https://docs.databricks.com/en/dev-tools/auth.html"));
        CHECK(contains(message, "Checked: explicit config; environment variables"));
        CHECK(contains(message, "DATABRICKS_HOST"));
        CHECK(contains(message, "~/.databrickscfg not read (HOME is not set)"));
        CHECK(contains(cfg.error().to_string(), "dbxserve.config: default auth:"));
    }

    SUBCASE("only credentials dbxserve cannot use") {
        const auto cfg =
            resolve_config({}, environment::from_map({{"DATABRICKS_HOST", "x.com"},
                                                      {"ARM_CLIENT_ID", "app"},
                                                      {"ARM_CLIENT_SECRET", "azure-secret-789"},
                                                      {"ARM_TENANT_ID", "tenant"}}));

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "found only azure credentials"));
        CHECK(contains(cfg.error().message, "azure_client_secret=***"));
        CHECK_FALSE(contains(cfg.error().message, "azure-secret-789"));
    }
}

TEST_CASE("config: secrets never appear in errors or describe()") {
    const std::string token = "dapi-TOKEN-SECRET-0001";
    const std::string client_secret = "dose-CLIENT-SECRET-0002";
    const std::string password = "PASSWORD-SECRET-0003";
    const std::string azure_secret = "AZURE-SECRET-0004";
    const std::string google = "GOOGLE-SECRET-0005";
    const std::string metadata = "http://metadata/SECRET-0006";
    const std::vector<std::string> secrets = {token,        client_secret, password,
                                              azure_secret, google,        metadata};
    auto check_clean = [&secrets](const std::string& text) {
        for (const auto& secret : secrets) {
            CHECK_MESSAGE(!contains(text, secret), "secret leaked: " << text);
        }
    };

    SUBCASE("conflict with every kind of secret set") {
        config explicit_values;
        explicit_values.password = password;
        explicit_values.username = "user";
        explicit_values.azure_client_secret = azure_secret;
        explicit_values.google_credentials = google;
        explicit_values.metadata_service_url = metadata;

        const auto cfg = resolve_config(
            explicit_values, environment::from_map({{"DATABRICKS_HOST", "x.com"},
                                                    {"DATABRICKS_TOKEN", token},
                                                    {"DATABRICKS_CLIENT_SECRET", client_secret}}));

        REQUIRE_FALSE(cfg.ok());
        check_clean(cfg.error().message);
        check_clean(cfg.error().to_string());
        CHECK(contains(cfg.error().message, "token=***"));
        CHECK(contains(cfg.error().message, "password=***"));
    }

    SUBCASE("forced and unsupported auth types") {
        for (const char* type : {"pat", "oauth-m2m", "basic", "nonsense"}) {
            config explicit_values;
            explicit_values.auth_type = type;
            explicit_values.password = password;
            explicit_values.client_secret = client_secret;

            const auto cfg = resolve_config(explicit_values, environment::from_map({}));

            REQUIRE_FALSE(cfg.ok());
            check_clean(cfg.error().message);
        }
    }

    SUBCASE("a bad host with user info and a query") {
        config explicit_values;
        explicit_values.host = "https://user:" + password + "@x.com/?token=" + token;
        explicit_values.token = token;

        const auto cfg = resolve_config(explicit_values, environment::from_map({}));

        REQUIRE_FALSE(cfg.ok());
        CHECK(contains(cfg.error().message, "invalid host"));
        check_clean(cfg.error().message);
    }

    SUBCASE("describe() of a working configuration") {
        const auto cfg = resolve_config(
            {}, environment::from_map({{"DATABRICKS_HOST", "https://x.example.com/"},
                                       {"DATABRICKS_CLIENT_ID", "abc"},
                                       {"DATABRICKS_CLIENT_SECRET", client_secret}}));

        REQUIRE(cfg.ok());
        const std::string text = cfg->describe();
        check_clean(text);
        CHECK(text == "Config: host=https://x.example.com, client_id=abc, client_secret=***, "
                      "auth_type=oauth-m2m. Env: DATABRICKS_HOST, DATABRICKS_CLIENT_ID, "
                      "DATABRICKS_CLIENT_SECRET");
    }

    SUBCASE("describe() of a pat profile") {
        temp_home home;
        home.write_cfg("[DEFAULT]\nhost = x.example.com\ntoken = " + token + "\n");

        const auto cfg = resolve_config({}, environment::from_map({{"HOME", home.path()}}));

        REQUIRE(cfg.ok());
        const std::string text = cfg->describe();
        check_clean(text);
        CHECK(contains(text, "token=***"));
        CHECK(contains(text, "profile=DEFAULT"));
    }
}

TEST_CASE("config: host normalisation") {
    using dbxserve::normalize_host;

    SUBCASE("accepted spellings") {
        const std::vector<std::pair<std::string, std::string>> cases = {
            {"dbc-1.cloud.databricks.com", "https://dbc-1.cloud.databricks.com"},
            {"https://dbc-1.cloud.databricks.com/", "https://dbc-1.cloud.databricks.com"},
            {"https://dbc-1.cloud.databricks.com/some/path?x=1#frag",
             "https://dbc-1.cloud.databricks.com"},
            {"https://dbc-1.cloud.databricks.com:443", "https://dbc-1.cloud.databricks.com"},
            {"https://dbc-1.cloud.databricks.com:8443/", "https://dbc-1.cloud.databricks.com:8443"},
            {"HTTPS://DBC-1.Cloud.Databricks.COM", "https://dbc-1.cloud.databricks.com"},
            {"http://localhost:8080/", "http://localhost:8080"},
            {"http://127.0.0.1:80", "http://127.0.0.1"},
            {"http://[::1]:9000/x", "http://[::1]:9000"},
            {"  adb-1.2.azuredatabricks.net  ", "https://adb-1.2.azuredatabricks.net"},
            {"localhost:8080", "https://localhost:8080"},
        };
        for (const auto& spelling : cases) {
            const auto host = normalize_host(spelling.first);
            REQUIRE_MESSAGE(host.ok(), spelling.first);
            CHECK(*host == spelling.second);
        }
    }

    SUBCASE("rejected spellings") {
        for (const char* input :
             {"", "   ", "https://", "https://exa mple.com", "ftp://x.com", "https://x.com:99999",
              "https://x.com:abc", "https://[::1", "https://x$.com", "://x.com"}) {
            const auto host = normalize_host(input);
            CHECK_MESSAGE(!host.ok(), input);
            if (!host.ok()) {
                CHECK(host.error().kind == dbxserve::error_kind::config);
            }
        }
    }

    SUBCASE("?o= and ?a= from a UI URL become workspace_id and account_id") {
        const auto cfg = resolve_config(
            {}, environment::from_map(
                    {{"DATABRICKS_HOST", "https://x.cloud.databricks.com/?o=1234567890&a=acc-1"},
                     {"DATABRICKS_TOKEN", "t"}}));

        REQUIRE(cfg.ok());
        CHECK(cfg->host == "https://x.cloud.databricks.com");
        CHECK(cfg->workspace_id == "1234567890");
        CHECK(cfg->account_id == "acc-1");
    }

    SUBCASE("?workspace_id= must be numeric and never overrides a configured id") {
        config explicit_values;
        explicit_values.host = "https://x.com/?workspace_id=abc";
        explicit_values.token = "t";

        auto cfg = resolve_config(explicit_values, environment::from_map({}));
        REQUIRE(cfg.ok());
        CHECK(cfg->workspace_id.empty());

        explicit_values.host = "https://x.com/?o=99";
        cfg = resolve_config(explicit_values,
                             environment::from_map({{"DATABRICKS_WORKSPACE_ID", "7"}}));
        REQUIRE(cfg.ok());
        CHECK(cfg->workspace_id == "7");
    }

    SUBCASE("account hosts") {
        dbxserve::resolved_config cfg;
        cfg.host = "https://accounts.cloud.databricks.com";
        CHECK(cfg.is_account_host());
        cfg.host = "https://accounts-dod.cloud.databricks.us";
        CHECK(cfg.is_account_host());
        cfg.host = "https://dbc-1.cloud.databricks.com";
        CHECK_FALSE(cfg.is_account_host());
    }
}

TEST_CASE("config: url helpers") {
    using namespace dbxserve::detail;

    SUBCASE("parse_url splits scheme, host, port and path") {
        const auto url = parse_url("HTTPS://Example.COM:8443/a/b?c=d#frag");

        REQUIRE(url.ok());
        CHECK(url->scheme == "https");
        CHECK(url->host == "example.com");
        CHECK(url->port == 8443);
        CHECK(url->path_and_query == "/a/b?c=d");
    }

    SUBCASE("parse_url defaults the port and the path") {
        const auto https = parse_url("https://x.com");
        const auto http = parse_url("http://x.com?q=1");
        const auto ipv6 = parse_url("http://[::1]:8080");

        REQUIRE(https.ok());
        REQUIRE(http.ok());
        REQUIRE(ipv6.ok());
        CHECK(https->port == 443);
        CHECK(https->path_and_query == "/");
        CHECK(http->port == 80);
        CHECK(http->path_and_query == "/?q=1");
        CHECK(ipv6->host == "::1");
        CHECK(format_origin(*ipv6) == "http://[::1]:8080");
    }

    SUBCASE("parse_url refuses user info without repeating it") {
        const auto url = parse_url("https://me:hunter2@x.com/");

        REQUIRE_FALSE(url.ok());
        CHECK_FALSE(contains(url.error().message, "hunter2"));
    }

    SUBCASE("loopback detection") {
        for (const char* host :
             {"localhost", "LOCALHOST", "localhost.", "127.0.0.1", "127.5.6.7", "127.255.255.255",
              "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"}) {
            CHECK_MESSAGE(is_loopback_host(host), host);
        }
        for (const char* host :
             {"", "example.com", "localhost.example.com", "128.0.0.1", "127.0.0.1.example.com",
              "127.0.0", "127.0.0.256", "::2", "[::]", "::ffff:10.0.0.1", "1::1", "0.0.0.0"}) {
            CHECK_MESSAGE(!is_loopback_host(host), host);
        }
    }

    SUBCASE("percent_encode keeps only RFC 3986 unreserved characters") {
        CHECK(percent_encode("AZaz09-._~") == "AZaz09-._~");
        CHECK(percent_encode("a b/c?d=e&f+g%") == "a%20b%2Fc%3Fd%3De%26f%2Bg%25");
        CHECK(percent_encode("\xC3\xA9") == "%C3%A9");
    }

    SUBCASE("form_encode joins fields, a space becomes '+'") {
        const std::string body = form_encode({{"grant_type", "client_credentials"},
                                              {"scope", "all-apis sql"},
                                              {"client id", "a&b=c"}});

        CHECK(body == "grant_type=client_credentials&scope=all-apis+sql&client+id=a%26b%3Dc");
        CHECK(form_encode({}).empty());
    }

    SUBCASE("query_parameter decodes the first match") {
        CHECK(query_parameter("/?a=1&b=x%20y+z&a=2", "a") == std::optional<std::string>("1"));
        CHECK(query_parameter("/?a=1&b=x%20y+z", "b") == std::optional<std::string>("x y z"));
        CHECK_FALSE(query_parameter("/?a=1", "c").has_value());
        CHECK_FALSE(query_parameter("/path", "a").has_value());
        CHECK_FALSE(query_parameter("/?a=%zz", "a").has_value());
    }
}
