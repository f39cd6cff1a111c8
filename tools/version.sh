#!/bin/sh
# Prints the library version from include/dbxserve/version.hpp (used by meson.build).
sed -n 's/^#define DBXSERVE_VERSION_STRING "\(.*\)"$/\1/p' "$(dirname "$0")/../include/dbxserve/version.hpp"
