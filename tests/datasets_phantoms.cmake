# tests/datasets_phantoms.cmake: the synthetic MS/PET test sets (datasets/phantom_*.c,
# bids_write.c, cli/cmd_make_demo.c) and the native NIfTI writer (nifti_write.c).
if(NOT DEFINED SEGARENA_TESTS_DIR)
  set(SEGARENA_TESTS_DIR ${CMAKE_CURRENT_SOURCE_DIR})
endif()
find_program(SEGARENA_DEBIAN_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
set(SEGARENA_PHANTOM_OUT ${CMAKE_BINARY_DIR}/fixtures/phantoms)

add_executable(test_phantoms ${SEGARENA_TESTS_DIR}/unit/test_phantoms.c
               ${PROJECT_SOURCE_DIR}/cli/cmd_make_demo.c)
target_include_directories(test_phantoms PRIVATE ${SEGARENA_TESTS_DIR} ${PROJECT_SOURCE_DIR}/cli)
target_link_libraries(test_phantoms PRIVATE sa_datasets)
target_compile_definitions(test_phantoms PRIVATE _POSIX_C_SOURCE=200809L)

add_test(NAME datasets.phantoms COMMAND test_phantoms unit)
# under ASan+UBSan on a loaded 2-core machine it took up to 120 s (a fresh Debian
# 12 run timed out there once): the sanitizer build gets more
if(SEGARENA_SANITIZE)
  set(_phantoms_timeout 400)
else()
  set(_phantoms_timeout 120)
endif()
set_tests_properties(datasets.phantoms PROPERTIES LABELS unit TIMEOUT ${_phantoms_timeout})

# Each run starts from an empty folder (make-demo refuses a non-empty one).
add_test(NAME datasets.phantoms_clean
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${SEGARENA_PHANTOM_OUT})
set_tests_properties(datasets.phantoms_clean PROPERTIES
  LABELS integration FIXTURES_SETUP datasets_phantoms_clean TIMEOUT 60)

add_test(NAME datasets.nifti_writer COMMAND test_phantoms writer ${SEGARENA_PHANTOM_OUT}/writer)
set_tests_properties(datasets.nifti_writer PROPERTIES
  LABELS integration FIXTURES_REQUIRED datasets_phantoms_clean TIMEOUT 120)

add_test(NAME datasets.phantoms_dataset COMMAND test_phantoms dataset ${SEGARENA_PHANTOM_OUT}/dataset)
set_tests_properties(datasets.phantoms_dataset PROPERTIES
  LABELS integration FIXTURES_REQUIRED datasets_phantoms_clean TIMEOUT 120)

if(SEGARENA_DEBIAN_PYTHON)
  add_test(NAME datasets.phantoms_nibabel
    COMMAND ${SEGARENA_DEBIAN_PYTHON} ${SEGARENA_TESTS_DIR}/integration/test_phantoms_nibabel.py
            $<TARGET_FILE:test_phantoms> ${SEGARENA_PHANTOM_OUT}/nibabel)
  set_tests_properties(datasets.phantoms_nibabel PROPERTIES
    LABELS integration FIXTURES_REQUIRED datasets_phantoms_clean SKIP_RETURN_CODE 77 TIMEOUT 120)
endif()
