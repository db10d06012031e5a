# It changes vm.nr_hugepages: no other huge-page test at the same time.
set_tests_properties(hugepages PROPERTIES RESOURCE_LOCK hugepages)
