# The same checks through the out-of-line calls, and as a user builds the
# program (installed header, pkg-config, libjumbo.so; inline and not).
add_executable(test_fast_noinline ${CMAKE_CURRENT_SOURCE_DIR}/test_fast.c)
target_compile_definitions(test_fast_noinline PRIVATE _GNU_SOURCE JUMBO_NO_INLINE)
target_include_directories(test_fast_noinline PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_fast_noinline PRIVATE jumbo_static jumbo_support)
add_test(NAME fast_noinline COMMAND test_fast_noinline)
set_tests_properties(fast_noinline PROPERTIES TIMEOUT ${JUMBO_TEST_TIMEOUT} SKIP_RETURN_CODE 77)
add_test(NAME fast_installed COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/fast_installed.sh
         ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR} "${JUMBO_SANITIZE}")
# It compiles: 774 s in the ASan build under load (docs/TESTING.md), over
# 300 s normal; 5 times that, so that only a hang reaches it.
set_tests_properties(fast_installed PROPERTIES TIMEOUT 4000 SKIP_RETURN_CODE 77)
# The same as a Clang user builds it: the header's inline paths for Clang
# (skipped without clang, and in sanitizer builds: two runtimes).
find_program(JUMBO_TEST_CLANG NAMES clang clang-14 clang-15 clang-16)
if(NOT JUMBO_TEST_CLANG)
  set(JUMBO_TEST_CLANG clang)
endif()
add_test(NAME fast_clang COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/fast_installed.sh
         ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR} "${JUMBO_SANITIZE}"
         ${JUMBO_TEST_CLANG})
set_tests_properties(fast_clang PROPERTIES TIMEOUT 4000 SKIP_RETURN_CODE 77)
