# bench_web_data_quick.cmake: the ctest smoke test of bench_web_data (cmake -P):
# a 3-submission x 4-case data directory, then `segarena results --json` on it
# must read it back as a leaderboard of 3 rows and 3 human-reference rows (one
# per rater, bench_web_data's N_RATERS), each over the 4 cases, so that the web
# benchmark's data stays what the evaluator itself would have stored.
# -D DATA_TOOL=... -D SEGARENA=... -D WORKDIR=...
file(REMOVE_RECURSE "${WORKDIR}")
execute_process(
  COMMAND "${DATA_TOOL}" --submissions 3 --cases 4 --out "${WORKDIR}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench_web_data failed (${rc}):\n${out}${err}")
endif()
if(NOT out MATCHES "phase: bench/test")
  message(FATAL_ERROR "bench_web_data did not name the phase:\n${out}")
endif()
execute_process(
  COMMAND "${SEGARENA}" results --phase bench/test --data-dir "${WORKDIR}" --json
  RESULT_VARIABLE rc OUTPUT_VARIABLE json ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "segarena results failed (${rc}):\n${err}")
endif()
string(JSON n_rows LENGTH "${json}" rows)
if(NOT n_rows EQUAL 3)
  message(FATAL_ERROR "expected 3 rows, got ${n_rows}:\n${json}")
endif()
string(JSON n_human LENGTH "${json}" human_reference)
if(NOT n_human EQUAL 3)
  message(FATAL_ERROR "expected 3 human-reference rows (one per rater), got ${n_human}:\n${json}")
endif()
foreach(i RANGE 2)
  string(JSON n_cases GET "${json}" human_reference ${i} n_cases)
  if(NOT n_cases EQUAL 4)
    message(FATAL_ERROR "human-reference row ${i} covers ${n_cases} cases, expected 4:\n${json}")
  endif()
endforeach()
message(STATUS "bench_web_data: 3 rows, 3 human-reference rows of 4 cases")
file(REMOVE_RECURSE "${WORKDIR}")
