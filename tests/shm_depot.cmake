# White-box: the segment's layout from the library's own header
# (src/pool/shm_int.h), so that the test writes the queue where it is.
target_include_directories(test_shm_depot PRIVATE
  ${PROJECT_SOURCE_DIR}/src/pool ${PROJECT_SOURCE_DIR}/src/pool/export
  ${PROJECT_SOURCE_DIR}/src/common)
