#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dbxserve {
inline namespace v0 {
namespace detail {

// Standard alphabet with padding, as HTTP Basic authentication needs (RFC 7617).
inline std::string base64_encode(std::string_view input) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((input.size() + 2) / 3 * 4);

    std::size_t i = 0;
    for (; i + 2 < input.size(); i += 3) {
        const std::uint32_t triple = (std::uint32_t(std::uint8_t(input[i])) << 16) |
                                     (std::uint32_t(std::uint8_t(input[i + 1])) << 8) |
                                     std::uint32_t(std::uint8_t(input[i + 2]));
        out += alphabet[(triple >> 18) & 63];
        out += alphabet[(triple >> 12) & 63];
        out += alphabet[(triple >> 6) & 63];
        out += alphabet[triple & 63];
    }

    const std::size_t rest = input.size() - i;
    if (rest == 1) {
        const std::uint32_t single = std::uint32_t(std::uint8_t(input[i])) << 16;
        out += alphabet[(single >> 18) & 63];
        out += alphabet[(single >> 12) & 63];
        out += "==";
    } else if (rest == 2) {
        const std::uint32_t pair = (std::uint32_t(std::uint8_t(input[i])) << 16) |
                                   (std::uint32_t(std::uint8_t(input[i + 1])) << 8);
        out += alphabet[(pair >> 18) & 63];
        out += alphabet[(pair >> 12) & 63];
        out += alphabet[(pair >> 6) & 63];
        out += '=';
    }
    return out;
}

} // namespace detail
} // namespace v0
} // namespace dbxserve
