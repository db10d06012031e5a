# jumbo-bench-mbuf: an mbuf's cost taken apart, beside the page pool and
# DPDK's rte_mbuf in the same run (bench/mbuf.c).  Included by
# bench/CMakeLists.txt.
add_executable(jumbo-bench-mbuf ${CMAKE_CURRENT_LIST_DIR}/mbuf.c
               ${CMAKE_CURRENT_LIST_DIR}/mbuf_dpdk.c)
target_link_libraries(jumbo-bench-mbuf PRIVATE jumbo_static)
if(BENCH_DPDK_FOUND)
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/mbuf_dpdk.c APPEND PROPERTY
    COMPILE_DEFINITIONS BENCH_HAVE_DPDK=1)
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/mbuf_dpdk.c APPEND PROPERTY
    COMPILE_OPTIONS ${BENCH_DPDK_CFLAGS})
  target_link_libraries(jumbo-bench-mbuf PRIVATE PkgConfig::BENCH_DPDK)
endif()
# It works (tiny counts, figures meaningless); never judged on time.
add_test(NAME bench_mbuf_quick COMMAND jumbo-bench-mbuf -n 1024 -r 1 -d 4)
set_tests_properties(bench_mbuf_quick PROPERTIES TIMEOUT ${JUMBO_TEST_TIMEOUT} LABELS bench)
