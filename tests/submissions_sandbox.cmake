# tests/submissions_sandbox.cmake: engine argv (unit) and sandboxed runs with the
# real engine (integration: rootful podman; skipped with 77 where unavailable).
if(NOT DEFINED SEGARENA_TESTS_DIR)
  set(SEGARENA_TESTS_DIR ${CMAKE_CURRENT_SOURCE_DIR})
endif()

add_executable(test_engine_argv ${SEGARENA_TESTS_DIR}/unit/test_engine_argv.c)
target_include_directories(test_engine_argv PRIVATE ${SEGARENA_TESTS_DIR}
                           ${PROJECT_SOURCE_DIR}/submissions)
target_link_libraries(test_engine_argv PRIVATE sa_submissions)
target_compile_definitions(test_engine_argv PRIVATE _POSIX_C_SOURCE=200809L _DEFAULT_SOURCE)
add_test(NAME submissions.engine_argv COMMAND test_engine_argv)
set_tests_properties(submissions.engine_argv PROPERTIES LABELS unit TIMEOUT 60)

add_executable(test_sandbox ${SEGARENA_TESTS_DIR}/integration/test_sandbox.c)
target_include_directories(test_sandbox PRIVATE ${SEGARENA_TESTS_DIR})
target_link_libraries(test_sandbox PRIVATE sa_submissions Threads::Threads)
add_test(NAME submissions.sandbox
  COMMAND test_sandbox ${CMAKE_C_COMPILER}
          ${SEGARENA_TESTS_DIR}/integration/test_sandbox_prog.c
          ${CMAKE_CURRENT_BINARY_DIR}/sandbox_work)
set_tests_properties(submissions.sandbox PROPERTIES
  LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 240
  # 17 containers at once with wall-time limits, and its check that nothing is left
  # mounted looks for any SegArena /output tmpfs on the host (its sweep, by name
  # prefix, removes only its own run's containers)
  RUN_SERIAL TRUE)

# sa_run_case's engine client in a process group of its own (a Ctrl-C of the worker
# does not reach it), with a stand-in podman: no engine, image or root needed.
add_executable(test_client_pgid ${SEGARENA_TESTS_DIR}/unit/test_client_pgid.c)
target_include_directories(test_client_pgid PRIVATE ${SEGARENA_TESTS_DIR})
target_link_libraries(test_client_pgid PRIVATE sa_submissions Threads::Threads)
add_test(NAME submissions.client_pgid COMMAND test_client_pgid ${CMAKE_CURRENT_BINARY_DIR}/client_pgid_work)
set_tests_properties(submissions.client_pgid PROPERTIES LABELS unit TIMEOUT 60)

# an engine client that cannot be run (not executable, missing interpreter, the
# dynamic loader's 127 before any container) is SegArena's failure, never the
# contestant's exit_code 127; stand-in clients only: no engine, image or root needed.
add_executable(test_client_exec ${SEGARENA_TESTS_DIR}/unit/test_client_exec.c)
target_include_directories(test_client_exec PRIVATE ${SEGARENA_TESTS_DIR})
target_link_libraries(test_client_exec PRIVATE sa_submissions)
add_test(NAME submissions.client_exec COMMAND test_client_exec ${CMAKE_CURRENT_BINARY_DIR}/client_exec_work)
set_tests_properties(submissions.client_exec PROPERTIES LABELS unit TIMEOUT 60)

# submissions/try_names.c: a killed try's lock file names its engine and its work
# folder (absolute); a later try sweeps only its own engine's (stand-in clients).
add_executable(test_try_sweep ${SEGARENA_TESTS_DIR}/unit/test_try_sweep.c)
target_include_directories(test_try_sweep PRIVATE ${SEGARENA_TESTS_DIR})
target_link_libraries(test_try_sweep PRIVATE sa_submissions)
add_test(NAME submissions.try_sweep COMMAND test_try_sweep ${CMAKE_CURRENT_BINARY_DIR}/try_sweep_work)
set_tests_properties(submissions.try_sweep PROPERTIES LABELS unit TIMEOUT 60)
