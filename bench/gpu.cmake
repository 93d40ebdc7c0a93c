# bench_gpu: the GPU engine against the CPU engine (and, through bench_gpu.py,
# CuPy's EDT). Needs only metrics/, so it builds in SEGARENA_METRICS_ONLY builds
# too (the GPU machine has none of the platform's other libraries).
add_executable(bench_gpu ${PROJECT_SOURCE_DIR}/bench/bench_gpu.c ${PROJECT_SOURCE_DIR}/bench/phantoms.c)
target_include_directories(bench_gpu PRIVATE ${PROJECT_SOURCE_DIR}/bench ${PROJECT_SOURCE_DIR}/metrics)
target_link_libraries(bench_gpu PRIVATE sa_metrics m)
target_compile_definitions(bench_gpu PRIVATE _POSIX_C_SOURCE=200809L)
add_test(NAME bench_gpu_quick COMMAND bench_gpu --quick)
set_tests_properties(bench_gpu_quick PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 300)
