# The same program against libjumbo.so, as a non-PIE program: the inline
# translation then reads the program's copy of jumbo_default_head.
add_executable(test_inline_so ${CMAKE_CURRENT_SOURCE_DIR}/test_inline.c)
target_compile_definitions(test_inline_so PRIVATE _GNU_SOURCE)
target_include_directories(test_inline_so PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_options(test_inline_so PRIVATE -fno-pie)
target_link_options(test_inline_so PRIVATE -no-pie)
target_link_libraries(test_inline_so PRIVATE jumbo_shared jumbo_support)
add_test(NAME inline_so COMMAND test_inline_so)
set_tests_properties(inline_so PROPERTIES TIMEOUT ${JUMBO_TEST_TIMEOUT} SKIP_RETURN_CODE 77)
