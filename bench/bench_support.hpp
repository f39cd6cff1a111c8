// Helpers shared by the benchmarks: flags, repetition statistics, a TLS emulator with throwaway
// certificates, and the process's CPU time and resident memory.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "emulator.hpp"
#include "test_pki.hpp"

namespace dbxserve_bench {

namespace emu = dbxserve::emulator;
using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

// CPU seconds of every thread of this process, user and system.
inline double process_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// `--name N`: a positive integer no larger than `most`, so that a typo cannot start a run that
// lasts for hours; anything else is refused.
inline long flag(int argc, char** argv, const char* name, long fallback, long most) {
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], name) != 0) {
            continue;
        }
        char* end = nullptr;
        const long value = std::strtol(argv[i + 1], &end, 10);
        if (end == argv[i + 1] || *end != '\0' || value < 1 || value > most) {
            std::fprintf(stderr, "%s wants an integer from 1 to %ld\n", name, most);
            std::exit(2);
        }
        return value;
    }
    return fallback;
}

// `--name` without a value.
inline bool has_flag(int argc, char** argv, const char* name) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], name) == 0) {
            return true;
        }
    }
    return false;
}

struct summary {
    double median = 0;
    double min = 0;
    double max = 0;
};

inline summary summarize(std::vector<double> values) {
    summary s;
    if (values.empty()) {
        return s;
    }
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    s.median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    s.min = values.front();
    s.max = values.back();
    return s;
}

// Every benchmark prints the same preamble, so a pasted result says what produced it.
inline void print_header(const char* title, int argc, char** argv) {
    std::printf("%s\n", title);
    std::printf("command:");
    for (int i = 0; i < argc; ++i) {
        std::printf(" %s", argv[i]);
    }
    std::printf("\n\n");
}

// Certificates only; split from starting the server so a caller can fork in between.
inline bool make_pki(emu::test_pki_files& files, std::string& error) {
    const std::string dir = emu::make_scratch_dir("dbxserve-bench", error);
    return !dir.empty() && emu::generate_test_pki(dir, files, error);
}

inline std::unique_ptr<emu::workspace_emulator> start_tls_emulator(const emu::test_pki_files& pki,
                                                                   std::string& error) {
    emu::emulator_options options;
    options.cert_file = pki.server_cert;
    options.key_file = pki.server_key;
    auto server = std::make_unique<emu::workspace_emulator>(options);
    if (!server->start()) {
        error = server->last_error();
        return nullptr;
    }
    return server;
}

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM"); -1 when it cannot be read.
inline long status_kib(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    const std::size_t len = std::strlen(field);
    while (std::getline(in, line)) {
        if (line.compare(0, len, field) == 0 && line.size() > len && line[len] == ':') {
            return std::strtol(line.c_str() + len + 1, nullptr, 10);
        }
    }
    return -1;
}

// Lowers VmHWM to the current VmRSS (Linux 4.0+), so each measured run gets its own peak.
inline bool reset_peak_rss() {
    std::ofstream out("/proc/self/clear_refs");
    out << "5";
    out.flush();
    return static_cast<bool>(out);
}

// Freed heap pages stay resident under glibc; a run that reuses them shows no growth at all.
// Handing them back first makes each run start from the same floor.
inline void release_free_heap() {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

} // namespace dbxserve_bench
