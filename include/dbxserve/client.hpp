#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "call.hpp"
#include "cancellation.hpp"
#include "deadline.hpp"
#include "detail/http_error.hpp"
#include "detail/security.hpp"
#include "detail/sse.hpp"
#include "detail/url.hpp"
#include "events.hpp"
#include "executor.hpp"
#include "model/model.hpp"
#include "result.hpp"
#include "retry.hpp"
#include "transport.hpp"
#include "version.hpp"

namespace dbxserve {
inline namespace v0 {

struct client_options {
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};

    // Serving runs a request for up to 297 s; a shorter read timeout would abandon (and a retry
    // would duplicate) long agent calls.
    std::chrono::milliseconds read_timeout{std::chrono::seconds(300)};

    // Receives what the library does (requests, token fetches, refreshes), secrets redacted.
    event_hook on_event;

    // Sent with every invocation, e.g. tracing headers of the host application.
    header_list default_headers;

    // Prepended to the User-Agent, e.g. "my-game/1.4".
    std::string user_agent_product;

    // Sent as X-Databricks-Workspace-Id; when empty, the id the OAuth discovery learned from the
    // host metadata is sent instead (as the official SDKs do).
    std::string workspace_id;

    // Overall deadline of a call that sets none in its `call_options`: covers token fetches,
    // every attempt and the waits between retries.
    std::chrono::milliseconds call_timeout{std::chrono::minutes(10)};

    // What the default retry policy retries, and how long it waits: 429 and 503 and failures
    // before the request was sent, up to 5 attempts, full-jitter backoff from 1 s to 60 s,
    // Retry-After honoured.
    retry_options retry;

    // Worker threads of the executor that runs the `*_async` calls, created on first use.
    std::size_t async_threads = 2;

    // Runs the `*_async` calls instead of the client's own threads, e.g. a game engine's job
    // system. It must run every task it is given, on any thread.
    std::function<void(std::function<void()>)> executor;
};

// A parsed JSON reply of `invoke`, for payloads the typed model does not cover.
struct raw_response {
    nlohmann::json body;
    response_meta meta;
};

namespace detail {

constexpr const char* os_name() {
#if defined(_WIN32)
    return "windows";
#elif defined(__APPLE__)
    return "darwin";
#elif defined(__linux__)
    return "linux";
#else
    return "other";
#endif
}

constexpr long cpp_standard() {
#if defined(_MSVC_LANG)
    return (_MSVC_LANG / 100) % 100;
#else
    return (__cplusplus / 100) % 100;
#endif
}

// Invalid UTF-8 in a caller's string would make nlohmann's dump() throw (or abort with
// exceptions off); it is sent as U+FFFD instead.
inline std::string serialize(const nlohmann::json& body) {
    return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline bool valid_endpoint_name(std::string_view name) {
    if (name.empty() || name.size() > 128) {
        return false;
    }
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

} // namespace detail

namespace detail {

template <class Policy, class = void>
struct knows_workspace_id : std::false_type {};
template <class Policy>
struct knows_workspace_id<
    Policy, std::void_t<decltype(std::declval<const Policy&>().discovered_workspace_id())>>
    : std::true_type {};

// The reply type each request type is answered with.
template <class Request>
struct response_of;
template <>
struct response_of<chat_request> {
    using type = chat_completion;
};
template <>
struct response_of<completion_request> {
    using type = completion_response;
};
template <>
struct response_of<embedding_request> {
    using type = embedding_response;
};
template <>
struct response_of<tabular_request> {
    using type = prediction_response;
};
template <>
struct response_of<chat_agent_request> {
    using type = chat_agent_response;
};
template <>
struct response_of<responses_request> {
    using type = responses_response;
};

// The chunk type and accumulator of each streamable request type.
template <class Request>
struct stream_traits;
template <>
struct stream_traits<chat_request> {
    using chunk = chat_completion_chunk;
    using accumulator = chat_stream_accumulator;
    static bool terminal(const chunk& c) {
        return std::any_of(c.choices.begin(), c.choices.end(),
                           [](const chat_chunk_choice& choice) { return choice.finish_reason; });
    }
};
template <>
struct stream_traits<chat_agent_request> {
    using chunk = chat_agent_chunk;
    using accumulator = chat_agent_stream_accumulator;
    static bool terminal(const chunk& c) { return c.finish_reason.has_value(); }
};
template <>
struct stream_traits<responses_request> {
    using chunk = responses_stream_event;
    using accumulator = responses_stream_accumulator;
    static bool terminal(const chunk& c) { return c.is_completed(); }
};

// One call's deadline and cancellation. The caller's token and a timer at the deadline both
// cancel an internal source, so a stalled server or a slow token endpoint cannot hold the call
// past its deadline: the transport sees the cancellation and drops the connection.
class call_scope {
public:
    call_scope(const call_options& call, std::chrono::milliseconds default_timeout,
               timer_service& timers)
        : until_(deadline::after(call.timeout.value_or(default_timeout))),
          expired_(std::make_shared<std::atomic<bool>>(false)) {
        cancellation_source source = source_;
        link_ = call.cancel.on_cancel([source]() mutable { source.cancel(); });
        auto expired = expired_;
        timer_ = timers.schedule_at(until_.when(), [source, expired]() mutable {
            expired->store(true);
            source.cancel();
        });
    }

    call_scope(const call_scope&) = delete;
    call_scope& operator=(const call_scope&) = delete;

    ~call_scope() {
        timer_.cancel();
        link_.reset();
    }

    call_context context() const { return call_context{until_, source_.token()}; }
    const deadline& until() const { return until_; }
    cancellation_token token() const { return source_.token(); }

    // A cancellation that the deadline caused is reported as what it is: a timeout.
    error finish(error e) const {
        if (e.kind == error_kind::cancelled && expired_->load()) {
            e.kind = error_kind::timeout;
            e.message = "the call's deadline passed (" + e.message + ")";
        }
        return e;
    }

private:
    deadline until_;
    cancellation_source source_;
    std::shared_ptr<std::atomic<bool>> expired_;
    cancellation_registration link_;
    timer_handle timer_;
};

inline bool needs_new_token(const http_response& response) {
    if (response.status == 401) {
        return true;
    }
    // Some gateways answer an expired token with 403 rather than 401.
    if (response.status != 403) {
        return false;
    }
    std::string text = ascii_lower(response.body);
    return text.find("expired") != std::string::npos && text.find("token") != std::string::npos;
}

// Bodies kept in memory while streaming: an error reply, or a 2xx reply that is not an event
// stream (a server that ignored "stream": true). Events themselves are never buffered whole.
constexpr std::size_t max_buffered_error_body = 1 << 20;
constexpr std::size_t max_buffered_plain_body = 16 << 20;

// Turns the bytes of one streaming attempt into typed chunks for the caller.
template <class Request, class OnChunk>
class stream_sink {
public:
    using traits = stream_traits<Request>;
    using chunk_type = typename traits::chunk;

    explicit stream_sink(OnChunk& on_chunk) : on_chunk_(on_chunk) {}

    response_sink sink() {
        response_sink s;
        s.on_head = [this](int status, const header_list& headers) {
            return on_head(status, headers);
        };
        s.on_data = [this](std::string_view bytes) { return on_data(bytes); };
        return s;
    }

    bool on_head(int status, const header_list& headers) {
        // A new attempt (after a 401 or a 429) starts from nothing.
        status_ = status;
        body_.clear();
        parser_.reset();
        accumulator_ = typename traits::accumulator();
        complete_ = false;
        const std::string type = ascii_lower(headers.get("Content-Type"));
        event_stream_ = ok() && type.find("text/event-stream") != std::string::npos;
        return true;
    }

    bool on_data(std::string_view bytes) {
        if (!event_stream_) {
            const std::size_t cap = ok() ? max_buffered_plain_body : max_buffered_error_body;
            if (body_.size() + bytes.size() > cap) {
                failure_ = make_error(error_kind::parse, "reply body exceeds the buffering limit");
                return !ok(); // keep reading an error reply: its head is what matters
            }
            body_.append(bytes.data(), bytes.size());
            return true;
        }
        auto fed = parser_.feed(bytes, [this](const sse_event& event) { return on_event(event); });
        if (!fed) {
            failure_ = fed.error();
            return false;
        }
        return *fed;
    }

    // Called when the body ended normally: an event the server did not terminate still counts.
    void finish() {
        if (event_stream_ && !failure_ && !stopped_) {
            auto done = parser_.finish([this](const sse_event& event) { return on_event(event); });
            if (!done) {
                failure_ = done.error();
            }
        }
    }

    bool ok() const { return status_ >= 200 && status_ <= 299; }
    bool event_stream() const { return event_stream_; }
    bool stopped_by_caller() const { return stopped_; }
    bool complete() const { return complete_; }
    const std::optional<error>& failure() const { return failure_; }
    std::string& body() { return body_; }
    auto result() const { return accumulator_.result(); }

private:
    bool on_event(const sse_event& event) {
        if (is_done_sentinel(event)) {
            complete_ = true;
            return true;
        }
        if (event.data.empty()) {
            return true;
        }
        auto parsed = parse_stream_chunk<chunk_type>(event.data);
        if (!parsed) {
            failure_ = parsed.error();
            return false;
        }
        accumulator_.add(*parsed);
        complete_ = complete_ || traits::terminal(*parsed);
        if (!on_chunk_(*parsed)) {
            stopped_ = true;
            return false;
        }
        return true;
    }

    OnChunk& on_chunk_;
    int status_ = 0;
    bool event_stream_ = false;
    bool complete_ = false;
    bool stopped_ = false;
    std::string body_;
    sse_parser parser_;
    typename traits::accumulator accumulator_;
    std::optional<error> failure_;
};

// The sink type of a buffered (non-streaming) call: never dereferenced.
struct buffered_reply {
    response_sink sink() { return {}; }
    bool ok() const { return true; }
    bool event_stream() const { return true; }
    std::string& body() { return unused; }
    std::string unused;
};

constexpr buffered_reply* no_sink() {
    return nullptr;
}

} // namespace detail

// Queries Databricks serving endpoints. `Transport` moves bytes (see transport.hpp),
// `TokenPolicy` supplies the Authorization header (see auth/static_token.hpp), `RetryPolicy`
// decides what is retried (see retry.hpp); `dbxserve::client` is the usual combination, made by
// `dbxserve::make_client`. Safe to use from many threads at once; copies share one client.
//
//     auto client = dbxserve::make_client();          // environment / ~/.databrickscfg
//     if (!client) { ... client.error().to_string() ... }
//     dbxserve::chat_request request;
//     request.messages.push_back(dbxserve::chat_message::user("Hello"));
//     auto reply = client->query("my-agent", request);
//
// Every call takes optional `call_options` (cancellation, overall timeout) and has an async twin
// returning a std::future or taking a completion callback.
template <class Transport, class TokenPolicy, class RetryPolicy = retry_policy>
class basic_client {
public:
    // Fails with a config error when `host` is not a usable https:// URL (plain http:// is
    // accepted for loopback test servers only).
    static result<basic_client> create(std::string host, Transport transport, TokenPolicy policy,
                                       client_options options = {}) {
        RetryPolicy retry = default_retry(options);
        return create(std::move(host), std::move(transport), std::move(policy), std::move(options),
                      std::move(retry));
    }

    static result<basic_client> create(std::string host, Transport transport, TokenPolicy policy,
                                       client_options options, RetryPolicy retry) {
        while (!host.empty() && host.back() == '/') {
            host.pop_back();
        }
        auto secure = detail::require_secure_url(host, "host");
        if (!secure) {
            return secure.error();
        }
        return basic_client(std::make_shared<state>(std::move(host), std::move(transport),
                                                    std::move(policy), std::move(options),
                                                    std::move(retry)));
    }

    result<chat_completion> query(std::string_view endpoint, const chat_request& request,
                                  const call_options& call = {}) const {
        return typed_query(endpoint, request, call);
    }
    result<completion_response> query(std::string_view endpoint, const completion_request& request,
                                      const call_options& call = {}) const {
        return typed_query(endpoint, request, call);
    }
    result<embedding_response> query(std::string_view endpoint, const embedding_request& request,
                                     const call_options& call = {}) const {
        return typed_query(endpoint, request, call);
    }
    result<prediction_response> query(std::string_view endpoint, const tabular_request& request,
                                      const call_options& call = {}) const {
        return typed_query(endpoint, request, call);
    }
    result<chat_agent_response> query(std::string_view endpoint, const chat_agent_request& request,
                                      const call_options& call = {}) const {
        return typed_query(endpoint, request, call);
    }
    result<responses_response> query(std::string_view endpoint, const responses_request& request,
                                     const call_options& call = {}) const {
        return typed_query(endpoint, request, call);
    }

    // Sends any JSON body and returns the JSON reply, for fields and formats the model lacks.
    result<raw_response> invoke(std::string_view endpoint, const nlohmann::json& body,
                                const call_options& call = {}) const {
        detail::call_scope scope(call, state_->options.call_timeout, *state_->timers);
        auto response = execute(endpoint, detail::serialize(body), scope, detail::no_sink());
        if (!response) {
            return response.error();
        }
        auto parsed = nlohmann::json::parse(response->body, nullptr, false);
        if (parsed.is_discarded()) {
            error e = make_error(error_kind::parse,
                                 "response body is not JSON: " + detail::excerpt(response->body));
            e.http_status = response->status;
            e.request_id = response->headers.get("x-request-id");
            return e;
        }
        return raw_response{std::move(parsed), make_response_meta(*response)};
    }

    // Streams a chat, ChatAgent or ResponsesAgent reply: sends "stream": true and calls
    // `on_chunk` with each typed chunk as it arrives (return false to stop early). Returns the
    // chunks joined into the reply a plain query would have returned; after an early stop, what
    // arrived until then. Nothing buffers the whole stream.
    //
    //     auto reply = client.stream("chat", request, [](const dbxserve::chat_completion_chunk& c)
    //     {
    //         std::cout << c.text() << std::flush;
    //         return true;
    //     });
    template <class Request, class OnChunk>
    auto stream(std::string_view endpoint, Request request, OnChunk&& on_chunk,
                const call_options& call = {}) const
        -> result<typename detail::response_of<Request>::type> {
        using reply_type = typename detail::response_of<Request>::type;
        request.stream = true;
        const nlohmann::json body = request;

        detail::call_scope scope(call, state_->options.call_timeout, *state_->timers);
        detail::stream_sink<Request, std::remove_reference_t<OnChunk>> sink(on_chunk);
        auto response = execute(endpoint, detail::serialize(body), scope, &sink);
        if (sink.stopped_by_caller()) {
            return sink.result();
        }
        if (sink.failure() && sink.ok()) {
            return *sink.failure();
        }
        if (!response) {
            return response.error();
        }

        if (!sink.event_stream()) {
            return parse_response<reply_type>(*response); // the server ignored "stream": true
        }
        sink.finish();
        if (sink.failure()) {
            return *sink.failure();
        }
        if (!sink.complete()) {
            error e = make_error(error_kind::transport, "the stream ended before it was complete");
            e.request_may_have_been_sent = true;
            e.http_status = response->status;
            e.request_id = response->headers.get("x-request-id");
            return e;
        }
        reply_type reply = sink.result();
        reply.meta = make_response_meta(*response);
        return reply;
    }

    // Async twins: the call runs on the client's executor and its result arrives through a
    // std::future, or through `on_done` (called on an executor thread).
    template <class Request>
    auto query_async(std::string_view endpoint, Request request, call_options call = {}) const
        -> std::future<result<typename detail::response_of<Request>::type>> {
        return run_async<typename detail::response_of<Request>::type>(
            [self = *this, ep = std::string(endpoint), request = std::move(request), call] {
                return self.query(ep, request, call);
            });
    }
    template <class Request, class OnDone>
    void query_async(std::string_view endpoint, Request request, OnDone on_done,
                     call_options call = {}) const {
        post([self = *this, ep = std::string(endpoint), request = std::move(request), call,
              on_done = std::move(on_done)]() mutable { on_done(self.query(ep, request, call)); });
    }

    std::future<result<raw_response>> invoke_async(std::string_view endpoint, nlohmann::json body,
                                                   call_options call = {}) const {
        return run_async<raw_response>([self = *this, ep = std::string(endpoint),
                                        body = std::move(body),
                                        call] { return self.invoke(ep, body, call); });
    }
    template <class OnDone>
    void invoke_async(std::string_view endpoint, nlohmann::json body, OnDone on_done,
                      call_options call = {}) const {
        post([self = *this, ep = std::string(endpoint), body = std::move(body), call,
              on_done = std::move(on_done)]() mutable { on_done(self.invoke(ep, body, call)); });
    }

    // `on_chunk` runs on an executor thread.
    template <class Request, class OnChunk>
    auto stream_async(std::string_view endpoint, Request request, OnChunk on_chunk,
                      call_options call = {}) const
        -> std::future<result<typename detail::response_of<Request>::type>> {
        return run_async<typename detail::response_of<Request>::type>(
            [self = *this, ep = std::string(endpoint), request = std::move(request),
             on_chunk = std::move(on_chunk),
             call]() mutable { return self.stream(ep, request, on_chunk, call); });
    }
    template <class Request, class OnChunk, class OnDone>
    void stream_async(std::string_view endpoint, Request request, OnChunk on_chunk, OnDone on_done,
                      call_options call = {}) const {
        post([self = *this, ep = std::string(endpoint), request = std::move(request),
              on_chunk = std::move(on_chunk), on_done = std::move(on_done),
              call]() mutable { on_done(self.stream(ep, request, on_chunk, call)); });
    }

    const std::string& host() const { return state_->host; }
    TokenPolicy& token_policy() const { return state_->policy; }
    Transport& transport() const { return *state_->transport; }

private:
    struct state {
        state(std::string h, Transport t, TokenPolicy p, client_options o, RetryPolicy r)
            : host(std::move(h)), transport(std::make_shared<Transport>(std::move(t))),
              policy(std::move(p)), retry(std::move(r)), options(std::move(o)),
              timers(std::make_shared<timer_service>()) {
            // The policy keeps the transport alive through its own handle, so a background
            // token refresh never outlives what it sends with.
            auto shared = transport;
            policy.bind([shared](const http_request& req) { return shared->send(req); },
                        options.on_event);
            user_agent = options.user_agent_product.empty() ? "" : options.user_agent_product + " ";
            user_agent += std::string("dbxserve/") + version() + " cpp/" +
                          std::to_string(detail::cpp_standard()) + " os/" + detail::os_name() +
                          " auth/" + policy.auth_type();
        }

        std::string host;
        std::shared_ptr<Transport> transport;
        TokenPolicy policy;
        RetryPolicy retry;
        client_options options;
        std::string user_agent;
        std::shared_ptr<timer_service> timers;

        std::mutex pool_mutex;
        std::shared_ptr<thread_pool> pool; // created by the first async call
    };

    explicit basic_client(std::shared_ptr<state> s) : state_(std::move(s)) {}

    static RetryPolicy default_retry(const client_options& options) {
        if constexpr (std::is_constructible_v<RetryPolicy, retry_options>) {
            return RetryPolicy(options.retry);
        } else {
            return RetryPolicy();
        }
    }

    template <class Request>
    auto typed_query(std::string_view endpoint, const Request& request,
                     const call_options& call) const
        -> result<typename detail::response_of<Request>::type> {
        if constexpr (std::is_same_v<Request, tabular_request>) {
            auto valid = request.validate();
            if (!valid) {
                return valid.error();
            }
        }
        const nlohmann::json body = request;
        detail::call_scope scope(call, state_->options.call_timeout, *state_->timers);
        auto response = execute(endpoint, detail::serialize(body), scope, detail::no_sink());
        if (!response) {
            return response.error();
        }
        return parse_response<typename detail::response_of<Request>::type>(*response);
    }

    // One invocation: authorisation, the attempts the retry policy allows, and the mapping of
    // the final reply to a value or an error. `sink` is null for buffered replies.
    template <class Sink>
    result<http_response> execute(std::string_view endpoint, std::string body,
                                  const detail::call_scope& scope, Sink* sink) const {
        if (!detail::valid_endpoint_name(endpoint)) {
            return make_error(error_kind::invalid_input,
                              "invalid serving endpoint name '" + std::string(endpoint) +
                                  "': use letters, digits, '-', '_' and '.'");
        }

        http_request request;
        request.method = "POST";
        request.url = state_->host + "/serving-endpoints/" + std::string(endpoint) + "/invocations";
        for (const auto& [name, value] : state_->options.default_headers) {
            request.headers.add(name, value);
        }
        request.headers.set("Accept", sink != nullptr ? "text/event-stream" : "application/json");
        request.headers.set("Content-Type", "application/json");
        request.headers.set("User-Agent", state_->user_agent);
        request.body = std::move(body);
        request.cancel = scope.token();

        auto attempt = [&](int) { return send_authorized(request, scope, sink); };
        auto on_retry = [&](int n, std::chrono::milliseconds delay) {
            emit(event_level::warning, "http.retry",
                 "attempt " + std::to_string(n) + " at " + request.url + " failed; retrying in " +
                     std::to_string(delay.count()) + " ms");
        };
        auto response =
            run_with_retries(state_->retry, scope.until(), scope.token(), attempt, on_retry);
        if (!response) {
            return scope.finish(response.error());
        }
        if (response->status < 200 || response->status > 299) {
            error e = detail::error_from_response(*response);
            e.retry_after = parse_retry_after(response->headers.get("Retry-After"),
                                              std::chrono::system_clock::now());
            return e;
        }
        return response;
    }

    // Attaches the token and sends. A 401 (or a 403 saying the token expired) means the server
    // no longer accepts a token we still considered valid (revoked, or rotated early): drop it
    // and send once more with a fresh one.
    template <class Sink>
    result<http_response> send_authorized(http_request& request, const detail::call_scope& scope,
                                          Sink* sink) const {
        if (!detail::same_origin(request.url, state_->host)) {
            return make_error(error_kind::invalid_input,
                              "refusing to send the token to a host other than " + state_->host);
        }

        std::string used;
        for (int round = 0;; ++round) {
            auto authorization = state_->policy.authorization(scope.context());
            if (!authorization) {
                return scope.finish(authorization.error());
            }
            used = *authorization;
            request.headers.set("Authorization", used);
            set_workspace_id(request);

            const auto left = scope.until().remaining();
            request.connect_timeout = std::min(state_->options.connect_timeout, left);
            request.read_timeout = std::min(state_->options.read_timeout, left);
            emit(event_level::debug, "http.request", request.method + " " + request.url);
            auto response = sink != nullptr ? state_->transport->send(request, sink->sink())
                                            : state_->transport->send(request);
            if (!response) {
                return response;
            }
            // An error reply, or a 2xx that is not an event stream, was buffered by the sink.
            if (sink != nullptr && (!sink->ok() || !sink->event_stream())) {
                response->body = std::move(sink->body());
            }
            emit(event_level::debug, "http.response",
                 std::to_string(response->status) + " " + request.url + " request-id " +
                     response->headers.get("x-request-id"));

            if (round > 0 || !detail::needs_new_token(*response)) {
                return response;
            }
            state_->policy.invalidate(used);
            auto fresh = state_->policy.authorization(scope.context());
            if (!fresh || *fresh == used) {
                return response; // the policy has nothing newer to offer
            }
        }
    }

    // The official SDKs send the workspace id whenever they know it, configured or learned
    // from the host metadata during OAuth discovery (which has run once a token exists).
    void set_workspace_id(http_request& request) const {
        std::string id = state_->options.workspace_id;
        if constexpr (detail::knows_workspace_id<TokenPolicy>::value) {
            if (id.empty()) {
                id = state_->policy.discovered_workspace_id();
            }
        }
        if (!id.empty()) {
            request.headers.set("X-Databricks-Workspace-Id", id);
        }
    }

    template <class Reply, class Work>
    std::future<result<Reply>> run_async(Work work) const {
        auto promise = std::make_shared<std::promise<result<Reply>>>();
        auto future = promise->get_future();
        post([promise, work = std::move(work)]() mutable { promise->set_value(work()); });
        return future;
    }

    template <class Task>
    void post(Task task) const {
        if (state_->options.executor) {
            state_->options.executor(std::function<void()>(std::move(task)));
            return;
        }
        std::shared_ptr<thread_pool> pool;
        {
            std::lock_guard<std::mutex> lock(state_->pool_mutex);
            if (!state_->pool) {
                state_->pool = std::make_shared<thread_pool>(
                    std::max<std::size_t>(1, state_->options.async_threads));
            }
            pool = state_->pool;
        }
        pool->post(std::function<void()>(std::move(task)));
    }

    void emit(event_level level, const char* name, std::string message) const {
        if (state_->options.on_event) {
            state_->options.on_event(event{level, name, std::move(message)});
        }
    }

    std::shared_ptr<state> state_;
};

} // namespace v0
} // namespace dbxserve
