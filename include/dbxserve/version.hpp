#pragma once

// Library version, also reported in the User-Agent of every request.
#define DBXSERVE_VERSION_MAJOR 0
#define DBXSERVE_VERSION_MINOR 1
#define DBXSERVE_VERSION_PATCH 0
#define DBXSERVE_VERSION_STRING "0.1.0"

namespace dbxserve {
// The inline namespace carries the version, so that a plugin and its host that embed two different
// copies of the header cannot silently mix their types (one-definition-rule clashes become link
// errors instead).
inline namespace v0 {

constexpr const char* version() noexcept {
    return DBXSERVE_VERSION_STRING;
}

} // namespace v0
} // namespace dbxserve
