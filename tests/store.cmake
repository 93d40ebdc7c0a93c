# tests/store.cmake: store/ (SQLite schema, migrations, typed queries, job leases).
add_executable(test_store ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store.c)
target_include_directories(test_store PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_store PRIVATE sa_store)
add_test(NAME store.unit COMMAND test_store)
set_tests_properties(store.unit PROPERTIES LABELS unit TIMEOUT 120)

# Threads and processes, each with its own handle, claiming one run's jobs at once.
add_executable(test_store_concurrency ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_concurrency.c)
target_include_directories(test_store_concurrency PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_store_concurrency PRIVATE sa_store Threads::Threads)
add_test(NAME store.concurrency COMMAND test_store_concurrency)
set_tests_properties(store.concurrency PROPERTIES LABELS unit TIMEOUT 120)
