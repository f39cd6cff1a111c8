// Bounded memory while streaming: the peak resident memory a stream of many events adds, against
// the same stream with almost no events, both measured in this run. A streamed reply must keep
// the text it accumulates and nothing else, so the growth per 10k events is reported next to the
// message bytes those events carry.
//
// Two parts:
//   1. sse_parser + typed chunks (+ chat_stream_accumulator) on a synthetic stream generated
//      piece by piece, in this process, without the network;
//   2. client.stream("chat", ...) over TLS from the workspace emulator, which echoes a long
//      prompt one word per event. The emulator builds its whole reply in memory before sending,
//      so it runs in a child process, where its memory does not count.
//
//     bench-stream-memory [--events N] [--reps N]

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <dbxserve/dbxserve.hpp>

#include "bench_support.hpp"

namespace {

namespace bench = dbxserve_bench;
namespace emu = dbxserve::emulator;
using dbxserve::detail::sse_event;
using dbxserve::detail::sse_parser;

constexpr std::size_t piece_bytes = 1500;

const char* const words[] = {"the",   "model",  "serving", "endpoint", "returns", "a",
                             "token", "stream", "of",      "events",   "to",      "Databricks",
                             "agent", "and",    "latency", "is",       "low",     "C++"};
constexpr std::size_t word_count = sizeof words / sizeof words[0];

constexpr std::size_t curve_step = 10000;

struct peak {
    long growth_kib = 0; // VmHWM during the run minus VmRSS before it
    std::size_t message_bytes = 0;
    std::size_t events = 0;
    std::size_t parser_bytes = 0; // the most sse_parser held at once; 0 when not visible
    double seconds = 0;
    // VmRSS after every `curve_step` events minus VmRSS at the first event: what the stream
    // itself holds, without the request that is still alive while it arrives.
    std::vector<long> curve;
    long first_event_kib = 0;

    // Called once per event, after the event is counted.
    void sample() {
        if (events == 1) {
            first_event_kib = bench::status_kib("VmRSS");
        } else if (events % curve_step == 0) {
            curve.push_back(bench::status_kib("VmRSS") - first_event_kib);
        }
    }
};

// The first choice's content size, read in place: copying a 300 kB text to measure it would
// add to the very peak being measured.
std::size_t content_bytes(const dbxserve::chat_completion& reply) {
    if (reply.choices.empty() || !reply.choices[0].message.content.is_string()) {
        return 0;
    }
    return reply.choices[0].message.content.get_ref<const std::string&>().size();
}

// Starts a measured run from a floor no earlier run has raised, and reads its peak afterwards.
class peak_meter {
public:
    peak_meter() {
        bench::release_free_heap();
        reset_ok_ = bench::reset_peak_rss();
        before_ = bench::status_kib("VmRSS");
        start_ = bench::clock_type::now();
    }
    void finish(peak& p) const {
        p.seconds = bench::seconds_since(start_);
        p.growth_kib = bench::status_kib("VmHWM") - before_;
    }
    bool reset_ok() const { return reset_ok_; }

private:
    bool reset_ok_ = false;
    long before_ = 0;
    bench::clock_type::time_point start_;
};

// One chat completion chunk as serving endpoints send it, written by hand so that generating
// the stream allocates nothing that would count as the parser's memory.
void append_event(std::string& out, std::size_t i) {
    out += "data: {\"choices\":[{\"delta\":{\"content\":\" ";
    out += words[i % word_count];
    out += "\"},\"finish_reason\":null,\"index\":0}],\"created\":1764790000,"
           "\"id\":\"chatcmpl-9f2c4e1ab37d5c60e8f1a2b3\",\"model\":"
           "\"databricks-meta-llama-3-3-70b-instruct\",\"object\":\"chat.completion.chunk\"}\n\n";
}

// `events` content chunks and [DONE], produced and fed in 1,500-byte pieces, so that only one
// piece of the stream exists at a time.
bool run_synthetic(std::size_t events, bool accumulate, peak& p) {
    p.curve.reserve(events / curve_step + 1);
    peak_meter meter;
    sse_parser parser;
    dbxserve::chat_stream_accumulator acc;
    bool ok = true;
    auto on_event = [&](const sse_event& e) {
        if (dbxserve::detail::is_done_sentinel(e)) {
            return true;
        }
        auto chunk = dbxserve::detail::parse_stream_chunk<dbxserve::chat_completion_chunk>(e.data);
        if (!chunk) {
            ok = false;
            return false;
        }
        ++p.events;
        if (accumulate) {
            acc.add(*chunk);
        }
        p.sample();
        return true;
    };

    std::string pending;
    pending.reserve(2 * piece_bytes + 512);
    auto drain = [&](bool all) {
        while (ok && (pending.size() >= piece_bytes || (all && !pending.empty()))) {
            const std::size_t n = std::min(pending.size(), piece_bytes);
            auto fed = parser.feed(std::string_view(pending).substr(0, n), on_event);
            ok = ok && fed && *fed;
            p.parser_bytes = std::max(p.parser_bytes, parser.buffered_bytes());
            pending.erase(0, n);
        }
    };
    for (std::size_t i = 0; i < events && ok; ++i) {
        append_event(pending, i);
        drain(false);
    }
    pending += "data: [DONE]\n\n";
    drain(true);
    auto done = parser.finish(on_event);
    ok = ok && done && *done;
    if (accumulate) {
        p.message_bytes = content_bytes(acc.result());
    }
    meter.finish(p);
    return ok && p.events == events;
}

std::string long_prompt(std::size_t n) {
    std::string prompt;
    for (std::size_t i = 0; i < n; ++i) {
        prompt += (i == 0 ? "" : " ");
        prompt += words[i % word_count];
    }
    return prompt;
}

// The emulator's reply to `prompt` is "Echo: " + prompt, one word per event, plus a role chunk
// and a finish chunk. With max_tokens = 1 the same request yields three events.
bool run_client(const dbxserve::client& client, const std::string& prompt, bool short_reply,
                peak& p) {
    dbxserve::chat_request request;
    request.messages.push_back(dbxserve::chat_message::user(prompt));
    if (short_reply) {
        request.max_tokens = 1;
    }
    p.curve.reserve(prompt.size() / curve_step + 1);
    peak_meter meter;
    auto reply = client.stream("chat", request, [&](const dbxserve::chat_completion_chunk&) {
        ++p.events;
        p.sample();
        return true;
    });
    if (reply) {
        p.message_bytes = content_bytes(*reply);
    }
    meter.finish(p);
    if (!reply) {
        std::fprintf(stderr, "stream: %s\n", reply.error().to_string().c_str());
        return false;
    }
    const std::size_t expected = short_reply ? 5 : prompt.size() + 6;
    return p.message_bytes == expected;
}

struct series {
    std::vector<double> growth;
    std::vector<double> seconds;
    std::vector<std::vector<double>> curve; // [point][repetition]
    peak last;
};

void record(series& s, const peak& p) {
    s.growth.push_back(static_cast<double>(p.growth_kib));
    s.seconds.push_back(p.seconds);
    s.curve.resize(std::max(s.curve.size(), p.curve.size()));
    for (std::size_t i = 0; i < p.curve.size(); ++i) {
        s.curve[i].push_back(static_cast<double>(p.curve[i]));
    }
    s.last = p;
}

void print_run(const char* name, const series& s) {
    const auto g = bench::summarize(s.growth);
    std::printf("  %-6s %7zu %14zu %11.0f %11.0f", name, s.last.events, s.last.message_bytes,
                g.median, g.min);
    if (s.last.parser_bytes > 0) {
        std::printf(" %13zu\n", s.last.parser_bytes);
    } else {
        std::printf(" %13s\n", "-");
    }
}

void print_pair(const char* title, const series& small, const series& large) {
    std::printf("%s\n", title);
    std::printf("  %-6s %7s %14s %11s %11s %13s\n", "run", "events", "message bytes", "peak KiB",
                "peak KiB", "parser bytes");
    std::printf("  %-6s %7s %14s %11s %11s %13s\n", "", "", "", "(median)", "(min)", "(max held)");
    print_run("small", small);
    print_run("large", large);

    const double extra_events = static_cast<double>(large.last.events - small.last.events);
    const double tens = extra_events / static_cast<double>(curve_step);
    const double growth =
        bench::summarize(large.growth).median - bench::summarize(small.growth).median;
    const double message_kib =
        static_cast<double>(large.last.message_bytes - small.last.message_bytes) / 1024.0;
    std::printf("  peak large - small: %.0f KiB = %.1f KiB per 10k events", growth, growth / tens);
    if (message_kib > 0) {
        std::printf(" = %.2f x the message (%.1f KiB per 10k events)", growth / message_kib,
                    message_kib / tens);
    }
    std::printf("\n  VmRSS during the large stream, minus VmRSS at its first event (median, KiB):");
    for (std::size_t i = 0; i < large.curve.size(); ++i) {
        std::printf(" %zuk:%.0f", (i + 1) * curve_step / 1000,
                    bench::summarize(large.curve[i]).median);
    }
    std::printf("\n  large run: %.0f events/s (median)\n\n",
                extra_events / bench::summarize(large.seconds).median);
}

// The emulator's side of the pipe: the port, then nothing until the parent closes its end or
// exits. Ten minutes bounds a parent that hangs.
[[noreturn]] void serve_in_child(const emu::test_pki_files& pki, int port_fd, int control_fd) {
    std::string error;
    auto server = bench::start_tls_emulator(pki, error);
    const int port = server ? server->port() : -1;
    if (!server) {
        std::fprintf(stderr, "emulator: %s\n", error.c_str());
    }
    const bool written = write(port_fd, &port, sizeof port) == static_cast<ssize_t>(sizeof port);
    close(port_fd);
    if (written && server) {
        pollfd wait_for{control_fd, POLLIN, 0};
        poll(&wait_for, 1, 10 * 60 * 1000);
    }
    _exit(0); // the OS closes the emulator's sockets; its threads need no orderly stop
}

} // namespace

int main(int argc, char** argv) {
    const auto events =
        static_cast<std::size_t>(bench::flag(argc, argv, "--events", 50000, 5000000));
    const int reps = static_cast<int>(bench::flag(argc, argv, "--reps", 5, 1000));
    bench::print_header("dbxserve streaming memory: peak RSS growth, 50k events vs a few", argc,
                        argv);
    if (events < 4) {
        std::fprintf(stderr, "--events must be at least 4\n");
        return 2;
    }

    // The child must be forked while this process has a single thread: certificates first,
    // then the fork, and only then anything that starts threads.
    std::string error;
    emu::test_pki_files pki;
    if (!bench::make_pki(pki, error)) {
        std::fprintf(stderr, "certificates: %s\n", error.c_str());
        return 1;
    }
    int port_pipe[2];
    int control_pipe[2];
    if (pipe(port_pipe) != 0 || pipe(control_pipe) != 0) {
        std::perror("pipe");
        return 1;
    }
    std::fflush(stdout);
    const pid_t child = fork();
    if (child < 0) {
        std::perror("fork");
        return 1;
    }
    if (child == 0) {
        close(port_pipe[0]);
        close(control_pipe[1]);
        serve_in_child(pki, port_pipe[1], control_pipe[0]);
    }
    close(port_pipe[1]);
    close(control_pipe[0]);
    auto stop_child = [&] {
        close(control_pipe[1]);
        int status = 0;
        waitpid(child, &status, 0);
    };

    {
        peak_meter probe;
        if (!probe.reset_ok()) {
            std::printf("note: /proc/self/clear_refs refused; peaks are VmHWM since start\n");
        }
    }

    bool ok = true;
    series syn_small;
    series syn_large;
    series flat_small;
    series flat_large;
    for (int rep = -1; rep < reps && ok; ++rep) { // repetition -1 warms the allocator up
        peak a;
        peak b;
        peak c;
        peak d;
        ok = run_synthetic(1, true, a) && run_synthetic(events, true, b) &&
             run_synthetic(1, false, c) && run_synthetic(events, false, d);
        if (rep >= 0) {
            record(syn_small, a);
            record(syn_large, b);
            record(flat_small, c);
            record(flat_large, d);
        }
    }
    if (!ok) {
        std::fprintf(stderr, "the synthetic stream failed to parse\n");
        stop_child();
        return 1;
    }

    int port = -1;
    if (read(port_pipe[0], &port, sizeof port) != static_cast<ssize_t>(sizeof port) || port < 0) {
        std::fprintf(stderr, "the emulator did not start\n");
        stop_child();
        return 1;
    }
    close(port_pipe[0]);

    series cli_small;
    series cli_large;
    {
        dbxserve::config cfg;
        cfg.host = "https://127.0.0.1:" + std::to_string(port);
        cfg.token = "dapi-emulator-pat";
        dbxserve::httplib_transport_options transport;
        transport.tls.ca_file = pki.ca_cert;
        auto client =
            dbxserve::make_client(cfg, {}, transport, dbxserve::environment::from_map({}));
        if (!client) {
            std::fprintf(stderr, "client: %s\n", client.error().to_string().c_str());
            stop_child();
            return 1;
        }
        // Role chunk, "Echo:", one chunk per prompt word, finish chunk.
        const std::string prompt = long_prompt(events - 3);
        for (int rep = -1; rep < reps && ok; ++rep) {
            peak small;
            peak large;
            ok = run_client(*client, prompt, true, small) &&
                 run_client(*client, prompt, false, large);
            if (rep >= 0) {
                record(cli_small, small);
                record(cli_large, large);
            }
        }
    }
    stop_child();
    if (!ok) {
        std::fprintf(stderr, "a stream through the client failed\n");
        return 1;
    }

    std::printf("%d repetitions after one warm-up. peak = VmHWM during the run - VmRSS before it\n"
                "(free heap handed back and VmHWM reset first). small and large differ only in\n"
                "the number of events, so their difference is what the events cost.\n\n",
                reps);
    print_pair("1. synthetic stream, sse_parser + typed chunks + chat_stream_accumulator",
               syn_small, syn_large);
    print_pair("   the same without the accumulator (nothing may grow)", flat_small, flat_large);
    print_pair("2. client.stream(\"chat\") over TLS from the emulator (small: max_tokens = 1, "
               "same prompt)",
               cli_small, cli_large);
    return 0;
}
