# Reads libjumbo.so's machine code: the path, and the library built first.
target_compile_definitions(test_tls_model PRIVATE
  JUMBO_SO="$<TARGET_FILE:jumbo_shared>")
add_dependencies(test_tls_model jumbo_shared)
