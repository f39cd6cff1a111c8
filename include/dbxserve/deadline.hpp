#pragma once

#include <chrono>

namespace dbxserve {
inline namespace v0 {

// A point on the monotonic clock by which a call must return, or none. Wall-clock changes do not
// move it.
//
//     auto dl = dbxserve::deadline::after(std::chrono::seconds(30));
//     while (!dl.expired()) { token.wait_for(std::min(dl.remaining(), step)); }
class deadline {
public:
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;

    // What `remaining()` reports for no deadline: far away, yet small enough to add to now().
    static constexpr std::chrono::milliseconds unbounded{std::chrono::hours(24 * 365 * 10)};

    deadline() = default;

    static deadline none() { return deadline(); }

    // A duration of `unbounded` or more means no deadline.
    template <class Rep, class Period>
    static deadline after(std::chrono::duration<Rep, Period> duration) {
        if (duration >= unbounded) {
            return none();
        }
        return at(clock::now() + std::chrono::ceil<clock::duration>(duration));
    }

    static deadline at(time_point when) {
        deadline d;
        d.when_ = when;
        d.none_ = false;
        return d;
    }

    bool is_none() const { return none_; }

    bool expired() const { return !none_ && clock::now() >= when_; }

    // Rounded up, so it is zero exactly when the deadline has expired; `unbounded` for none.
    std::chrono::milliseconds remaining() const {
        if (none_) {
            return unbounded;
        }
        const auto left = when_ - clock::now();
        if (left <= clock::duration::zero()) {
            return std::chrono::milliseconds(0);
        }
        const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left);
        return ms < unbounded ? ms : unbounded;
    }

    // The time point; meaningless (time_point::max()) for none.
    time_point when() const { return none_ ? time_point::max() : when_; }

    // The sooner of two deadlines, e.g. a call's own deadline and a retry budget.
    deadline earlier_of(const deadline& other) const {
        if (none_) {
            return other;
        }
        if (other.none_) {
            return *this;
        }
        return when_ <= other.when_ ? *this : other;
    }

private:
    time_point when_{};
    bool none_ = true;
};

} // namespace v0
} // namespace dbxserve
