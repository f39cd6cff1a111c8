#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <dbxserve/retry.hpp>

using dbxserve::error_kind;
using std::chrono::milliseconds;

namespace {

// 784111777 is Sun, 06 Nov 1994 08:49:37 GMT; "now" is ten seconds earlier.
std::chrono::system_clock::time_point unix_time(long long seconds) {
    return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}
const auto november_1994 = unix_time(784111777 - 10);

dbxserve::http_response reply(int status, std::string retry_after = "") {
    dbxserve::http_response r;
    r.status = status;
    if (!retry_after.empty()) {
        r.headers.add("Retry-After", retry_after);
    }
    return r;
}

dbxserve::error transport_failure(bool sent, std::string message = "Connection refused") {
    dbxserve::error e = dbxserve::make_error(error_kind::transport, std::move(message));
    e.request_may_have_been_sent = sent;
    return e;
}

dbxserve::attempt_outcome status_outcome(int status, int attempt = 1) {
    dbxserve::attempt_outcome o;
    o.attempt = attempt;
    o.http_status = status;
    return o;
}

dbxserve::attempt_outcome failure_outcome(const dbxserve::error& e, int attempt = 1) {
    dbxserve::attempt_outcome o;
    o.attempt = attempt;
    o.failure = &e;
    return o;
}

dbxserve::retry_options fixed_random(double value) {
    dbxserve::retry_options o;
    o.random = [value] { return value; };
    return o;
}

double elapsed_ms(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
        .count();
}

} // namespace

TEST_CASE("retry: Retry-After in delay-seconds") {
    CHECK(dbxserve::parse_retry_after("120", november_1994) == milliseconds(120000));
    CHECK(dbxserve::parse_retry_after("  7 \t", november_1994) == milliseconds(7000));
    CHECK(dbxserve::parse_retry_after("0", november_1994) == milliseconds(0));
    CHECK(dbxserve::parse_retry_after("1.5", november_1994) == milliseconds(1500));
    CHECK(dbxserve::parse_retry_after("0.25", november_1994) == milliseconds(250));
}

TEST_CASE("retry: Retry-After as an HTTP-date in all three forms") {
    CHECK(dbxserve::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", november_1994) ==
          milliseconds(10000));
    CHECK(dbxserve::parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", november_1994) ==
          milliseconds(10000));
    CHECK(dbxserve::parse_retry_after("Sun Nov  6 08:49:37 1994", november_1994) ==
          milliseconds(10000));

    // Leap day of a year divisible by 400: 951825600 is 2000-02-29 12:00:00 UTC.
    CHECK(dbxserve::parse_retry_after("Tue, 29 Feb 2000 12:00:00 GMT", unix_time(951825600)) ==
          milliseconds(0));
    CHECK(dbxserve::parse_retry_after("Tue, 29 Feb 2000 12:01:00 GMT", unix_time(951825600)) ==
          milliseconds(60000));

    // Sub-second "now": the date is a whole second, the difference keeps the milliseconds.
    const auto now = unix_time(784111777) - milliseconds(250);
    CHECK(dbxserve::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now) == milliseconds(250));
}

TEST_CASE("retry: RFC 850 two-digit years follow the 50-year rule") {
    // From 2024 (1704067200 = 2024-01-01), "30" is 2030 and "94" is 1994 (in the past).
    const auto now = unix_time(1704067200);
    CHECK(dbxserve::parse_retry_after("Tuesday, 01-Jan-30 00:00:00 GMT", now) ==
          milliseconds((1893456000LL - 1704067200LL) * 1000));
    CHECK(dbxserve::parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now) == milliseconds(0));
}

TEST_CASE("retry: Retry-After in the past is zero, garbage is nullopt") {
    CHECK(dbxserve::parse_retry_after("Sun, 06 Nov 1994 08:49:27 GMT", unix_time(1704067200)) ==
          milliseconds(0));
    CHECK(dbxserve::parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", november_1994) ==
          milliseconds(0));

    for (const char* bad :
         {"", "   ", "soon", "-5", "1.", "1.5.2", "12abc", "0x10", "Sun, 06 Nov 1994 08:49:37",
          "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 31 Nov 1994 08:49:37 GMT",
          "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 8:49:37 GMT",
          "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun Nov 6 08:49:37", "Sunday, 06-Nov 08:49:37 GMT"}) {
        CAPTURE(bad);
        CHECK_FALSE(dbxserve::parse_retry_after(bad, november_1994).has_value());
    }
}

TEST_CASE("retry: full jitter stays within the exponential cap") {
    auto options = fixed_random(0.0);
    CHECK(dbxserve::retry_policy(options).backoff(1) == milliseconds(0));
    CHECK(dbxserve::retry_policy(options).backoff(7) == milliseconds(0));

    options = fixed_random(0.999);
    const dbxserve::retry_policy high(options);
    CHECK(high.backoff(1) == milliseconds(999));   // 1 s
    CHECK(high.backoff(2) == milliseconds(1998));  // 2 s
    CHECK(high.backoff(4) == milliseconds(7992));  // 8 s
    CHECK(high.backoff(7) == milliseconds(59940)); // 64 s capped at 60 s
    CHECK(high.backoff(40) == milliseconds(59940));

    // The default generator: every draw lies in [0, cap).
    dbxserve::retry_options plain;
    plain.initial_backoff = milliseconds(100);
    const dbxserve::retry_policy real(plain);
    for (int i = 0; i < 200; ++i) {
        const auto d = real.backoff(1);
        CHECK(d >= milliseconds(0));
        CHECK(d < milliseconds(100));
    }
}

TEST_CASE("retry: a larger Retry-After wins, capped by max_retry_after") {
    auto options = fixed_random(0.5);
    options.max_retry_after = std::chrono::seconds(30);
    const dbxserve::retry_policy policy(options);

    auto o = status_outcome(429);
    o.retry_after = std::chrono::seconds(10);
    CHECK(policy.next_delay(o) == milliseconds(10000));

    o.retry_after = milliseconds(100); // smaller than the 500 ms backoff
    CHECK(policy.next_delay(o) == milliseconds(500));

    o.retry_after = std::chrono::minutes(10);
    CHECK(policy.next_delay(o) == milliseconds(30000));

    options.honor_retry_after = false;
    o.retry_after = std::chrono::seconds(10);
    CHECK(dbxserve::retry_policy(options).next_delay(o) == milliseconds(500));
}

TEST_CASE("retry: 429 and 503 are retried, 500, 400 and 401 are not") {
    const dbxserve::retry_policy policy(fixed_random(0.0));
    CHECK(policy.next_delay(status_outcome(429)).has_value());
    CHECK(policy.next_delay(status_outcome(503)).has_value());
    CHECK_FALSE(policy.next_delay(status_outcome(500)).has_value());
    CHECK_FALSE(policy.next_delay(status_outcome(400)).has_value());
    CHECK_FALSE(policy.next_delay(status_outcome(401)).has_value());
    CHECK_FALSE(policy.next_delay(status_outcome(200)).has_value());

    // A non-2xx reply already turned into an http error reads the same.
    dbxserve::error http = dbxserve::make_error(error_kind::http, "Too Many Requests");
    http.http_status = 429;
    dbxserve::attempt_outcome o = failure_outcome(http);
    o.http_status = 429;
    CHECK(policy.next_delay(o).has_value());

    const dbxserve::retry_policy token(dbxserve::token_endpoint_retry_options());
    CHECK(token.next_delay(status_outcome(502)).has_value());
    CHECK(token.next_delay(status_outcome(504)).has_value());
    CHECK_FALSE(token.next_delay(status_outcome(400)).has_value());
    CHECK(dbxserve::token_endpoint_retry_budget == std::chrono::seconds(60));
}

TEST_CASE("retry: transport failures are retried only before the request left") {
    const dbxserve::retry_policy policy(fixed_random(0.0));

    const auto before = transport_failure(false);
    CHECK(policy.next_delay(failure_outcome(before)).has_value());

    const auto after = transport_failure(true, "Connection reset by peer");
    CHECK_FALSE(policy.next_delay(failure_outcome(after)).has_value());

    auto certificate = transport_failure(false, "SSL server verification failed");
    certificate.error_code = dbxserve::tls_verification_failed;
    CHECK_FALSE(policy.next_delay(failure_outcome(certificate)).has_value());
    auto trust = transport_failure(false, "SSL certificate loading failed");
    trust.error_code = dbxserve::tls_verification_failed;
    CHECK_FALSE(policy.next_delay(failure_outcome(trust)).has_value());

    auto read_timeout = dbxserve::make_error(error_kind::timeout, "read timed out");
    read_timeout.request_may_have_been_sent = true;
    CHECK_FALSE(policy.next_delay(failure_outcome(read_timeout)).has_value());

    const auto cancelled = dbxserve::make_error(error_kind::cancelled, "cancelled");
    CHECK_FALSE(policy.next_delay(failure_outcome(cancelled)).has_value());

    const auto parse = dbxserve::make_error(error_kind::parse, "bad body");
    CHECK_FALSE(policy.next_delay(failure_outcome(parse)).has_value());

    // A token request is idempotent: a reset after sending or a timeout is worth repeating,
    // a certificate failure or a cancel still is not.
    auto token_options = dbxserve::token_endpoint_retry_options();
    token_options.random = [] { return 0.0; };
    const dbxserve::retry_policy token(token_options);
    CHECK(token.next_delay(failure_outcome(after)).has_value());
    CHECK(token.next_delay(failure_outcome(read_timeout)).has_value());
    CHECK_FALSE(token.next_delay(failure_outcome(certificate)).has_value());
    CHECK_FALSE(token.next_delay(failure_outcome(cancelled)).has_value());

    CHECK_FALSE(dbxserve::no_retry().next_delay(status_outcome(429)).has_value());
}

TEST_CASE("retry: three 429s then 200 take exactly four attempts") {
    dbxserve::retry_policy policy(fixed_random(0.0));
    std::vector<int> statuses{429, 429, 429, 200};
    int attempts = 0;
    std::vector<int> observed;

    const auto started = std::chrono::steady_clock::now();
    auto got = dbxserve::run_with_retries(
        policy, dbxserve::deadline::none(), dbxserve::cancellation_token(),
        [&](int n) {
            ++attempts;
            CHECK(n == attempts);
            return dbxserve::result<dbxserve::http_response>(
                reply(statuses[static_cast<std::size_t>(n - 1)], "0"));
        },
        [&](int attempt, milliseconds delay) {
            observed.push_back(attempt);
            CHECK(delay == milliseconds(0));
        });

    REQUIRE(got.ok());
    CHECK(got->status == 200);
    CHECK(attempts == 4);
    CHECK(observed == std::vector<int>{1, 2, 3});
    CHECK(elapsed_ms(started) < 500);
}

TEST_CASE("retry: max_attempts ends the retries with the last reply") {
    auto options = fixed_random(0.0);
    options.max_attempts = 3;
    dbxserve::retry_policy policy(options);
    int attempts = 0;

    auto got = dbxserve::run_with_retries(
        policy, dbxserve::deadline::none(), dbxserve::cancellation_token(), [&](int) {
            ++attempts;
            return dbxserve::result<dbxserve::http_response>(reply(503, "0"));
        });

    REQUIRE(got.ok());
    CHECK(got->status == 503);
    CHECK(attempts == 3);
}

TEST_CASE("retry: errors pass through, and a transport failure before sending is retried") {
    dbxserve::retry_policy policy(fixed_random(0.0));
    int attempts = 0;
    auto got = dbxserve::run_with_retries(
        policy, dbxserve::deadline::none(), dbxserve::cancellation_token(), [&](int n) {
            ++attempts;
            return n == 1 ? dbxserve::result<dbxserve::http_response>(transport_failure(false))
                          : dbxserve::result<dbxserve::http_response>(transport_failure(true));
        });

    REQUIRE_FALSE(got.ok());
    CHECK(got.error().kind == error_kind::transport);
    CHECK(got.error().request_may_have_been_sent);
    CHECK(attempts == 2);
}

TEST_CASE("retry: a deadline shorter than the next delay returns by the deadline") {
    dbxserve::retry_options options = fixed_random(0.0);
    dbxserve::retry_policy policy(options);
    int attempts = 0;
    const auto budget = milliseconds(150);

    const auto started = std::chrono::steady_clock::now();
    auto got = dbxserve::run_with_retries(
        policy, dbxserve::deadline::after(budget), dbxserve::cancellation_token(), [&](int) {
            ++attempts;
            return dbxserve::result<dbxserve::http_response>(reply(429, "0.1"));
        });

    // The first 100 ms wait fits the budget, the second would not: it is not slept.
    CHECK(elapsed_ms(started) < static_cast<double>(budget.count()) + 50);
    REQUIRE(got.ok());
    CHECK(got->status == 429);
    CHECK(attempts == 2);
}

TEST_CASE("retry: an expired deadline gives a timeout error") {
    dbxserve::retry_policy policy(fixed_random(0.0));
    int attempts = 0;
    const auto attempt = [&](int) {
        ++attempts;
        std::this_thread::sleep_for(milliseconds(30));
        return dbxserve::result<dbxserve::http_response>(reply(503));
    };

    auto got = dbxserve::run_with_retries(policy, dbxserve::deadline::after(milliseconds(10)),
                                          dbxserve::cancellation_token(), attempt);
    REQUIRE_FALSE(got.ok());
    CHECK(got.error().kind == error_kind::timeout);
    CHECK(got.error().message.find("HTTP 503") != std::string::npos);
    CHECK(attempts == 1);

    auto never = dbxserve::run_with_retries(
        policy, dbxserve::deadline::at(std::chrono::steady_clock::now() - milliseconds(1)),
        dbxserve::cancellation_token(), attempt);
    REQUIRE_FALSE(never.ok());
    CHECK(never.error().kind == error_kind::timeout);
    CHECK(attempts == 1);
}

TEST_CASE("retry: cancelling during a backoff sleep returns cancelled promptly") {
    auto options = fixed_random(0.0);
    options.max_attempts = 10;
    dbxserve::retry_policy policy(options);
    dbxserve::cancellation_source source;

    std::thread canceller([&] {
        std::this_thread::sleep_for(milliseconds(50));
        source.cancel();
    });
    const auto started = std::chrono::steady_clock::now();
    auto got =
        dbxserve::run_with_retries(policy, dbxserve::deadline::none(), source.token(), [&](int) {
            return dbxserve::result<dbxserve::http_response>(reply(429, "30"));
        });
    const double elapsed = elapsed_ms(started);
    canceller.join();

    REQUIRE_FALSE(got.ok());
    CHECK(got.error().kind == error_kind::cancelled);
    CHECK(elapsed < 50 + 100);

    // Already cancelled: no attempt at all.
    int attempts = 0;
    auto none =
        dbxserve::run_with_retries(policy, dbxserve::deadline::none(), source.token(), [&](int) {
            ++attempts;
            return dbxserve::result<dbxserve::http_response>(reply(200));
        });
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().kind == error_kind::cancelled);
    CHECK(attempts == 0);
}
