# tests/consensus.cmake: tests of the consensus of several raters (metrics/consensus.c).
# The unit test needs only the engine (it carries its own plain per-voxel STAPLE);
# the cross-check against ITK's STAPLEImageFilter is an integration test, built with
# the whole platform.
add_executable(test_consensus ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_consensus.c)
target_include_directories(test_consensus PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_consensus PRIVATE sa_metrics)
target_compile_options(test_consensus PRIVATE -ffp-contract=off)
add_test(NAME test_consensus COMMAND test_consensus)
set_tests_properties(test_consensus PROPERTIES LABELS unit TIMEOUT 120)

if(NOT SEGARENA_METRICS_ONLY)
  # ITK 5.2's STAPLEImageFilter (module ITKLabelVoting) as an independent reference.
  find_package(ITK 5.2 REQUIRED COMPONENTS ITKCommon ITKLabelVoting)
  add_executable(test_staple_itk ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_staple_itk.cxx)
  target_include_directories(test_staple_itk PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_include_directories(test_staple_itk SYSTEM PRIVATE ${ITK_INCLUDE_DIRS})
  target_link_libraries(test_staple_itk PRIVATE sa_metrics ${ITK_LIBRARIES})
  target_compile_options(test_staple_itk PRIVATE -ffp-contract=off)
  add_test(NAME test_staple_itk COMMAND test_staple_itk)
  set_tests_properties(test_staple_itk PROPERTIES LABELS integration TIMEOUT 300)
endif()
