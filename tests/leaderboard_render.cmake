# tests/leaderboard_render.cmake: the web layer's pure parts (leaderboard/
# permissions.c, escape.c, numbers.c, render_html.c, render_svg.c): the whole permission
# matrix, and the pages and plots rendered from a board built by hand (escaping
# of hostile names, table order, notes, well-formed SVG), with the bootstrap rank
# counts the stability plot draws (evaluator/bootstrap.c).
add_executable(test_permissions ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_permissions.c)
target_include_directories(test_permissions PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_permissions PRIVATE sa_leaderboard)
add_test(NAME leaderboard.permissions COMMAND test_permissions)
set_tests_properties(leaderboard.permissions PROPERTIES LABELS unit TIMEOUT 60)

add_executable(test_web_render ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_web_render.c)
target_include_directories(test_web_render PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_web_render PRIVATE sa_leaderboard m)
target_compile_definitions(test_web_render PRIVATE _POSIX_C_SOURCE=200809L)
# The test writes the page and the plots it checked into a folder ...
set(RENDER_OUT ${CMAKE_CURRENT_BINARY_DIR}/web_render_out)
add_test(NAME leaderboard.render COMMAND test_web_render ${RENDER_OUT})
set_tests_properties(leaderboard.render PROPERTIES LABELS unit TIMEOUT 60
                     FIXTURES_SETUP web_render_files)
# ... and Python's XML parser reads every one of them (the page is well-formed XML too).
add_test(NAME leaderboard.render_xml
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/unit/check_render_xml.py ${RENDER_OUT})
set_tests_properties(leaderboard.render_xml PROPERTIES LABELS unit TIMEOUT 60
                     FIXTURES_REQUIRED web_render_files)
