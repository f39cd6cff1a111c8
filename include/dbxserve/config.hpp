#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "detail/ini.hpp"
#include "detail/url.hpp"
#include "error.hpp"
#include "result.hpp"

namespace dbxserve {
inline namespace v0 {

// Where configuration reads environment variables from. Tests build one from a map so they never
// depend on, or change, the process environment.
class environment {
public:
    // The process environment, read on every `get`.
    static environment process() { return environment(std::nullopt); }

    static environment from_map(std::map<std::string, std::string> vars) {
        return environment(std::move(vars));
    }

    // The variable's value; an empty value counts as unset, as in both SDKs.
    std::optional<std::string> get(const std::string& name) const {
        if (vars_) {
            const auto found = vars_->find(name);
            if (found == vars_->end() || found->second.empty()) {
                return std::nullopt;
            }
            return found->second;
        }
        return read_process_variable(name);
    }

private:
    explicit environment(std::optional<std::map<std::string, std::string>> vars)
        : vars_(std::move(vars)) {}

    static std::optional<std::string> read_process_variable(const std::string& name) {
#ifdef _MSC_VER
        char* buffer = nullptr;
        std::size_t size = 0;
        if (_dupenv_s(&buffer, &size, name.c_str()) != 0 || buffer == nullptr) {
            return std::nullopt;
        }
        std::string value(buffer);
        std::free(buffer);
#else
        const char* raw = std::getenv(name.c_str());
        if (raw == nullptr) {
            return std::nullopt;
        }
        std::string value(raw);
#endif
        if (value.empty()) {
            return std::nullopt;
        }
        return value;
    }

    std::optional<std::map<std::string, std::string>> vars_;
};

// Values given in code. They win over environment variables, which win over the profile. An empty
// string counts as unset. Attributes dbxserve cannot authenticate with (azure_*, google_*, ...)
// are here so that a conflicting configuration is reported exactly as the SDKs report it.
struct config {
    std::optional<std::string> host;
    std::optional<std::string> token;
    std::optional<std::string> client_id;
    std::optional<std::string> client_secret;
    std::optional<std::string> auth_type;
    std::optional<std::string> profile;
    std::optional<std::string> config_file;
    std::optional<std::string> account_id;
    std::optional<std::string> workspace_id;
    std::optional<std::string> username;
    std::optional<std::string> password;
    std::optional<std::string> scopes; // separated by commas and/or spaces
    std::optional<std::string> discovery_url;
    std::optional<std::string> azure_workspace_resource_id;
    std::optional<std::string> azure_client_id;
    std::optional<std::string> azure_client_secret;
    std::optional<std::string> azure_tenant_id;
    std::optional<std::string> azure_use_msi; // "false", "0", "f" count as unset
    std::optional<std::string> azure_login_app_id;
    std::optional<std::string> google_credentials;
    std::optional<std::string> google_service_account;
    std::optional<std::string> metadata_service_url;
    std::optional<std::string> oidc_token_env;
    std::optional<std::string> oidc_token_filepath;
};

namespace detail {

inline constexpr std::string_view masked_secret = "***";

inline std::string join(const std::vector<std::string>& parts, std::string_view separator) {
    std::string out;
    for (const auto& part : parts) {
        if (!out.empty()) {
            out += separator;
        }
        out += part;
    }
    return out;
}

// Hides the parts of a URL that may be private: user info and the query
// ("https://u:pw@host/?k=v" -> "https://***@host/?***"). A missing scheme is allowed.
inline std::string redact_url(std::string_view url) {
    std::string out;
    const std::size_t scheme_end = url.find("://");
    const std::size_t authority = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
    const std::size_t at = url.substr(0, url.find_first_of("/?#", authority)).rfind('@');
    if (at != std::string_view::npos && at >= authority) {
        out = url.substr(0, authority);
        out += masked_secret;
        url.remove_prefix(at);
    }

    const std::size_t query = url.find('?');
    out += url.substr(0, query);
    if (query != std::string_view::npos) {
        out += "?";
        out += masked_secret;
    }
    return out;
}

// "Config: a=1, b=***. Env: X, Y", the layout of the SDKs' debug string.
inline std::string format_debug(const std::vector<std::pair<std::string, std::string>>& attributes,
                                const std::vector<std::string>& env_vars) {
    std::vector<std::string> shown;
    for (const auto& [name, value] : attributes) {
        shown.push_back(name + "=" + value);
    }

    std::string out;
    if (!shown.empty()) {
        out = "Config: " + join(shown, ", ");
    }
    if (!env_vars.empty()) {
        out += out.empty() ? "" : ". ";
        out += "Env: " + join(env_vars, ", ");
    }
    return out;
}

} // namespace detail

// The outcome of `resolve_config`: one authentication method and everything it needs.
struct resolved_config {
    std::string host;      // normalised: scheme://host[:port]
    std::string auth_type; // "pat" or "oauth-m2m"

    // Only the chosen method's credentials are filled in.
    std::string token;
    std::string client_id;
    std::string client_secret;
    std::string username;
    std::string password;

    std::string account_id;
    std::string workspace_id;
    std::string discovery_url;
    std::vector<std::string> scopes = {"all-apis"}; // sorted, without duplicates

    std::string profile;     // profile read, "" when the file was not read
    std::string config_file; // path read, "" when not read

    // Names of the configuration environment variables that were set (values never kept here).
    std::vector<std::string> env_vars;

    // One line saying what was found and where; secrets show as ***, e.g.
    // "Config: host=https://x, client_id=abc, client_secret=***, auth_type=oauth-m2m.
    // Env: DATABRICKS_HOST, DATABRICKS_CLIENT_ID, DATABRICKS_CLIENT_SECRET".
    std::string describe() const {
        std::vector<std::pair<std::string, std::string>> shown;
        auto add = [&shown](const char* name, const std::string& value, bool secret) {
            if (!value.empty()) {
                shown.emplace_back(name, secret ? std::string(detail::masked_secret) : value);
            }
        };
        add("host", detail::redact_url(host), false);
        add("account_id", account_id, false);
        add("workspace_id", workspace_id, false);
        add("discovery_url", detail::redact_url(discovery_url), false);
        add("token", token, true);
        add("username", username, false);
        add("password", password, true);
        add("client_id", client_id, false);
        add("client_secret", client_secret, true);
        add("profile", profile, false);
        add("config_file", config_file, false);
        add("auth_type", auth_type, false);
        if (scopes != std::vector<std::string>{"all-apis"}) {
            add("scopes", detail::join(scopes, " "), false);
        }
        return detail::format_debug(shown, env_vars);
    }

    // Accounts console hosts, by the SDKs' (deprecated) prefix rule.
    bool is_account_host() const {
        const std::string_view text = host;
        return text.rfind("https://accounts.", 0) == 0 ||
               text.rfind("https://accounts-dod.", 0) == 0;
    }
};

namespace detail {

// Every attribute the resolution knows. The order is the order of the debug string and must match
// `attribute_table`.
enum class attr : std::size_t {
    host,
    account_id,
    workspace_id,
    discovery_url,
    token,
    username,
    password,
    client_id,
    client_secret,
    profile,
    config_file,
    auth_type,
    scopes,
    azure_workspace_resource_id,
    azure_use_msi,
    azure_client_id,
    azure_client_secret,
    azure_tenant_id,
    azure_login_app_id,
    google_service_account,
    google_credentials,
    metadata_service_url,
    oidc_token_env,
    oidc_token_filepath,
    count,
};

inline constexpr std::size_t attribute_count = static_cast<std::size_t>(attr::count);

enum class value_kind {
    text,
    secret, // shown as *** in every message
    flag,   // boolean: a false-looking value counts as unset
};

struct attribute_info {
    std::string_view name; // the config member and the profile key
    std::optional<std::string> config::*member;
    std::string_view auth_group; // "" for attributes that are not credentials
    value_kind kind;
    std::array<const char*, 2> env; // environment variables, first match wins; nullptr = none
    std::string_view file_alias;    // a second profile key, "" for none

    constexpr attribute_info with_env_alias(const char* alias) const {
        attribute_info copy = *this;
        copy.env[1] = alias;
        return copy;
    }

    constexpr attribute_info with_file_alias(std::string_view alias) const {
        attribute_info copy = *this;
        copy.file_alias = alias;
        return copy;
    }
};

constexpr attribute_info setting(std::string_view name, std::optional<std::string> config::*member,
                                 const char* env) {
    return {name, member, "", value_kind::text, {env, nullptr}, ""};
}

constexpr attribute_info credential(std::string_view name,
                                    std::optional<std::string> config::*member, const char* env,
                                    std::string_view group, value_kind kind = value_kind::text) {
    return {name, member, group, kind, {env, nullptr}, ""};
}

// Names, variables and groups from PY databricks/sdk/config.py and GO config/config.go. Where they
// differ, both spellings are read.
inline constexpr std::array<attribute_info, attribute_count> attribute_table = {
    setting("host", &config::host, "DATABRICKS_HOST"),
    setting("account_id", &config::account_id, "DATABRICKS_ACCOUNT_ID"),
    setting("workspace_id", &config::workspace_id, "DATABRICKS_WORKSPACE_ID"),
    setting("discovery_url", &config::discovery_url, "DATABRICKS_DISCOVERY_URL"),
    credential("token", &config::token, "DATABRICKS_TOKEN", "pat", value_kind::secret),
    credential("username", &config::username, "DATABRICKS_USERNAME", "basic"),
    credential("password", &config::password, "DATABRICKS_PASSWORD", "basic", value_kind::secret),
    credential("client_id", &config::client_id, "DATABRICKS_CLIENT_ID", "oauth"),
    credential("client_secret", &config::client_secret, "DATABRICKS_CLIENT_SECRET", "oauth",
               value_kind::secret),
    setting("profile", &config::profile, "DATABRICKS_CONFIG_PROFILE"),
    setting("config_file", &config::config_file, "DATABRICKS_CONFIG_FILE"),
    setting("auth_type", &config::auth_type, "DATABRICKS_AUTH_TYPE"),
    setting("scopes", &config::scopes, nullptr),
    credential("azure_workspace_resource_id", &config::azure_workspace_resource_id,
               "DATABRICKS_AZURE_RESOURCE_ID", "azure"),
    credential("azure_use_msi", &config::azure_use_msi, "ARM_USE_MSI", "azure", value_kind::flag),
    credential("azure_client_id", &config::azure_client_id, "ARM_CLIENT_ID", "azure"),
    credential("azure_client_secret", &config::azure_client_secret, "ARM_CLIENT_SECRET", "azure",
               value_kind::secret),
    credential("azure_tenant_id", &config::azure_tenant_id, "ARM_TENANT_ID", "azure"),
    credential("azure_login_app_id", &config::azure_login_app_id, "DATABRICKS_AZURE_LOGIN_APP_ID",
               "azure"),
    credential("google_service_account", &config::google_service_account,
               "DATABRICKS_GOOGLE_SERVICE_ACCOUNT", "google"),
    credential("google_credentials", &config::google_credentials, "GOOGLE_CREDENTIALS", "google",
               value_kind::secret),
    credential("metadata_service_url", &config::metadata_service_url,
               "DATABRICKS_METADATA_SERVICE_URL", "metadata-service", value_kind::secret),
    credential("oidc_token_env", &config::oidc_token_env, "DATABRICKS_OIDC_TOKEN_ENV", "env-oidc"),
    credential("oidc_token_filepath", &config::oidc_token_filepath,
               "DATABRICKS_OIDC_TOKEN_FILEPATH", "file-oidc")
        .with_env_alias("DATABRICKS_OIDC_TOKEN_FILE")
        .with_file_alias("databricks_id_token_filepath"),
};

static_assert(attribute_table[static_cast<std::size_t>(attr::scopes)].name == "scopes" &&
                  attribute_table[attribute_count - 1].name == "oidc_token_filepath",
              "attribute_table must list one entry per attr, in order");

inline constexpr const attribute_info& info(attr a) {
    return attribute_table[static_cast<std::size_t>(a)];
}

// The attribute values found so far; "" means not set.
struct attribute_values {
    std::array<std::string, attribute_count> items;

    std::string& operator[](attr a) { return items[static_cast<std::size_t>(a)]; }
    const std::string& operator[](attr a) const { return items[static_cast<std::size_t>(a)]; }
};

inline constexpr std::array<attr, 2> pat_attributes = {attr::host, attr::token};
inline constexpr std::array<attr, 3> m2m_attributes = {attr::host, attr::client_id,
                                                       attr::client_secret};

// Go's strconv.ParseBool spellings of false.
inline bool is_false_flag(std::string_view value) {
    return value == "0" || value == "f" || value == "F" || value == "false" || value == "FALSE" ||
           value == "False";
}

inline bool counts_as_set(const attribute_info& attribute, std::string_view value) {
    return !value.empty() && !(attribute.kind == value_kind::flag && is_false_flag(value));
}

// Names of the SDKs' credential strategies (PY credentials_provider.py, GO auth_default.go) that
// dbxserve does not implement, so that asking for one gets "not supported" instead of "unknown".
inline bool is_sdk_auth_type(std::string_view name) {
    constexpr std::array<std::string_view, 17> names = {
        "basic",
        "metadata-service",
        "env-oidc",
        "file-oidc",
        "github-oidc",
        "azure-client-secret",
        "github-oidc-azure",
        "azure-cli",
        "azure-msi",
        "azure-devops-oidc",
        "external-browser",
        "databricks-cli",
        "runtime-oauth",
        "runtime",
        "google-credentials",
        "google-id",
        "model-serving",
    };
    return std::find(names.begin(), names.end(), name) != names.end();
}

inline constexpr std::string_view supported_auth_types = "pat, oauth-m2m";

// The state of one resolution, passed from step to step.
struct resolution {
    attribute_values values;
    std::vector<std::string> env_vars; // configuration variables that were set, in table order
    std::string profile;               // profile read from the file
    std::string config_file;           // path of the file read
    std::string file_note;             // what happened with the file, for "nothing usable"

    std::string debug_string() const {
        std::vector<std::pair<std::string, std::string>> shown;
        for (std::size_t i = 0; i < attribute_count; ++i) {
            if (values.items[i].empty()) {
                continue;
            }
            const auto a = static_cast<attr>(i);
            std::string value = values.items[i];
            if (attribute_table[i].kind == value_kind::secret) {
                value = masked_secret;
            } else if (a == attr::host || a == attr::discovery_url) {
                value = redact_url(value);
            }
            shown.emplace_back(attribute_table[i].name, std::move(value));
        }
        return format_debug(shown, env_vars);
    }

    // A config error whose message ends with what was found, like the SDKs' wrapDebug.
    error fail(std::string message) const {
        const std::string debug = debug_string();
        if (!debug.empty()) {
            while (!message.empty() && message.back() == '.') {
                message.pop_back();
            }
            message += ". " + debug;
        }
        return make_error(error_kind::config, std::move(message));
    }

    bool any_credential_set() const {
        for (std::size_t i = 0; i < attribute_count; ++i) {
            if (!attribute_table[i].auth_group.empty() && !values.items[i].empty()) {
                return true;
            }
        }
        return false;
    }
};

inline void load_explicit(const config& explicit_values, resolution& state) {
    for (std::size_t i = 0; i < attribute_count; ++i) {
        const auto& attribute = attribute_table[i];
        const auto& value = explicit_values.*(attribute.member);
        if (value && counts_as_set(attribute, *value)) {
            state.values.items[i] = *value;
        }
    }
}

// Every set variable is listed (PY debug_string), even when an explicit value hides it.
inline void load_environment(const environment& env, resolution& state) {
    for (std::size_t i = 0; i < attribute_count; ++i) {
        const auto& attribute = attribute_table[i];
        for (const char* name : attribute.env) {
            if (name == nullptr) {
                continue;
            }
            const auto value = env.get(name);
            if (!value) {
                continue;
            }
            state.env_vars.emplace_back(name);
            if (state.values.items[i].empty() && counts_as_set(attribute, *value)) {
                state.values.items[i] = *value;
            }
        }
    }
}

// "~" and "~/..." become the home directory (HOME, or USERPROFILE on Windows); nothing when the
// home directory is unknown.
inline std::optional<std::string> expand_home(const std::string& path, const environment& env) {
    if (path.empty() || path.front() != '~') {
        return path;
    }
    if (path.size() > 1 && path[1] != '/' && path[1] != '\\') {
        return path;
    }

    auto home = env.get("HOME");
    if (!home) {
        home = env.get("USERPROFILE");
    }
    if (!home) {
        return std::nullopt;
    }
    return *home + path.substr(1);
}

inline result<ini_document> read_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return make_error(error_kind::config, "cannot open config file " + path);
    }

    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (in.bad()) {
        return make_error(error_kind::config, "cannot read config file " + path);
    }

    auto document = parse_ini(text);
    if (!document) {
        return make_error(error_kind::config,
                          "cannot parse config file " + path + ": " + document.error().message);
    }
    return document;
}

// Picks the profile the way PY `_known_file_config_loader` does: the named one, else
// [__settings__] default_profile, else a non-empty [DEFAULT]. Returns "" for "read nothing".
inline std::string choose_profile(const ini_document& document, const std::string& named) {
    if (!named.empty()) {
        return named;
    }

    if (const auto* settings = document.section("__settings__")) {
        const auto found = settings->find("default_profile");
        if (found != settings->end()) {
            const std::string chosen(trim_ini_space(found->second));
            if (!chosen.empty()) {
                return chosen;
            }
        }
    }

    const auto* fallback = document.section("DEFAULT");
    return fallback != nullptr && !fallback->empty() ? "DEFAULT" : "";
}

// Fills the attributes still unset from the chosen profile. A missing file is not an error, not
// even with a named profile or file (PY and GO both only log it).
inline result<void> load_profile(const environment& env, resolution& state) {
    // The SDKs also name azure_workspace_resource_id here; it is a credential attribute anyway.
    auto& values = state.values;
    if (values[attr::profile].empty() &&
        (state.any_credential_set() || !values[attr::host].empty())) {
        state.file_note = "config file not read (host or credentials were set and no profile was "
                          "named)";
        return {};
    }

    const std::string configured =
        values[attr::config_file].empty() ? "~/.databrickscfg" : values[attr::config_file];
    const auto path = expand_home(configured, env);
    if (!path) {
        state.file_note = "config file " + configured + " not read (HOME is not set)";
        return {};
    }

    std::error_code code;
    const auto type = std::filesystem::status(*path, code).type();
    if (type == std::filesystem::file_type::not_found) {
        state.file_note = "config file " + *path + " not found";
        return {};
    }
    if (type == std::filesystem::file_type::directory) {
        return state.fail("resolve: config file " + *path + " is a directory");
    }

    auto document = read_config_file(*path);
    if (!document) {
        return state.fail("resolve: " + document.error().message);
    }

    const std::string profile = choose_profile(*document, values[attr::profile]);
    if (profile.empty()) {
        state.file_note = "config file " + *path + " has no DEFAULT profile";
        return {};
    }

    // [__settings__] holds CLI settings, not credentials, and an empty DEFAULT is no profile
    // (PY reads DEFAULT through configparser's defaults()).
    const auto* section = profile == "__settings__" ? nullptr : document->section(profile);
    if (section == nullptr || (profile == "DEFAULT" && section->empty())) {
        return state.fail("resolve: " + *path + " has no " + profile + " profile configured");
    }

    // No merging with DEFAULT, and the file cannot redirect itself to another profile or file.
    for (std::size_t i = 0; i < attribute_count; ++i) {
        const auto& attribute = attribute_table[i];
        const auto a = static_cast<attr>(i);
        if (!values.items[i].empty() || a == attr::profile || a == attr::config_file) {
            continue;
        }
        auto found = section->find(std::string(attribute.name));
        if (found == section->end() && !attribute.file_alias.empty()) {
            found = section->find(std::string(attribute.file_alias));
        }
        if (found != section->end() && counts_as_set(attribute, found->second)) {
            values.items[i] = found->second;
        }
    }

    state.profile = profile;
    state.config_file = *path;
    state.file_note = "profile " + profile + " of config file " + *path;
    return {};
}

// A host reduced to scheme://host[:port], with the workspace and account ids found in its query.
struct host_parts {
    std::string host;
    std::string workspace_id;
    std::string account_id;
};

// GO fixHostIfNeeded: add https:// when no scheme is given, keep only scheme and authority, and
// take ?o= / ?workspace_id= (numeric), ?w=, ?a= / ?account_id= from URLs pasted from the UI.
inline result<host_parts> split_host(std::string_view raw) {
    const std::string_view trimmed = trim_ini_space(raw);
    if (trimmed.empty()) {
        return make_error(error_kind::config, "host is empty");
    }
    const std::string text = trimmed.find("://") == std::string_view::npos
                                 ? "https://" + std::string(trimmed)
                                 : std::string(trimmed);

    auto url = parse_url(text);
    if (!url) {
        return make_error(error_kind::config,
                          "invalid host " + redact_url(text) + ": " + url.error().message);
    }
    if (url->scheme != "https" && url->scheme != "http") {
        return make_error(error_kind::config, "invalid host " + redact_url(text) +
                                                  ": the scheme must be https (or http), not " +
                                                  url->scheme);
    }

    host_parts parts;
    parts.host = format_origin(*url);
    for (const char* name : {"o", "workspace_id", "w"}) {
        const auto value = query_parameter(url->path_and_query, name);
        const bool any_format = std::string_view(name) == "w";
        if (value && !value->empty() && (any_format || is_all_digits(*value))) {
            parts.workspace_id = *value;
            break;
        }
    }
    for (const char* name : {"a", "account_id"}) {
        const auto value = query_parameter(url->path_and_query, name);
        if (value && !value->empty()) {
            parts.account_id = *value;
            break;
        }
    }
    return parts;
}

inline result<void> fix_host(resolution& state) {
    auto& values = state.values;
    if (values[attr::host].empty()) {
        return {};
    }

    auto parts = split_host(values[attr::host]);
    if (!parts) {
        return state.fail(parts.error().message);
    }
    values[attr::host] = parts->host;
    if (values[attr::workspace_id].empty()) {
        values[attr::workspace_id] = parts->workspace_id;
    }
    if (values[attr::account_id].empty()) {
        values[attr::account_id] = parts->account_id;
    }
    return {};
}

// The auth groups ("pat", "oauth", "azure", ...) that have an attribute set, sorted.
inline std::set<std::string> auth_groups_set(const attribute_values& values) {
    std::set<std::string> groups;
    for (std::size_t i = 0; i < attribute_count; ++i) {
        if (!attribute_table[i].auth_group.empty() && !values.items[i].empty()) {
            groups.emplace(attribute_table[i].auth_group);
        }
    }
    return groups;
}

// PY `_validate` / GO `Validate`: credentials of two kinds and no auth_type is an error.
inline result<void> check_single_auth_group(const resolution& state) {
    const auto groups = auth_groups_set(state.values);
    if (groups.size() <= 1 || !state.values[attr::auth_type].empty()) {
        return {};
    }

    const std::vector<std::string> names(groups.begin(), groups.end());
    return state.fail("validate: more than one authorization method configured: " +
                      join(names, " and "));
}

template <std::size_t N>
std::vector<std::string> missing_attributes(const attribute_values& values,
                                            const std::array<attr, N>& needed) {
    std::vector<std::string> missing;
    for (attr a : needed) {
        if (values[a].empty()) {
            missing.emplace_back(info(a).name);
        }
    }
    return missing;
}

inline result<std::string> check_forced_auth_type(const resolution& state) {
    const std::string& forced = state.values[attr::auth_type];
    std::vector<std::string> missing;
    std::string needs;
    if (forced == "pat") {
        missing = missing_attributes(state.values, pat_attributes);
        needs = "host and token";
    } else if (forced == "oauth-m2m") {
        missing = missing_attributes(state.values, m2m_attributes);
        needs = "host, client_id and client_secret";
    } else if (is_sdk_auth_type(forced)) {
        return state.fail("default auth: auth_type " + forced + " is not supported by dbxserve; " +
                          "supported: " + std::string(supported_auth_types));
    } else {
        return state.fail("default auth: unknown auth_type " + forced +
                          "; supported: " + std::string(supported_auth_types));
    }

    if (!missing.empty()) {
        return state.fail("default auth: auth_type " + forced + " needs " + needs +
                          "; not set: " + join(missing, ", "));
    }
    return forced;
}

// What the "cannot configure" error adds to the SDK sentence: what is missing and what was read.
inline std::string explain_no_credentials(const resolution& state) {
    const auto& values = state.values;
    std::string hint = "dbxserve supports pat (host and token) and oauth-m2m (host, client_id "
                       "and client_secret)";
    std::vector<std::string> missing;
    if (!values[attr::token].empty()) {
        missing = missing_attributes(values, pat_attributes);
    } else if (!values[attr::client_id].empty() || !values[attr::client_secret].empty()) {
        missing = missing_attributes(values, m2m_attributes);
    }

    auto other_groups = auth_groups_set(values);
    other_groups.erase("pat");
    other_groups.erase("oauth");

    if (!missing.empty()) {
        hint += "; not set: " + join(missing, ", ");
    } else if (!other_groups.empty()) {
        const std::vector<std::string> names(other_groups.begin(), other_groups.end());
        hint += "; found only " + join(names, " and ") + " credentials, which it cannot use";
    }
    return hint + ". Checked: explicit config; environment variables (DATABRICKS_HOST, " +
           "DATABRICKS_TOKEN, DATABRICKS_CLIENT_ID, DATABRICKS_CLIENT_SECRET, ...); " +
           state.file_note;
}

// The first method of the SDKs' default chain that dbxserve implements and that has everything it
// needs; with auth_type set, only that one.
inline result<std::string> choose_auth_type(const resolution& state) {
    if (!state.values[attr::auth_type].empty()) {
        return check_forced_auth_type(state);
    }
    if (missing_attributes(state.values, pat_attributes).empty()) {
        return std::string("pat");
    }
    if (missing_attributes(state.values, m2m_attributes).empty()) {
        return std::string("oauth-m2m");
    }
    return state.fail("default auth: cannot configure default credentials, please check "
                      "https://docs.databricks.com/en/dev-tools/auth.html"
                      "#databricks-client-unified-authentication to configure credentials for "
                      "your preferred authentication method. " +
                      explain_no_credentials(state));
}

// PY _parse_scopes: split on commas and spaces, sort, drop duplicates; empty means the default.
inline std::vector<std::string> parse_scopes(std::string_view text) {
    std::vector<std::string> scopes;
    while (!text.empty()) {
        const std::size_t start = text.find_first_not_of(", ");
        if (start == std::string_view::npos) {
            break;
        }
        text.remove_prefix(start);
        const std::size_t stop = text.find_first_of(", ");
        scopes.emplace_back(text.substr(0, stop));
        text = stop == std::string_view::npos ? std::string_view() : text.substr(stop);
    }

    std::sort(scopes.begin(), scopes.end());
    scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
    if (scopes.empty()) {
        scopes.emplace_back("all-apis");
    }
    return scopes;
}

inline resolved_config make_resolved(resolution& state, std::string auth_type) {
    auto& values = state.values;
    resolved_config out;
    out.host = std::move(values[attr::host]);
    if (auth_type == "pat") {
        out.token = std::move(values[attr::token]);
    } else {
        out.client_id = std::move(values[attr::client_id]);
        out.client_secret = std::move(values[attr::client_secret]);
    }
    out.auth_type = std::move(auth_type);
    out.account_id = std::move(values[attr::account_id]);
    out.workspace_id = std::move(values[attr::workspace_id]);
    out.discovery_url = std::move(values[attr::discovery_url]);
    out.scopes = parse_scopes(values[attr::scopes]);
    out.profile = std::move(state.profile);
    out.config_file = std::move(state.config_file);
    out.env_vars = std::move(state.env_vars);
    return out;
}

} // namespace detail

// Resolves host and credentials like the Databricks SDKs' unified authentication:
// explicit values, then environment variables, then a ~/.databrickscfg profile; a later source
// never overrides an earlier one. Every failure is an error_kind::config error whose message says
// what was found, with secrets shown as ***.
//
//     dbxserve::config wanted;
//     wanted.profile = "prod";
//     auto cfg = dbxserve::resolve_config(wanted);
//     if (!cfg) { std::cerr << cfg.error().to_string() << "\n"; return 1; }
[[nodiscard]] inline result<resolved_config>
resolve_config(const config& explicit_values = {},
               const environment& env = environment::process()) {
    detail::resolution state;
    detail::load_explicit(explicit_values, state);
    detail::load_environment(env, state);

    auto loaded = detail::load_profile(env, state);
    if (!loaded) {
        return loaded.error();
    }

    auto fixed = detail::fix_host(state);
    if (!fixed) {
        return fixed.error();
    }

    auto single = detail::check_single_auth_group(state);
    if (!single) {
        return single.error();
    }

    auto auth_type = detail::choose_auth_type(state);
    if (!auth_type) {
        return auth_type.error();
    }
    return detail::make_resolved(state, std::move(*auth_type));
}

// "dbc-1.cloud.databricks.com/?o=1" -> "https://dbc-1.cloud.databricks.com": https:// added when
// no scheme is given; only scheme, host and a non-default port kept; scheme and host lower-cased.
[[nodiscard]] inline result<std::string> normalize_host(std::string_view host) {
    auto parts = detail::split_host(host);
    if (!parts) {
        return parts.error();
    }
    return std::move(parts->host);
}

} // namespace v0
} // namespace dbxserve
