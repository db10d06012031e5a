# jumbo-bench-ring: entries/s through jumbo_ring between processes
# (bench/ring_ipc.c).  Included by bench/CMakeLists.txt.
add_executable(jumbo-bench-ring ${CMAKE_CURRENT_LIST_DIR}/ring_ipc.c)
target_compile_definitions(jumbo-bench-ring PRIVATE _GNU_SOURCE)
target_link_libraries(jumbo-bench-ring PRIVATE jumbo_static)
