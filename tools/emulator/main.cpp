// dbxserve-emulator: a local Databricks workspace for trying dbxserve, the official
// SDKs or curl against, without a real workspace.
#include "emulator.hpp"
#include "test_pki.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#ifdef _WIN32
#include <atomic>
#include <chrono>
#include <thread>
#else
#include <pthread.h>
#endif

namespace {

namespace emu = dbxserve::emulator;

constexpr const char* usage = R"(Usage: dbxserve-emulator [options]

Serves a Databricks workspace emulator on loopback until SIGINT or SIGTERM.
Endpoints: chat, agent, responses, embeddings, tabular.

Options:
  --port N               TCP port (default 0: pick a free one)
  --host ADDR            127.0.0.1 (default), another 127.x.y.z address, or ::1
  --client-id ID         OAuth client id (env DBXSERVE_EMULATOR_CLIENT_ID,
                         default dbxserve-sp)
  --client-secret S      OAuth client secret (env DBXSERVE_EMULATOR_CLIENT_SECRET,
                         default dbxserve-secret)
  --pat TOKEN            personal access token (env DBXSERVE_EMULATOR_PAT,
                         default dapi-emulator-pat)
  --token-ttl SECONDS    lifetime of issued OAuth tokens (default 3600)
  --workspace-id ID      workspace id reported by host metadata (default 1234567890)
  --cert FILE --key FILE serve HTTPS with this PEM certificate and key
  --generate-pki DIR     write DIR/ca.pem, DIR/server.pem, DIR/server-key.pem and
                         serve HTTPS with them (trust DIR/ca.pem in the client)
  --verbose              log one line per request to stderr (no secrets)
  --help                 show this text

Fault injection (N: how many of the next matching requests, -1 for all of them;
MS: milliseconds, at most 30000):
  --fault-target NAME    what the faults below hit: an endpoint name, "token" for
                         the token endpoint, or "*" for every endpoint and the
                         token endpoint (default *)
  --fault-429 N[:S]      answer 429 REQUEST_LIMIT_EXCEEDED with Retry-After: S
                         (default 1)
  --fault-503 N[:S]      answer 503 TEMPORARILY_UNAVAILABLE, with Retry-After: S
                         when S is given
  --retry-after-date     send Retry-After as an HTTP-date instead of seconds
  --fault-reset N        process the request, send headers and half the body
                         (half the events of a stream), then drop the connection
  --stall-before MS      wait before answering every matching request
  --stall-body MS        pause halfway through every matching reply or stream
  --pace MS              pause between the events of every stream, with an SSE
                         ": keep-alive" comment in each pause
  --no-done              end every stream without "data: [DONE]"
  --token-fail N         fail the next N token requests with 503
                         temporarily_unavailable
  --token-hang MS        wait before answering every token request

Prints "dbxserve-emulator listening on <url>" once it accepts connections.
)";

struct cli {
    emu::emulator_options options;
    std::string pki_dir;
    bool verbose = false;
    std::string fault_target = "*";
};

constexpr long max_fault_count = 1000000;
constexpr long max_fault_ms = 30000;

bool parse_int(const std::string& text, long min, long max, long& out) {
    if (text.empty()) {
        return false;
    }
    char* end = nullptr;
    const long value = std::strtol(text.c_str(), &end, 10);
    if (*end != '\0' || value < min || value > max) {
        return false;
    }
    out = value;
    return true;
}

const char* env_or(const char* name, const char* fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? value : fallback;
}

// "N" or "N:S" for --fault-429 and --fault-503.
bool parse_status_fault(const std::string& text, emu::status_fault& fault) {
    const auto colon = text.find(':');
    long count = 0;
    long seconds = 0;
    if (!parse_int(text.substr(0, colon), -1, max_fault_count, count)) {
        return false;
    }
    if (colon != std::string::npos) {
        if (!parse_int(text.substr(colon + 1), 0, 86400, seconds)) {
            return false;
        }
        fault.retry_after_seconds = static_cast<int>(seconds);
    }
    fault.scope.count = static_cast<int>(count);
    return true;
}

// Returns -1 to go on, otherwise the process exit code.
int parse_args(int argc, char** argv, cli& out) {
    emu::emulator_options& o = out.options;
    o.client_id = env_or("DBXSERVE_EMULATOR_CLIENT_ID", o.client_id.c_str());
    o.client_secret = env_or("DBXSERVE_EMULATOR_CLIENT_SECRET", o.client_secret.c_str());
    o.pat = env_or("DBXSERVE_EMULATOR_PAT", o.pat.c_str());
    emu::fault_plan& faults = o.faults;

    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            std::cout << usage;
            return 0;
        }
        if (flag == "--verbose") {
            out.verbose = true;
            continue;
        }
        if (flag == "--no-done") {
            faults.stream_without_done.count = -1;
            continue;
        }
        if (flag == "--retry-after-date") {
            faults.status_429.retry_after_http_date = true;
            faults.status_503.retry_after_http_date = true;
            continue;
        }
        static const std::set<std::string> with_value = {
            "--port",         "--host",         "--client-id",  "--client-secret", "--pat",
            "--token-ttl",    "--workspace-id", "--cert",       "--key",           "--generate-pki",
            "--fault-target", "--fault-429",    "--fault-503",  "--fault-reset",   "--stall-before",
            "--stall-body",   "--token-fail",   "--token-hang", "--pace"};
        if (with_value.count(flag) == 0) {
            std::cerr << "dbxserve-emulator: unknown option " << flag << " (see --help)\n";
            return 2;
        }
        if (i + 1 >= argc) {
            std::cerr << "dbxserve-emulator: " << flag << " needs a value (see --help)\n";
            return 2;
        }
        const std::string value = argv[++i];
        long number = 0;
        const bool is_count = flag == "--fault-reset" || flag == "--token-fail";
        const bool is_ms = flag == "--stall-before" || flag == "--stall-body" ||
                           flag == "--token-hang" || flag == "--pace";
        if (is_count && !parse_int(value, -1, max_fault_count, number)) {
            std::cerr << "dbxserve-emulator: " << flag << " needs a count (-1 for always)\n";
            return 2;
        }
        if (is_ms && !parse_int(value, 0, max_fault_ms, number)) {
            std::cerr << "dbxserve-emulator: " << flag << " must be 0.." << max_fault_ms
                      << " milliseconds\n";
            return 2;
        }
        const std::chrono::milliseconds ms(number);
        if (flag == "--fault-target") {
            if (value.empty()) {
                std::cerr << "dbxserve-emulator: --fault-target needs a name or *\n";
                return 2;
            }
            out.fault_target = value;
        } else if (flag == "--fault-429" || flag == "--fault-503") {
            if (!parse_status_fault(value, flag == "--fault-429" ? faults.status_429
                                                                 : faults.status_503)) {
                std::cerr << "dbxserve-emulator: " << flag
                          << " takes N or N:SECONDS (N = -1 for always)\n";
                return 2;
            }
        } else if (flag == "--fault-reset") {
            faults.reset_mid_body.count = static_cast<int>(number);
        } else if (flag == "--stall-before") {
            faults.stall_before_headers = {{"*", -1}, ms};
        } else if (flag == "--stall-body") {
            faults.stall_during_body = {{"*", -1}, ms};
        } else if (flag == "--token-fail") {
            faults.token_fail.count = static_cast<int>(number);
        } else if (flag == "--token-hang") {
            faults.token_hang = {-1, ms};
        } else if (flag == "--pace") {
            faults.pace_stream = {{"*", -1}, ms};
        } else if (flag == "--port") {
            if (!parse_int(value, 0, 65535, number)) {
                std::cerr << "dbxserve-emulator: --port must be 0..65535\n";
                return 2;
            }
            o.port = static_cast<int>(number);
        } else if (flag == "--host") {
            o.bind_host = value;
        } else if (flag == "--client-id") {
            o.client_id = value;
        } else if (flag == "--client-secret") {
            o.client_secret = value;
        } else if (flag == "--pat") {
            o.pat = value;
        } else if (flag == "--token-ttl") {
            if (!parse_int(value, 0, 366L * 86400L, number)) {
                std::cerr << "dbxserve-emulator: --token-ttl must be a number of seconds\n";
                return 2;
            }
            o.token_ttl = std::chrono::seconds(number);
        } else if (flag == "--workspace-id") {
            o.workspace_id = value;
        } else if (flag == "--cert") {
            o.cert_file = value;
        } else if (flag == "--key") {
            o.key_file = value;
        } else {
            out.pki_dir = value;
        }
    }

    // The target applies whatever the order of the flags.
    for (emu::fault_scope* scope :
         {&o.faults.status_429.scope, &o.faults.status_503.scope, &o.faults.reset_mid_body,
          &o.faults.stall_before_headers.scope, &o.faults.stall_during_body.scope,
          &o.faults.pace_stream.scope, &o.faults.stream_without_done,
          &o.faults.stream_error_event.scope}) {
        scope->target = out.fault_target;
    }

    if (o.cert_file.empty() != o.key_file.empty()) {
        std::cerr << "dbxserve-emulator: --cert and --key go together\n";
        return 2;
    }
    if (!out.pki_dir.empty() && !o.cert_file.empty()) {
        std::cerr << "dbxserve-emulator: use either --generate-pki or --cert/--key\n";
        return 2;
    }
    return -1;
}

#ifdef _WIN32
std::atomic<bool> stop_requested{false};
extern "C" void on_signal(int) {
    stop_requested = true;
}
#endif

} // namespace

int main(int argc, char** argv) {
    cli args;
    const int parsed = parse_args(argc, argv, args);
    if (parsed >= 0) {
        return parsed;
    }

    if (!args.pki_dir.empty()) {
        emu::test_pki_files files;
        std::string error;
        if (!emu::generate_test_pki(args.pki_dir, files, error)) {
            std::cerr << "dbxserve-emulator: " << error << "\n";
            return 1;
        }
        args.options.cert_file = files.server_cert;
        args.options.key_file = files.server_key;
    }
    if (args.verbose) {
        auto log_mu = std::make_shared<std::mutex>();
        args.options.log = [log_mu](const std::string& line) {
            std::lock_guard<std::mutex> lock(*log_mu);
            std::cerr << "dbxserve-emulator: " << line << "\n";
        };
    }

#ifndef _WIN32
    // Blocked before any server thread exists, so every thread inherits the mask and
    // the signals queue up for sigwait() below instead of killing a worker mid-reply.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    // A client closing its socket early must not take the process down.
    std::signal(SIGPIPE, SIG_IGN);
#endif

    emu::workspace_emulator emulator(args.options);
    if (!emulator.start()) {
        std::cerr << "dbxserve-emulator: " << emulator.last_error() << "\n";
        return 1;
    }
    std::cout << "dbxserve-emulator listening on " << emulator.url() << std::endl;

#ifdef _WIN32
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    while (!stop_requested) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
#else
    int received = 0;
    sigwait(&signals, &received);
#endif

    emulator.stop();
    return 0;
}
