# The "jumbo-user" peers (peer_user.c): the seed's three calls compiled as
# a program compiles them, against this build installed into a scratch
# prefix and found with pkg-config (user-build.sh), then opened by
# jumbo-bench.  Rebuilt whenever the library is.  The same step builds
# named_pair (user/named_pair.c) and run_search (user/run_search.c):
# programs of their own, not peers.
set(BENCH_USER_PREFIX ${CMAKE_CURRENT_BINARY_DIR}/user-prefix)
set(BENCH_USER_SO ${CMAKE_CURRENT_BINARY_DIR}/libjb_user.so)
set(BENCH_USER_STATIC_SO ${CMAKE_CURRENT_BINARY_DIR}/libjb_user_static.so)
set(BENCH_NAMED_PAIR ${CMAKE_CURRENT_BINARY_DIR}/named_pair)
set(BENCH_RUN_SEARCH ${CMAKE_CURRENT_BINARY_DIR}/run_search)
set(BENCH_USER_CFLAGS "")
if(JUMBO_SANITIZE)
  set(BENCH_USER_CFLAGS -fsanitize=${JUMBO_SANITIZE} -fno-omit-frame-pointer)
endif()
add_custom_command(
  OUTPUT ${BENCH_USER_SO} ${BENCH_USER_STATIC_SO} ${BENCH_NAMED_PAIR}
         ${BENCH_RUN_SEARCH}
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/user-build.sh ${PROJECT_BINARY_DIR}
          ${BENCH_USER_PREFIX} ${CMAKE_CURRENT_SOURCE_DIR}
          ${PROJECT_SOURCE_DIR}/support ${CMAKE_CURRENT_BINARY_DIR}
          ${CMAKE_C_COMPILER} ${BENCH_USER_CFLAGS}
  DEPENDS jumbo_shared jumbo_static jumbo user-build.sh user/seed_user.c
          user/named_pair.c user/run_search.c
          sys.c bench.h workloads.h ${PROJECT_SOURCE_DIR}/include/jumbo/jumbo.h
  COMMENT "bench: building the jumbo-user peers against an installed libjumbo"
  VERBATIM)
add_custom_target(jb_user ALL DEPENDS ${BENCH_USER_SO} ${BENCH_USER_STATIC_SO}
                  ${BENCH_NAMED_PAIR} ${BENCH_RUN_SEARCH})
add_dependencies(jumbo-bench jb_user)
set_property(SOURCE peer_user.c APPEND PROPERTY COMPILE_DEFINITIONS
  BENCH_USER_SO="${BENCH_USER_SO}"
  BENCH_USER_STATIC_SO="${BENCH_USER_STATIC_SO}")
target_sources(jumbo-bench PRIVATE peer_user.c)
