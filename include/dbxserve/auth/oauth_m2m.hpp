#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../call.hpp"
#include "../detail/base64.hpp"
#include "../detail/http_error.hpp"
#include "../detail/oidc_discovery.hpp"
#include "../detail/security.hpp"
#include "../detail/url.hpp"
#include "../events.hpp"
#include "../result.hpp"
#include "../retry.hpp"
#include "../transport.hpp"

namespace dbxserve {
inline namespace v0 {

struct oauth_m2m_options {
    std::string host; // workspace (or account) URL, normalised
    std::string client_id;
    std::string client_secret;
    std::vector<std::string> scopes{"all-apis"};

    // Skip discovery and use this token endpoint, or discover it from this document.
    std::string token_endpoint;
    std::string discovery_url;
    std::string account_id; // needed for account hosts
    bool account_host = false;

    // Optional JSON array restricting the token (OAuth authorization details).
    std::string authorization_details;

    // A token is never sent in its last `expiry_margin` (Azure rejects tokens with 30 s left).
    std::chrono::seconds expiry_margin{40};

    // Refresh in the background once a token enters its last min(TTL/2, max_stale_window), while
    // callers keep using it; off means every refresh blocks the callers that need it.
    bool async_refresh = true;
    std::chrono::seconds max_stale_window{std::chrono::minutes(20)};

    // After a failed background refresh, wait this long before trying again in the background.
    std::chrono::seconds async_retry_backoff{60};

    // Per attempt at the token endpoint; all attempts of one token request share a one-minute
    // budget (or the calling query's deadline, when that is sooner).
    std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};

    // Retries of the token request: 429, 502, 503, 504 and network failures (PROTOCOL 1.6).
    retry_options token_retry = token_endpoint_retry_options();

    // Monotonic clock, replaceable by tests.
    std::function<std::chrono::steady_clock::time_point()> clock;
};

namespace detail {

struct oauth_token {
    std::string authorization; // "Bearer <access token>"
    std::chrono::steady_clock::time_point expiry;
    std::chrono::steady_clock::time_point stale_at;
};

inline result<long long> read_expires_in(const nlohmann::json& body) {
    const auto it = body.find("expires_in");
    if (it != body.end() && it->is_number_integer()) {
        return it->get<long long>();
    }
    if (it != body.end() && it->is_number_float()) {
        return static_cast<long long>(it->get<double>());
    }
    if (it != body.end() && it->is_string()) {
        const auto& text = it->get_ref<const std::string&>();
        long long value = 0;
        bool digits = !text.empty();
        for (char c : text) {
            digits = digits && c >= '0' && c <= '9';
            value = digits ? value * 10 + (c - '0') : value;
        }
        if (digits) {
            return value;
        }
    }
    return make_error(error_kind::auth, "token response has no valid expires_in");
}

// A token endpoint failure, in OAuth's shape ({error, error_description}) or Okta's
// ({errorCode, errorSummary}), falling back to the generic Databricks error reading.
inline error oauth_error_from_response(const http_response& response) {
    error e = error_from_response(response);
    e.kind = error_kind::auth;

    const auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        return e;
    }
    std::string code = json_text(body, "error");
    std::string description = json_text(body, "error_description");
    if (code.empty()) {
        code = json_text(body, "errorCode");
        description = json_text(body, "errorSummary");
    }
    if (!code.empty()) {
        e.error_code = code;
        e.message = description.empty() ? "token request refused" : description;
    }
    return e;
}

} // namespace detail

// OAuth machine-to-machine authentication for a Databricks service principal: the
// client-credentials grant against the workspace's token endpoint, with the token cached and
// refreshed before it expires.
//
// Freshness follows the official SDKs: once a token enters its stale window (the last
// min(TTL/2, 20 min)) one background refresh starts while callers keep using the still-valid
// token; a token is never used in its last 40 s (callers then wait for a blocking refresh); at
// most one token request is in flight however many threads call. Expiry is measured on a
// monotonic clock from `expires_in`, so wall-clock jumps cannot make a token look valid.
//
//     dbxserve::oauth_m2m_options o;
//     o.host = "https://dbc-1234.cloud.databricks.com";
//     o.client_id = "...";  o.client_secret = "...";
//     dbxserve::oauth_m2m policy(std::move(o));
//
// Copies share one token cache.
class oauth_m2m {
public:
    explicit oauth_m2m(oauth_m2m_options options) : state_(std::make_shared<state>()) {
        if (!options.clock) {
            options.clock = [] { return std::chrono::steady_clock::now(); };
        }
        state_->retry = retry_policy(options.token_retry);
        state_->options = std::move(options);
    }

    void bind(http_sender sender, event_hook hook) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->sender = std::move(sender);
        state_->hook = std::move(hook);
    }

    // The Authorization header value for the next request. Waits for a token no longer than the
    // call's deadline allows, and gives up when the call is cancelled.
    result<std::string> authorization(const call_context& call = {}) {
        return state_->authorization(call);
    }

    // The server refused `authorization` (a 401): forget it, so the next call fetches a new token.
    void invalidate(const std::string& authorization) { state_->invalidate(authorization); }

    const char* auth_type() const { return "oauth-m2m"; }

    // Token requests sent so far (including discovery-less retries), for diagnostics and tests.
    std::size_t token_requests() const { return state_->token_requests.load(); }

    // The workspace id the host metadata reported, "" until discovery has run.
    std::string discovered_workspace_id() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->workspace_id;
    }

private:
    using time_point = std::chrono::steady_clock::time_point;

    struct state {
        ~state() {
            // The background refresh uses this object: stop it (it is cancellable at every
            // step) and wait, rather than let it touch freed memory.
            shutdown.cancel();
            if (background.joinable()) {
                background.join();
            }
        }

        result<std::string> authorization(const call_context& call) {
            std::unique_lock<std::mutex> lock(mutex);
            for (;;) {
                const time_point now = options.clock();
                if (token_usable(now)) {
                    if (options.async_refresh && now >= token->stale_at && !refreshing &&
                        now >= next_async_attempt) {
                        start_background_refresh();
                    }
                    return token->authorization;
                }

                // No usable token. If a refresh (of either kind) is running, its result is what
                // we need: wait for it instead of sending a second token request.
                if (refreshing) {
                    auto waited = wait_for_refresh(lock, call);
                    if (!waited) {
                        return waited.error();
                    }
                    if (last_failure && !token_usable(options.clock()) &&
                        !ended_by_its_caller(*last_failure)) {
                        return *last_failure;
                    }
                    continue;
                }

                refreshing = true;
                lock.unlock();
                auto fetched = fetch(call);
                lock.lock();
                finish_refresh(fetched);
                if (!fetched) {
                    return fetched.error();
                }
                return token->authorization;
            }
        }

        // Waits in short slices, so that this caller's deadline and cancellation are noticed
        // while another thread's token request is still running.
        result<void> wait_for_refresh(std::unique_lock<std::mutex>& lock,
                                      const call_context& call) {
            while (refreshing) {
                if (call.cancel.cancelled()) {
                    return make_error(error_kind::cancelled, "cancelled while waiting for a token");
                }
                if (call.until.expired()) {
                    return make_error(error_kind::timeout,
                                      "deadline passed while waiting for an OAuth token");
                }
                const auto slice = std::min<std::chrono::milliseconds>(
                    std::chrono::milliseconds(10), call.until.remaining());
                refreshed.wait_for(lock, slice);
            }
            return {};
        }

        // A refresh that ended because its own caller gave up says nothing about the token
        // endpoint: the next waiter then tries for itself.
        static bool ended_by_its_caller(const error& e) {
            return e.kind == error_kind::cancelled || e.kind == error_kind::timeout;
        }

        bool token_usable(time_point now) const {
            return token && now + options.expiry_margin < token->expiry;
        }

        void invalidate(const std::string& authorization) {
            std::lock_guard<std::mutex> lock(mutex);
            if (token && token->authorization == authorization) {
                token.reset();
            }
        }

        // Called with the mutex held and `refreshing` false.
        void start_background_refresh() {
            refreshing = true;
            if (background.joinable()) {
                background.join(); // finished already: `refreshing` was false
            }
            // The user's hook runs outside the mutex, so it may call back into the client.
            background = std::thread([this] {
                emit(event_level::debug, "token.refresh.background",
                     "token is in its stale window; refreshing in the background");
                call_context background_call;
                background_call.cancel = shutdown.token();
                auto fetched = fetch(background_call);
                if (!fetched) {
                    emit(event_level::warning, "token.refresh.failed",
                         "background token refresh failed: " + fetched.error().to_string());
                }
                std::lock_guard<std::mutex> lock(mutex);
                if (!fetched) {
                    next_async_attempt = options.clock() + options.async_retry_backoff;
                }
                finish_refresh(fetched);
            });
        }

        // Called with the mutex held.
        void finish_refresh(const result<detail::oauth_token>& fetched) {
            refreshing = false;
            if (fetched) {
                token = *fetched;
                last_failure.reset();
            } else {
                last_failure = fetched.error();
            }
            refreshed.notify_all();
        }

        result<std::string> endpoint(const deadline& budget) {
            {
                std::lock_guard<std::mutex> lock(mutex);
                if (!token_endpoint.empty()) {
                    return token_endpoint;
                }
                if (!options.token_endpoint.empty()) {
                    token_endpoint = options.token_endpoint;
                    return token_endpoint;
                }
            }

            detail::discovery_inputs in;
            in.host = options.host;
            in.discovery_url = options.discovery_url;
            in.account_id = options.account_id;
            in.account_host = options.account_host;
            in.timeout = std::min(options.request_timeout, budget.remaining());
            auto found = detail::discover_endpoints(sender, in, hook);
            if (!found) {
                return found.error();
            }

            std::lock_guard<std::mutex> lock(mutex);
            token_endpoint = found->token_endpoint;
            workspace_id = found->workspace_id;
            return token_endpoint;
        }

        // Runs without the mutex held; only one call is in flight at a time (`refreshing`).
        result<detail::oauth_token> fetch(const call_context& call) {
            if (!sender) {
                return make_error(error_kind::auth, "oauth-m2m policy is not bound to a transport");
            }
            const deadline budget =
                deadline::after(token_endpoint_retry_budget).earlier_of(call.until);
            auto url = endpoint(budget);
            if (!url) {
                return url.error();
            }
            auto secure = detail::require_secure_url(*url, "token endpoint");
            if (!secure) {
                return secure.error();
            }

            http_request request;
            request.method = "POST";
            request.url = *url;
            request.cancel = call.cancel;
            request.headers.add("Accept", "application/json");
            request.headers.add("Content-Type", "application/x-www-form-urlencoded");
            // RFC 6749 2.3.1: id and secret are form-encoded before Basic encoding, as the Go
            // and JS SDKs do; for the usual UUID ids and alphanumeric secrets it changes nothing.
            request.headers.add(
                "Authorization",
                "Basic " + detail::base64_encode(detail::percent_encode(options.client_id) + ":" +
                                                 detail::percent_encode(options.client_secret)));
            request.body = form_body();

            emit(event_level::info, "token.fetch", "requesting an OAuth token from " + *url);
            time_point sent_at = options.clock();
            auto send_once = [&](int) {
                const auto left = budget.remaining();
                request.connect_timeout = std::min(options.request_timeout, left);
                request.read_timeout = std::min(options.request_timeout, left);
                ++token_requests;
                sent_at = options.clock();
                return sender(request);
            };
            auto on_retry = [&](int attempt, std::chrono::milliseconds delay) {
                emit(event_level::warning, "token.retry",
                     "token request attempt " + std::to_string(attempt) + " failed; retrying in " +
                         std::to_string(delay.count()) + " ms");
            };
            auto response = run_with_retries(retry, budget, call.cancel, send_once, on_retry);
            if (!response) {
                error e = response.error();
                e.message = "token request failed: " + e.message;
                return e;
            }
            if (response->status != 200) {
                return detail::oauth_error_from_response(*response);
            }
            return read_token(*response, sent_at);
        }

        std::string form_body() const {
            std::vector<std::string> scopes = options.scopes;
            std::sort(scopes.begin(), scopes.end());
            scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
            std::string scope;
            for (const auto& s : scopes) {
                scope += (scope.empty() ? "" : " ") + s;
            }

            std::vector<std::pair<std::string, std::string>> fields{
                {"grant_type", "client_credentials"}, {"scope", scope}};
            if (!options.authorization_details.empty()) {
                fields.emplace_back("authorization_details", options.authorization_details);
            }
            return detail::form_encode(fields);
        }

        // Expiry counts from when the request was sent: the server's clock started the TTL no
        // earlier than that, so the local estimate errs on the safe side.
        result<detail::oauth_token> read_token(const http_response& response,
                                               time_point sent_at) const {
            const auto body = nlohmann::json::parse(response.body, nullptr, false);
            if (body.is_discarded() || !body.is_object()) {
                error e = make_error(error_kind::auth, "token response is not a JSON object");
                e.http_status = response.status;
                return e;
            }
            const std::string access_token = detail::json_text(body, "access_token");
            if (access_token.empty()) {
                return make_error(error_kind::auth, "token response has no access_token");
            }
            auto expires_in = detail::read_expires_in(body);
            if (!expires_in) {
                return expires_in.error();
            }

            detail::oauth_token token;
            token.authorization = "Bearer " + access_token;
            const std::chrono::seconds ttl(*expires_in);
            token.expiry = sent_at + ttl;
            token.stale_at =
                token.expiry - std::min<std::chrono::seconds>(ttl / 2, options.max_stale_window);
            return token;
        }

        void emit(event_level level, const char* name, std::string message) const {
            if (hook) {
                hook(event{level, name, std::move(message)});
            }
        }

        oauth_m2m_options options;
        retry_policy retry;
        cancellation_source shutdown;
        http_sender sender;
        event_hook hook;

        mutable std::mutex mutex;
        std::condition_variable refreshed;
        std::optional<detail::oauth_token> token;
        std::optional<error> last_failure;
        bool refreshing = false;
        time_point next_async_attempt{};
        std::thread background;
        std::string token_endpoint;
        std::string workspace_id;
        std::atomic<std::size_t> token_requests{0};
    };

    std::shared_ptr<state> state_;
};

} // namespace v0
} // namespace dbxserve
