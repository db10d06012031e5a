# jumbo-bench-zcopy: moving pages against copying them (bench/zerocopy.c,
# results in bench/ZEROCOPY.md).  Included by bench/CMakeLists.txt.
add_executable(jumbo-bench-zcopy ${CMAKE_CURRENT_LIST_DIR}/zerocopy.c)
target_compile_definitions(jumbo-bench-zcopy PRIVATE _GNU_SOURCE)
target_link_libraries(jumbo-bench-zcopy PRIVATE jumbo_static jumbo_support Threads::Threads)
