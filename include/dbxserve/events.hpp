#pragma once

#include <functional>
#include <string>

namespace dbxserve {
inline namespace v0 {

enum class event_level { debug, info, warning, error };

constexpr const char* to_string(event_level level) noexcept {
    switch (level) {
    case event_level::debug:
        return "debug";
    case event_level::info:
        return "info";
    case event_level::warning:
        return "warning";
    case event_level::error:
        return "error";
    }
    return "unknown";
}

// Something the library did that a user may want to log. The library never writes to stdout,
// stderr or a file itself: it hands events to the hook the user installed, or drops them. Event
// text is built only when a hook is installed, and it never contains a secret: tokens, client
// secrets and passwords are redacted before the event is created.
struct event {
    event_level level = event_level::debug;

    // Stable dotted name of what happened: "http.request", "http.response", "token.fetch",
    // "token.refresh.background", "token.refresh.failed", "discovery", "config".
    std::string name;

    std::string message;
};

using event_hook = std::function<void(const event&)>;

} // namespace v0
} // namespace dbxserve
