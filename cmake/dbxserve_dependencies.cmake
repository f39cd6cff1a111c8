# Finds the default transport's dependencies, cpp-httplib and OpenSSL, and gathers them in one
# target, dbxserve_httplib_dependency, left undefined when either is missing. Shared by the build
# and by the installed package config, so a consumer resolves httplib exactly as the build did.
# It searches quietly: only the caller knows whether a missing transport is an error, since
# dbxserve::core needs neither.
#
# cpp-httplib comes in two shapes: the header-only release with a CMake package
# (httplib::httplib, from vcpkg, conan or a source install), and Debian's 0.11.4 split into a
# header and a shared library, found through pkg-config as `cpp-httplib`.

if(NOT TARGET dbxserve_httplib_dependency)
  # A parent project may already provide these targets (FetchContent, its own find_package);
  # searching again could pick a different copy than the one it links.
  if(NOT TARGET OpenSSL::SSL OR NOT TARGET OpenSSL::Crypto)
    find_package(OpenSSL QUIET)
  endif()
  if(NOT TARGET httplib::httplib)
    find_package(httplib CONFIG QUIET)
  endif()

  set(_dbxserve_httplib "")
  if(TARGET httplib::httplib)
    set(_dbxserve_httplib httplib::httplib)
  else()
    find_package(PkgConfig QUIET)
    if(PkgConfig_FOUND)
      # GLOBAL: the package config may run in any directory of the consumer's tree.
      pkg_check_modules(DBXSERVE_CPPHTTPLIB QUIET IMPORTED_TARGET GLOBAL cpp-httplib)
    endif()
    if(TARGET PkgConfig::DBXSERVE_CPPHTTPLIB)
      set(_dbxserve_httplib PkgConfig::DBXSERVE_CPPHTTPLIB)
    endif()
  endif()

  if(_dbxserve_httplib AND TARGET OpenSSL::SSL AND TARGET OpenSSL::Crypto)
    add_library(dbxserve_httplib_dependency INTERFACE IMPORTED GLOBAL)
    set_target_properties(dbxserve_httplib_dependency PROPERTIES
      INTERFACE_LINK_LIBRARIES "${_dbxserve_httplib};OpenSSL::SSL;OpenSSL::Crypto"
      INTERFACE_COMPILE_DEFINITIONS "CPPHTTPLIB_OPENSSL_SUPPORT")
  endif()
  unset(_dbxserve_httplib)
endif()
