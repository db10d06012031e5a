# test_man_examples builds the manual pages' examples against the build
# tree: the compiler, the headers, the static library and what it links,
# with the sanitizers the library was built with.
set(_jumbo_ex_libs "$<TARGET_FILE:jumbo_static> -pthread")
if(URING_FOUND)
  string(JOIN " " _jumbo_uring ${URING_LDFLAGS})
  string(APPEND _jumbo_ex_libs " ${_jumbo_uring}")
endif()
if(XDP_FOUND)
  string(JOIN " " _jumbo_xdp ${XDP_LDFLAGS})
  string(APPEND _jumbo_ex_libs " ${_jumbo_xdp}")
endif()
set(_jumbo_ex_cflags "-std=c11 -D_GNU_SOURCE -Wall -Werror -I${PROJECT_SOURCE_DIR}/include")
if(JUMBO_SANITIZE)
  string(APPEND _jumbo_ex_cflags " -fsanitize=${JUMBO_SANITIZE}")
endif()
add_dependencies(test_man_examples jumbo_static)
# It compiles every example: 534 s in the ASan build under load
# (docs/TESTING.md), over 300 s normal; 5 times that.
set_tests_properties(man_examples PROPERTIES TIMEOUT 3000 ENVIRONMENT
  "JUMBO_CC=${CMAKE_C_COMPILER};JUMBO_CFLAGS=${_jumbo_ex_cflags};JUMBO_LIBS=${_jumbo_ex_libs};JUMBO_MANDIR=${PROJECT_SOURCE_DIR}/man")
