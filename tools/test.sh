#!/usr/bin/env bash
# Builds and runs the whole test suite: CMake + CTest (unit, integration over TLS against the
# workspace emulator, single-header, no-exceptions, formatting), then the same tests via meson.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

meson setup build/meson --buildtype=debugoptimized --reconfigure >/dev/null 2>&1 ||
  meson setup build/meson --buildtype=debugoptimized
meson test -C build/meson --print-errorlogs

cmake -S . -B build/test -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build/test -j "$jobs"
ctest --test-dir build/test --output-on-failure -j "$jobs"
