#pragma once

// dbxserve: a C++17 client for Databricks Model and Agent Serving endpoints.
// The umbrella header: the whole library with the default cpp-httplib transport.

#include "core.hpp"
#include "default_client.hpp"
#include "transport/httplib_transport.hpp"
