# The kill campaign: 200 rounds here (a few seconds, more under the
# sanitizers, 275 s in the normal build under load); on demand
# (JUMBO_LONG_TESTS=ON, ctest -L long) 2000.
set_tests_properties(reclaim PROPERTIES TIMEOUT ${JUMBO_TEST_TIMEOUT})
if(JUMBO_LONG_TESTS)
  add_test(NAME reclaim_long COMMAND test_reclaim 0 2000)
  set_tests_properties(reclaim_long PROPERTIES TIMEOUT 3600 LABELS long)
endif()
