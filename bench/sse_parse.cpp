// Throughput of the streaming read path without the network: detail::sse_parser framing, the
// typed chunk parsing and the accumulator, over a chat stream cut into the pieces a TLS socket
// hands over. Two baselines measured in the same run:
//   - the floor: finding every "\n\n" with std::string_view::find, the least any parser of the
//     stream must do;
//   - nlohmann::json::parse of each event's data alone, already cut out: what the JSON costs,
//     so that (sse_parser + json::parse) / json::parse isolates the SSE framing.
//
//     bench-sse-parse [--events N] [--piece BYTES] [--reps N]

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <dbxserve/core.hpp>
#include <nlohmann/json.hpp>

#include "bench_support.hpp"

namespace {

namespace bench = dbxserve_bench;
using dbxserve::detail::sse_event;
using dbxserve::detail::sse_parser;

// Token-sized pieces as chat models stream them: mostly a leading space and a short word, with
// punctuation, digits, non-ASCII text and characters JSON has to escape mixed in.
const char* const vocabulary[] = {
    " the",     " model",  " serving",    " endpoint", " returns",   " a",          " token",
    ",",        ".",       " Databricks", " agent",    " of",        " to",         " and",
    " café",    " naïve",  " 42",         " 3.14",     "\n\n",       " \"quoted\"", " C++",
    " latency", " résumé", " stream",     " 日本語",   " tab\tstop", " is",         " in",
};

struct chat_stream {
    std::string bytes;             // the whole event stream, [DONE] included
    std::vector<std::string> data; // each event's data, [DONE] excluded
    std::string text;              // what the content deltas add up to
};

// `events` data events in the chat completions chunk shape, serialised by nlohmann as the
// emulator serialises them: a role chunk, content chunks, a finish chunk, a usage chunk.
chat_stream make_stream(long events) {
    using nlohmann::json;
    chat_stream out;
    const json base = {{"id", "chatcmpl-9f2c4e1ab37d5c60e8f1a2b3"},
                       {"object", "chat.completion.chunk"},
                       {"created", 1764790000},
                       {"model", "databricks-meta-llama-3-3-70b-instruct"}};
    auto add = [&](json chunk) {
        out.data.push_back(chunk.dump());
        out.bytes += "data: " + out.data.back() + "\n\n";
    };
    auto choice = [&](json delta, json finish) {
        json c = base;
        c["choices"] = json::array(
            {{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", std::move(finish)}}});
        return c;
    };

    add(choice({{"role", "assistant"}, {"content", ""}}, nullptr));
    std::uint64_t state = 0x9E3779B97F4A7C15ULL;
    const std::size_t words = sizeof vocabulary / sizeof vocabulary[0];
    for (long i = 0; i < events - 3; ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        const std::string piece = vocabulary[(state >> 33) % words];
        out.text += piece;
        add(choice({{"content", piece}}, nullptr));
    }
    add(choice(json::object(), "stop"));
    json usage = base;
    usage["choices"] = json::array();
    usage["usage"] = {
        {"prompt_tokens", 24}, {"completion_tokens", events - 3}, {"total_tokens", events + 21}};
    add(usage);
    out.bytes += "data: [DONE]\n\n";
    return out;
}

std::vector<std::string_view> cut(const std::string& bytes, std::size_t piece) {
    std::vector<std::string_view> pieces;
    for (std::size_t at = 0; at < bytes.size(); at += piece) {
        pieces.push_back(std::string_view(bytes).substr(at, piece));
    }
    return pieces;
}

// Each variant returns a figure that depends on everything it read, which both keeps the
// optimiser from dropping the work and lets main check that every variant saw every event.
struct outcome {
    std::size_t events = 0;
    bool ok = true;
};

outcome scan_floor(const std::vector<std::string_view>& pieces) {
    outcome o;
    bool ended_with_lf = false;
    for (std::string_view p : pieces) {
        if (ended_with_lf && !p.empty() && p.front() == '\n') {
            ++o.events; // a "\n\n" split over two pieces
        }
        for (auto at = p.find("\n\n"); at != std::string_view::npos; at = p.find("\n\n", at + 2)) {
            ++o.events;
        }
        ended_with_lf = !p.empty() && p.back() == '\n';
    }
    return o;
}

template <class OnEvent>
outcome run_parser(const std::vector<std::string_view>& pieces, OnEvent on_event) {
    outcome o;
    sse_parser parser;
    auto counted = [&](const sse_event& e) {
        ++o.events;
        return on_event(e);
    };
    for (std::string_view p : pieces) {
        auto fed = parser.feed(p, counted);
        if (!fed || !*fed) {
            o.ok = false;
            return o;
        }
    }
    auto done = parser.finish(counted);
    o.ok = o.ok && done && *done;
    return o;
}

// The median over repetitions of a[i] / b[i]: both ran in the same repetition, so a slow
// phase of the machine hits both.
double paired(const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> ratios;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
        ratios.push_back(a[i] / b[i]);
    }
    return bench::summarize(ratios).median;
}

struct variant {
    const char* name;
    std::function<outcome()> run;
    std::vector<double> ms;
};

} // namespace

int main(int argc, char** argv) {
    const long events = bench::flag(argc, argv, "--events", 20000, 10000000);
    const long piece = bench::flag(argc, argv, "--piece", 1500, 1 << 24);
    const int reps = static_cast<int>(bench::flag(argc, argv, "--reps", 15, 1000));
    bench::print_header("dbxserve SSE read path: sse_parser + typed chunks vs baselines", argc,
                        argv);
    if (events < 4) {
        std::fprintf(stderr, "--events must be at least 4\n");
        return 2;
    }

    const chat_stream stream = make_stream(events);
    const auto pieces = cut(stream.bytes, static_cast<std::size_t>(piece));
    const std::size_t expected = stream.data.size() + 1; // [DONE] is an event too
    std::printf("stream: %zu data events + [DONE], %zu bytes (%.1f bytes/event), %zu pieces of "
                "%ld bytes\n\n",
                stream.data.size(), stream.bytes.size(),
                static_cast<double>(stream.bytes.size()) / static_cast<double>(expected),
                pieces.size(), piece);

    std::string accumulated;
    std::vector<variant> variants;
    variants.push_back({"floor: find \"\\n\\n\"", [&] { return scan_floor(pieces); }, {}});
    variants.push_back({"baseline: json::parse(data) alone",
                        [&] {
                            outcome o;
                            for (const auto& d : stream.data) {
                                const auto j = nlohmann::json::parse(d, nullptr, false);
                                o.ok = o.ok && j.is_object();
                                ++o.events;
                            }
                            ++o.events; // the [DONE] the data list leaves out
                            return o;
                        },
                        {}});
    variants.push_back({"sse_parser (framing only)",
                        [&] {
                            std::size_t bytes = 0;
                            auto o = run_parser(pieces, [&](const sse_event& e) {
                                bytes += e.data.size();
                                return true;
                            });
                            o.ok = o.ok && bytes > 0;
                            return o;
                        },
                        {}});
    variants.push_back({"sse_parser + json::parse",
                        [&] {
                            return run_parser(pieces, [](const sse_event& e) {
                                if (dbxserve::detail::is_done_sentinel(e)) {
                                    return true;
                                }
                                return nlohmann::json::parse(e.data, nullptr, false).is_object();
                            });
                        },
                        {}});
    variants.push_back(
        {"sse_parser + typed chunk",
         [&] {
             return run_parser(pieces, [](const sse_event& e) {
                 if (dbxserve::detail::is_done_sentinel(e)) {
                     return true;
                 }
                 return dbxserve::detail::parse_stream_chunk<dbxserve::chat_completion_chunk>(
                            e.data)
                     .ok();
             });
         },
         {}});
    variants.push_back(
        {"sse_parser + typed + accumulator",
         [&] {
             dbxserve::chat_stream_accumulator acc;
             auto o = run_parser(pieces, [&](const sse_event& e) {
                 if (dbxserve::detail::is_done_sentinel(e)) {
                     return true;
                 }
                 auto chunk =
                     dbxserve::detail::parse_stream_chunk<dbxserve::chat_completion_chunk>(e.data);
                 if (!chunk) {
                     return false;
                 }
                 acc.add(*chunk);
                 return true;
             });
             accumulated = acc.result().text();
             return o;
         },
         {}});

    for (int rep = -1; rep < reps; ++rep) { // repetition -1 warms caches and the allocator
        for (auto& v : variants) {
            const auto start = bench::clock_type::now();
            const outcome o = v.run();
            const double ms = bench::seconds_since(start) * 1e3;
            if (!o.ok || o.events != expected) {
                std::fprintf(stderr, "%s: saw %zu of %zu events\n", v.name, o.events, expected);
                return 1;
            }
            if (rep >= 0) {
                v.ms.push_back(ms);
            }
        }
    }
    if (accumulated != stream.text) {
        std::fprintf(stderr, "the accumulated text differs from the streamed content\n");
        return 1;
    }

    const double mb = static_cast<double>(stream.bytes.size()) / 1e6;
    const auto& floor_ms = variants[0].ms;
    const auto& json_ms = variants[1].ms;
    std::printf("%d repetitions after one warm-up, the variants interleaved in each. MB/s counts\n"
                "the whole stream's bytes in every row, so rows compare as time. Ratios are the\n"
                "median over repetitions of (variant time / baseline time) in that repetition.\n\n",
                reps);
    std::printf("  %-36s %9s %9s %9s %10s %10s\n", "variant", "MB/s", "ms", "ms", "time vs",
                "time vs");
    std::printf("  %-36s %9s %9s %9s %10s %10s\n", "", "(median)", "(median)", "(min)", "floor",
                "json only");
    for (const auto& v : variants) {
        const auto s = bench::summarize(v.ms);
        std::printf("  %-36s %9.1f %9.2f %9.2f %9.1fx %9.2fx\n", v.name, mb / (s.median / 1e3),
                    s.median, s.min, paired(v.ms, floor_ms), paired(v.ms, json_ms));
    }

    const auto per_event = [&](const std::vector<double>& ms) {
        return bench::summarize(ms).median * 1e6 / static_cast<double>(expected);
    };
    std::printf("\nper event (medians): framing %.0f ns, json::parse %.0f ns, framing + typed + "
                "accumulator %.0f ns\n",
                per_event(variants[2].ms), per_event(json_ms), per_event(variants[5].ms));
    std::printf("framing alone / (sse_parser + json::parse): %.0f%% (paired median)\n",
                100.0 * paired(variants[2].ms, variants[3].ms));
    return 0;
}
