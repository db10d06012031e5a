# zcopy_huge may raise vm.nr_hugepages and needs the huge pages it counted
# to stay free while it runs: it shares the lock of the other huge-page
# tests (hugepages.cmake).
set_tests_properties(zcopy_huge PROPERTIES RESOURCE_LOCK hugepages
                     LABELS "hugepages")
