# test_tool_man lints man/jumbo.1 in the source tree.
target_compile_definitions(test_tool_man PRIVATE
  JUMBO_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
set_tests_properties(tool_man PROPERTIES TIMEOUT ${JUMBO_TEST_TIMEOUT} LABELS "tool")
