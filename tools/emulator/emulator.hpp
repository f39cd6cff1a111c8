// In-process Databricks workspace emulator for dbxserve's tests.
//
// It speaks the subset of the workspace API a serving client touches: host metadata,
// OIDC discovery, the client-credentials token endpoint and serving-endpoint
// invocations, over plain HTTP or TLS, on loopback only. The HTTP server lives in
// emulator.cpp so that tests including this header do not pay for httplib.h.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dbxserve::emulator {

// Which requests a fault hits. `target` names a serving endpoint, "token" for the token
// endpoint, or "*" for every serving endpoint and the token endpoint (host metadata and
// OIDC discovery are never faulted: SDKs fetch them once and a fault there only tests the
// SDK's startup). `count` is how many of the next matching requests the fault hits: -1 for
// all of them, 0 for none.
struct fault_scope {
    std::string target = "*";
    int count = 0;
};

// An error status in Databricks' shape, answered before authentication and before the
// model sees the request, so it is never "processed".
struct status_fault {
    fault_scope scope;
    // Sent as Retry-After when set: delta-seconds, or with retry_after_http_date an
    // IMF-fixdate that many seconds ahead (both forms are legal, RFC 9110 10.2.3).
    std::optional<int> retry_after_seconds;
    bool retry_after_http_date = false;
};

struct delay_fault {
    fault_scope scope;
    std::chrono::milliseconds delay{0}; // capped at 30 s; stop() interrupts it
};

struct stream_error_fault {
    fault_scope scope;
    std::size_t after_chunks = 1; // data events sent before the error event
    std::string message = "The model failed while generating the reply.";
    std::string code = "INTERNAL_ERROR";
};

// Token endpoint faults have no target: the token endpoint is the only one they fit.
struct token_fail_fault {
    int count = 0;
    int status = 503; // 500 (server_error) or 503 (temporarily_unavailable)
};

struct token_hang_fault {
    int count = 0;
    std::chrono::milliseconds delay{0}; // capped at 30 s; stop() interrupts it
};

// Faults applied to requests the request hook lets through, in this order: the delays
// before headers, then one of 429 / 503 / token failure, then the model, then the body
// faults. Body and stream faults only hit 200 replies the emulator generated, so an auth
// error or a non-stream reply does not use up a count meant for a later request.
struct fault_plan {
    status_fault status_429{{}, 1, false}; // Retry-After: 1 unless changed
    status_fault status_503;
    // Status line, headers (true Content-Length) and half the body, then the connection
    // is dropped without a TLS close_notify. Streams drop after half their events, with
    // no terminating chunk. The request counts as processed.
    fault_scope reset_mid_body;
    delay_fault stall_before_headers;
    // Plain replies: half the body, the stall, the rest. Streams: the stall sits halfway
    // through the events, with nothing sent meanwhile.
    delay_fault stall_during_body;
    token_fail_fault token_fail;
    token_hang_fault token_hang;
    // A pause before every stream event but the first, with an SSE comment
    // (": keep-alive") in the middle of each pause.
    delay_fault pace_stream;
    // The stream ends cleanly after its last event but without "data: [DONE]".
    fault_scope stream_without_done;
    // After `after_chunks` events (or all, if fewer), one error event
    // data: {"error":{"message":...,"code":...}} ends the stream, without [DONE].
    stream_error_fault stream_error_event;
};

struct emulator_options {
    // Only loopback literals are accepted: 127.0.0.0/8 or ::1.
    std::string bind_host = "127.0.0.1";
    int port = 0; // 0 = ephemeral
    std::string client_id = "dbxserve-sp";
    std::string client_secret = "dbxserve-secret";
    std::string pat = "dapi-emulator-pat";
    std::chrono::seconds token_ttl{3600};
    std::string workspace_id = "1234567890";
    // TLS when both are set (PEM files).
    std::string cert_file;
    std::string key_file;
    // Receives one line per request (method, path, status, request id; never headers
    // or bodies, which carry credentials); empty means silent. Called from server threads.
    std::function<void(const std::string&)> log;
    fault_plan faults;
};

using header_list = std::vector<std::pair<std::string, std::string>>;

struct recorded_request {
    std::string method;
    std::string path;  // decoded, without the query string
    std::string query; // raw, without the '?'
    header_list headers;
    std::string body;
    std::string request_id; // the x-request-id the emulator answered with
    int status = 0;         // 0 while the reply is still being produced

    // Case-insensitive lookup; the first value, or "" when absent.
    std::string header(const std::string& name) const;
    bool has_header(const std::string& name) const;
};

// A reply that replaces normal processing when a request hook returns one.
struct canned_reply {
    int status = 200;
    header_list headers;
    std::string body;
    std::string content_type = "application/json";
};

// Runs for every request after it is recorded and counted, before authentication and
// routing; std::nullopt lets the request through. Called concurrently from server
// threads, so it must be thread-safe.
using request_hook = std::function<std::optional<canned_reply>(const recorded_request&)>;

// Serving endpoints the emulator hosts, by name: chat, agent, responses, embeddings,
// tabular. Each has one served entity named "<endpoint>-model-1". chat, agent and
// responses stream their reply as server-sent events when the body has "stream": true;
// chat adds a usage chunk only when stream_options.include_usage is true, as OpenAI does.
class workspace_emulator {
public:
    explicit workspace_emulator(emulator_options options = {});
    ~workspace_emulator();

    workspace_emulator(const workspace_emulator&) = delete;
    workspace_emulator& operator=(const workspace_emulator&) = delete;

    // Binds, listens and starts serving on a background thread; returns once
    // connections are accepted. False (see last_error()) on a non-loopback host, a
    // busy port, unreadable certificates or a second start().
    bool start();
    // Stops accepting and waits for open connections to finish. Idempotent.
    void stop();

    bool running() const;
    int port() const;
    // "https://127.0.0.1:PORT", "http://[::1]:PORT", ...; empty before start().
    std::string url() const;
    bool uses_tls() const;
    std::string last_error() const;

    // Every POST to the token endpoint, successful or not.
    std::size_t token_requests() const;
    // Requests addressed to an endpoint (invocations and OpenAI-style routes), whatever
    // their outcome, so a retry shows up as a second attempt.
    std::size_t invocations(const std::string& endpoint) const;
    // Invocations of an endpoint that reached the model and generated a reply, including
    // replies a fault then cut short; 429 and 503 faults and request errors are not.
    std::size_t processed(const std::string& endpoint) const;
    std::vector<recorded_request> requests() const;
    // Forgets recorded requests; the counters above keep counting.
    void clear_requests();

    // Invalidates every OAuth token issued so far; the PAT stays valid.
    void revoke_tokens();
    void set_request_hook(request_hook hook);
    // Replaces the fault plan, remaining counts included; requests already past the
    // fault stage keep the faults they were given.
    void set_fault_plan(fault_plan plan);
    // The plan as it stands, with counts reduced by the requests that used them.
    fault_plan faults() const;

private:
    class impl;
    std::unique_ptr<impl> impl_;
};

} // namespace dbxserve::emulator
