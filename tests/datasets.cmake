# tests/datasets.cmake: tests of datasets/ (image I/O, masks). Fixtures are made at
# test time by independent tools (nibabel, dcmtk) into the build tree.
find_program(SEGARENA_SYSTEM_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT SEGARENA_SYSTEM_PYTHON)
  find_program(SEGARENA_SYSTEM_PYTHON NAMES python3)
endif()
if(NOT DEFINED SEGARENA_TESTS_DIR)
  set(SEGARENA_TESTS_DIR ${CMAKE_CURRENT_SOURCE_DIR})
endif()
set(SEGARENA_DATASETS_FIXTURES ${CMAKE_BINARY_DIR}/fixtures/datasets)

add_executable(test_mask ${SEGARENA_TESTS_DIR}/unit/test_mask.c)
target_include_directories(test_mask PRIVATE ${SEGARENA_TESTS_DIR})
target_link_libraries(test_mask PRIVATE sa_datasets)
add_test(NAME datasets.mask COMMAND test_mask)
set_tests_properties(datasets.mask PROPERTIES LABELS unit TIMEOUT 60)

add_executable(test_dataset_tmp ${SEGARENA_TESTS_DIR}/unit/test_dataset_tmp.c)
target_include_directories(test_dataset_tmp PRIVATE ${SEGARENA_TESTS_DIR})
target_link_libraries(test_dataset_tmp PRIVATE sa_datasets)
add_test(NAME datasets.import_tmp COMMAND test_dataset_tmp)
set_tests_properties(datasets.import_tmp PROPERTIES LABELS unit TIMEOUT 60)

# The temporary paths an interrupted command removes (datasets/tmp_cleanup.c).
add_executable(test_tmp_cleanup ${SEGARENA_TESTS_DIR}/unit/test_tmp_cleanup.c)
target_include_directories(test_tmp_cleanup PRIVATE ${SEGARENA_TESTS_DIR})
target_link_libraries(test_tmp_cleanup PRIVATE sa_datasets Threads::Threads)
add_test(NAME datasets.tmp_cleanup COMMAND test_tmp_cleanup)
set_tests_properties(datasets.tmp_cleanup PROPERTIES LABELS unit TIMEOUT 60)

add_test(NAME datasets.nifti_fixtures
  COMMAND ${SEGARENA_SYSTEM_PYTHON} ${SEGARENA_TESTS_DIR}/fixtures/make_nifti_fixtures.py
          ${SEGARENA_DATASETS_FIXTURES}/nifti)
set_tests_properties(datasets.nifti_fixtures PROPERTIES
  LABELS integration FIXTURES_SETUP datasets_nifti TIMEOUT 120)

add_test(NAME datasets.dicom_fixtures
  COMMAND ${SEGARENA_SYSTEM_PYTHON} ${SEGARENA_TESTS_DIR}/fixtures/make_dicom_series.py
          ${SEGARENA_DATASETS_FIXTURES}/dicom)
set_tests_properties(datasets.dicom_fixtures PROPERTIES
  LABELS integration FIXTURES_SETUP datasets_dicom SKIP_RETURN_CODE 77 TIMEOUT 120)

add_executable(test_image_io_nifti ${SEGARENA_TESTS_DIR}/integration/test_image_io_nifti.c)
target_include_directories(test_image_io_nifti PRIVATE ${SEGARENA_TESTS_DIR})
target_link_libraries(test_image_io_nifti PRIVATE sa_datasets)
add_test(NAME datasets.image_io_nifti
  COMMAND test_image_io_nifti ${SEGARENA_DATASETS_FIXTURES}/nifti)
set_tests_properties(datasets.image_io_nifti PROPERTIES
  LABELS integration FIXTURES_REQUIRED datasets_nifti TIMEOUT 120)

add_executable(test_image_io_formats ${SEGARENA_TESTS_DIR}/integration/test_image_io_formats.c)
target_include_directories(test_image_io_formats PRIVATE ${SEGARENA_TESTS_DIR})
target_link_libraries(test_image_io_formats PRIVATE sa_datasets)
add_test(NAME datasets.image_io_formats
  COMMAND test_image_io_formats ${SEGARENA_DATASETS_FIXTURES}/roundtrip
          ${SEGARENA_DATASETS_FIXTURES}/dicom)
set_tests_properties(datasets.image_io_formats PROPERTIES
  LABELS integration FIXTURES_REQUIRED datasets_dicom TIMEOUT 120)

add_executable(test_image_io_hostile ${SEGARENA_TESTS_DIR}/integration/test_image_io_hostile.c)
target_include_directories(test_image_io_hostile PRIVATE ${SEGARENA_TESTS_DIR})
target_link_libraries(test_image_io_hostile PRIVATE sa_datasets ZLIB::ZLIB m Threads::Threads)
add_dependencies(test_image_io_hostile segarena-read-image)
add_test(NAME datasets.image_io_hostile
  COMMAND test_image_io_hostile ${SEGARENA_DATASETS_FIXTURES}/hostile)
set_tests_properties(datasets.image_io_hostile PROPERTIES LABELS integration TIMEOUT 120)

add_executable(test_image_io_twins ${SEGARENA_TESTS_DIR}/integration/test_image_io_twins.c)
target_include_directories(test_image_io_twins PRIVATE ${SEGARENA_TESTS_DIR})
target_link_libraries(test_image_io_twins PRIVATE sa_datasets ZLIB::ZLIB)
add_dependencies(test_image_io_twins segarena-read-image)
add_test(NAME datasets.image_io_twins
  COMMAND test_image_io_twins ${SEGARENA_DATASETS_FIXTURES}/twins)
set_tests_properties(datasets.image_io_twins PROPERTIES LABELS integration TIMEOUT 120)
