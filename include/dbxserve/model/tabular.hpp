#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../error.hpp"
#include "../result.hpp"
#include "common.hpp"

// Custom (MLflow pyfunc) models and feature serving: pandas frames or tensors in, predictions out.

namespace dbxserve {
inline namespace v0 {

// A pandas DataFrame in "split" orientation. Column labels that are not strings leave `columns`
// empty and stay in `extra`.
struct dataframe_split {
    std::vector<std::string> columns;
    nlohmann::json index; // optional row labels; null when not sent
    nlohmann::json data;  // one array per row
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const dataframe_split& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("columns", value.columns, {});
    fields.write("index", value.index);
    fields.write_required("data", value.data.is_null() ? nlohmann::json::array() : value.data,
                          nlohmann::json::array());
}

inline void from_json(const nlohmann::json& j, dataframe_split& out) {
    out = dataframe_split{};
    detail::field_reader fields(j);
    fields.read("columns", out.columns);
    fields.read_json("index", out.index, detail::json_shape::array);
    fields.read_json("data", out.data, detail::json_shape::array);
    fields.finish(out.extra);
}

// The input kinds of a custom model request; each is also the name of its JSON field.
enum class tabular_format { none, dataframe_split, dataframe_records, instances, inputs };

constexpr const char* to_string(tabular_format format) noexcept {
    switch (format) {
    case tabular_format::none:
        return "none";
    case tabular_format::dataframe_split:
        return "dataframe_split";
    case tabular_format::dataframe_records:
        return "dataframe_records";
    case tabular_format::instances:
        return "instances";
    case tabular_format::inputs:
        return "inputs";
    }
    return "unknown";
}

// A request to a custom model. Serving takes exactly one input kind per request, so the request
// holds one `format` and its payload: `frame` for dataframe_split, `payload` for the others.
//
//     auto request = tabular_request::split({"x", "y"}, {{1.0, 2.0}, {3.0, 4.0}});
//     request.params = {{"threshold", 0.5}};
//     auto rows = tabular_request::records({{{"x", 1.0}, {"y", 2.0}}});
struct tabular_request {
    tabular_format format = tabular_format::none;
    dbxserve::dataframe_split frame; // the input when format is dataframe_split
    nlohmann::json payload;          // the input for the other formats
    nlohmann::json params;           // inference parameters, a JSON object; null when not sent
    nlohmann::json extra = nlohmann::json::object();

    static tabular_request split(std::vector<std::string> columns, nlohmann::json data) {
        tabular_request request;
        request.format = tabular_format::dataframe_split;
        request.frame.columns = std::move(columns);
        request.frame.data = std::move(data);
        return request;
    }

    // `rows` is an array of {column: value} objects.
    static tabular_request records(nlohmann::json rows) {
        return with(tabular_format::dataframe_records, std::move(rows));
    }

    // Tensor input in row form: one element per row.
    static tabular_request instances(nlohmann::json rows) {
        return with(tabular_format::instances, std::move(rows));
    }

    // Tensor input in column form: one named tensor per input, or a single tensor.
    static tabular_request inputs(nlohmann::json tensors) {
        return with(tabular_format::inputs, std::move(tensors));
    }

    // Fails with `error_kind::invalid_input` unless there is exactly one input kind (counting
    // input fields placed in `extra`) and it has a payload.
    result<void> validate() const {
        int kinds = format == tabular_format::none ? 0 : 1;
        for (auto other : {tabular_format::dataframe_split, tabular_format::dataframe_records,
                           tabular_format::instances, tabular_format::inputs}) {
            if (other != format && detail::member(extra, to_string(other)) != nullptr) {
                ++kinds;
            }
        }
        if (kinds == 1 && (format == tabular_format::dataframe_split || !payload.is_null())) {
            return {};
        }
        return make_error(error_kind::invalid_input,
                          "a tabular request needs exactly one of dataframe_split, "
                          "dataframe_records, instances, inputs; it has " +
                              std::to_string(kinds));
    }

private:
    static tabular_request with(tabular_format format, nlohmann::json payload) {
        tabular_request request;
        request.format = format;
        request.payload = std::move(payload);
        return request;
    }
};

inline void to_json(nlohmann::json& j, const tabular_request& value) {
    detail::field_writer fields(j, value.extra);
    if (value.format == tabular_format::dataframe_split) {
        fields.write_required("dataframe_split", value.frame, {});
    } else if (value.format != tabular_format::none) {
        fields.write(to_string(value.format), value.payload);
    }
    fields.write("params", value.params);
}

// A body with several input kinds (which serving rejects) keeps the first in the typed members
// and the others in `extra`, so it is written back unchanged.
inline void from_json(const nlohmann::json& j, tabular_request& out) {
    out = tabular_request{};
    detail::field_reader fields(j);
    if (fields.read("dataframe_split", out.frame)) {
        out.format = tabular_format::dataframe_split;
    } else if (fields.read_json("dataframe_records", out.payload, detail::json_shape::array)) {
        out.format = tabular_format::dataframe_records;
    } else if (fields.read_json("instances", out.payload)) {
        out.format = tabular_format::instances;
    } else if (fields.read_json("inputs", out.payload)) {
        out.format = tabular_format::inputs;
    }
    fields.read_json("params", out.params, detail::json_shape::object);
    fields.finish(out.extra);
}

// What a custom model answers (`predictions`), or a feature serving endpoint (`outputs`).
struct prediction_response {
    nlohmann::json predictions; // null when not sent
    nlohmann::json outputs;     // null when not sent
    nlohmann::json extra = nlohmann::json::object();
    nlohmann::json raw;
    response_meta meta;
};

inline void to_json(nlohmann::json& j, const prediction_response& value) {
    detail::field_writer fields(j, value.extra);
    fields.write("predictions", value.predictions);
    fields.write("outputs", value.outputs);
}

inline void from_json(const nlohmann::json& j, prediction_response& out) {
    out = prediction_response{};
    detail::field_reader fields(j);
    fields.read_json("predictions", out.predictions);
    fields.read_json("outputs", out.outputs);
    fields.finish(out.extra);
}

} // namespace v0
} // namespace dbxserve
