# tests/datasets_manifest.cmake: dataset manifests, import, verify, show.
add_executable(test_manifest ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_manifest.c)
target_include_directories(test_manifest PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_manifest PRIVATE sa_datasets)
add_test(NAME datasets.manifest COMMAND test_manifest)
set_tests_properties(datasets.manifest PROPERTIES LABELS unit TIMEOUT 60)

# End-to-end: BIDS, plain, manifest and DICOM imports, every refusal, verify, show
# (fixtures written by Debian's nibabel and dcmtk's dump2dcm at test time); fault_fs
# (evaluator_runs.cmake) fails the rename into place of a --link import.
add_test(NAME cli.dataset_import
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_dataset_import.py
          $<TARGET_FILE:segarena> ${CMAKE_CURRENT_BINARY_DIR}/cli_dataset_work $<TARGET_FILE:sa_fault_fs>)
set_tests_properties(cli.dataset_import PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 300)
