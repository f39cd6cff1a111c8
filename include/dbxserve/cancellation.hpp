#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace dbxserve {
inline namespace v0 {
namespace detail {

// The state one cancellation_source shares with its tokens and registrations.
class cancellation_state {
public:
    bool cancelled() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return cancelled_;
    }

    // Runs every registered callback on the calling thread, each outside the lock, so a callback
    // may register, unregister or cancel again without deadlocking.
    void cancel() {
        std::unique_lock<std::mutex> lock(mutex_);
        if (cancelled_) {
            return;
        }
        cancelled_ = true;
        changed_.notify_all();

        running_thread_ = std::this_thread::get_id();
        while (!callbacks_.empty()) {
            entry next = std::move(callbacks_.front());
            callbacks_.erase(callbacks_.begin());
            running_ = next.id;
            lock.unlock();

            next.callback();

            lock.lock();
            running_ = 0;
            changed_.notify_all();
        }
        running_thread_ = std::thread::id();
    }

    // Returns 0 when the callback already ran because the state was cancelled.
    std::uint64_t add(std::function<void()> callback) {
        std::unique_lock<std::mutex> lock(mutex_);
        if (cancelled_) {
            lock.unlock();
            callback();
            return 0;
        }
        const std::uint64_t id = ++last_id_;
        callbacks_.push_back(entry{id, std::move(callback)});
        return id;
    }

    // Waiting for a callback that runs on another thread lets the caller free what it captured;
    // a callback that unregisters itself must not wait for its own return.
    void remove(std::uint64_t id) {
        std::unique_lock<std::mutex> lock(mutex_);
        for (auto it = callbacks_.begin(); it != callbacks_.end(); ++it) {
            if (it->id == id) {
                callbacks_.erase(it);
                return;
            }
        }
        if (running_thread_ == std::this_thread::get_id()) {
            return;
        }
        changed_.wait(lock, [&] { return running_ != id; });
    }

    bool wait_until(std::chrono::steady_clock::time_point until) const {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_until(lock, until, [&] { return cancelled_; });
    }

private:
    struct entry {
        std::uint64_t id;
        std::function<void()> callback;
    };

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    bool cancelled_ = false;
    std::vector<entry> callbacks_;
    std::uint64_t last_id_ = 0;
    std::uint64_t running_ = 0;
    std::thread::id running_thread_;
};

// Longer waits are cut to this, so that adding them to now() cannot overflow the clock.
constexpr std::chrono::hours longest_wait{24 * 365};

} // namespace detail

// Keeps a callback registered with a cancellation_token; destroying it (or calling `reset`)
// unregisters the callback, waiting first if the callback is running on another thread right now.
// Move-only.
class cancellation_registration {
public:
    cancellation_registration() = default;
    cancellation_registration(std::shared_ptr<detail::cancellation_state> state, std::uint64_t id)
        : state_(std::move(state)), id_(id) {}

    cancellation_registration(cancellation_registration&& other) noexcept
        : state_(std::move(other.state_)), id_(std::exchange(other.id_, 0)) {}

    cancellation_registration& operator=(cancellation_registration&& other) noexcept {
        if (this != &other) {
            reset();
            state_ = std::move(other.state_);
            id_ = std::exchange(other.id_, 0);
        }
        return *this;
    }

    cancellation_registration(const cancellation_registration&) = delete;
    cancellation_registration& operator=(const cancellation_registration&) = delete;

    ~cancellation_registration() { reset(); }

    // After this returns the callback is not running (unless on this very thread) and never will.
    void reset() {
        if (state_ && id_ != 0) {
            state_->remove(id_);
        }
        state_.reset();
        id_ = 0;
    }

private:
    std::shared_ptr<detail::cancellation_state> state_;
    std::uint64_t id_ = 0;
};

// Observes whether a call was cancelled. Cheap to copy; a default-constructed token is never
// cancelled. Safe to use from many threads.
//
//     dbxserve::cancellation_source source;
//     auto token = source.token();
//     auto abort_read = token.on_cancel([&] { socket.close(); });
//     if (token.wait_for(std::chrono::seconds(2))) { /* cancelled during the sleep */ }
class cancellation_token {
public:
    cancellation_token() = default;
    explicit cancellation_token(std::shared_ptr<detail::cancellation_state> state)
        : state_(std::move(state)) {}

    bool cancelled() const { return state_ && state_->cancelled(); }

    // Whether this token can ever become cancelled.
    bool can_be_cancelled() const { return state_ != nullptr; }

    // Sleeps for `duration`, waking as soon as the token is cancelled. Returns true when
    // cancelled, so a backoff sleep ends within milliseconds of a cancel.
    template <class Rep, class Period>
    bool wait_for(std::chrono::duration<Rep, Period> duration) const {
        if (duration <= duration.zero()) {
            return cancelled();
        }
        const auto wait = duration < detail::longest_wait
                              ? std::chrono::ceil<std::chrono::steady_clock::duration>(duration)
                              : std::chrono::steady_clock::duration(detail::longest_wait);
        const auto until = std::chrono::steady_clock::now() + wait;
        if (!state_) {
            std::this_thread::sleep_until(until);
            return false;
        }
        return state_->wait_until(until);
    }

    // Runs `callback` once when the token is cancelled, on the cancelling thread, or right now
    // on this thread if it already is. Keep the returned registration alive for as long as the
    // callback may run: its destructor unregisters and waits for a running callback to return.
    //
    //     auto registration = token.on_cancel([&] { connection.abort(); });
    [[nodiscard]] cancellation_registration on_cancel(std::function<void()> callback) const {
        if (!state_) {
            return {};
        }
        const std::uint64_t id = state_->add(std::move(callback));
        if (id == 0) {
            return {};
        }
        return cancellation_registration(state_, id);
    }

private:
    std::shared_ptr<detail::cancellation_state> state_;
};

// Cancels the tokens it hands out. Copies share one state, so any copy can cancel.
//
//     dbxserve::cancellation_source source;
//     std::thread worker([token = source.token()] { run_call(token); });
//     source.cancel();  // the call returns error_kind::cancelled promptly
class cancellation_source {
public:
    cancellation_source() : state_(std::make_shared<detail::cancellation_state>()) {}

    cancellation_token token() const { return cancellation_token(state_); }

    // Idempotent. Runs the registered callbacks on this thread before returning.
    void cancel() { state_->cancel(); }

    bool cancelled() const { return state_->cancelled(); }

private:
    std::shared_ptr<detail::cancellation_state> state_;
};

} // namespace v0
} // namespace dbxserve
