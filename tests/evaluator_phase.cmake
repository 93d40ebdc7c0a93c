# tests/evaluator_phase.cmake: phase specs (validation, canonical JSON, scoring hash,
# dates; every examples/phases/*.json) and stored case results (round trip of every
# value, bit for bit).
find_package(PkgConfig REQUIRED)
pkg_check_modules(TEST_PHASE_JANSSON REQUIRED IMPORTED_TARGET jansson)

add_executable(test_phase_spec ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_phase_spec.c)
target_include_directories(test_phase_spec PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_phase_spec PRIVATE sa_evaluator PkgConfig::TEST_PHASE_JANSSON)
add_test(NAME evaluator.phase_spec COMMAND test_phase_spec)
add_test(NAME evaluator.phase_examples COMMAND test_phase_spec ${PROJECT_SOURCE_DIR}/examples/phases)
set_tests_properties(evaluator.phase_spec evaluator.phase_examples PROPERTIES LABELS unit TIMEOUT 120)

add_executable(test_case_result ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_case_result.c)
target_include_directories(test_case_result PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_case_result PRIVATE sa_evaluator PkgConfig::TEST_PHASE_JANSSON)
add_test(NAME evaluator.case_result COMMAND test_case_result)
set_tests_properties(evaluator.case_result PROPERTIES LABELS unit TIMEOUT 120)
