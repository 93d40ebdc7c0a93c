# tests/evaluator_ranking.cmake: aggregation over cases, the three ranking rules,
# Kendall's tau-b and bootstrap rank stability (evaluator/aggregate.c, ranking.c,
# bootstrap.c), each checked against hand computations or an independent
# brute-force reimplementation inside the test.
add_executable(test_ranking ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_ranking.c)
target_include_directories(test_ranking PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_ranking PRIVATE sa_evaluator m)
target_compile_options(test_ranking PRIVATE -ffp-contract=off)
add_test(NAME evaluator.ranking COMMAND test_ranking
         ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/fsum_many_partials.txt)
set_tests_properties(evaluator.ranking PROPERTIES LABELS unit TIMEOUT 120)
