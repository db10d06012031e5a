# test_rx_xdp also runs the jumbo command end to end (jumbo tx in the
# namespace, jumbo rx --backend xdp): it needs the binary, and says so.
if(TARGET jumbo OR (JUMBO_BUILD_TOOLS AND EXISTS ${PROJECT_SOURCE_DIR}/tools/CMakeLists.txt))
  add_dependencies(test_rx_xdp jumbo)
  set_tests_properties(rx_xdp PROPERTIES
    ENVIRONMENT "JUMBO_BIN=$<TARGET_FILE:jumbo>" LABELS "tool")
endif()
# The port filter's object, to attach a stale copy by netlink as older
# versions did (test_killed): the new open must replace it.
if(EXISTS ${PROJECT_BINARY_DIR}/xdp_port.bpf.o OR JUMBO_BPF_CLANG)
  set_property(TEST rx_xdp APPEND PROPERTY
    ENVIRONMENT "JUMBO_XDP_OBJ=${PROJECT_BINARY_DIR}/xdp_port.bpf.o")
endif()
# test_ready watches the interface for the filter with libbpf.
if(TARGET PkgConfig::XDP)
  target_link_libraries(test_rx_xdp PRIVATE PkgConfig::XDP)
endif()
