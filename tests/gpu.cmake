# tests/gpu.cmake: tests of the GPU engine (metrics/cuda/), labelled gpu. Built only
# with CUDA; on a machine without a GPU they exit 77 and ctest reports them skipped.

if(SEGARENA_HAVE_CUDA)
  # The GPU consensus (metrics/cuda/consensus_gpu.cu) against sa_consensus, bit for
  # bit. Calls the private GPU interface, metrics/gpu.h.
  add_executable(test_consensus_gpu ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_consensus_gpu.c)
  target_include_directories(test_consensus_gpu PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
                                                        ${PROJECT_SOURCE_DIR}/metrics)
  target_link_libraries(test_consensus_gpu PRIVATE sa_metrics)
  target_compile_options(test_consensus_gpu PRIVATE -ffp-contract=off)
  add_test(NAME test_consensus_gpu COMMAND test_consensus_gpu)
  set_tests_properties(test_consensus_gpu PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()

if(SEGARENA_HAVE_CUDA)
  # The GPU engine against the CPU engine, bit for bit: pairs (random, phantom,
  # empty, border, thin grids) and multi-rater scoring with the human reference.
  add_executable(test_score_gpu ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_score_gpu.c)
  target_link_libraries(test_score_gpu PRIVATE sa_metrics)
  target_include_directories(test_score_gpu PRIVATE ${PROJECT_SOURCE_DIR}/metrics)
  target_compile_options(test_score_gpu PRIVATE -ffp-contract=off)
  target_compile_definitions(test_score_gpu PRIVATE _POSIX_C_SOURCE=200809L)
  add_test(NAME test_score_gpu COMMAND test_score_gpu)
  set_tests_properties(test_score_gpu PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()

if(NOT SEGARENA_HAVE_CUDA AND NOT SEGARENA_SANITIZE)
  # Without the GPU engine (no nvcc, or SEGARENA_CUDA=OFF) none of the tests above
  # exists: this one says so, so that the list of skipped tests at the end of a
  # ctest run (scripts/show-skips) shows that the GPU was not tested, and why.
  add_test(NAME gpu.not_built
    COMMAND sh -c "echo 'SKIP: the GPU engine is not built (no nvcc found, or SEGARENA_CUDA=OFF): no gpu test can run (docs/gpu.md)'; exit 77")
  set_tests_properties(gpu.not_built PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)
endif()

if(NOT SEGARENA_METRICS_ONLY)
  # The evaluator's GPU lock (evaluator/gpu_share.c) and the engine's choice of
  # device (metrics/device.c) agree in every state of a stand-in GPU layer: a case
  # is scored on the GPU exactly when the lock was taken. Both sources are compiled
  # in over the test's stand-ins, so it runs everywhere (unit).
  add_executable(test_gpu_share ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_gpu_share.c
                                ${PROJECT_SOURCE_DIR}/evaluator/gpu_share.c ${PROJECT_SOURCE_DIR}/metrics/device.c)
  target_include_directories(test_gpu_share PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/metrics
                             ${PROJECT_SOURCE_DIR}/evaluator ${PROJECT_SOURCE_DIR}/submissions
                             ${PROJECT_SOURCE_DIR}/datasets)
  target_link_libraries(test_gpu_share PRIVATE m)
  add_test(NAME evaluator.gpu_share COMMAND test_gpu_share)
  set_tests_properties(evaluator.gpu_share PROPERTIES LABELS unit TIMEOUT 60)
endif()
