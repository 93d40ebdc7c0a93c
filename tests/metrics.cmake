# Unit tests of metrics/ (no dependency beyond the engine; run in every CI and
# under ASan/UBSan).
foreach(t test_metrics_properties test_metrics_hand test_percentile test_multi_rater test_edt_line
          test_device_args)
  add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/unit/${t}.c)
  target_link_libraries(${t} PRIVATE sa_metrics)
  # test_edt_line drives the engine's private shared headers (edt_line.h ...)
  target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/metrics)
  target_compile_options(${t} PRIVATE -ffp-contract=off)
  add_test(NAME ${t} COMMAND ${t})
  set_tests_properties(${t} PROPERTIES LABELS unit)
endforeach()

# The percentile rule, bit for bit against numpy (Debian's python3-numpy).
add_test(NAME percentile_vs_numpy
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/unit/percentile_vs_numpy.py $<TARGET_FILE:test_percentile>)
set_tests_properties(percentile_vs_numpy PROPERTIES LABELS unit SKIP_RETURN_CODE 77)
