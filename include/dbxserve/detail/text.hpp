#pragma once

#include <string>
#include <string_view>

namespace dbxserve {
inline namespace v0 {
namespace detail {

// Bodies can be large HTML pages or binary; an error message keeps only a printable start of
// them, cut on a UTF-8 character boundary.
inline std::string excerpt(std::string_view text, std::size_t limit = 200) {
    bool cut = text.size() > limit;
    if (cut) {
        std::size_t end = limit;
        while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
            --end;
        }
        text = text.substr(0, end);
    }
    std::string out(text);
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
            c = ' ';
        }
    }
    if (cut) {
        out += "...";
    }
    return out;
}

inline std::string trim_copy(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = text.find_last_not_of(" \t\r\n");
    return std::string(text.substr(first, last - first + 1));
}

} // namespace detail
} // namespace v0
} // namespace dbxserve
