# The sanitizers slow the exchanges and the 1000 kill rounds several times
# (135 s in the ASan build under load).
set_tests_properties(shpool PROPERTIES TIMEOUT ${JUMBO_TEST_TIMEOUT})
# On demand (JUMBO_LONG_TESTS=ON, ctest -L long): 20 M pages per exchange,
# 20000 deaths.
if(JUMBO_LONG_TESTS)
  add_test(NAME shpool_long COMMAND test_shpool 0 20000000 20000)
  set_tests_properties(shpool_long PROPERTIES TIMEOUT 3600 LABELS long)
endif()
