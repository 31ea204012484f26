# Test the tester: runs the simulator built with PBFT_MUTANTS=ON with the
# mutant MUTANT switched on (`--mutant`, include/pbft/mutant.h) over up to SEEDS seeds
# of --faults all, stopping at the first failed seed. Passes when a seed
# fails, and says which checker caught the mutant; fails when every seed
# passed (the checkers missed a known bug).
#   cmake -DPBFT=<pbft> -DMUTANT=<name> -DSEEDS=<n> -P check_mutant.cmake
execute_process(
  COMMAND ${PBFT} sim --seeds ${SEEDS} --faults all --max-failures 1 --mutant ${MUTANT}
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err
  RESULT_VARIABLE rc)
string(REGEX MATCH "seed ([0-9]+) FAILED: ([a-z-]+)" caught "${out}")
if(NOT caught)
  message(FATAL_ERROR "mutant ${MUTANT} was NOT caught in ${SEEDS} seeds (exit ${rc}):\n${out}${err}")
endif()
message(STATUS "mutant ${MUTANT}: caught by the ${CMAKE_MATCH_2} checker at seed ${CMAKE_MATCH_1}")
