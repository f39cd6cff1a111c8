# Installs dbxserve into a scratch prefix and builds small projects against it the way users will:
# find_package on the installed package, add_subdirectory on the source tree, and the core
# component alone with httplib and OpenSSL hidden. Any failed step is fatal.
#
#   cmake -DROOT=<checkout> -DWORK=<scratch dir> [-DGENERATOR=Ninja] [-DCXX=<compiler>]
#         -P tests/consumer/run.cmake
#
# Only WORK's own subdirectories listed below are deleted, never WORK itself.
cmake_minimum_required(VERSION 3.20) # string(JSON), ctest --test-dir

# CMake defines -D options only when they come before -P; accept them after it as well, since
# that is how people tend to type the command.
foreach(_index RANGE ${CMAKE_ARGC})
  if(CMAKE_ARGV${_index} MATCHES "^-D([A-Za-z_][A-Za-z0-9_]*)(:[A-Z]+)?=(.*)$")
    set(${CMAKE_MATCH_1} "${CMAKE_MATCH_3}")
  endif()
endforeach()

foreach(_required ROOT WORK)
  if(NOT ${_required})
    message(FATAL_ERROR "run.cmake: pass -D${_required}=<dir>")
  endif()
endforeach()
get_filename_component(ROOT "${ROOT}" ABSOLUTE)
get_filename_component(WORK "${WORK}" ABSOLUTE)
set(_prefix "${WORK}/prefix")

set(_configure_args "")
if(GENERATOR)
  list(APPEND _configure_args -G "${GENERATOR}")
endif()
if(CXX)
  list(APPEND _configure_args "-DCMAKE_CXX_COMPILER=${CXX}")
endif()
# Multi-config generators need a configuration at build time; single-config ones ignore it,
# and an empty CMAKE_BUILD_TYPE keeps the consumers' compiles quick.
set(_config Release)

# Runs one step; on failure prints its whole output, which CTest shows with --output-on-failure.
function(dbxserve_step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "${name} failed (${_rc}):\n${_out}")
  endif()
  message(STATUS "${name}: ok")
endfunction()

# The package managers' files carry the version by hand; catch them lagging behind the header.
file(STRINGS "${ROOT}/include/dbxserve/version.hpp" _line REGEX "#define DBXSERVE_VERSION_STRING")
string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" _version "${_line}")
foreach(_manifest vcpkg.json packaging/vcpkg/ports/dbxserve/vcpkg.json)
  if(EXISTS "${ROOT}/${_manifest}")
    file(READ "${ROOT}/${_manifest}" _json)
    string(JSON _manifest_version ERROR_VARIABLE _json_error GET "${_json}" version)
    if(NOT _manifest_version STREQUAL _version)
      message(FATAL_ERROR
        "${_manifest} has version '${_manifest_version}' but version.hpp says ${_version}")
    endif()
  endif()
endforeach()
message(STATUS "packaging manifests at version ${_version}: ok")

file(REMOVE_RECURSE "${WORK}/dbxserve-build" "${_prefix}" "${WORK}/find_package"
     "${WORK}/add_subdirectory" "${WORK}/core_only" "${WORK}/no_transport")

dbxserve_step("configure dbxserve"
  "${CMAKE_COMMAND}" -S "${ROOT}" -B "${WORK}/dbxserve-build" ${_configure_args}
  "-DCMAKE_INSTALL_PREFIX=${_prefix}" -DDBXSERVE_BUILD_TESTS=OFF
  -DDBXSERVE_BUILD_EXAMPLES=OFF -DDBXSERVE_BUILD_EMULATOR=OFF)
dbxserve_step("build dbxserve" "${CMAKE_COMMAND}" --build "${WORK}/dbxserve-build"
  --config ${_config})
dbxserve_step("install dbxserve" "${CMAKE_COMMAND}" --install "${WORK}/dbxserve-build"
  --config ${_config})

foreach(_file include/dbxserve/dbxserve.hpp include/dbxserve/core.hpp
              include/dbxserve/single/dbxserve.hpp share/cmake/dbxserve/dbxserveConfig.cmake
              share/cmake/dbxserve/dbxserveConfigVersion.cmake
              share/cmake/dbxserve/dbxserveCoreTargets.cmake
              share/cmake/dbxserve/dbxserveTargets.cmake
              share/cmake/dbxserve/dbxserve_dependencies.cmake)
  if(NOT EXISTS "${_prefix}/${_file}")
    message(FATAL_ERROR "the install has no ${_file}")
  endif()
endforeach()
message(STATUS "install layout: ok")

# Configures, builds and runs one consumer project; its test runs the built program.
function(dbxserve_consumer name source)
  set(_build "${WORK}/${name}")
  dbxserve_step("configure ${name}" "${CMAKE_COMMAND}" -S "${source}" -B "${_build}"
    ${_configure_args} ${ARGN})
  dbxserve_step("build ${name}" "${CMAKE_COMMAND}" --build "${_build}" --config ${_config})
  dbxserve_step("run ${name}" "${CMAKE_CTEST_COMMAND}" --test-dir "${_build}" -C ${_config}
    --output-on-failure --no-tests=error)
endfunction()

# The consumer must have found this install, not some other dbxserve on the machine.
function(dbxserve_expect_found_in_prefix name)
  file(STRINGS "${WORK}/${name}/CMakeCache.txt" _dir REGEX "^dbxserve_DIR:")
  string(REGEX REPLACE "^[^=]*=" "" _dir "${_dir}")
  string(FIND "${_dir}" "${_prefix}/" _at)
  if(NOT _at EQUAL 0)
    message(FATAL_ERROR "${name} used the dbxserve package in '${_dir}', not in ${_prefix}")
  endif()
endfunction()

set(_hide_transport -DCMAKE_DISABLE_FIND_PACKAGE_httplib=ON
  -DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON)

dbxserve_consumer(find_package "${ROOT}/tests/consumer/find_package"
  "-DCMAKE_PREFIX_PATH=${_prefix}")
dbxserve_expect_found_in_prefix(find_package)

dbxserve_consumer(add_subdirectory "${ROOT}/tests/consumer/add_subdirectory"
  "-DDBXSERVE_SOURCE_DIR=${ROOT}")

dbxserve_consumer(core_only "${ROOT}/tests/consumer/core_only"
  "-DCMAKE_PREFIX_PATH=${_prefix}" ${_hide_transport})
dbxserve_expect_found_in_prefix(core_only)

# Without the transport's dependencies, the full package must refuse clearly, not half-load.
execute_process(
  COMMAND "${CMAKE_COMMAND}" -S "${ROOT}/tests/consumer/find_package" -B "${WORK}/no_transport"
          ${_configure_args} "-DCMAKE_PREFIX_PATH=${_prefix}" ${_hide_transport}
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
if(_rc EQUAL 0 OR NOT _out MATCHES "needs OpenSSL")
  message(FATAL_ERROR
    "find_package(dbxserve) without httplib should fail with a clear message; got (${_rc}):\n"
    "${_out}")
endif()
message(STATUS "find_package(dbxserve) without httplib fails clearly: ok")
