# Checks the contract of `pbft sim` on the command line. Run by ctest as
#   cmake -DPBFT=<path to pbft> -DWORK_DIR=<scratch dir> -P check_cli.cmake

file(MAKE_DIRECTORY ${WORK_DIR})

# Runs pbft with the given arguments; sets rc, out and err in the caller.
function(run_pbft)
  execute_process(COMMAND ${PBFT} ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE stdout
                  ERROR_VARIABLE stderr)
  set(rc ${code} PARENT_SCOPE)
  set(out "${stdout}" PARENT_SCOPE)
  set(err "${stderr}" PARENT_SCOPE)
endfunction()

# expect(<message> <condition...>): fails the test with the message and the
# last command's output unless the if() condition holds.
function(expect message)
  if(NOT (${ARGN}))
    message(FATAL_ERROR "${message}\nstdout:\n${out}\nstderr:\n${err}")
  endif()
endfunction()

# The last non-empty line of a text.
function(last_line text out_var)
  string(STRIP "${text}" text)
  string(REGEX REPLACE "^.*\n" "" line "${text}")
  set(${out_var} "${line}" PARENT_SCOPE)
endfunction()

# A --seeds sweep's stdout ends with "N passed, M failed" and then one
# coverage line per situation (sim/coverage.h): sets summary_line to the
# former and coverage_lines to the latter (a list), and fails the test if
# anything else comes after the summary.
function(split_sweep_output text)
  string(STRIP "${text}" text)
  string(REPLACE ";" "," text "${text}")
  string(REPLACE "\n" ";" lines "${text}")
  set(summary "")
  set(coverage "")
  foreach(line IN LISTS lines)
    if(line MATCHES "^[0-9]+ passed, [0-9]+ failed$")
      set(summary "${line}")
      set(coverage "")
    elseif(NOT summary STREQUAL "")
      if(NOT line MATCHES "^coverage [a-z_]+: ([0-9]+ runs, [0-9]+ times|REQUIRED, never reached)$")
        message(FATAL_ERROR "not a coverage line after the summary: '${line}'\nstdout:\n${text}")
      endif()
      list(APPEND coverage "${line}")
    endif()
  endforeach()
  set(summary_line "${summary}" PARENT_SCOPE)
  set(coverage_lines "${coverage}" PARENT_SCOPE)
endfunction()

# --history writes one valid JSON object per client operation.
set(history ${WORK_DIR}/history.jsonl)
file(REMOVE ${history})
run_pbft(sim --seed 3 --clients 3 --requests 10 --faults drop,dup,reorder,delay
         --history ${history})
expect("pbft sim --history failed" rc EQUAL 0)
file(STRINGS ${history} lines)
list(LENGTH lines count)
expect("expected 30 history lines, got ${count}" count EQUAL 30)
foreach(line IN LISTS lines)
  foreach(field client op key call_ns status)
    string(JSON value ERROR_VARIABLE json_error GET "${line}" ${field})
    expect("history line without a valid '${field}': ${line}: ${json_error}"
           NOT json_error)
  endforeach()
  string(JSON op GET "${line}" op)
  expect("bad op in ${line}" op MATCHES "^(get|put|delete|append)$")
  string(JSON status GET "${line}" status)
  expect("bad status in ${line}" status MATCHES "^(ok|unknown)$")
  string(JSON return_type TYPE "${line}" return_ns)
  if(status STREQUAL "ok")
    expect("a completed operation needs return_ns: ${line}" return_type STREQUAL NUMBER)
  endif()
endforeach()

# A single seed prints a summary with a 16-digit trace hash, the same on a replay.
run_pbft(sim --seed 5 --faults drop,dup,reorder,delay)
expect("pbft sim --seed 5 failed" rc EQUAL 0)
expect("no trace hash in the summary" out MATCHES "trace hash +[0-9a-f]+")
string(REGEX MATCH "trace hash +([0-9a-f]+)" _ "${out}")
set(first_hash ${CMAKE_MATCH_1})
string(LENGTH "${first_hash}" hash_length)
expect("the trace hash must have 16 hex digits: ${first_hash}" hash_length EQUAL 16)
run_pbft(sim --seed 5 --faults drop,dup,reorder,delay)
string(REGEX MATCH "trace hash +([0-9a-f]+)" _ "${out}")
expect("seed 5 replayed to ${CMAKE_MATCH_1}, not ${first_hash}"
       CMAKE_MATCH_1 STREQUAL first_hash)

# --seeds ends with exactly "N passed, M failed", then a coverage line for
# every situation, reached or not.
run_pbft(sim --seeds 3)
expect("pbft sim --seeds 3 failed" rc EQUAL 0)
split_sweep_output("${out}")
expect("bad summary line '${summary_line}'" summary_line STREQUAL "3 passed, 0 failed")
list(LENGTH coverage_lines coverage_count)
expect("expected 20 or more coverage lines, got ${coverage_count}" coverage_count GREATER 19)
expect("no line for new_view_conflicting_certificates"
       out MATCHES "\ncoverage new_view_conflicting_certificates: 0 runs, 0 times\n")

# --json prints one object per seed (with its coverage counts), then the
# summary line, then the coverage lines.
run_pbft(sim --seeds 2 --json)
expect("pbft sim --seeds 2 --json failed" rc EQUAL 0)
split_sweep_output("${out}")
expect("bad summary line '${summary_line}'" summary_line STREQUAL "2 passed, 0 failed")
list(LENGTH coverage_lines coverage_count)
string(STRIP "${out}" text)
string(REPLACE "\n" ";" json_lines "${text}")
list(LENGTH json_lines count)
math(EXPR expected_count "3 + ${coverage_count}")
expect("expected 2 JSON lines, the summary and ${coverage_count} coverage lines, got ${count} lines"
       count EQUAL expected_count)
foreach(index 0 1)
  list(GET json_lines ${index} line)
  string(JSON seed GET "${line}" seed)
  math(EXPR expected_seed "${index} + 1")
  expect("JSON line ${index} is not seed ${expected_seed}: ${line}" seed EQUAL expected_seed)
  string(JSON passed GET "${line}" passed)
  expect("seed ${seed} did not pass: ${line}" passed STREQUAL "ON")
  string(JSON reproposed ERROR_VARIABLE json_error
         GET "${line}" coverage request_reproposed_after_view_change)
  expect("JSON line ${index} has no coverage count: ${json_error}" NOT json_error)
endforeach()

# A failing seed exits non-zero and prints the command that replays it. No
# cluster completes 80 operations within 2 ms.
run_pbft(sim --seeds 1 --fault-time 1 --liveness-bound 1)
expect("an impossible liveness bound must fail" NOT rc EQUAL 0)
expect("the failure must name the liveness checker" out MATCHES "seed 1 FAILED: liveness: ")
expect("the replay command must carry every non-default option"
       out MATCHES "; replay: pbft sim --seed 1 --fault-time 1 --liveness-bound 1\n")
split_sweep_output("${out}")
expect("bad summary line '${summary_line}'" summary_line STREQUAL "0 passed, 1 failed")
run_pbft(sim --seed 1 --fault-time 1 --liveness-bound 1)
expect("a failing single seed must exit with status 1" rc EQUAL 1)
expect("the summary must mark the liveness checker FAILED" out MATCHES "liveness +FAILED")

# --require-coverage: a sweep that never reached a required situation
# fails although every seed passed, and says which; one that reached it
# passes (a crashed primary in some of 10 seeds leaves a view change that
# carries certificates).
run_pbft(sim --faults none --seeds 3 --require-coverage new_view_conflicting_certificates)
expect("a required situation never reached must fail the sweep" rc EQUAL 1)
split_sweep_output("${out}")
expect("every seed still passed" summary_line STREQUAL "3 passed, 0 failed")
expect("the missing situation must be named"
       out MATCHES "\ncoverage new_view_conflicting_certificates: REQUIRED, never reached\n")
run_pbft(sim --faults crash --seeds 10
         --require-coverage view_change_with_prepared_certificates)
expect("a required situation that was reached must pass" rc EQUAL 0)
expect("the reached situation's line"
       out MATCHES "\ncoverage view_change_with_prepared_certificates: [1-9][0-9]* runs, [1-9][0-9]* times\n")
run_pbft(sim --faults none --seed 1 --require-coverage default)
expect("a single seed that misses the default list must fail" rc EQUAL 1)
expect("the single seed names what it missed"
       out MATCHES "\ncoverage view_change_with_prepared_certificates: REQUIRED, never reached\n")
run_pbft(sim --seeds 1 --require-coverage default,no_such_situation)
expect("an unknown situation must be an error" NOT rc EQUAL 0 AND NOT rc EQUAL 1)
expect("the error must name the unknown situation and list the valid ones"
       err MATCHES "no_such_situation" AND err MATCHES "default, view_change_with_prepared_certificates")

# Bad arguments are errors that say what is valid.
run_pbft(sim --faults drop,bogus)
expect("an unknown fault must be an error" NOT rc EQUAL 0)
expect("the error must name the unknown fault and list the valid ones"
       err MATCHES "bogus" AND err MATCHES "drop, dup, reorder, delay, partition")
run_pbft(sim --seeds 2 --history ${WORK_DIR}/unused.jsonl)
expect("--history with --seeds must be an error" NOT rc EQUAL 0)
run_pbft(sim --seed 1 --seeds 2)
expect("--seed with --seeds must be an error" NOT rc EQUAL 0)
run_pbft(sim --replicas 5)
expect("n=5 is not 3f+1 and must be an error" NOT rc EQUAL 0)

# The protocol's knobs are spelled as in the cluster file, with dashes
# (include/pbft/knobs.h); a removed spelling is an error naming the new one,
# and a failure's replay line carries the knobs that differ.
run_pbft(sim --auth signature)
expect("the removed --auth must be an error" NOT rc EQUAL 0)
expect("the error for --auth must name --client-auth" err MATCHES "--client-auth")
run_pbft(sim --batch-size 4)
expect("the removed --batch-size must be an error" NOT rc EQUAL 0)
expect("the error for --batch-size must name --batch-size-max" err MATCHES "--batch-size-max")
run_pbft(sim --client-auth authenticator)
expect("the removed word authenticator must be an error" NOT rc EQUAL 0)
expect("the error for authenticator must name mac" err MATCHES "now spelled \"mac\"")
run_pbft(sim --seeds 1 --fault-time 1 --liveness-bound 1 --client-auth mac --batch-size-max 4)
expect("an impossible liveness bound must fail" NOT rc EQUAL 0)
expect("the replay command must carry the knobs that differ"
       out MATCHES "; replay: pbft sim --seed 1 --fault-time 1 --liveness-bound 1 --client-auth mac --batch-size-max 4\n")
