# The sanitizers slow the exchanges and the 1000 kill rounds several times
# (135 s in the ASan build under load).
set_tests_properties(shpool PROPERTIES TIMEOUT ${JUMBO_TEST_TIMEOUT})
# On demand (JUMBO_LONG_TESTS=ON, ctest -L long): 20 M pages per exchange,
# 20000 deaths.
if(JUMBO_LONG_TESTS)
  add_test(NAME shpool_long COMMAND test_shpool 0 20000000 20000)
  set_tests_properties(shpool_long PROPERTIES TIMEOUT 3600 LABELS long)
endif()
# Memcheck on the exchanges between two and four processes (issue 12:
# "valgrind on the two-process test"), every process traced; an error in
# any of them fails it.  Not the kill rounds (0): Debian 12's valgrind 3.19
# stops on an assertion of its own address-space manager (aspacemgr-
# segnames.c, get_refcount) among their many maps and unmaps of named
# objects, a fault of the tool, not of the program.  Not in the sanitizer
# builds, whose runtimes valgrind cannot run.
find_program(JUMBO_VALGRIND valgrind)
if(JUMBO_VALGRIND AND NOT JUMBO_SANITIZE)
  add_test(NAME shpool_valgrind
           COMMAND ${JUMBO_VALGRIND} -q --error-exitcode=99 --leak-check=no
                   $<TARGET_FILE:test_shpool> 0 200000 0)
  set_tests_properties(shpool_valgrind PROPERTIES TIMEOUT ${JUMBO_TEST_TIMEOUT})
endif()
