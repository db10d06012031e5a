# The differential fuzzer (tests/fuzz/fuzz_pool.c; docs/TESTING.md).  It
# needs clang's libFuzzer, so it is built with clang straight from the
# library's sources, whatever compiler builds the rest, with ASan, UBSan
# and the library's internal assertions.  CTest test "fuzz": 20 seconds
# from the committed corpus (skipped, with the reason, without libFuzzer);
# "fuzz_long" (label fuzz-long, JUMBO_LONG_TESTS=ON only): as long as
# JUMBO_FUZZ_SECONDS says (default 600).
find_program(JUMBO_FUZZ_CLANG NAMES clang clang-14 clang-15 clang-16)
set(fuzz_dir ${CMAKE_CURRENT_BINARY_DIR}/fuzz)
set(fuzz_why "no clang found")
if(JUMBO_FUZZ_CLANG)
  file(WRITE ${fuzz_dir}/probe.c
       "#include <stddef.h>\n#include <stdint.h>\n"
       "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)"
       "{ (void)d; (void)n; return 0; }\n")
  execute_process(COMMAND ${JUMBO_FUZZ_CLANG} -fsanitize=fuzzer,address,undefined
                  ${fuzz_dir}/probe.c -o ${fuzz_dir}/probe
                  RESULT_VARIABLE fuzz_probe OUTPUT_QUIET ERROR_QUIET)
  if(fuzz_probe EQUAL 0)
    set(fuzz_why "")
  else()
    set(fuzz_why "${JUMBO_FUZZ_CLANG} cannot link -fsanitize=fuzzer (libclang-rt missing?)")
  endif()
endif()

if(fuzz_why)
  add_test(NAME fuzz COMMAND sh -c "echo 'SKIP: ${fuzz_why}'; exit 77")
  set_tests_properties(fuzz PROPERTIES SKIP_RETURN_CODE 77)
  return()
endif()

# The library's layers compiled in one command: each layer's directory on
# the include path (the layering itself is checked by the normal build).
file(GLOB fuzz_lib CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/*/*.c)
file(GLOB_RECURSE fuzz_hdr CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/*.h
     ${PROJECT_SOURCE_DIR}/include/jumbo/*.h)
set(fuzz_inc)
foreach(d common pool pool/export mbuf xdp rx tx ring)
  list(APPEND fuzz_inc -I${PROJECT_SOURCE_DIR}/src/${d})
endforeach()
set(fuzz_src ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_pool.c)
add_custom_command(OUTPUT ${fuzz_dir}/fuzz_pool
  COMMAND ${JUMBO_FUZZ_CLANG} -g -O1 -std=gnu11 -D_GNU_SOURCE
          -DJUMBO_DEBUG_LEVEL=2
          -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
          -I${PROJECT_SOURCE_DIR}/include ${fuzz_inc}
          ${fuzz_lib} ${fuzz_src} -o ${fuzz_dir}/fuzz_pool -lpthread
  DEPENDS ${fuzz_lib} ${fuzz_hdr} ${fuzz_src} VERBATIM)
add_custom_target(fuzz_pool ALL DEPENDS ${fuzz_dir}/fuzz_pool)

# New inputs go to the build tree's corpus; the committed one is read only.
file(MAKE_DIRECTORY ${fuzz_dir}/corpus)
set(fuzz_env ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1)
add_test(NAME fuzz COMMAND ${fuzz_dir}/fuzz_pool -max_total_time=20
         -runs=5000000 -timeout=600 -print_final_stats=1
         ${fuzz_dir}/corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus)
set_tests_properties(fuzz PROPERTIES TIMEOUT ${JUMBO_TEST_TIMEOUT} LABELS fuzz
                     ENVIRONMENT "${fuzz_env}")
if(JUMBO_LONG_TESTS)
  set(fuzz_secs $ENV{JUMBO_FUZZ_SECONDS})
  if(NOT fuzz_secs)
    set(fuzz_secs 600)
  endif()
  add_test(NAME fuzz_long COMMAND ${fuzz_dir}/fuzz_pool -max_total_time=${fuzz_secs}
           -timeout=600 -print_final_stats=1
           ${fuzz_dir}/corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus)
  math(EXPR fuzz_tmo "${fuzz_secs} + 120")
  set_tests_properties(fuzz_long PROPERTIES TIMEOUT ${fuzz_tmo}
                       LABELS fuzz-long ENVIRONMENT "${fuzz_env}")
endif()
