# The longest runs of the suite under load (4 CPU burners, the suite at
# nice 19, ctest -j4, docs/TESTING.md): the TIMEOUT is 5 times the slowest
# seen, so that only a hang reaches it.
# bulk: 333 s in the ASan build (210 s normal).
set_tests_properties(bulk PROPERTIES TIMEOUT 2000)
