import os
import re

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy, load
from conan.tools.layout import basic_layout

required_conan_version = ">=2.0"

# The recipe sits two levels below the sources, so everything it exports is taken from there.
_SOURCE_ROOT = os.path.join("..", "..")


class DbxserveConan(ConanFile):
    name = "dbxserve"
    description = "Header-only C++17 client for Databricks Model and Agent Serving endpoints"
    license = "Apache-2.0"
    topics = ("databricks", "model-serving", "llm", "http-client", "header-only")
    package_type = "header-library"
    # Settings only feed validate(): package_id() drops them, one package serves every build.
    settings = "os", "arch", "compiler", "build_type"
    # Our transport speaks HTTPS only; validate() refuses a graph that turned this off.
    default_options = {"cpp-httplib/*:with_openssl": True}
    no_copy_source = True

    def set_version(self):
        if self.version:
            return
        header = load(self, os.path.join(self.recipe_folder, _SOURCE_ROOT,
                                         "include", "dbxserve", "version.hpp"))
        match = re.search(r'#define DBXSERVE_VERSION_STRING "([^"]+)"', header)
        if not match:
            raise ConanInvalidConfiguration("no DBXSERVE_VERSION_STRING in version.hpp")
        self.version = match.group(1)

    def export_sources(self):
        root = os.path.join(self.recipe_folder, _SOURCE_ROOT)
        copy(self, "*.hpp", os.path.join(root, "include"),
             os.path.join(self.export_sources_folder, "include"))
        copy(self, "dbxserve.hpp", os.path.join(root, "single_include"),
             os.path.join(self.export_sources_folder, "single_include"))
        copy(self, "LICENSE*", root, self.export_sources_folder)

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        # A header-library passes its requirements' headers and libraries on to its consumers
        # by default, which is what these need: every one of them is included by our headers.
        self.requires("nlohmann_json/3.11.3")
        self.requires("cpp-httplib/[>=0.18 <0.19]")
        self.requires("openssl/[>=3 <4]")

    def package_id(self):
        self.info.clear()

    def validate(self):
        check_min_cppstd(self, 17)
        if not self.dependencies["cpp-httplib"].options.with_openssl:
            raise ConanInvalidConfiguration(
                "dbxserve talks HTTPS only: it needs cpp-httplib/*:with_openssl=True")

    def package(self):
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"),
             os.path.join(self.package_folder, "include"))
        # Where the CMake install puts the single header too, so both packages look alike.
        copy(self, "dbxserve.hpp", os.path.join(self.source_folder, "single_include"),
             os.path.join(self.package_folder, "include", "dbxserve", "single"))
        copy(self, "LICENSE*", self.source_folder, os.path.join(self.package_folder, "licenses"))

    def package_info(self):
        # The same file and target names as our own CMake package, so a consumer's CMakeLists
        # does not change with the way dbxserve reached it.
        self.cpp_info.set_property("cmake_file_name", "dbxserve")
        self.cpp_info.set_property("cmake_target_name", "dbxserve::dbxserve")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []

        core = self.cpp_info.components["core"]
        core.set_property("cmake_target_name", "dbxserve::core")
        core.requires = ["nlohmann_json::nlohmann_json"]
        if self.settings.os in ("Linux", "FreeBSD"):
            core.system_libs = ["pthread"]
        core.bindirs = []
        core.libdirs = []

        # Named like the root target on purpose: dbxserve::dbxserve is the component itself.
        full = self.cpp_info.components["dbxserve"]
        full.set_property("cmake_target_name", "dbxserve::dbxserve")
        full.requires = ["core", "cpp-httplib::cpp-httplib", "openssl::ssl", "openssl::crypto"]
        full.defines = ["CPPHTTPLIB_OPENSSL_SUPPORT"]
        full.bindirs = []
        full.libdirs = []
