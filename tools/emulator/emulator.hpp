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
// tabular. Each has one served entity named "<endpoint>-model-1".
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
    std::vector<recorded_request> requests() const;
    // Forgets recorded requests; the counters above keep counting.
    void clear_requests();

    // Invalidates every OAuth token issued so far; the PAT stays valid.
    void revoke_tokens();
    void set_request_hook(request_hook hook);

private:
    class impl;
    std::unique_ptr<impl> impl_;
};

} // namespace dbxserve::emulator
