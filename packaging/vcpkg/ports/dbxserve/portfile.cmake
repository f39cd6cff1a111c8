# dbxserve is header-only: one release configuration, no binaries to build.
#
# In a dbxserve checkout (this port lives at packaging/vcpkg/ports/dbxserve) the port builds that
# checkout, so `vcpkg install dbxserve --overlay-ports=packaging/vcpkg/ports` packages the
# working tree as it is. Copied anywhere else, into a registry say, it downloads the release tag
# instead, and REPO and SHA512 below must be filled in first: see packaging/README.md.
get_filename_component(_dbxserve_checkout "${CMAKE_CURRENT_LIST_DIR}/../../../.." ABSOLUTE)
if(EXISTS "${_dbxserve_checkout}/include/dbxserve/version.hpp")
  set(SOURCE_PATH "${_dbxserve_checkout}")
else()
  vcpkg_from_github(
    OUT_SOURCE_PATH SOURCE_PATH
    REPO OWNER/dbxserve # placeholder: the GitHub owner/name that publishes dbxserve
    REF "v${VERSION}"
    SHA512 0 # placeholder: vcpkg's error message prints the archive's real SHA512
    HEAD_REF main
  )
endif()

set(VCPKG_BUILD_TYPE release)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DDBXSERVE_BUILD_TESTS=OFF
    -DDBXSERVE_BUILD_EXAMPLES=OFF
    -DDBXSERVE_BUILD_EMULATOR=OFF
    -DDBXSERVE_INSTALL=ON
)
vcpkg_cmake_install()
# Our CMake installs the package config under share/cmake/dbxserve; vcpkg wants share/dbxserve.
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/dbxserve)

# Nothing here depends on the configuration, and vcpkg rejects headers duplicated in debug/.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug")

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
if(EXISTS "${SOURCE_PATH}/LICENSE")
  vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
else()
  # The sources carry no LICENSE file yet, and vcpkg requires a copyright file: state the licence
  # the project declares (meson.build, vcpkg.json) until the file exists.
  file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright"
       "dbxserve is distributed under the Apache License, Version 2.0 (SPDX: Apache-2.0).\n")
endif()
