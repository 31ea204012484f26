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

# --seeds ends with exactly "N passed, M failed".
run_pbft(sim --seeds 3)
expect("pbft sim --seeds 3 failed" rc EQUAL 0)
last_line("${out}" line)
expect("bad summary line '${line}'" line STREQUAL "3 passed, 0 failed")

# --json prints one object per seed, then the summary line.
run_pbft(sim --seeds 2 --json)
expect("pbft sim --seeds 2 --json failed" rc EQUAL 0)
string(STRIP "${out}" text)
string(REPLACE "\n" ";" json_lines "${text}")
list(LENGTH json_lines count)
expect("expected 2 JSON lines and the summary, got ${count} lines" count EQUAL 3)
foreach(index 0 1)
  list(GET json_lines ${index} line)
  string(JSON seed GET "${line}" seed)
  math(EXPR expected_seed "${index} + 1")
  expect("JSON line ${index} is not seed ${expected_seed}: ${line}" seed EQUAL expected_seed)
  string(JSON passed GET "${line}" passed)
  expect("seed ${seed} did not pass: ${line}" passed STREQUAL "ON")
endforeach()
list(GET json_lines 2 line)
expect("bad summary line '${line}'" line STREQUAL "2 passed, 0 failed")

# A failing seed exits non-zero and prints the command that replays it. No
# cluster completes 80 operations within 2 ms.
run_pbft(sim --seeds 1 --fault-time 1 --liveness-bound 1)
expect("an impossible liveness bound must fail" NOT rc EQUAL 0)
expect("the failure must name the liveness checker" out MATCHES "seed 1 FAILED: liveness: ")
expect("the replay command must carry every non-default option"
       out MATCHES "; replay: pbft sim --seed 1 --fault-time 1 --liveness-bound 1\n")
last_line("${out}" line)
expect("bad summary line '${line}'" line STREQUAL "0 passed, 1 failed")
run_pbft(sim --seed 1 --fault-time 1 --liveness-bound 1)
expect("a failing single seed must exit with status 1" rc EQUAL 1)
expect("the summary must mark the liveness checker FAILED" out MATCHES "liveness +FAILED")

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
