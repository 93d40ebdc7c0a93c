# End-to-end tests of the segarena command (files written by nibabel).
add_test(NAME cli.score
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli_score.py
          $<TARGET_FILE:segarena> ${CMAKE_CURRENT_BINARY_DIR}/cli_score_work)
set_tests_properties(cli.score PROPERTIES LABELS integration SKIP_RETURN_CODE 77)

add_test(NAME cli.raters
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli_raters.py
          $<TARGET_FILE:segarena> ${CMAKE_CURRENT_BINARY_DIR}/cli_raters_work)
set_tests_properties(cli.raters PROPERTIES LABELS integration SKIP_RETURN_CODE 77)

# `dataset make-demo --out DIR` with a DIR it cannot use: one line, exit 2, before any case.
add_test(NAME cli.make_demo
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli_make_demo.py
          $<TARGET_FILE:segarena> ${CMAKE_CURRENT_BINARY_DIR}/cli_make_demo_work)
set_tests_properties(cli.make_demo PROPERTIES LABELS integration TIMEOUT 120)

# `segarena try` with real podman; serial with the sandbox test (whose sweep
# removes every SegArena container on the host).
add_test(NAME cli.try
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli_try.py
          $<TARGET_FILE:segarena> ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_sandbox_prog.c
          ${CMAKE_C_COMPILER} ${CMAKE_CURRENT_BINARY_DIR}/cli_try_work)
set_tests_properties(cli.try PROPERTIES LABELS integration SKIP_RETURN_CODE 77 RUN_SERIAL TRUE TIMEOUT 300)

# The contestant baselines (examples/contestants) built into images, run with
# `segarena try` on demo data and scored: honest baselines (Dice against the
# consensus above 0.2, below the raters' own leave-one-out mean).
add_test(NAME cli.baselines
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_baselines.py
          $<TARGET_FILE:segarena> ${PROJECT_SOURCE_DIR}/examples/contestants
          ${CMAKE_CURRENT_BINARY_DIR}/cli_baselines_work)
set_tests_properties(cli.baselines PROPERTIES LABELS integration SKIP_RETURN_CODE 77 RUN_SERIAL TRUE TIMEOUT 240)

# The organiser walkthroughs of README.md and docs/evaluator.md, run as written up to
# the lines that need podman, whose phase and team names are checked instead.
add_test(NAME cli.doc_walkthrough
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_doc_walkthrough.py
          $<TARGET_FILE:segarena> ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/cli_doc_walkthrough_work)
set_tests_properties(cli.doc_walkthrough PROPERTIES LABELS integration TIMEOUT 180)
