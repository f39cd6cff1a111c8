#pragma once
// Test shim: routes <dbxserve/dbxserve.hpp> to the generated single header.
#include "../../../../single_include/dbxserve.hpp"
