set_tests_properties(debug PROPERTIES ENVIRONMENT "JUMBO_DEBUG=")
