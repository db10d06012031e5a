# The soak (tests/soak/soak.c): ctest -L soak, with JUMBO_LONG_TESTS=ON
# only.  JUMBO_SOAK_MINUTES (default 3) sets its length.
add_executable(soak ${CMAKE_CURRENT_SOURCE_DIR}/soak/soak.c)
target_compile_definitions(soak PRIVATE _GNU_SOURCE)
target_include_directories(soak PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(soak PRIVATE jumbo_static jumbo_support)
add_test(NAME soak COMMAND soak)
set(soak_env "")
if(TARGET jumbo OR (JUMBO_BUILD_TOOLS AND EXISTS ${PROJECT_SOURCE_DIR}/tools/CMakeLists.txt))
  add_dependencies(soak jumbo)
  set(soak_env "JUMBO_BIN=$<TARGET_FILE:jumbo>")
endif()
# Minutes of running plus start and end; the environment can lengthen it.
set_tests_properties(soak PROPERTIES LABELS soak TIMEOUT 3600
                     ENVIRONMENT "${soak_env}")
