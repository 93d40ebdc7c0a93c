# Intake of contestant image archives (submissions/archive.c, intake.c).
# Unit tests of the tar reader and capped decompression; the same program is the
# driver of the end-to-end tests, which craft hostile archives with Python and load
# good ones with podman/skopeo (skipped, exit 77, where podman is absent).
find_package(ZLIB REQUIRED)
add_executable(test_archive ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_archive.c)
target_link_libraries(test_archive PRIVATE sa_submissions ZLIB::ZLIB)
target_include_directories(test_archive PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(test_archive PRIVATE _POSIX_C_SOURCE=200809L)
add_test(NAME test_archive COMMAND test_archive)
set_tests_properties(test_archive PROPERTIES LABELS unit)

add_test(NAME intake.hostile
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_intake_hostile.py
          $<TARGET_FILE:test_archive> ${CMAKE_CURRENT_BINARY_DIR}/intake_hostile_work)
set_tests_properties(intake.hostile PROPERTIES LABELS integration SKIP_RETURN_CODE 77)

add_test(NAME intake.load
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_intake_load.py
          $<TARGET_FILE:test_archive> ${CMAKE_CURRENT_BINARY_DIR}/intake_load_work)
set_tests_properties(intake.load PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 120)

# The sweep of temporary load names that killed loads left (a real load killed
# after skopeo's copy, and names made by hand), with podman.
add_test(NAME intake.sweep
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_intake_sweep.py
          $<TARGET_FILE:test_archive> ${CMAKE_CURRENT_BINARY_DIR}/intake_sweep_work)
set_tests_properties(intake.sweep PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 180)
