#pragma once

#include <cstdlib>
#include <type_traits>
#include <utility>
#include <variant>

#include "error.hpp"

namespace dbxserve {
inline namespace v0 {

// Either a value or an `error`. The library reports every failure this way, so it works with
// exceptions and RTTI turned off. Reading the value of a failed result is a programming error and
// aborts; check `ok()` first, or use `dbxserve/throwing.hpp` for an exception-based layer.
//
//     auto reply = client.query("chat", request);
//     if (!reply) { std::cerr << reply.error().to_string() << "\n"; return 1; }
//     std::cout << reply->text() << "\n";
template <class T>
class [[nodiscard]] result {
public:
    static_assert(!std::is_same_v<T, dbxserve::error>, "result<error> is ambiguous");

    result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
    result(dbxserve::error failure) : state_(std::in_place_index<1>, std::move(failure)) {}

    bool ok() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { return *checked(); }
    const T& value() const& { return *checked(); }
    T&& value() && { return std::move(*checked()); }

    T* operator->() { return checked(); }
    const T* operator->() const { return checked(); }
    T& operator*() & { return *checked(); }
    const T& operator*() const& { return *checked(); }

    template <class U>
    T value_or(U&& fallback) const& {
        return ok() ? *std::get_if<0>(&state_) : static_cast<T>(std::forward<U>(fallback));
    }

    // The failure. Calling it on a successful result aborts.
    const dbxserve::error& error() const& {
        const auto* failure = std::get_if<1>(&state_);
        if (failure == nullptr) {
            std::abort();
        }
        return *failure;
    }

private:
    T* checked() {
        auto* value = std::get_if<0>(&state_);
        if (value == nullptr) {
            std::abort();
        }
        return value;
    }
    const T* checked() const { return const_cast<result*>(this)->checked(); }

    std::variant<T, dbxserve::error> state_;
};

// A result that carries no value: success, or an `error`.
template <>
class [[nodiscard]] result<void> {
public:
    result() = default;
    result(dbxserve::error failure) : failure_(std::move(failure)), failed_(true) {}

    bool ok() const noexcept { return !failed_; }
    explicit operator bool() const noexcept { return ok(); }

    const dbxserve::error& error() const& {
        if (!failed_) {
            std::abort();
        }
        return failure_;
    }

private:
    dbxserve::error failure_;
    bool failed_ = false;
};

} // namespace v0
} // namespace dbxserve
