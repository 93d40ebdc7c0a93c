# The leaderboard tables and a run's aggregate (evaluator/leaderboard.c,
# aggregate_run.c): a store filled by hand in a temporary data directory, ranks,
# keys and means checked against numbers worked out in the test.
find_package(PkgConfig REQUIRED)
pkg_check_modules(BOARD_TEST_JANSSON REQUIRED IMPORTED_TARGET jansson)
add_executable(test_board ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_board.c)
target_link_libraries(test_board PRIVATE sa_evaluator sa_store PkgConfig::BOARD_TEST_JANSSON m)
target_include_directories(test_board PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(test_board PRIVATE _POSIX_C_SOURCE=200809L _DEFAULT_SOURCE)
add_test(NAME evaluator.board COMMAND test_board)
set_tests_properties(evaluator.board PROPERTIES LABELS unit TIMEOUT 120)

# `segarena results` on the store test_board leaves in its work folder.
add_test(NAME evaluator.results_cli
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli_results.py
          $<TARGET_FILE:segarena> $<TARGET_FILE:test_board> ${CMAKE_CURRENT_BINARY_DIR}/board_cli_work)
set_tests_properties(evaluator.results_cli PROPERTIES LABELS integration)
