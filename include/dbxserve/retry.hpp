#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cancellation.hpp"
#include "deadline.hpp"
#include "error.hpp"
#include "result.hpp"
#include "transport.hpp"

namespace dbxserve {
inline namespace v0 {
namespace detail {

inline bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

inline std::string_view trim_blanks(std::string_view text) {
    while (!text.empty() && is_blank(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && is_blank(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

// Runs of blanks count as one separator: asctime pads a one-digit day with a second space.
inline std::vector<std::string_view> split_blanks(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && is_blank(text[i])) {
            ++i;
        }
        const std::size_t start = i;
        while (i < text.size() && !is_blank(text[i])) {
            ++i;
        }
        if (i > start) {
            words.push_back(text.substr(start, i - start));
        }
    }
    return words;
}

inline bool all_digits(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Saturates at `limit`, so an absurd header cannot overflow.
inline long long digits_value(std::string_view digits, long long limit) {
    long long value = 0;
    for (char c : digits) {
        value = std::min(limit, value * 10 + (c - '0'));
    }
    return value;
}

// 1..12, or 0 for anything else.
inline int month_number(std::string_view name) {
    constexpr const char* names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; ++i) {
        if (header_list::equal(name, names[i])) {
            return i + 1;
        }
    }
    return 0;
}

// Accepts the short and the long names in every form: senders mix them up, and the day name
// carries no information the date does not.
inline bool is_day_name(std::string_view name) {
    constexpr const char* names[] = {"Mon",      "Tue",    "Wed",      "Thu",     "Fri",
                                     "Sat",      "Sun",    "Monday",   "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday", "Sunday"};
    return std::any_of(std::begin(names), std::end(names),
                       [&](const char* day) { return header_list::equal(name, day); });
}

inline bool is_leap_year(long long year) {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

inline int days_in_month(long long year, int month) {
    constexpr int lengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (month == 2 && is_leap_year(year)) ? 29 : lengths[month - 1];
}

// Days from 1970-01-01 to a date of the proleptic Gregorian calendar, for years from 1 on: whole
// years of 365 days plus one per leap year passed, then the months and days of the last year.
inline long long days_from_civil(long long year, int month, int day) {
    const auto leap_years_through = [](long long y) { return y / 4 - y / 100 + y / 400; };
    constexpr int days_before_month[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};

    long long days = 365 * (year - 1970) + leap_years_through(year - 1) - leap_years_through(1969);
    days += days_before_month[month - 1] + ((month > 2 && is_leap_year(year)) ? 1 : 0);
    return days + (day - 1);
}

// The calendar year containing a day counted from 1970-01-01.
inline long long year_of_day(long long days) {
    long long year = days >= 0 ? 1969 + days / 366 : 1969 + days / 365 - 1;
    year = std::max(1LL, year);
    while (days_from_civil(year + 1, 1, 1) <= days) {
        ++year;
    }
    return year;
}

struct civil_time {
    long long year = 0;
    int month = 0;
    int day = 0;
    int hour = 0;
    int minute = 0;
    int second = 0;
};

inline bool two_digits(std::string_view text, int& value) {
    if (text.size() != 2 || !all_digits(text)) {
        return false;
    }
    value = (text[0] - '0') * 10 + (text[1] - '0');
    return true;
}

inline bool parse_clock(std::string_view text, civil_time& t) {
    return text.size() == 8 && text[2] == ':' && text[5] == ':' &&
           two_digits(text.substr(0, 2), t.hour) && two_digits(text.substr(3, 2), t.minute) &&
           two_digits(text.substr(6, 2), t.second);
}

inline bool parse_day(std::string_view text, civil_time& t) {
    if (text.empty() || text.size() > 2 || !all_digits(text)) {
        return false;
    }
    t.day = static_cast<int>(digits_value(text, 99));
    return true;
}

inline bool is_gmt(std::string_view zone) {
    return header_list::equal(zone, "GMT") || header_list::equal(zone, "UTC");
}

// RFC 9110 5.6.7: a two-digit year more than 50 years in the future means the most recent past
// year with those digits, so the year is taken from the century window around now.
inline long long expand_two_digit_year(int yy, long long now_year) {
    long long year = now_year - now_year % 100 + yy;
    if (year > now_year + 50) {
        year -= 100;
    } else if (year <= now_year - 50) {
        year += 100;
    }
    return year;
}

inline bool parse_year(std::string_view text, long long now_year, civil_time& t) {
    int yy = 0;
    if (two_digits(text, yy)) {
        t.year = expand_two_digit_year(yy, now_year);
        return true;
    }
    if (text.size() == 4 && all_digits(text)) {
        t.year = digits_value(text, 9999);
        return true;
    }
    return false;
}

inline bool parse_date_words(const std::vector<std::string_view>& w, long long now_year,
                             civil_time& t) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if (w.size() == 6 && w[0].size() > 1 && w[0].back() == ',') {
        t.month = month_number(w[2]);
        return is_day_name(w[0].substr(0, w[0].size() - 1)) && parse_day(w[1], t) && t.month != 0 &&
               w[3].size() == 4 && parse_year(w[3], now_year, t) && parse_clock(w[4], t) &&
               is_gmt(w[5]);
    }

    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    if (w.size() == 4 && w[0].size() > 1 && w[0].back() == ',') {
        const std::string_view date = w[1];
        const auto first = date.find('-');
        const auto second = date.find('-', first == std::string_view::npos ? 0 : first + 1);
        if (first == std::string_view::npos || second == std::string_view::npos) {
            return false;
        }
        t.month = month_number(date.substr(first + 1, second - first - 1));
        return is_day_name(w[0].substr(0, w[0].size() - 1)) &&
               parse_day(date.substr(0, first), t) && t.month != 0 &&
               parse_year(date.substr(second + 1), now_year, t) && parse_clock(w[2], t) &&
               is_gmt(w[3]);
    }

    // asctime: "Sun Nov  6 08:49:37 1994"
    if (w.size() == 5) {
        t.month = month_number(w[1]);
        return is_day_name(w[0]) && t.month != 0 && parse_day(w[2], t) && parse_clock(w[3], t) &&
               w[4].size() == 4 && parse_year(w[4], now_year, t);
    }
    return false;
}

// Seconds since the Unix epoch of an HTTP-date in any of the three forms RFC 9110 allows.
inline std::optional<long long> parse_http_date(std::string_view text, long long now_unix) {
    const long long now_days = now_unix >= 0 ? now_unix / 86400 : (now_unix - 86399) / 86400;
    civil_time t;
    if (!parse_date_words(split_blanks(text), year_of_day(now_days), t)) {
        return std::nullopt;
    }

    // 60 admits a leap second; it simply lands on the next minute.
    const bool valid = t.year >= 1 && t.day >= 1 && t.day <= days_in_month(t.year, t.month) &&
                       t.hour <= 23 && t.minute <= 59 && t.second <= 60;
    if (!valid) {
        return std::nullopt;
    }
    return days_from_civil(t.year, t.month, t.day) * 86400 + t.hour * 3600 + t.minute * 60 +
           t.second;
}

// "12" or, leniently, "1.5": whole milliseconds, the fraction cut after three digits.
inline std::optional<std::chrono::milliseconds> parse_delta_seconds(std::string_view text) {
    const auto dot = text.find('.');
    const std::string_view whole = text.substr(0, dot);
    const std::string_view fraction =
        dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
    if (!all_digits(whole) || (dot != std::string_view::npos && !all_digits(fraction))) {
        return std::nullopt;
    }

    // A billion seconds (31 years) is as good as forever, and keeps the arithmetic in range.
    long long ms = digits_value(whole, 1000000000LL) * 1000;
    long long scale = 100;
    for (std::size_t i = 0; i < fraction.size() && i < 3; ++i, scale /= 10) {
        ms += (fraction[i] - '0') * scale;
    }
    return std::chrono::milliseconds(ms);
}

} // namespace detail

// Reads a Retry-After header value: delay-seconds ("120", leniently also "1.5") or an HTTP-date in
// any RFC 9110 form, measured from `now`. A date in the past gives 0; anything else, nullopt.
//
//     auto wait = dbxserve::parse_retry_after(response.headers.get("Retry-After"),
//                                             std::chrono::system_clock::now());
inline std::optional<std::chrono::milliseconds>
parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
    value = detail::trim_blanks(value);
    if (value.empty()) {
        return std::nullopt;
    }
    if (value.front() >= '0' && value.front() <= '9') {
        return detail::parse_delta_seconds(value);
    }

    // system_clock counts from the Unix epoch on every platform C++ runs on (guaranteed in C++20).
    const long long now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    const long long now_unix = now_ms >= 0 ? now_ms / 1000 : (now_ms - 999) / 1000;
    const auto date = detail::parse_http_date(value, now_unix);
    if (!date) {
        return std::nullopt;
    }
    return std::chrono::milliseconds(std::max(0LL, *date * 1000 - now_ms));
}

// When and how often to retry. The defaults suit `/invocations` (PROTOCOL 5.2, 8).
struct retry_options {
    // Attempts in total, the first included; 1 means never retry.
    int max_attempts = 5;

    // Full-jitter exponential backoff: the delay before retry n is uniform in
    // [0, min(max_backoff, initial_backoff * multiplier^(n-1))).
    std::chrono::milliseconds initial_backoff{1000};
    std::chrono::milliseconds max_backoff{std::chrono::seconds(60)};
    double multiplier = 2.0;

    // Replies with these statuses are retried; the server did not run the request.
    std::vector<int> retry_statuses{429, 503};

    // A larger Retry-After than the backoff replaces it, but never beyond max_retry_after.
    bool honor_retry_after = true;
    std::chrono::milliseconds max_retry_after{std::chrono::minutes(5)};

    // Whether repeating the request is harmless (a token request). Only then are failures that
    // may have happened after the request left - resets, read timeouts - retried: repeating an
    // invocation could run the model twice.
    bool idempotent = false;

    // Uniform in [0, 1); empty means a per-policy generator seeded from std::random_device.
    std::function<double()> random;
};

// How long a single token request may be retried in total (PROTOCOL 1.6); pass it to
// run_with_retries as `deadline::after(token_endpoint_retry_budget)`.
constexpr std::chrono::seconds token_endpoint_retry_budget{60};

// The token endpoint's retry numbers (PROTOCOL 1.6): 429, 502, 503, 504 and network failures,
// from 1 s doubling to 60 s. Token requests are idempotent, so failures after sending are retried
// too. The attempt limit is only a backstop; the budget normally ends the retries first.
inline retry_options token_endpoint_retry_options() {
    retry_options options;
    options.max_attempts = 10;
    options.initial_backoff = std::chrono::seconds(1);
    options.max_backoff = std::chrono::seconds(60);
    options.multiplier = 2.0;
    options.retry_statuses = {429, 502, 503, 504};
    options.idempotent = true;
    return options;
}

// What one attempt produced, as a retry policy sees it. Exactly one of `response` and `failure`
// is set. An error of kind `http` (a non-2xx reply already turned into an error) also fills
// `http_status`, so a policy treats both shapes alike.
struct attempt_outcome {
    int attempt = 1; // 1-based

    // The status when a reply arrived.
    std::optional<int> http_status;

    const http_response* response = nullptr;

    // Why no usable reply arrived: transport, timeout, cancelled, ...
    const error* failure = nullptr;

    // From the reply's Retry-After header, or the error's `retry_after`.
    std::optional<std::chrono::milliseconds> retry_after;
};

namespace detail {

// TLS failures that repeat identically on every attempt: a certificate the client rejects, or
// trust anchors it cannot load. Transports mark them with this error code.
inline bool is_certificate_failure(const error& e) {
    return e.error_code == tls_verification_failed;
}

// One generator per policy (copies share it), so that concurrent calls draw distinct jitter
// without any global state.
class jitter_source {
public:
    jitter_source() {
        std::random_device device;
        const std::uint64_t high = device();
        engine_.seed((high << 32) ^ device());
    }

    double next() {
        std::lock_guard<std::mutex> lock(mutex_);
        return std::generate_canonical<double, 53>(engine_);
    }

private:
    std::mutex mutex_;
    std::mt19937_64 engine_;
};

} // namespace detail

// The default retry policy: full-jitter exponential backoff with Retry-After, retrying
// `retry_statuses` and failures that happened before the request left (connection refused or
// reset while connecting, a TLS handshake cut short), never certificate failures, read timeouts,
// resets after sending (unless `idempotent`) or cancellation.
//
// A retry policy is a replaceable component: any type with
//
//     std::optional<std::chrono::milliseconds> next_delay(const attempt_outcome& outcome);
//
// returning the delay before the next attempt, or nullopt to stop, works with run_with_retries.
// This one is stateless apart from its generator and may be shared by concurrent calls.
//
//     dbxserve::retry_options o;
//     o.max_attempts = 3;
//     dbxserve::retry_policy policy(o);
class retry_policy {
public:
    explicit retry_policy(retry_options options = {}) : options_(std::move(options)) {
        if (!options_.random) {
            auto source = std::make_shared<detail::jitter_source>();
            options_.random = [source] { return source->next(); };
        }
    }

    std::optional<std::chrono::milliseconds> next_delay(const attempt_outcome& outcome) const {
        if (outcome.attempt >= options_.max_attempts || !retryable(outcome)) {
            return std::nullopt;
        }

        std::chrono::milliseconds delay = backoff(outcome.attempt);
        if (options_.honor_retry_after && outcome.retry_after) {
            const auto asked = std::min(*outcome.retry_after, options_.max_retry_after);
            delay = std::max(delay, asked);
        }
        return delay;
    }

    // Whether the outcome is worth another attempt, ignoring the attempt count.
    bool retryable(const attempt_outcome& outcome) const {
        if (outcome.http_status) {
            const auto& statuses = options_.retry_statuses;
            return std::find(statuses.begin(), statuses.end(), *outcome.http_status) !=
                   statuses.end();
        }
        if (outcome.failure == nullptr) {
            return false;
        }

        const error& e = *outcome.failure;
        switch (e.kind) {
        case error_kind::transport:
            return !detail::is_certificate_failure(e) &&
                   (!e.request_may_have_been_sent || options_.idempotent);
        case error_kind::timeout:
            // A read timeout may mean the model is still running; a connect timeout has already
            // spent its whole budget. Both are repeated only for idempotent requests.
            return options_.idempotent;
        default:
            return false;
        }
    }

    // The jittered backoff before the retry that follows attempt `attempt`.
    std::chrono::milliseconds backoff(int attempt) const {
        const double initial = static_cast<double>(
            std::max<long long>(0, static_cast<long long>(options_.initial_backoff.count())));
        const double cap = static_cast<double>(
            std::max<long long>(0, static_cast<long long>(options_.max_backoff.count())));
        const double grown = initial * std::pow(options_.multiplier, std::max(0, attempt - 1));
        const double ceiling = std::isnan(grown) ? cap : std::min(cap, grown);

        double r = options_.random();
        // Keeps the delay below the ceiling even for a generator that returns 1.0 (LWG 2524),
        // and maps NaN to 0.
        r = (r >= 0.0) ? std::min(r, std::nextafter(1.0, 0.0)) : 0.0;
        return std::chrono::milliseconds(static_cast<long long>(std::floor(r * ceiling)));
    }

    const retry_options& options() const { return options_; }

private:
    retry_options options_;
};

// Never retries: the policy for callers that do their own.
class no_retry {
public:
    std::optional<std::chrono::milliseconds> next_delay(const attempt_outcome&) const {
        return std::nullopt;
    }
};

// Told about each retry before its backoff sleep: the attempt that failed and the delay.
using retry_observer = std::function<void(int attempt, std::chrono::milliseconds delay)>;

namespace detail {

inline attempt_outcome outcome_of(int attempt, const result<http_response>& got,
                                  std::chrono::system_clock::time_point now) {
    attempt_outcome outcome;
    outcome.attempt = attempt;
    if (got.ok()) {
        outcome.response = &got.value();
        outcome.http_status = got->status;
        if (got->headers.contains("Retry-After")) {
            outcome.retry_after = parse_retry_after(got->headers.get("Retry-After"), now);
        }
        return outcome;
    }

    outcome.failure = &got.error();
    outcome.retry_after = got.error().retry_after;
    if (got.error().kind == error_kind::http && got.error().http_status != 0) {
        outcome.http_status = got.error().http_status;
    }
    return outcome;
}

inline std::string describe(const result<http_response>& got) {
    return got.ok() ? "HTTP " + std::to_string(got->status) : got.error().to_string();
}

inline error retry_deadline_error(int attempts, const std::optional<result<http_response>>& last) {
    if (!last) {
        return make_error(error_kind::timeout, "the call's deadline passed before it was sent");
    }
    error e = make_error(error_kind::timeout,
                         "the call's deadline passed after " + std::to_string(attempts) +
                             " attempt(s); the last one got " + describe(*last));
    e.retry_after = outcome_of(attempts, *last, std::chrono::system_clock::now()).retry_after;
    return e;
}

inline error retry_cancelled_error() {
    return make_error(error_kind::cancelled, "call cancelled");
}

} // namespace detail

// Runs `attempt(n)` (n = 1, 2, ...; it returns result<http_response>) until `policy` stops,
// sleeping the policy's delay in between. Returns the last result as it is - a retryable reply
// the retries could not get past comes back as that reply - except that a retry whose delay would
// reach past `dl` is not waited for, an expired deadline gives `error_kind::timeout`, and a
// cancel (checked before every attempt and during every sleep) gives `error_kind::cancelled`.
//
//     dbxserve::retry_policy policy;
//     auto reply = dbxserve::run_with_retries(policy, dbxserve::deadline::after(60s), token,
//                                             [&](int) { return transport.send(request); });
template <class Policy, class Attempt>
result<http_response> run_with_retries(Policy& policy, const deadline& dl,
                                       const cancellation_token& ct, Attempt&& attempt,
                                       const retry_observer& observer = {}) {
    std::optional<result<http_response>> last;
    for (int n = 1;; ++n) {
        if (ct.cancelled()) {
            return detail::retry_cancelled_error();
        }
        if (dl.expired()) {
            return detail::retry_deadline_error(n - 1, last);
        }

        last.emplace(attempt(n));
        const auto delay =
            policy.next_delay(detail::outcome_of(n, *last, std::chrono::system_clock::now()));
        if (!delay) {
            return std::move(*last);
        }

        if (dl.expired()) {
            return detail::retry_deadline_error(n, last);
        }
        if (!dl.is_none() && *delay >= dl.remaining()) {
            return std::move(*last);
        }

        if (observer) {
            observer(n, *delay);
        }
        if (ct.wait_for(*delay)) {
            return detail::retry_cancelled_error();
        }
    }
}

} // namespace v0
} // namespace dbxserve
