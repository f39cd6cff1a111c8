// Built with -fno-exceptions -fno-rtti, as game engines build: the whole library, default
// transport included, must compile and work that way. Plain checks, since the test framework
// itself needs exceptions.
#include <chrono>
#include <cstdio>
#include <string>

#include <dbxserve/dbxserve.hpp>

#include "emulator.hpp"
#include "test_pki.hpp"

namespace emu = dbxserve::emulator;

namespace {

int checks = 0;
int failures = 0;

void check(bool condition, const char* what) {
    ++checks;
    if (!condition) {
        std::fprintf(stderr, "FAILED: %s\n", what);
        ++failures;
    }
}

} // namespace

int main() {
    std::string problem;
    const std::string dir = emu::make_scratch_dir("dbxserve-noexcept", problem);
    emu::test_pki_files pki;
    if (dir.empty() || !emu::generate_test_pki(dir, pki, problem)) {
        std::fprintf(stderr, "cannot create test certificates: %s\n", problem.c_str());
        return 1;
    }

    emu::emulator_options options;
    options.cert_file = pki.server_cert;
    options.key_file = pki.server_key;
    emu::workspace_emulator server(options);
    if (!server.start()) {
        std::fprintf(stderr, "emulator: %s\n", server.last_error().c_str());
        return 1;
    }

    dbxserve::config cfg;
    cfg.host = server.url();
    cfg.client_id = "dbxserve-sp";
    cfg.client_secret = "dbxserve-secret";
    dbxserve::httplib_transport_options transport;
    transport.tls.ca_file = pki.ca_cert;
    auto client = dbxserve::make_client(cfg, {}, transport, dbxserve::environment::from_map({}));
    check(client.ok(), "make_client");
    if (!client) {
        return 1;
    }

    dbxserve::chat_request request;
    request.messages.push_back(dbxserve::chat_message::user("no exceptions here"));
    auto reply = client->query("chat", request);
    check(reply.ok(), "chat query succeeds");
    check(reply && reply->text().find("no exceptions here") != std::string::npos, "reply text");

    auto missing = client->query("missing", request);
    check(!missing.ok() && missing.error().http_status == 404, "404 is an error value");

    // A stream cancelled mid-flight: the shut-down TLS connection must not raise SIGPIPE (this
    // program installs no handler, so that would end it), and the call reports the cancel.
    emu::fault_plan slow;
    slow.pace_stream = {{"chat", -1}, std::chrono::milliseconds(100)};
    server.set_fault_plan(slow);
    for (int round = 0; round < 3; ++round) {
        dbxserve::cancellation_source stop;
        dbxserve::call_options call;
        call.cancel = stop.token();
        int chunks = 0;
        auto streamed = client->stream(
            "chat", request,
            [&](const dbxserve::chat_completion_chunk&) {
                if (++chunks == 2) {
                    stop.cancel();
                }
                return true;
            },
            call);
        check(!streamed.ok() && streamed.error().kind == dbxserve::error_kind::cancelled,
              "a cancelled stream returns cancelled");
    }

    std::printf("noexcept: %d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
