# tests/leaderboard_auth.cmake: accounts and authentication (leaderboard/auth.c,
# forwarded.c, store/accounts.c) and the `segarena user` command.
add_executable(test_auth ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_auth.c)
target_include_directories(test_auth PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_auth PRIVATE sa_leaderboard sa_store)
add_test(NAME auth.unit COMMAND test_auth)
set_tests_properties(auth.unit PROPERTIES LABELS unit TIMEOUT 120)

add_test(NAME auth.cli_user
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli_user.py
          $<TARGET_FILE:segarena> ${CMAKE_CURRENT_BINARY_DIR}/cli_user_work)
set_tests_properties(auth.cli_user PROPERTIES LABELS integration TIMEOUT 120)

# The client's address behind trusted proxies and the log-in's origin check
# (leaderboard/forwarded.c).
add_executable(test_forwarded ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_forwarded.c)
target_include_directories(test_forwarded PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_forwarded PRIVATE sa_leaderboard)
add_test(NAME auth.forwarded COMMAND test_forwarded)
set_tests_properties(auth.forwarded PROPERTIES LABELS unit TIMEOUT 60)
