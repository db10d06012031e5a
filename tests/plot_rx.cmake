# test_plot_rx runs tools/plot-rx.sh from the source tree.
set_tests_properties(plot_rx PROPERTIES
  ENVIRONMENT "JUMBO_SRC=${PROJECT_SOURCE_DIR}" TIMEOUT ${JUMBO_TEST_TIMEOUT})
