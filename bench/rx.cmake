# jumbo-bench-rx: the receive backends against malloc + recv and a reused
# buffer (bench/rx.c, bench/RX.md).  Its quick mode is a test that it runs,
# never of its times.
add_executable(jumbo-bench-rx rx.c ${PROJECT_SOURCE_DIR}/support/plain.c)
target_compile_definitions(jumbo-bench-rx PRIVATE _GNU_SOURCE)
target_link_libraries(jumbo-bench-rx PRIVATE jumbo_static jumbo_support Threads::Threads)
add_test(NAME bench_rx_quick COMMAND jumbo-bench-rx --quick
         --plot ${CMAKE_CURRENT_BINARY_DIR}/bench_rx_quick_plots)
set_tests_properties(bench_rx_quick PROPERTIES TIMEOUT ${JUMBO_TEST_TIMEOUT} LABELS bench)
