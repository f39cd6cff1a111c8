#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../detail/text.hpp"
#include "../../error.hpp"
#include "../../result.hpp"

namespace dbxserve {
inline namespace v0 {
namespace detail {

// Reads one JSON value into a typed member without throwing. `read` returns false and leaves `out`
// untouched when the value has another JSON type; the caller then keeps the value in `extra`, so a
// server that changes a field's type costs us the typed view of that field but never the data.
//
// A class template rather than overloads: specialisations are found at instantiation time, so
// `std::vector<T>` and `std::optional<T>` work for types declared in headers included later.
template <class T, class Enable = void>
struct value_reader;

template <>
struct value_reader<std::string> {
    static bool read(const nlohmann::json& value, std::string& out) {
        const auto* text = value.get_ptr<const nlohmann::json::string_t*>();
        if (text == nullptr) {
            return false;
        }
        out = *text;
        return true;
    }
};

template <>
struct value_reader<std::int64_t> {
    static bool read(const nlohmann::json& value, std::int64_t& out) {
        // Unsigned first: nlohmann also hands out its signed slot for an unsigned value, which
        // would turn 2^64-1 into -1.
        if (const auto* positive = unsigned_number(value)) {
            constexpr auto max =
                static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
            if (*positive > max) {
                return false;
            }
            out = static_cast<std::int64_t>(*positive);
            return true;
        }
        const auto* number = value.get_ptr<const nlohmann::json::number_integer_t*>();
        if (number == nullptr) {
            return false;
        }
        out = *number;
        return true;
    }

    static const nlohmann::json::number_unsigned_t* unsigned_number(const nlohmann::json& value) {
        return value.is_number_unsigned()
                   ? value.get_ptr<const nlohmann::json::number_unsigned_t*>()
                   : nullptr;
    }
};

template <>
struct value_reader<int> {
    static bool read(const nlohmann::json& value, int& out) {
        std::int64_t wide = 0;
        if (!value_reader<std::int64_t>::read(value, wide) ||
            wide < std::numeric_limits<int>::min() || wide > std::numeric_limits<int>::max()) {
            return false;
        }
        out = static_cast<int>(wide);
        return true;
    }
};

template <>
struct value_reader<double> {
    static bool read(const nlohmann::json& value, double& out) {
        using json = nlohmann::json;
        if (const auto* real = value.get_ptr<const json::number_float_t*>()) {
            out = *real;
        } else if (const auto* positive = value_reader<std::int64_t>::unsigned_number(value)) {
            out = static_cast<double>(*positive);
        } else if (const auto* number = value.get_ptr<const json::number_integer_t*>()) {
            out = static_cast<double>(*number);
        } else {
            return false;
        }
        return true;
    }
};

template <>
struct value_reader<bool> {
    static bool read(const nlohmann::json& value, bool& out) {
        const auto* flag = value.get_ptr<const nlohmann::json::boolean_t*>();
        if (flag == nullptr) {
            return false;
        }
        out = *flag;
        return true;
    }
};

// Used for list elements that are kept as plain JSON (Responses input items, for instance).
template <>
struct value_reader<nlohmann::json> {
    static bool read(const nlohmann::json& value, nlohmann::json& out) {
        out = value;
        return true;
    }
};

template <class T>
struct value_reader<std::optional<T>> {
    static bool read(const nlohmann::json& value, std::optional<T>& out) {
        T item{};
        if (!value_reader<T>::read(value, item)) {
            return false;
        }
        out = std::move(item);
        return true;
    }
};

// All or nothing: one element of the wrong type sends the whole list to `extra`, because a
// partial list would silently misnumber the rest.
template <class T>
struct value_reader<std::vector<T>> {
    static bool read(const nlohmann::json& value, std::vector<T>& out) {
        if (!value.is_array()) {
            return false;
        }
        std::vector<T> items;
        items.reserve(value.size());
        for (const auto& element : value) {
            T item{};
            if (!value_reader<T>::read(element, item)) {
                return false;
            }
            items.push_back(std::move(item));
        }
        out = std::move(items);
        return true;
    }
};

// Model types are recognised by their `extra` member and read through their own from_json.
template <class T>
struct value_reader<T, std::void_t<decltype(std::declval<T&>().extra)>> {
    static bool read(const nlohmann::json& value, T& out) {
        if (!value.is_object()) {
            return false;
        }
        T item{};
        from_json(value, item);
        out = std::move(item);
        return true;
    }
};

// What a plain `nlohmann::json` member accepts.
enum class json_shape { any, object, array, string_or_array, string_or_object };

inline bool has_shape(const nlohmann::json& value, json_shape shape) {
    switch (shape) {
    case json_shape::any:
        return true;
    case json_shape::object:
        return value.is_object();
    case json_shape::array:
        return value.is_array();
    case json_shape::string_or_array:
        return value.is_string() || value.is_array();
    case json_shape::string_or_object:
        return value.is_string() || value.is_object();
    }
    return false;
}

// Reads the known fields of one JSON object and collects everything else into `extra`.
//
//     field_reader fields(j);
//     fields.read("id", out.id);
//     fields.finish(out.extra);
class field_reader {
public:
    explicit field_reader(const nlohmann::json& source) : source_(source) {}

    // Each read returns whether it took the key.
    template <class T>
    bool read(const char* key, T& out) {
        const auto* value = find(key);
        return value != nullptr && value_reader<T>::read(*value, out) && take(key);
    }

    // For lists that are left out of the output when empty: an empty list stays in `extra`, so it
    // is written back exactly as it came.
    template <class T>
    bool read_nonempty(const char* key, T& out) {
        const auto* value = find(key);
        return value != nullptr && !value->empty() && value_reader<T>::read(*value, out) &&
               take(key);
    }

    // For `nlohmann::json` members, where null means "not sent": a JSON null, like any value of
    // another shape, stays in `extra`.
    bool read_json(const char* key, nlohmann::json& out, json_shape shape = json_shape::any) {
        const auto* value = find(key);
        if (value == nullptr || value->is_null() || !has_shape(*value, shape)) {
            return false;
        }
        out = *value;
        return take(key);
    }

    void finish(nlohmann::json& extra) const {
        extra = nlohmann::json::object();
        if (!source_.is_object()) {
            return;
        }
        for (auto it = source_.begin(); it != source_.end(); ++it) {
            if (!taken(it.key())) {
                extra[it.key()] = it.value();
            }
        }
    }

private:
    const nlohmann::json* find(const char* key) const {
        if (!source_.is_object()) {
            return nullptr;
        }
        auto it = source_.find(key);
        return it == source_.end() ? nullptr : &*it;
    }

    bool take(const char* key) {
        taken_.push_back(key);
        return true;
    }

    bool taken(std::string_view key) const {
        for (const char* name : taken_) {
            if (key == name) {
                return true;
            }
        }
        return false;
    }

    const nlohmann::json& source_;
    std::vector<const char*> taken_;
};

template <class T>
struct identity {
    using type = T;
};

// Writes typed fields over a copy of `extra`, so typed values win when both name the same key.
class field_writer {
public:
    field_writer(nlohmann::json& out, const nlohmann::json& extra) : out_(out) {
        out_ = extra.is_object() ? extra : nlohmann::json::object();
    }

    // Plain members go through write_required, so none is written by accident through an
    // implicit conversion to nlohmann::json.
    template <class T>
    void write(const char* key, const T& value) = delete;

    // For members that are always written. One that still holds `unset` does not overwrite a
    // value kept in `extra`: that is the field as the server sent it, in a type we did not expect.
    template <class T>
    void write_required(const char* key, const T& value, const typename identity<T>::type& unset) {
        nlohmann::json written = value;
        if (out_.contains(key) && written == nlohmann::json(unset)) {
            return;
        }
        out_[key] = std::move(written);
    }

    template <class T>
    void write(const char* key, const std::optional<T>& value) {
        if (value.has_value()) {
            out_[key] = *value;
        }
    }

    void write(const char* key, const nlohmann::json& value) {
        if (!value.is_null()) {
            out_[key] = value;
        }
    }

    template <class T>
    void write_nonempty(const char* key, const T& values) {
        if (!values.empty()) {
            out_[key] = values;
        }
    }

private:
    nlohmann::json& out_;
};

// `object[key]` when `object` is an object that has it, else nullptr.
inline const nlohmann::json* member(const nlohmann::json& object, const char* key) {
    if (!object.is_object()) {
        return nullptr;
    }
    auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
}

// Concatenated `text` of the parts in `content` whose `type` is one of `types`; a part without
// a `type` counts when `untyped` is set.
inline std::string parts_text(const nlohmann::json& content,
                              std::initializer_list<std::string_view> types, bool untyped) {
    std::string text;
    if (!content.is_array()) {
        return text;
    }
    for (const auto& part : content) {
        const auto* part_text = member(part, "text");
        if (part_text == nullptr || !part_text->is_string()) {
            continue;
        }

        const auto* type = member(part, "type");
        bool wanted = type == nullptr && untyped;
        if (type != nullptr && type->is_string()) {
            const auto& name = *type->get_ptr<const nlohmann::json::string_t*>();
            for (std::string_view candidate : types) {
                wanted = wanted || name == candidate;
            }
        }
        if (wanted) {
            text += *part_text->get_ptr<const nlohmann::json::string_t*>();
        }
    }
    return text;
}

// The text of a chat message's `content`: the string itself, or its text parts joined.
inline std::string message_text(const nlohmann::json& content) {
    if (const auto* whole = content.get_ptr<const nlohmann::json::string_t*>()) {
        return *whole;
    }
    return parts_text(content, {"text", "input_text", "output_text"}, true);
}

// The start of `text` for an error message: at most `limit` bytes, cut on a UTF-8 boundary, with
// control characters blanked so the message stays on one line.

// Parses a response body that must be one JSON object. The error (kind `parse`) carries a short
// excerpt of a body that is not JSON, and the parsed value in `error::body` when it is JSON of
// another type, so nothing the server sent is out of reach.
inline result<nlohmann::json> parse_object(std::string_view body) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        return make_error(error_kind::parse, "response body is empty");
    }

    auto parsed = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
    if (parsed.is_discarded()) {
        return make_error(error_kind::parse,
                          "response body is not JSON (starts with \"" + excerpt(body) + "\")");
    }

    if (!parsed.is_object()) {
        auto failure = make_error(error_kind::parse,
                                  std::string("expected a JSON object, got ") + parsed.type_name());
        failure.body = std::move(parsed);
        return failure;
    }
    return parsed;
}

} // namespace detail
} // namespace v0
} // namespace dbxserve
