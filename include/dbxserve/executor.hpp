#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace dbxserve {
inline namespace v0 {

// The executor concept: any type with
//
//     void post(std::function<void()> task);
//
// that runs `task` once, soon, on some thread other than the caller's (it may run before post
// returns), and is safe to call from many threads. The library's asynchronous calls run their
// work through one; thread_pool below is the default, and an engine can pass its own job system.

namespace detail {

// A thread must not join itself. When the last owner of a pool or timer lets go from inside one of
// its own tasks, that one thread is released to finish its loop on the shared state instead;
// every other thread is joined.
inline void join_or_release(std::thread& thread) {
    if (!thread.joinable()) {
        return;
    }
    if (thread.get_id() == std::this_thread::get_id()) {
        thread.detach();
        return;
    }
    thread.join();
}

} // namespace detail

// A fixed set of worker threads running posted tasks in order of posting. The destructor runs
// every task already queued (and any they post), then joins the workers. Neither copyable nor
// movable; share one through std::shared_ptr.
//
//     auto pool = std::make_shared<dbxserve::thread_pool>(4);
//     pool->post([] { do_work(); });
class thread_pool {
public:
    explicit thread_pool(std::size_t threads = 2) : state_(std::make_shared<state>()) {
        threads = std::max<std::size_t>(1, threads);
        workers_.reserve(threads);
        for (std::size_t i = 0; i < threads; ++i) {
            workers_.emplace_back([shared = state_] { shared->work(); });
        }
    }

    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    ~thread_pool() {
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            state_->stopping = true;
        }
        state_->wake.notify_all();

        for (auto& worker : workers_) {
            detail::join_or_release(worker);
        }
    }

    void post(std::function<void()> task) {
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            state_->queue.push_back(std::move(task));
        }
        state_->wake.notify_one();
    }

    std::size_t size() const { return workers_.size(); }

private:
    struct state {
        void work() {
            std::unique_lock<std::mutex> lock(mutex);
            for (;;) {
                wake.wait(lock, [&] { return stopping || !queue.empty(); });
                if (queue.empty()) {
                    return;
                }
                std::function<void()> task = std::move(queue.front());
                queue.pop_front();
                lock.unlock();

                // What the task captured is released before relocking: its destructors may post.
                task();
                task = nullptr;

                lock.lock();
            }
        }

        std::mutex mutex;
        std::condition_variable wake;
        std::deque<std::function<void()>> queue;
        bool stopping = false;
    };

    std::shared_ptr<state> state_;
    std::vector<std::thread> workers_;
};

namespace detail {

class timer_state {
public:
    using time_point = std::chrono::steady_clock::time_point;
    using key = std::pair<time_point, std::uint64_t>;

    key add(time_point when, std::function<void()> callback) {
        std::lock_guard<std::mutex> lock(mutex_);
        const key k{when, ++last_id_};
        pending_.emplace(k, std::move(callback));

        // The thread sleeps until the earliest pending time; only a new earliest one changes
        // that. Waking it for every later timer (one per call) costs a context switch per call.
        if (pending_.begin()->first == k) {
            wake_.notify_all();
        }
        return k;
    }

    // True when the callback was still pending and now never runs; otherwise waits until a run in
    // progress on another thread has returned.
    bool cancel(const key& k) {
        std::function<void()> dropped;
        std::unique_lock<std::mutex> lock(mutex_);
        const auto it = pending_.find(k);
        if (it != pending_.end()) {
            dropped = std::move(it->second);
            pending_.erase(it);
            lock.unlock();
            return true;
        }
        if (running_thread_ != std::this_thread::get_id()) {
            wake_.wait(lock, [&] { return running_ != k.second; });
        }
        return false;
    }

    void stop() {
        std::map<key, std::function<void()>> dropped;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
            dropped.swap(pending_);
        }
        wake_.notify_all();
    }

    void run() {
        std::unique_lock<std::mutex> lock(mutex_);
        running_thread_ = std::this_thread::get_id();
        while (!stopping_) {
            if (pending_.empty()) {
                wake_.wait(lock);
                continue;
            }
            const auto first = pending_.begin();
            const time_point now = std::chrono::steady_clock::now();
            if (first->first.first > now) {
                // Waking at least hourly keeps a far-future time point from overflowing the wait.
                wake_.wait_until(lock, std::min(first->first.first, now + std::chrono::hours(1)));
                continue;
            }

            std::function<void()> callback = std::move(first->second);
            running_ = first->first.second;
            pending_.erase(first);
            lock.unlock();

            callback();
            callback = nullptr;

            lock.lock();
            running_ = 0;
            wake_.notify_all();
        }
    }

private:
    std::mutex mutex_;
    std::condition_variable wake_;
    std::map<key, std::function<void()>> pending_;
    std::uint64_t last_id_ = 0;
    std::uint64_t running_ = 0;
    std::thread::id running_thread_;
    bool stopping_ = false;
};

} // namespace detail

// Names one callback scheduled on a timer_service. Copyable; a default-constructed handle names
// nothing.
class timer_handle {
public:
    timer_handle() = default;
    timer_handle(std::weak_ptr<detail::timer_state> service, detail::timer_state::key key)
        : service_(std::move(service)), key_(key) {}

    // After this returns the callback is not running (unless this is the callback itself) and
    // will not run. Returns true when it stopped a callback that had not started.
    bool cancel() const {
        const auto service = service_.lock();
        return service && service->cancel(key_);
    }

private:
    std::weak_ptr<detail::timer_state> service_;
    detail::timer_state::key key_{};
};

// One thread that runs callbacks at points of the monotonic clock, in time order (ties in order
// of scheduling). Keep callbacks short: they run one after another on that thread. The destructor
// drops the callbacks still pending and joins the thread.
//
//     dbxserve::timer_service timers;
//     auto fire = timers.schedule_at(dl.when(), [source]() mutable { source.cancel(); });
//     ...
//     fire.cancel();  // the call finished first
class timer_service {
public:
    using time_point = std::chrono::steady_clock::time_point;

    timer_service() : state_(std::make_shared<detail::timer_state>()) {
        thread_ = std::thread([shared = state_] { shared->run(); });
    }

    timer_service(const timer_service&) = delete;
    timer_service& operator=(const timer_service&) = delete;

    ~timer_service() {
        state_->stop();
        detail::join_or_release(thread_);
    }

    timer_handle schedule_at(time_point when, std::function<void()> callback) {
        return timer_handle(state_, state_->add(when, std::move(callback)));
    }

    template <class Rep, class Period>
    timer_handle schedule_after(std::chrono::duration<Rep, Period> delay,
                                std::function<void()> callback) {
        const auto when = std::chrono::steady_clock::now() +
                          std::chrono::ceil<std::chrono::steady_clock::duration>(delay);
        return schedule_at(when, std::move(callback));
    }

private:
    std::shared_ptr<detail::timer_state> state_;
    std::thread thread_;
};

} // namespace v0
} // namespace dbxserve
