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

# The browser's pages over HTTP, as plain forms send them: log-in and log-out
# (rate limit, no open redirect, CSRF), the header bar and upload form, the
# multipart upload's checks and limits, submission and run pages with what each
# viewer may see, escaping; then, with podman, a real image uploaded through the
# form and evaluated by the server's worker up to its leaderboard row.
# RUN_SERIAL: as above (podman containers).
add_test(NAME web.pages
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_web_pages.py
          $<TARGET_FILE:segarena> ${PROJECT_SOURCE_DIR}/examples
          ${CMAKE_CURRENT_BINARY_DIR}/web_pages_work)
set_tests_properties(web.pages PROPERTIES LABELS integration RUN_SERIAL TRUE TIMEOUT 600)

# serve refuses a data directory without a database (a mistyped --data-dir) rather
# than creating one and serving an empty platform.
add_test(NAME web.serve_data_dir
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_serve_data_dir.py
          $<TARGET_FILE:segarena> ${CMAKE_CURRENT_BINARY_DIR}/web_serve_data_dir_work)
set_tests_properties(web.serve_data_dir PROPERTIES LABELS integration TIMEOUT 120)
