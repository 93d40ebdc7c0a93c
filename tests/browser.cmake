# tests/browser.cmake: the leaderboard in real headless Chromium (Debian's
# /usr/bin/chromium, driven by playwright-core from npm, pinned in
# tests/browser/package-lock.json and installed with `npm ci` into the build tree):
# ranks and plots, the login form, an upload through the phase page, the run page
# until done, the new row; screenshots kept in ${CMAKE_CURRENT_BINARY_DIR}/browser/artefacts.
# Skipped (77) without chromium, node/npm, rootful podman and skopeo.
# RUN_SERIAL: the sandbox test's start-up sweep removes every segarena container.
add_test(NAME web.browser
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/browser/run_browser_test.py
          $<TARGET_FILE:segarena> ${PROJECT_SOURCE_DIR}/examples
          ${CMAKE_CURRENT_BINARY_DIR}/browser)
set_tests_properties(web.browser PROPERTIES LABELS e2e SKIP_RETURN_CODE 77
                     RUN_SERIAL TRUE TIMEOUT 600)
