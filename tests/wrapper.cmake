# test_wrapper.c as a user builds it (installed header, pkg-config,
# libjumbo.so) with GCC -O2 -Winline -Werror: its wrapper of the seed's
# allocation must be inlined (bench/README.md, issue 15).
add_test(NAME wrapper_inlined COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/wrapper_inlined.sh
         ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR} "${JUMBO_SANITIZE}")
set_tests_properties(wrapper_inlined PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
