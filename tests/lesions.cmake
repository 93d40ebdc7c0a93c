# tests/lesions.cmake: tests of connected components and lesion-wise detection
# (metrics/components.c, metrics/lesions.c). The unit tests need only the engine;
# the ITK cross-check is an integration test, built with the whole platform.
foreach(t test_lesions test_components)
  add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/unit/${t}.c)
  target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${t} PRIVATE sa_metrics)
  target_compile_options(${t} PRIVATE -ffp-contract=off)
  add_test(NAME ${t} COMMAND ${t})
  set_tests_properties(${t} PROPERTIES LABELS unit TIMEOUT 120)
endforeach()

if(NOT SEGARENA_METRICS_ONLY)
  # ITK's ConnectedComponentImageFilter as an independent reference (6 and 26).
  find_package(ITK 5.2 REQUIRED COMPONENTS ITKCommon ITKConnectedComponents)
  add_executable(test_components_itk ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_components_itk.cxx)
  target_include_directories(test_components_itk PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${ITK_INCLUDE_DIRS})
  target_link_libraries(test_components_itk PRIVATE sa_metrics ${ITK_LIBRARIES})
  add_test(NAME test_components_itk COMMAND test_components_itk)
  set_tests_properties(test_components_itk PROPERTIES LABELS integration TIMEOUT 300)
endif()
