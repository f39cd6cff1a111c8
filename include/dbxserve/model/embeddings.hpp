#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common.hpp"

// The embeddings API.

namespace dbxserve {
inline namespace v0 {

// An embeddings request; `input` is sent as a string when one string was given.
//
//     embedding_request request;
//     request.input = {"first text", "second text"};
struct embedding_request {
    string_list input;
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const embedding_request& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("input", value.input, {});
}

inline void from_json(const nlohmann::json& j, embedding_request& out) {
    out = embedding_request{};
    detail::field_reader fields(j);
    fields.read("input", out.input);
    fields.finish(out.extra);
}

// One vector. An embedding sent in another encoding (a base64 string, say) stays in `extra`.
struct embedding_data {
    std::string object = "embedding";
    int index = 0;
    std::vector<double> embedding;
    nlohmann::json extra = nlohmann::json::object();
};

inline void to_json(nlohmann::json& j, const embedding_data& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("object", value.object, "embedding");
    fields.write_required("index", value.index, 0);
    fields.write_required("embedding", value.embedding, {});
}

inline void from_json(const nlohmann::json& j, embedding_data& out) {
    out = embedding_data{};
    detail::field_reader fields(j);
    fields.read("object", out.object);
    fields.read("index", out.index);
    fields.read("embedding", out.embedding);
    fields.finish(out.extra);
}

// An embeddings response (`"object": "list"`); `data[i].index` says which input it belongs to.
struct embedding_response {
    std::string object = "list";
    std::string model;
    std::vector<embedding_data> data;
    std::optional<dbxserve::usage> usage;
    nlohmann::json extra = nlohmann::json::object();
    nlohmann::json raw;
    response_meta meta;
};

inline void to_json(nlohmann::json& j, const embedding_response& value) {
    detail::field_writer fields(j, value.extra);
    fields.write_required("object", value.object, "list");
    fields.write_required("model", value.model, "");
    fields.write_required("data", value.data, {});
    fields.write("usage", value.usage);
}

inline void from_json(const nlohmann::json& j, embedding_response& out) {
    out = embedding_response{};
    detail::field_reader fields(j);
    fields.read("object", out.object);
    fields.read("model", out.model);
    fields.read("data", out.data);
    fields.read("usage", out.usage);
    fields.finish(out.extra);
}

} // namespace v0
} // namespace dbxserve
