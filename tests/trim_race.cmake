# 4 runs of 2 x 2 M allocations and frees beside a trimmer: 351 s in the
# ThreadSanitizer build at a load of 20 (docs/TESTING.md), and it timed out
# at 300 s under more; over 5 times the slowest seen, so that only a hang
# reaches it.
set_tests_properties(trim_race PROPERTIES TIMEOUT 3000)
