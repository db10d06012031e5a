# jumbo-bench-s3lines: cache lines moved between the cores per page of S3,
# counted from a trace of the frames (bench/s3_lines.c).
add_executable(jumbo-bench-s3lines ${CMAKE_CURRENT_LIST_DIR}/s3_lines.c)
target_link_libraries(jumbo-bench-s3lines PRIVATE jumbo_static jumbo_support
                      Threads::Threads)
