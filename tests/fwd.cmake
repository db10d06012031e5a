# test_fwd runs the jumbo command: it needs the binary, and says so.
if(TARGET jumbo OR (JUMBO_BUILD_TOOLS AND EXISTS ${PROJECT_SOURCE_DIR}/tools/CMakeLists.txt))
  add_dependencies(test_fwd jumbo)
  set_tests_properties(fwd PROPERTIES
    ENVIRONMENT "JUMBO_BIN=$<TARGET_FILE:jumbo>" TIMEOUT ${JUMBO_TEST_TIMEOUT} LABELS "tool")
endif()
