# test_stat runs "jumbo stat" against a child with pools.
if(TARGET jumbo OR (JUMBO_BUILD_TOOLS AND EXISTS ${PROJECT_SOURCE_DIR}/tools/CMakeLists.txt))
  add_dependencies(test_stat jumbo)
  set_tests_properties(stat PROPERTIES
    ENVIRONMENT "JUMBO_BIN=$<TARGET_FILE:jumbo>" TIMEOUT ${JUMBO_TEST_TIMEOUT} LABELS "tool")
endif()
