# zcopy_huge may raise vm.nr_hugepages and needs the huge pages it counted
# to stay free while it runs: no other test beside it.
set_tests_properties(zcopy_huge PROPERTIES RUN_SERIAL TRUE LABELS "hugepages")
