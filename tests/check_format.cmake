# Fails when a C++ file in the tree differs from what clang-format would write.
file(GLOB_RECURSE _files
  "${ROOT}/include/*.hpp" "${ROOT}/tests/*.cpp" "${ROOT}/tests/*.hpp"
  "${ROOT}/examples/*.cpp" "${ROOT}/tools/*.cpp" "${ROOT}/tools/*.hpp")
execute_process(COMMAND "${CLANG_FORMAT}" --dry-run --Werror ${_files}
                RESULT_VARIABLE _rc ERROR_VARIABLE _out)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "clang-format would change these files (run clang-format -i):\n${_out}")
endif()
