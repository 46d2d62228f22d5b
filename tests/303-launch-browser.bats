#!/usr/bin/env bats
# The whole product in a real browser: `mephisto launch` starts the pool
# and io, headless chromium follows the worker links it prints, and the
# work lands in the database and the run folder.

load lib/common
load lib/launch
load lib/io

setup() {
	setup_env
	need_node_modules
	T="$BATS_TEST_TMPDIR/task"
	cp -r "$REPO/share/mephisto/examples/simple" "$T"
	head -3 "$REPO/share/mephisto/examples/simple/data.csv" > "$T/data.csv"
	printf '<p><label>Evidence <input type="file" name="evidence"></label></p>\n' >> "$T/task.html"
	printf 'seen with my own eyes\n' > "$BATS_TEST_TMPDIR/notes.txt"
}

# link N: the Nth worker link the run printed.
link() {
	local l
	l=$(grep -m1 -o "http://[^ ]*worker_id=worker-$1&[^ ]*" "$BATS_TEST_TMPDIR/out") &&
		echo "$l"
}

browser() {
	run node "$REPO/tests/browser/run.js" "$@"
	if [ "$status" -ne 0 ]; then
		echo "$output" >&2
		return 1
	fi
}

@test "browser: workers follow the printed links through onboarding to Submitted; the run completes" {
	mephisto-launch "$T/task.yml" architect.port=0 > "$BATS_TEST_TMPDIR/out" 2>&1 &
	launch_pid=$!
	track_pid "$launch_pid"
	wait_for 20 link 2
	browser worker-link "$(link 1)" blue good "$BATS_TEST_TMPDIR/notes.txt"
	assert_line "onboarding: Before you start"
	assert_line --regexp "^task: Character: (Loaded Dice|Sir Stumbles)$"
	assert_line "done: Submitted. Thank you for your work!"

	# Durable before acknowledged: the unit is already completed.
	run_id=$(only_run)
	[ "$(count_units completed)" -eq 1 ]
	run -0 mephisto-launch results "$run_id"
	[ "${#lines[@]}" -eq 1 ]
	r=${lines[0]}
	[ "$(jq -r .worker_name <<<"$r")" = worker-1_sandbox ]
	[ "$(jq -c '[.outputs.rating, .outputs.comment]' <<<"$r")" = '["good","typed in a browser"]' ]
	[ "$(jq -r '.outputs.evidence.name' <<<"$r")" = notes.txt ]
	agent=$(jq -r .agent_id <<<"$r")
	[ "$(jq -c '.files' <<<"$r")" != '[]' ]
	[ "$(cat "$MEPHISTO_DATA/runs/$run_id/files/$agent/notes.txt")" = "seen with my own eyes" ]
	[ "$(sql "SELECT value FROM granted_qualifications g JOIN qualifications q USING (qualification_id) WHERE q.qualification_name = 'simple-task-onboarded'")" -eq 1 ]

	browser worker-link "$(link 2)" blue okay
	assert_line "done: Submitted. Thank you for your work!"
	wait_for 10 gone "$launch_pid"
	wait "$launch_pid"
	[ "$(count_units completed)" -eq 2 ]
	grep -q "completed" "$BATS_TEST_TMPDIR/out"
}

@test "SIGKILL the pool during a burst over HTTP: every Submitted! is kept, the rest succeed when retried" {
	make_task "$BATS_TEST_TMPDIR/burst" 800
	mephisto-launch "$BATS_TEST_TMPDIR/burst/task.yml" --quiet > "$BATS_TEST_TMPDIR/out" 2>&1 &
	launch_pid=$!
	track_pid "$launch_pid"
	wait_for 20 run_url
	url=$(run_url)
	run_id=$(only_run)
	node "$REPO/tests/browser/submit-burst.js" "$url" 800 20 \
		"$MEPHISTO_DATA/runs/$run_id/pool.pid" "$BATS_TEST_TMPDIR"
	acked=$(grep -c . "$BATS_TEST_TMPDIR/acked")
	failed=$(grep -c . "$BATS_TEST_TMPDIR/failed" || true)
	echo "acked in the burst: $acked, failed: $failed" >&2
	[ "$acked" -ge 20 ]
	[ "$failed" -ge 1 ]
	# Every failure was an error answer, never a false "Submitted!".
	run ! grep -F 'Submitted!' "$BATS_TEST_TMPDIR/failed"
	# The supervisor restarted the pool.
	grep -q "restart" "$BATS_TEST_TMPDIR/out" "$MEPHISTO_DATA/runs/$run_id/"*.log
	wait_for 20 gone "$launch_pid"
	wait "$launch_pid"
	sql "SELECT agent_id FROM agents WHERE status = 'completed'" | sort > "$BATS_TEST_TMPDIR/done"
	sort "$BATS_TEST_TMPDIR/acked" | grep . > "$BATS_TEST_TMPDIR/acked.sorted"
	[ -z "$(comm -23 "$BATS_TEST_TMPDIR/acked.sorted" "$BATS_TEST_TMPDIR/done")" ]
	[ "$(count_units completed)" -eq 800 ]
	[ "$(sql "SELECT COUNT(*) FROM run_events WHERE event = 'unit_submitted'")" -eq 800 ]
	[ "$(sql "SELECT COUNT(*) FROM agent_data")" -eq 800 ]
}
