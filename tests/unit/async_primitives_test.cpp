#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <dbxserve/cancellation.hpp>
#include <dbxserve/deadline.hpp>
#include <dbxserve/executor.hpp>

using std::chrono::milliseconds;

namespace {

double elapsed_ms(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
        .count();
}

// Waits (bounded) until `done` holds, polling: enough for tests that only need "eventually".
template <class Predicate>
bool eventually(Predicate done, milliseconds limit = milliseconds(1000)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        std::this_thread::sleep_for(milliseconds(1));
    }
    return true;
}

} // namespace

TEST_CASE("deadline: none, after, at, remaining") {
    const auto none = dbxserve::deadline::none();
    CHECK(none.is_none());
    CHECK_FALSE(none.expired());
    CHECK(none.remaining() == dbxserve::deadline::unbounded);
    CHECK(dbxserve::deadline().is_none());

    const auto soon = dbxserve::deadline::after(milliseconds(500));
    CHECK_FALSE(soon.is_none());
    CHECK_FALSE(soon.expired());
    CHECK(soon.remaining() > milliseconds(400));
    CHECK(soon.remaining() <= milliseconds(500));

    const auto past = dbxserve::deadline::at(std::chrono::steady_clock::now() - milliseconds(5));
    CHECK(past.expired());
    CHECK(past.remaining() == milliseconds(0));

    CHECK(soon.earlier_of(none).when() == soon.when());
    CHECK(none.earlier_of(past).when() == past.when());
    CHECK(soon.earlier_of(past).when() == past.when());
    CHECK(dbxserve::deadline::after(std::chrono::hours(24 * 365 * 20)).is_none());
}

TEST_CASE("cancellation: a default token is never cancelled") {
    const dbxserve::cancellation_token token;
    CHECK_FALSE(token.cancelled());
    CHECK_FALSE(token.can_be_cancelled());
    bool ran = false;
    auto registration = token.on_cancel([&] { ran = true; });
    CHECK_FALSE(token.wait_for(milliseconds(5)));
    CHECK_FALSE(ran);
}

TEST_CASE("cancellation: wait_for sleeps, and wakes early on cancel") {
    dbxserve::cancellation_source source;
    const auto token = source.token();

    auto started = std::chrono::steady_clock::now();
    CHECK_FALSE(token.wait_for(milliseconds(20)));
    CHECK(elapsed_ms(started) >= 19);

    std::thread canceller([&] {
        std::this_thread::sleep_for(milliseconds(20));
        source.cancel();
    });
    started = std::chrono::steady_clock::now();
    CHECK(token.wait_for(std::chrono::seconds(10)));
    CHECK(elapsed_ms(started) < 20 + 100);
    canceller.join();

    CHECK(token.cancelled());
    CHECK(source.cancelled());
    CHECK(token.wait_for(std::chrono::seconds(10))); // returns at once
    CHECK(token.wait_for(milliseconds(0)));
}

TEST_CASE("cancellation: callbacks run once, on the cancelling thread") {
    dbxserve::cancellation_source source;
    std::atomic<int> first{0};
    std::atomic<int> second{0};
    std::thread::id ran_on;

    auto a = source.token().on_cancel([&] {
        ++first;
        ran_on = std::this_thread::get_id();
    });
    auto b = source.token().on_cancel([&] { ++second; });

    std::thread canceller([&] {
        source.cancel();
        source.cancel();
    });
    const auto canceller_id = canceller.get_id();
    canceller.join();

    CHECK(first == 1);
    CHECK(second == 1);
    const bool on_cancelling_thread = ran_on == canceller_id;
    CHECK(on_cancelling_thread);

    // A copy of the source cancels the same state.
    dbxserve::cancellation_source original;
    auto copy = original;
    copy.cancel();
    CHECK(original.token().cancelled());
}

TEST_CASE("cancellation: registering after cancel runs the callback at once") {
    dbxserve::cancellation_source source;
    source.cancel();
    int ran = 0;
    auto registration = source.token().on_cancel([&] { ++ran; });
    CHECK(ran == 1);
    registration.reset();
    CHECK(ran == 1);
}

TEST_CASE("cancellation: an unregistered callback never runs") {
    dbxserve::cancellation_source source;
    int ran = 0;
    {
        auto registration = source.token().on_cancel([&] { ++ran; });
    }
    auto moved_from = source.token().on_cancel([&] { ++ran; });
    auto moved_to = std::move(moved_from);
    moved_to.reset();
    source.cancel();
    CHECK(ran == 0);
}

TEST_CASE("cancellation: unregistering waits for a callback that is running") {
    dbxserve::cancellation_source source;
    std::atomic<bool> entered{false};
    std::atomic<bool> finished{false};

    auto registration =
        std::make_unique<dbxserve::cancellation_registration>(source.token().on_cancel([&] {
            entered = true;
            std::this_thread::sleep_for(milliseconds(50));
            finished = true;
        }));

    std::thread canceller([&] { source.cancel(); });
    REQUIRE(eventually([&] { return entered.load(); }));

    registration.reset(); // must block until the callback has returned
    CHECK(finished);
    canceller.join();
}

TEST_CASE("cancellation: a callback may unregister itself") {
    dbxserve::cancellation_source source;
    dbxserve::cancellation_registration registration;
    int ran = 0;
    registration = source.token().on_cancel([&] {
        ++ran;
        registration.reset();
    });
    source.cancel();
    CHECK(ran == 1);
}

TEST_CASE("executor: thread_pool runs every task on its workers") {
    constexpr int tasks = 64;
    std::mutex mutex;
    std::set<std::thread::id> threads;
    std::atomic<int> done{0};
    {
        dbxserve::thread_pool pool(3);
        CHECK(pool.size() == 3);
        for (int i = 0; i < tasks; ++i) {
            pool.post([&] {
                {
                    std::lock_guard<std::mutex> lock(mutex);
                    threads.insert(std::this_thread::get_id());
                }
                ++done;
            });
        }
        REQUIRE(eventually([&] { return done.load() == tasks; }));
    }
    CHECK(threads.size() >= 1);
    CHECK(threads.size() <= 3);
    CHECK(threads.count(std::this_thread::get_id()) == 0);
}

TEST_CASE("executor: thread_pool drains queued work on destruction") {
    std::atomic<int> done{0};
    {
        dbxserve::thread_pool pool(1);
        std::mutex gate;
        std::unique_lock<std::mutex> hold(gate);
        pool.post([&] { std::lock_guard<std::mutex> wait(gate); });
        for (int i = 0; i < 10; ++i) {
            pool.post([&] {
                std::this_thread::sleep_for(milliseconds(1));
                ++done;
            });
        }
        // The single worker is still blocked, so all ten are queued when the destructor starts.
        hold.unlock();
    }
    CHECK(done == 10);
}

TEST_CASE("executor: a thread_pool may be released by its own task") {
    auto pool = std::make_shared<dbxserve::thread_pool>(2);
    std::atomic<bool> done{false};
    std::weak_ptr<dbxserve::thread_pool> watch = pool;
    pool->post([&done, owned = pool]() mutable {
        owned.reset();
        done = true;
    });
    pool.reset();
    REQUIRE(eventually([&] { return done.load(); }));
    CHECK(watch.expired());
}

TEST_CASE("executor: timer_service fires in time order") {
    dbxserve::timer_service timers;
    std::mutex mutex;
    std::vector<int> order;
    std::atomic<int> fired{0};
    const auto now = std::chrono::steady_clock::now();
    const auto record = [&](int n) {
        return [&, n] {
            std::lock_guard<std::mutex> lock(mutex);
            order.push_back(n);
            ++fired;
        };
    };

    auto c = timers.schedule_at(now + milliseconds(30), record(3));
    auto a = timers.schedule_at(now + milliseconds(10), record(1));
    auto b = timers.schedule_after(milliseconds(20), record(2));
    auto d = timers.schedule_at(now + milliseconds(30), record(4)); // tie: scheduling order
    auto e = timers.schedule_at(now - milliseconds(5), record(0));  // already due

    REQUIRE(eventually([&] { return fired.load() == 5; }));
    CHECK(elapsed_ms(now) >= 29);
    std::lock_guard<std::mutex> lock(mutex);
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
    CHECK_FALSE(a.cancel()); // already ran
}

TEST_CASE("executor: a cancelled timer never fires") {
    dbxserve::timer_service timers;
    std::atomic<int> fired{0};
    std::atomic<bool> later{false};

    auto handle = timers.schedule_after(milliseconds(20), [&] { ++fired; });
    timers.schedule_after(milliseconds(40), [&] { later = true; });
    CHECK(handle.cancel());
    CHECK_FALSE(handle.cancel());

    REQUIRE(eventually([&] { return later.load(); }));
    CHECK(fired == 0);
    CHECK_FALSE(dbxserve::timer_handle().cancel());
}

TEST_CASE("executor: cancelling a running timer waits for it") {
    dbxserve::timer_service timers;
    std::atomic<bool> entered{false};
    std::atomic<bool> finished{false};

    auto handle = timers.schedule_after(milliseconds(0), [&] {
        entered = true;
        std::this_thread::sleep_for(milliseconds(50));
        finished = true;
    });
    REQUIRE(eventually([&] { return entered.load(); }));
    CHECK_FALSE(handle.cancel());
    CHECK(finished);
}

TEST_CASE("executor: destroying a timer_service drops pending callbacks") {
    std::atomic<int> fired{0};
    dbxserve::timer_handle handle;
    {
        dbxserve::timer_service timers;
        handle = timers.schedule_after(std::chrono::hours(1), [&] { ++fired; });
    }
    CHECK(fired == 0);
    CHECK_FALSE(handle.cancel()); // the service is gone: a no-op
}
