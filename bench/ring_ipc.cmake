# jumbo-bench-ring: entries/s through jumbo_ring between processes, beside
# DPDK's rte_ring in the same run when libdpdk is there (bench/ring_ipc.c).
# Included by bench/CMakeLists.txt.
add_executable(jumbo-bench-ring ${CMAKE_CURRENT_LIST_DIR}/ring_ipc.c
               ${CMAKE_CURRENT_LIST_DIR}/ring_ipc_dpdk.c
               ${CMAKE_CURRENT_LIST_DIR}/huge.c)
target_compile_definitions(jumbo-bench-ring PRIVATE _GNU_SOURCE)
target_link_libraries(jumbo-bench-ring PRIVATE jumbo_static)
if(BENCH_DPDK_FOUND)
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/ring_ipc_dpdk.c APPEND PROPERTY
    COMPILE_DEFINITIONS BENCH_HAVE_DPDK=1)
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/ring_ipc_dpdk.c APPEND PROPERTY
    COMPILE_OPTIONS ${BENCH_DPDK_CFLAGS})
  target_link_libraries(jumbo-bench-ring PRIVATE PkgConfig::BENCH_DPDK)
endif()

# Checks that every case starts and that the sums are right, never the
# times; DPDK's cross-process S3 runs when root can reserve 2 MiB pages,
# and says why not otherwise.  It changes nr_hugepages, as test_hugepages.
add_test(NAME bench_ring_quick COMMAND jumbo-bench-ring -q)
set_tests_properties(bench_ring_quick PROPERTIES TIMEOUT ${JUMBO_TEST_TIMEOUT} LABELS bench
                     RESOURCE_LOCK hugepages)

# -O: DPDK's S3 keeping a named pool's owner words; a word found wrong
# (a page got that was not free, one dequeued that was not the
# producer's, a double free) fails the run.
add_test(NAME bench_ring_own_quick COMMAND jumbo-bench-ring -q -w s3 -O cas)
set_tests_properties(bench_ring_own_quick PROPERTIES TIMEOUT ${JUMBO_TEST_TIMEOUT} LABELS bench
                     RESOURCE_LOCK hugepages)
