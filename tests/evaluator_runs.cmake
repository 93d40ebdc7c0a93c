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

# evaluator/files.c: atomic writes, moving a kept mask within and across file systems.
add_executable(test_files ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_files.c)
target_include_directories(test_files PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_files PRIVATE sa_evaluator)
target_compile_definitions(test_files PRIVATE _POSIX_C_SOURCE=200809L)
add_test(NAME evaluator.files COMMAND test_files)
set_tests_properties(evaluator.files PROPERTIES LABELS unit TIMEOUT 60)

# evaluator/worker.c: telling a dead lease owner (gone, zombie, reused pid) from a live one.
add_executable(test_worker_owner ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_worker_owner.c)
target_include_directories(test_worker_owner PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_worker_owner PRIVATE sa_evaluator)
target_compile_definitions(test_worker_owner PRIVATE _POSIX_C_SOURCE=200809L _DEFAULT_SOURCE)
add_test(NAME evaluator.worker_owner COMMAND test_worker_owner)
set_tests_properties(evaluator.worker_owner PROPERTIES LABELS unit TIMEOUT 60)

# The worker without containers (rescores, a stand-in podman): platform errors are
# retried after growing delays and do not replace a clean evaluation on the board; a
# data directory that takes no writes pauses claiming without using up attempts;
# containers of dead workers and cancelled runs are removed by a running worker.
add_library(sa_fault_fs SHARED ${CMAKE_CURRENT_SOURCE_DIR}/integration/fault_fs.c)
target_link_libraries(sa_fault_fs PRIVATE ${CMAKE_DL_LIBS})
add_test(NAME evaluator.worker_retries
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_worker_retries.py
          $<TARGET_FILE:segarena> $<TARGET_FILE:sa_fault_fs> ${PROJECT_SOURCE_DIR}/examples
          ${CMAKE_CURRENT_BINARY_DIR}/worker_retries_work)
set_tests_properties(evaluator.worker_retries PROPERTIES LABELS integration TIMEOUT 180)

# The worker when the host fails, not the contestant (evaluate runs on a stand-in
# podman, fault_fs.c preloaded): a client that cannot be executed, a full disk while
# the output is copied out, a kept mask that cannot be opened or read: platform
# errors, retried, never a failed case of the contestant's.
add_test(NAME evaluator.worker_host_faults
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_worker_host_faults.py
          $<TARGET_FILE:segarena> $<TARGET_FILE:sa_fault_fs> ${PROJECT_SOURCE_DIR}/examples
          ${CMAKE_CURRENT_BINARY_DIR}/worker_host_faults_work)
set_tests_properties(evaluator.worker_host_faults PROPERTIES LABELS integration TIMEOUT 240)

# The worker's sweep of runs/ (evaluator/attempt_folders.c): attempt folders that a
# worker killed between a result's commit and their removal left are removed at
# start-up; kept attempts, cases not committed and unknown runs stay. A store
# filled by hand, a stand-in podman that lists nothing.
add_executable(test_attempt_sweep ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_attempt_sweep.c)
target_include_directories(test_attempt_sweep PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_attempt_sweep PRIVATE sa_evaluator)
add_test(NAME evaluator.attempt_sweep COMMAND test_attempt_sweep)
set_tests_properties(evaluator.attempt_sweep PROPERTIES LABELS unit TIMEOUT 60)

# The worker's sweep of submission images (evaluator/submit.c): a name of this data
# directory that no row names (an upload killed between its tag and its row) is
# removed at start-up, never one a row names, one whose upload holds its lock, or
# another data directory's. A stand-in podman that lists names and records removals.
add_executable(test_image_sweep ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_image_sweep.c)
target_include_directories(test_image_sweep PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_image_sweep PRIVATE sa_evaluator)
add_test(NAME evaluator.image_sweep COMMAND test_image_sweep)
set_tests_properties(evaluator.image_sweep PROPERTIES LABELS unit TIMEOUT 60)
