# tests/evaluator_runs.cmake: a whole challenge from the command line with real
# podman (e2e): quotas, dates, concurrent workers, ranking with ties and failed
# cases, rescore after a change of tau, kill -9 crash recovery.
add_test(NAME evaluator.challenge_e2e
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_challenge_e2e.py
          $<TARGET_FILE:segarena> ${PROJECT_SOURCE_DIR}/examples
          ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_sandbox_prog.c ${CMAKE_C_COMPILER}
          ${CMAKE_CURRENT_BINARY_DIR}/challenge_e2e_work)
# RUN_SERIAL: the sandbox test's start-up sweep removes every segarena container
set_tests_properties(evaluator.challenge_e2e PROPERTIES LABELS e2e SKIP_RETURN_CODE 77
                     RUN_SERIAL TRUE TIMEOUT 900)
