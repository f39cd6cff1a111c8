#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../error.hpp"
#include "../result.hpp"

// Server-sent events (the `text/event-stream` format serving endpoints stream in), read
// incrementally: the transport hands over the body in pieces of any size, and every complete
// event is passed on as soon as its blank line arrives. Follows the WHATWG event-stream
// interpretation rules, with one leniency: an event whose blank line never came is still
// delivered at the end of the body, because some servers close the stream right after the last
// `data:` line.

namespace dbxserve {
inline namespace v0 {
namespace detail {

struct sse_event {
    // The `event:` field; empty when the event had none (the SSE default type, "message").
    std::string event;

    // The `data:` lines, joined with "\n".
    std::string data;

    // The last `id:` the stream sent, as SSE prescribes: it carries over to later events.
    std::string id;
};

inline bool operator==(const sse_event& a, const sse_event& b) {
    return a.event == b.event && a.data == b.data && a.id == b.id;
}
inline bool operator!=(const sse_event& a, const sse_event& b) {
    return !(a == b);
}

// OpenAI-style streams, which serving endpoints follow, end with `data: [DONE]`; it is not JSON,
// so the caller checks for it before parsing.
inline bool is_done_sentinel(const sse_event& event) {
    return event.data == "[DONE]";
}

class sse_parser {
public:
    static constexpr std::size_t default_max_event_bytes = 8 * 1024 * 1024;

    // `max_event_bytes` bounds the memory one event may take: its `data:` lines and the line
    // being read. Comment lines never count, as they are skipped rather than buffered.
    explicit sse_parser(std::size_t max_event_bytes = default_max_event_bytes)
        : max_event_bytes_(max_event_bytes) {}

    // Parses the next piece of the body and calls `on_event(const sse_event&)` for every event
    // it completes. `on_event` returns false to stop (or returns nothing to go on); feed then
    // returns false, and the parser ignores the rest of the stream until `finish` or `reset`.
    // Fails with `error_kind::parse` when an event outgrows the limit; the parser then keeps
    // failing until `finish` or `reset`.
    template <class OnEvent>
    result<bool> feed(std::string_view bytes, OnEvent&& on_event) {
        if (failure_) {
            return *failure_;
        }
        if (stopped_) {
            return false;
        }

        if (!skip_bom(bytes)) {
            return *failure_;
        }

        while (!bytes.empty()) {
            // A CR ends a line at once, so an LF right after it, perhaps in the next piece,
            // belongs to the same line end.
            if (after_cr_) {
                after_cr_ = false;
                if (bytes.front() == '\n') {
                    bytes.remove_prefix(1);
                    continue;
                }
            }

            const auto end = bytes.find_first_of("\r\n");
            if (!append(bytes.substr(0, end))) {
                return *failure_;
            }
            if (end == std::string_view::npos) {
                break;
            }

            after_cr_ = bytes[end] == '\r';
            bytes.remove_prefix(end + 1);
            if (!end_line(on_event)) {
                stopped_ = true;
                return false;
            }
        }
        return true;
    }

    // Ends the body: delivers what is still pending, a last line without a line end included,
    // and leaves the parser ready for a new stream. Returns false when `on_event` stopped, now
    // or earlier.
    template <class OnEvent>
    result<bool> finish(OnEvent&& on_event) {
        if (failure_) {
            auto failure = std::move(*failure_);
            reset();
            return failure;
        }
        if (stopped_) {
            reset();
            return false;
        }

        if (bom_matched_ > 0 && !append(std::string_view(bom, bom_matched_))) {
            auto failure = std::move(*failure_);
            reset();
            return failure;
        }

        bool go_on = true;
        if (in_comment_ || !line_.empty()) {
            go_on = end_line(on_event);
        }
        if (go_on) {
            go_on = dispatch(on_event);
        }
        reset();
        return go_on;
    }

    // Forgets everything, the last event id included, as for a new stream.
    void reset() {
        std::string().swap(line_);
        current_ = sse_event{};
        has_data_ = false;
        in_comment_ = false;
        after_cr_ = false;
        at_start_ = true;
        bom_matched_ = 0;
        stopped_ = false;
        failure_.reset();
        retry_ms_.reset();
    }

    // The memory the parser holds for the event it is reading, in bytes of buffer capacity. It
    // stays near the size of one event, however long the stream.
    std::size_t buffered_bytes() const {
        return line_.capacity() + current_.data.capacity() + current_.event.capacity() +
               current_.id.capacity();
    }

    // The reconnection time from the last valid `retry:` field, in milliseconds.
    std::optional<std::int64_t> retry_ms() const { return retry_ms_; }

    std::size_t max_event_bytes() const { return max_event_bytes_; }

private:
    static constexpr const char bom[] = "\xEF\xBB\xBF";
    static constexpr std::size_t bom_size = 3;

    // A buffer that once held a huge event is released, so one such event does not pin its
    // memory for the rest of a long stream.
    static constexpr std::size_t kept_capacity = 64 * 1024;

    static void clear_buffer(std::string& buffer) {
        if (buffer.capacity() > kept_capacity) {
            std::string().swap(buffer);
        } else {
            buffer.clear();
        }
    }

    // Drops a UTF-8 byte order mark at the very start of the stream, even when it arrives split
    // over several pieces. Bytes that only looked like its start are content.
    bool skip_bom(std::string_view& bytes) {
        while (at_start_ && !bytes.empty()) {
            if (bytes.front() == bom[bom_matched_]) {
                bytes.remove_prefix(1);
                ++bom_matched_;
                if (bom_matched_ == bom_size) {
                    at_start_ = false;
                    bom_matched_ = 0;
                }
                continue;
            }

            at_start_ = false;
            const auto held = std::string_view(bom, bom_matched_);
            bom_matched_ = 0;
            return append(held);
        }
        return true;
    }

    // Adds bytes of the current line, which contain no line end.
    bool append(std::string_view bytes) {
        if (bytes.empty()) {
            return true;
        }
        at_start_ = false;

        if (line_.empty() && !in_comment_ && bytes.front() == ':') {
            in_comment_ = true;
        }
        if (in_comment_) {
            return true;
        }

        const std::size_t held = line_.size() + current_.data.size() + current_.event.size();
        if (bytes.size() > max_event_bytes_ || held > max_event_bytes_ - bytes.size()) {
            failure_ =
                make_error(error_kind::parse, "server-sent event exceeds the limit of " +
                                                  std::to_string(max_event_bytes_) + " bytes");
            return false;
        }
        line_.append(bytes.data(), bytes.size());
        return true;
    }

    template <class OnEvent>
    bool end_line(OnEvent& on_event) {
        if (in_comment_) {
            in_comment_ = false;
            return true;
        }
        if (line_.empty()) {
            return dispatch(on_event);
        }

        take_field(line_);
        clear_buffer(line_);
        return true;
    }

    void take_field(std::string_view line) {
        const auto colon = line.find(':');
        const auto name = line.substr(0, colon);
        auto value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') {
            value.remove_prefix(1);
        }

        if (name == "data") {
            if (has_data_) {
                current_.data += '\n';
            }
            current_.data.append(value.data(), value.size());
            has_data_ = true;
        } else if (name == "event") {
            current_.event.assign(value.data(), value.size());
        } else if (name == "id") {
            // An id with a NUL could not be sent back in a Last-Event-ID header.
            if (value.find('\0') == std::string_view::npos) {
                current_.id.assign(value.data(), value.size());
            }
        } else if (name == "retry") {
            take_retry(value);
        }
    }

    void take_retry(std::string_view value) {
        if (value.empty() || value.size() > 18) {
            return;
        }
        std::int64_t ms = 0;
        for (char c : value) {
            if (c < '0' || c > '9') {
                return;
            }
            ms = ms * 10 + (c - '0');
        }
        retry_ms_ = ms;
    }

    // A blank line: an event with at least one `data:` line is complete. One without (a lone
    // `event:` line, or keep-alive blank lines) is dropped.
    template <class OnEvent>
    bool dispatch(OnEvent& on_event) {
        if (!has_data_) {
            clear_buffer(current_.event);
            return true;
        }

        bool go_on = true;
        if constexpr (std::is_void_v<std::invoke_result_t<OnEvent&, const sse_event&>>) {
            on_event(static_cast<const sse_event&>(current_));
        } else {
            go_on = static_cast<bool>(on_event(static_cast<const sse_event&>(current_)));
        }

        clear_buffer(current_.data);
        clear_buffer(current_.event);
        has_data_ = false;
        return go_on;
    }

    std::size_t max_event_bytes_;
    std::string line_;
    sse_event current_;
    bool has_data_ = false;
    bool in_comment_ = false;
    bool after_cr_ = false;
    bool at_start_ = true;
    std::size_t bom_matched_ = 0;
    bool stopped_ = false;
    std::optional<error> failure_;
    std::optional<std::int64_t> retry_ms_;
};

} // namespace detail
} // namespace v0
} // namespace dbxserve
