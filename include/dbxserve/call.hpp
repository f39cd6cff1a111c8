#pragma once

#include <chrono>
#include <optional>

#include "cancellation.hpp"
#include "deadline.hpp"

namespace dbxserve {
inline namespace v0 {

// Per-call settings, the optional last argument of every query, stream and invoke.
//
//     dbxserve::cancellation_source stop;
//     dbxserve::call_options call;
//     call.cancel = stop.token();
//     call.timeout = std::chrono::seconds(30);
//     auto pending = client.query_async("chat", request, call);
//     ...  stop.cancel();  // the call returns error_kind::cancelled within ~100 ms
struct call_options {
    // Cancelling stops the call wherever it is: waiting for a token, sending, reading a stream,
    // or sleeping before a retry. The call then returns an error of kind `cancelled`.
    cancellation_token cancel;

    // Overall deadline for the call, covering token fetches, every attempt and the waits between
    // them. When it passes the call returns an error of kind `timeout`. Unset: the client's
    // `client_options::call_timeout`.
    std::optional<std::chrono::milliseconds> timeout;
};

// What a token policy learns about the call it serves: wait no longer than `until`, and give up
// when `cancel` fires.
struct call_context {
    deadline until = deadline::none();
    cancellation_token cancel;
};

} // namespace v0
} // namespace dbxserve
