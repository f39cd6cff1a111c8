#pragma once

#include <map>
#include <string>
#include <string_view>

#include "../error.hpp"
#include "../result.hpp"
#include "url.hpp"

namespace dbxserve {
inline namespace v0 {
namespace detail {

// The sections of a ~/.databrickscfg file. Lines before the first header belong to DEFAULT, a
// repeated section adds to the first, and a repeated key keeps its last value (the Go SDK's
// gopkg.in/ini behaviour).
struct ini_document {
    std::map<std::string, std::map<std::string, std::string>> sections;

    const std::map<std::string, std::string>* section(const std::string& name) const {
        const auto found = sections.find(name);
        return found == sections.end() ? nullptr : &found->second;
    }
};

constexpr bool is_ini_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

inline std::string_view trim_ini_space(std::string_view text) noexcept {
    while (!text.empty() && is_ini_space(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && is_ini_space(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

// A value as both SDKs read it: trimmed; '#' or ';' starts a comment only after whitespace, so
// secrets may contain them; one pair of matching surrounding quotes is removed (Go SDK).
inline std::string parse_ini_value(std::string_view raw) {
    std::string_view value = trim_ini_space(raw);
    for (std::size_t i = 1; i < value.size(); ++i) {
        if ((value[i] == '#' || value[i] == ';') && is_ini_space(value[i - 1])) {
            value = trim_ini_space(value.substr(0, i));
            break;
        }
    }

    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front() && value.find(value.front(), 1) == value.size() - 1) {
        value = value.substr(1, value.size() - 2);
    }
    return std::string(value);
}

// Parses INI text. Key names are lower-cased (Python's configparser); section names are kept as
// written. Errors give the line number only: a broken line may well be a secret.
inline result<ini_document> parse_ini(std::string_view text) {
    constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";
    if (text.substr(0, utf8_bom.size()) == utf8_bom) {
        text.remove_prefix(utf8_bom.size());
    }

    ini_document document;
    std::string current = "DEFAULT";
    std::size_t line_number = 0;
    while (!text.empty()) {
        const std::size_t newline = text.find('\n');
        std::string_view line = trim_ini_space(text.substr(0, newline));
        text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
        ++line_number;
        const std::string where = "line " + std::to_string(line_number) + ": ";

        if (line.empty() || line.front() == '#' || line.front() == ';') {
            continue;
        }

        if (line.front() == '[') {
            const std::size_t close = line.rfind(']');
            if (close == std::string_view::npos) {
                return make_error(error_kind::config, where + "section header has no ']'");
            }
            if (close == 1) {
                return make_error(error_kind::config, where + "section name is empty");
            }
            current = std::string(line.substr(1, close - 1));
            document.sections[current];
            continue;
        }

        const std::size_t delimiter = line.find_first_of("=:");
        if (delimiter == std::string_view::npos) {
            return make_error(error_kind::config, where + "expected 'key = value'");
        }
        const std::string key = ascii_lower(trim_ini_space(line.substr(0, delimiter)));
        if (key.empty()) {
            return make_error(error_kind::config, where + "key name is empty");
        }
        document.sections[current][key] = parse_ini_value(line.substr(delimiter + 1));
    }
    return document;
}

} // namespace detail
} // namespace v0
} // namespace dbxserve
