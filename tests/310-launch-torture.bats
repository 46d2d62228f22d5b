#!/usr/bin/env bats
# Crash torture (tests/torture.sh), three short trials: whole runs worked
# by 1,000 scripted HTTP workers while pool, io and the supervisor are
# killed with SIGKILL at seeded random moments and restarted or resumed.
# No unit held twice, no acknowledged submission lost, no unit left live,
# an intact database.  "make torture TRIALS=N" runs long series; a failure
# prints the seed that replays it.

load lib/common

@test "torture: 3 trials of SIGKILL storms lose nothing and hold nothing twice" {
	run -0 "$REPO/tests/torture.sh" -n 3 -u 800 -w 1000 -k 4 -b "$MEPHISTO_BUILD"
	sed "s/^/# /" <<<"$output" >&3
	assert_line --regexp '^torture: 3 trials, 3 passed, 0 failed; [0-9]+ kills survived; .*, 0 lost$'
}
