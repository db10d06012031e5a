# jumbo-fwd-plain: the recv/send relay with one reused buffer that
# bench/fwd.sh measures jumbo fwd and socat against.
add_executable(jumbo-fwd-plain ${CMAKE_CURRENT_SOURCE_DIR}/fwd.c)
