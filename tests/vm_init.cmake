# The default pool reads these: the test wants the defaults.
set_tests_properties(vm_init PROPERTIES ENVIRONMENT
  "JUMBO_MAX_PAGES=;JUMBO_PAGE_SIZE=;JUMBO_DEBUG=")
