# test_tx_xdp also runs jumbo fwd with xdp endpoints: it needs the binary.
if(TARGET jumbo OR (JUMBO_BUILD_TOOLS AND EXISTS ${PROJECT_SOURCE_DIR}/tools/CMakeLists.txt))
  add_dependencies(test_tx_xdp jumbo)
  set_tests_properties(tx_xdp PROPERTIES
    ENVIRONMENT "JUMBO_BIN=$<TARGET_FILE:jumbo>" LABELS "tool")
endif()
