# test_stat_pidns runs "jumbo stat" beside writers in other pid namespaces.
if(TARGET jumbo OR (JUMBO_BUILD_TOOLS AND EXISTS ${PROJECT_SOURCE_DIR}/tools/CMakeLists.txt))
  add_dependencies(test_stat_pidns jumbo)
  set_tests_properties(stat_pidns PROPERTIES
    ENVIRONMENT "JUMBO_BIN=$<TARGET_FILE:jumbo>" TIMEOUT ${JUMBO_TEST_TIMEOUT} LABELS "tool")
endif()
