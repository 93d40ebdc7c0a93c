# End-to-end tests of the segarena command (files written by nibabel).
add_test(NAME cli.score
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli_score.py
          $<TARGET_FILE:segarena> ${CMAKE_CURRENT_BINARY_DIR}/cli_score_work)
set_tests_properties(cli.score PROPERTIES LABELS integration SKIP_RETURN_CODE 77)

add_test(NAME cli.raters
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli_raters.py
          $<TARGET_FILE:segarena> ${CMAKE_CURRENT_BINARY_DIR}/cli_raters_work)
set_tests_properties(cli.raters PROPERTIES LABELS integration SKIP_RETURN_CODE 77)
