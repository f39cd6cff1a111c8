// Per-request cost of dbxserve::client::query against a raw httplib::Client that sends the same
// bytes to the same TLS workspace emulator. The baseline is what any C++ program pays for one
// keep-alive HTTPS round trip with httplib; the ratio is what dbxserve adds on top of it:
// serialising the typed request, the token policy, the call's deadline timer, the connection
// pool and parsing the typed reply.
//
// By default the emulator runs in this process, so wall time includes the server's own work on
// the same cores. --emulator-in-child moves it to a child process: this process's CPU time is
// then the client's alone, and is reported per request too.
//
//     bench-client-overhead [--requests N] [--reps N] [--threads N] [--emulator-in-child]

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <dbxserve/dbxserve.hpp>
#include <nlohmann/json.hpp>

#include "bench_support.hpp"

namespace {

namespace bench = dbxserve_bench;
namespace emu = dbxserve::emulator;

constexpr const char* invocation_path = "/serving-endpoints/chat/invocations";

// Requests per variant before the next variant's turn (see measure); the concurrent slice is
// larger so that each thread still makes dozens of calls between two barriers.
constexpr long sequential_slice = 100;
constexpr long concurrent_slice = 400;

// One invocation exactly as dbxserve put it on the wire, for the baseline to replay.
struct wire_request {
    httplib::Headers headers;
    std::string content_type;
    std::string body;
};

// httplib writes these itself for every request, so replaying them would duplicate them.
bool written_by_httplib(const std::string& name) {
    static const char* const own[] = {"host", "content-length", "connection", "accept-encoding"};
    const std::string lower = dbxserve::detail::ascii_lower(name);
    return std::find(std::begin(own), std::end(own), lower) != std::end(own);
}

wire_request to_wire(const emu::header_list& headers, std::string body) {
    wire_request out;
    for (const auto& [name, value] : headers) {
        if (dbxserve::detail::ascii_lower(name) == "content-type") {
            out.content_type = value;
        } else if (!written_by_httplib(name)) {
            out.headers.emplace(name, value);
        }
    }
    out.body = std::move(body);
    return out;
}

// The last invocation the emulator recorded, as JSON, so that it can cross a pipe.
std::string last_invocation_json(const emu::workspace_emulator& server) {
    const auto records = server.requests();
    for (auto it = records.rbegin(); it != records.rend(); ++it) {
        if (it->path == invocation_path) {
            return nlohmann::json{{"headers", it->headers}, {"body", it->body}}.dump();
        }
    }
    return std::string();
}

// What the benchmark needs from the emulator, wherever it runs.
class workspace {
public:
    virtual ~workspace() = default;
    virtual std::string url() = 0;
    virtual bool last_invocation(wire_request& out) = 0;
    virtual void clear_requests() = 0;
    virtual std::size_t token_requests() = 0;

protected:
    static bool from_json_text(const std::string& text, wire_request& out) {
        const auto j = nlohmann::json::parse(text, nullptr, false);
        if (!j.is_object()) {
            return false;
        }
        out = to_wire(j.at("headers").get<emu::header_list>(), j.at("body").get<std::string>());
        return true;
    }
};

class in_process_workspace : public workspace {
public:
    explicit in_process_workspace(std::unique_ptr<emu::workspace_emulator> server)
        : server_(std::move(server)) {}
    ~in_process_workspace() override { server_->stop(); }

    std::string url() override { return server_->url(); }
    bool last_invocation(wire_request& out) override {
        return from_json_text(last_invocation_json(*server_), out);
    }
    void clear_requests() override { server_->clear_requests(); }
    std::size_t token_requests() override { return server_->token_requests(); }

private:
    std::unique_ptr<emu::workspace_emulator> server_;
};

bool write_all(int fd, const void* data, std::size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = write(fd, p, size);
        if (n <= 0) {
            return false;
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

bool read_all(int fd, void* data, std::size_t size) {
    char* p = static_cast<char*>(data);
    while (size > 0) {
        const ssize_t n = read(fd, p, size);
        if (n <= 0) {
            return false;
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

// Messages from the child: a length, then that many bytes.
bool send_message(int fd, const std::string& text) {
    const std::uint64_t size = text.size();
    return write_all(fd, &size, sizeof size) && write_all(fd, text.data(), text.size());
}

bool receive_message(int fd, std::string& text) {
    std::uint64_t size = 0;
    if (!read_all(fd, &size, sizeof size) || size > (64u << 20)) {
        return false;
    }
    text.assign(size, '\0');
    return size == 0 || read_all(fd, &text[0], text.size());
}

// The child's side: the emulator's URL first ("" if it failed to start), then one reply per
// command byte. It exits when the parent closes the command pipe, or after ten idle minutes.
[[noreturn]] void serve_commands(const emu::test_pki_files& pki, int command_fd, int reply_fd) {
    std::string error;
    auto server = bench::start_tls_emulator(pki, error);
    if (!server) {
        std::fprintf(stderr, "emulator: %s\n", error.c_str());
    }
    bool go_on = send_message(reply_fd, server ? server->url() : std::string()) && server;
    while (go_on) {
        pollfd wait_for{command_fd, POLLIN, 0};
        char command = 0;
        if (poll(&wait_for, 1, 10 * 60 * 1000) != 1 || read(command_fd, &command, 1) != 1) {
            break;
        }
        if (command == 'L') {
            go_on = send_message(reply_fd, last_invocation_json(*server));
        } else if (command == 'C') {
            server->clear_requests();
            go_on = send_message(reply_fd, std::string());
        } else if (command == 'T') {
            go_on = send_message(reply_fd, std::to_string(server->token_requests()));
        } else {
            break;
        }
    }
    _exit(0); // the OS closes the emulator's sockets; its threads need no orderly stop
}

class child_workspace : public workspace {
public:
    child_workspace(pid_t child, int command_fd, int reply_fd)
        : child_(child), command_fd_(command_fd), reply_fd_(reply_fd) {}
    ~child_workspace() override {
        close(command_fd_);
        close(reply_fd_);
        int status = 0;
        waitpid(child_, &status, 0);
    }

    // Forks while the caller still has a single thread, which fork() requires of a process
    // that goes on using locks in the child.
    static std::unique_ptr<child_workspace> start(const emu::test_pki_files& pki) {
        int commands[2];
        int replies[2];
        if (pipe(commands) != 0 || pipe(replies) != 0) {
            return nullptr;
        }
        std::fflush(stdout);
        const pid_t child = fork();
        if (child < 0) {
            return nullptr;
        }
        if (child == 0) {
            close(commands[1]);
            close(replies[0]);
            serve_commands(pki, commands[0], replies[1]);
        }
        close(commands[0]);
        close(replies[1]);
        auto ws = std::make_unique<child_workspace>(child, commands[1], replies[0]);
        if (!receive_message(ws->reply_fd_, ws->url_) || ws->url_.empty()) {
            return nullptr;
        }
        return ws;
    }

    std::string url() override { return url_; }
    bool last_invocation(wire_request& out) override {
        std::string text;
        return ask('L', text) && from_json_text(text, out);
    }
    void clear_requests() override {
        std::string ignored;
        ask('C', ignored);
    }
    std::size_t token_requests() override {
        std::string text;
        return ask('T', text) ? std::stoul(text) : static_cast<std::size_t>(-1);
    }

private:
    bool ask(char command, std::string& reply) {
        return write_all(command_fd_, &command, 1) && receive_message(reply_fd_, reply);
    }

    pid_t child_;
    int command_fd_;
    int reply_fd_;
    std::string url_;
};

std::unique_ptr<httplib::Client> raw_client(const std::string& url, const std::string& ca_file) {
    auto client = std::make_unique<httplib::Client>(url);
    client->set_tcp_nodelay(true);
    client->set_keep_alive(true);
    client->enable_server_certificate_verification(true);
    client->set_ca_cert_path(ca_file.c_str());
    return client;
}

bool raw_post(httplib::Client& client, const wire_request& w) {
    auto res = client.Post(invocation_path, w.headers, w.body, w.content_type);
    return res && res->status == 200 && !res->body.empty();
}

bool dbx_query(const dbxserve::client& client, const dbxserve::chat_request& request) {
    auto reply = client.query("chat", request);
    return reply.ok() && !reply->choices.empty();
}

struct timing {
    double wall = 0; // seconds
    double cpu = 0;  // CPU seconds of the whole process
};

// `n` calls of `one` in a row; false in `ok` stops the run at the first failure.
timing run_sequential(long n, bool& ok, const std::function<bool()>& one) {
    const double cpu = bench::process_cpu_seconds();
    const auto start = bench::clock_type::now();
    for (long i = 0; i < n && ok; ++i) {
        ok = one();
    }
    return {bench::seconds_since(start), bench::process_cpu_seconds() - cpu};
}

// `n` calls spread over `threads` threads; `one(t)` runs on thread t. The threads exist and
// wait before the clock starts, so thread creation is not counted.
timing run_concurrent(int threads, long n, bool& ok, const std::function<bool(int)>& one) {
    std::mutex mutex;
    std::condition_variable cv;
    bool go = false;
    std::atomic<bool> failed{false};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        const long share = n / threads + (t < n % threads ? 1 : 0);
        pool.emplace_back([&, t, share] {
            {
                std::unique_lock<std::mutex> lock(mutex);
                cv.wait(lock, [&] { return go; });
            }
            for (long i = 0; i < share && !failed.load(std::memory_order_relaxed); ++i) {
                if (!one(t)) {
                    failed = true;
                }
            }
        });
    }
    const double cpu = bench::process_cpu_seconds();
    const auto start = bench::clock_type::now();
    {
        std::lock_guard<std::mutex> lock(mutex);
        go = true;
    }
    cv.notify_all();
    for (auto& th : pool) {
        th.join();
    }
    const timing t{bench::seconds_since(start), bench::process_cpu_seconds() - cpu};
    ok = ok && !failed.load();
    return t;
}

struct variant {
    std::string name;
    bool is_baseline = false;
    std::size_t baseline = 0; // index of the variant this one is compared with
    std::function<timing(long, bool&)> run;
    std::vector<double> us_per_request; // wall
    std::vector<double> cpu_us_per_request;
};

// The median over repetitions of a's figure / b's figure in the same repetition.
double paired_ratio(const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> ratios;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
        ratios.push_back(a[i] / b[i]);
    }
    return bench::summarize(ratios).median;
}

// A baseline row, and a row compared with the baseline added last.
void add_baseline(std::vector<variant>& to, std::string name,
                  std::function<timing(long, bool&)> run) {
    to.push_back({std::move(name), true, to.size(), std::move(run), {}, {}});
}
void add_compared(std::vector<variant>& to, std::string name,
                  std::function<timing(long, bool&)> run) {
    std::size_t base = 0;
    for (std::size_t i = 0; i < to.size(); ++i) {
        if (to[i].is_baseline) {
            base = i;
        }
    }
    to.push_back({std::move(name), false, base, std::move(run), {}, {}});
}

void print_table(const char* title, long n, const std::vector<variant>& variants, bool cpu) {
    std::printf("%s (%ld requests per repetition)\n", title, n);
    std::printf("  %-40s %8s %8s %8s %9s %9s", "variant", "req/s", "us/req", "us/req", "ratio",
                "ratio");
    if (cpu) {
        std::printf(" %8s %9s", "CPU us", "CPU");
    }
    std::printf("\n  %-40s %8s %8s %8s %9s %9s", "", "(median)", "(median)", "(min)", "(medians)",
                "(paired)");
    if (cpu) {
        std::printf(" %8s %9s", "/req", "(paired)");
    }
    std::printf("\n");
    for (const auto& v : variants) {
        const auto s = bench::summarize(v.us_per_request);
        const auto& base = variants[v.baseline];
        std::printf("  %-40s %8.0f %8.1f %8.1f", v.name.c_str(), 1e6 / s.median, s.median, s.min);
        if (v.is_baseline) {
            std::printf(" %9s %9s", "base", "");
        } else {
            std::printf(" %8.2fx %8.2fx", s.median / bench::summarize(base.us_per_request).median,
                        paired_ratio(v.us_per_request, base.us_per_request));
        }
        if (cpu) {
            std::printf(" %8.1f", bench::summarize(v.cpu_us_per_request).median);
            if (v.is_baseline) {
                std::printf(" %9s", "base");
            } else {
                std::printf(" %8.2fx", paired_ratio(v.cpu_us_per_request, base.cpu_us_per_request));
            }
        }
        std::printf("\n");
    }
    std::printf("\n");
}

// Each repetition is cut into slices of `slice` requests, and every variant runs one slice in
// turn: a burst of load on this noisy machine then hits the baseline and the variant compared
// with it alike, instead of falling on one of them for a whole repetition.
bool measure(std::vector<variant>& variants, long n, long slice, int reps, workspace& ws) {
    for (int rep = -1; rep < reps; ++rep) { // repetition -1 warms connections and caches up
        std::vector<timing> total(variants.size());
        for (long done = 0; done < n; done += slice) {
            const long count = std::min(slice, n - done);
            for (std::size_t i = 0; i < variants.size(); ++i) {
                bool ok = true;
                const timing t = variants[i].run(count, ok);
                if (!ok) {
                    std::fprintf(stderr, "%s: a request failed\n", variants[i].name.c_str());
                    return false;
                }
                total[i].wall += t.wall;
                total[i].cpu += t.cpu;
            }
            ws.clear_requests(); // the emulator records every request; keep it small
        }
        for (std::size_t i = 0; rep >= 0 && i < variants.size(); ++i) {
            variants[i].us_per_request.push_back(total[i].wall * 1e6 / static_cast<double>(n));
            variants[i].cpu_us_per_request.push_back(total[i].cpu * 1e6 / static_cast<double>(n));
        }
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    const long n = bench::flag(argc, argv, "--requests", 2000, 1000000);
    const int reps = static_cast<int>(bench::flag(argc, argv, "--reps", 5, 1000));
    const int threads = static_cast<int>(bench::flag(argc, argv, "--threads", 8, 64));
    const bool in_child = bench::has_flag(argc, argv, "--emulator-in-child");
    bench::print_header("dbxserve client overhead: query(\"chat\") vs raw httplib::Client", argc,
                        argv);

    std::string error;
    emu::test_pki_files pki;
    if (!bench::make_pki(pki, error)) {
        std::fprintf(stderr, "certificates: %s\n", error.c_str());
        return 1;
    }
    std::unique_ptr<workspace> ws;
    if (in_child) {
        ws = child_workspace::start(pki);
    } else if (auto server = bench::start_tls_emulator(pki, error)) {
        ws = std::make_unique<in_process_workspace>(std::move(server));
    }
    if (!ws) {
        std::fprintf(stderr, "the emulator did not start %s\n", error.c_str());
        return 1;
    }
    const std::string url = ws->url();
    std::printf("emulator: %s, %s\n", url.c_str(),
                in_child ? "in a child process" : "in this process");

    dbxserve::httplib_transport_options transport;
    transport.tls.ca_file = pki.ca_cert;
    // Room for every thread of the concurrent run to keep its connection between calls.
    transport.max_idle_connections_per_host = static_cast<std::size_t>(threads);
    const auto no_env = dbxserve::environment::from_map({});

    dbxserve::config pat_cfg;
    pat_cfg.host = url;
    pat_cfg.token = "dapi-emulator-pat";
    dbxserve::config m2m_cfg;
    m2m_cfg.host = url;
    m2m_cfg.client_id = "dbxserve-sp";
    m2m_cfg.client_secret = "dbxserve-secret";

    auto pat = dbxserve::make_client(pat_cfg, {}, transport, no_env);
    auto m2m = dbxserve::make_client(m2m_cfg, {}, transport, no_env);
    if (!pat || !m2m) {
        std::fprintf(stderr, "client: %s\n",
                     (!pat ? pat.error() : m2m.error()).to_string().c_str());
        return 1;
    }

    dbxserve::chat_request request;
    request.messages.push_back(dbxserve::chat_message::system("You are a terse assistant."));
    request.messages.push_back(dbxserve::chat_message::user("Hello from the benchmark!"));
    request.max_tokens = 64;

    // One call of each client tells the baseline what to send, and fetches the M2M token that
    // the timed calls then reuse from the cache.
    wire_request pat_wire;
    wire_request m2m_wire;
    if (!dbx_query(*pat, request) || !ws->last_invocation(pat_wire) || !dbx_query(*m2m, request) ||
        !ws->last_invocation(m2m_wire)) {
        std::fprintf(stderr, "the first query failed\n");
        return 1;
    }
    const std::size_t tokens_before = ws->token_requests();

    // The M2M client learns the workspace id during discovery, so its headers may differ.
    for (const auto* w : {&pat_wire, &m2m_wire}) {
        std::printf("baseline replays dbxserve's %s request: %zu-byte body, headers:",
                    w == &pat_wire ? "PAT" : "M2M", w->body.size());
        for (const auto& h : w->headers) {
            std::printf(" %s", h.first.c_str());
        }
        std::printf(" Content-Type\n");
    }
    std::printf("\n");

    auto raw_pat = raw_client(url, pki.ca_cert);
    auto raw_m2m = raw_client(url, pki.ca_cert);
    const dbxserve::client& pat_client = *pat;
    const dbxserve::client& m2m_client = *m2m;

    // Sequential: one connection each, the baseline replaying the headers of the client it is
    // compared with.
    std::vector<variant> sequential;
    add_baseline(sequential, "raw httplib, PAT headers", [&](long count, bool& ok) {
        return run_sequential(count, ok, [&] { return raw_post(*raw_pat, pat_wire); });
    });
    add_compared(sequential, "dbxserve query, PAT", [&](long count, bool& ok) {
        return run_sequential(count, ok, [&] { return dbx_query(pat_client, request); });
    });
    add_baseline(sequential, "raw httplib, M2M headers", [&](long count, bool& ok) {
        return run_sequential(count, ok, [&] { return raw_post(*raw_m2m, m2m_wire); });
    });
    add_compared(sequential, "dbxserve query, OAuth M2M (cached token)", [&](long count, bool& ok) {
        return run_sequential(count, ok, [&] { return dbx_query(m2m_client, request); });
    });

    // Each baseline thread owns its client: one httplib::Client serialises its callers.
    std::vector<std::unique_ptr<httplib::Client>> raw_per_thread;
    for (int t = 0; t < threads; ++t) {
        raw_per_thread.push_back(raw_client(url, pki.ca_cert));
    }
    const std::string shared = std::to_string(threads) + " threads, one dbxserve client";
    const std::string own = std::to_string(threads) + " threads, own raw httplib client";
    std::vector<variant> concurrent;
    add_baseline(concurrent, own + ", PAT", [&](long count, bool& ok) {
        return run_concurrent(threads, count, ok,
                              [&](int t) { return raw_post(*raw_per_thread[t], pat_wire); });
    });
    add_compared(concurrent, shared + ", PAT", [&](long count, bool& ok) {
        return run_concurrent(threads, count, ok,
                              [&](int) { return dbx_query(pat_client, request); });
    });
    add_baseline(concurrent, own + ", M2M", [&](long count, bool& ok) {
        return run_concurrent(threads, count, ok,
                              [&](int t) { return raw_post(*raw_per_thread[t], m2m_wire); });
    });
    add_compared(concurrent, shared + ", M2M", [&](long count, bool& ok) {
        return run_concurrent(threads, count, ok,
                              [&](int) { return dbx_query(m2m_client, request); });
    });

    const auto started = bench::clock_type::now();
    if (!measure(sequential, n, sequential_slice, reps, *ws) ||
        !measure(concurrent, n, concurrent_slice, reps, *ws)) {
        return 1;
    }
    const std::size_t token_fetches = ws->token_requests() - tokens_before;

    std::printf(
        "%d repetitions after one warm-up round, the variants taking turns every %ld\n"
        "(sequential) or %ld (concurrent) requests. us/req is wall time / requests, so in the\n"
        "concurrent table it is the inverse of throughput. ratio (medians) divides the\n"
        "medians; ratio (paired) is the median of each repetition's own ratio.%s\n\n",
        reps, sequential_slice, concurrent_slice,
        in_child ? " CPU us/req is\nthis process's CPU time (all threads, the client's own "
                   "included) / requests."
                 : "");
    print_table("sequential, one connection", n, sequential, in_child);
    print_table("concurrent", n, concurrent, in_child);
    // The two baselines do the same work but for the token's value: how far apart they land is
    // the noise of this run, the yardstick for the ratios above.
    std::printf("noise: raw M2M / raw PAT baseline, paired median: sequential %.2f, "
                "concurrent %.2f\n",
                paired_ratio(sequential[2].us_per_request, sequential[0].us_per_request),
                paired_ratio(concurrent[2].us_per_request, concurrent[0].us_per_request));
    std::printf("token requests during the timed runs: %zu (the M2M token came from the cache)\n",
                token_fetches);
    if (!in_child) {
        std::printf("(the server shares this process; --emulator-in-child adds client CPU per "
                    "request)\n");
    }
    std::printf("total time: %.1f s\n", bench::seconds_since(started));
    return token_fetches == 0 ? 0 : 1;
}
