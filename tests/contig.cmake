# The longest runs of the suite under load (4 CPU burners, the suite at
# nice 19, ctest -j4, docs/TESTING.md): the TIMEOUT is 5 times the slowest
# seen, so that only a hang reaches it.
# contig: 1055 s in the ASan build (198 s normal).
set_tests_properties(contig PROPERTIES TIMEOUT 6000)
