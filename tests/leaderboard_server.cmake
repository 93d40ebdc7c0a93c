# tests/leaderboard_server.cmake: `segarena serve` end to end over HTTP: the
# permission matrix, publishing, logins and CSRF, upload limits and interrupted
# uploads, quota answers, escaping, hostile requests, metrics; then, with
# podman, a real baseline image evaluated by the server's own worker.
# RUN_SERIAL: the sandbox test's start-up sweep removes every segarena container.
add_test(NAME web.server_api
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_web_api.py
          $<TARGET_FILE:segarena> ${PROJECT_SOURCE_DIR}/examples
          ${CMAKE_CURRENT_BINARY_DIR}/web_api_work)
set_tests_properties(web.server_api PROPERTIES LABELS integration RUN_SERIAL TRUE TIMEOUT 600)
