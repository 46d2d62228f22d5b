#!/usr/bin/env bats
# The Prolific provider under faults from the fake API: rate limits,
# server errors, timeouts, a connection dropped after a bonus was paid, a
# crash between the vendor's answer and our commit; and no credential in
# any log line, message or process list.

load lib/common
load lib/launch
load lib/prolific

setup() {
	setup_env
	T="$BATS_TEST_TMPDIR/task"
	start_fake_prolific
}

# A finished one-unit run whose unit P1 did; sets U.
finished_run() {
	launch_prolific 1
	work_unit P1
	U=$(unit_of_agent "$AGENT")
	wait_for 20 gone "$LAUNCH_PID"
}

payments() {
	fake state | jq '.payments | length'
}

@test "prolific faults: 429 and 5xx are retried with back-off and logged" {
	fake fault '{"method": "POST", "path": "studies/", "status": 429, "retry_after": 0, "count": 2}'
	fake fault '{"method": "PATCH", "path": "studies/", "status": 503, "count": 1}'
	finished_run
	[ "$(calls | grep -c '^POST studies/$')" = 3 ]
	grep -q "prolific POST studies/: HTTP 429; retrying in" "$BATS_TEST_TMPDIR/launch.log"
	grep -q "prolific PATCH studies/.*: HTTP 503; retrying in" "$BATS_TEST_TMPDIR/launch.log"
	[ "$(count_units completed)" = 1 ]
}

@test "prolific faults: a timeout is retried for a safe call" {
	finished_run
	fake fault '{"method": "GET", "path": "submissions/", "mode": "delay", "delay": 3, "count": 1}'
	run --separate-stderr mephisto-review approve "$U"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"prolific GET submissions/"*"retrying"* ]]
	[ "$(fake state | jq -r '[.submissions[]][0].status')" = APPROVED ]
}

@test "prolific faults: 4xx is not retried and the error names the call" {
	finished_run
	fake fault '{"method": "POST", "path": "submissions/", "status": 422, "count": 1}'
	run --separate-stderr mephisto-review approve "$U"
	assert_fails_cleanly
	[[ "$stderr" == *"prolific POST submissions/"*"/transition/: HTTP 422: injected fault"* ]]
	[ "$(calls | grep -c 'transition/$' )" -ge 1 ]
	[ "$(lsql "SELECT status FROM units WHERE unit_id = $U")" = completed ]
}

@test "prolific faults: a launch the vendor refuses is undone whole, then done on a later tick" {
	make_prolific_task "$T" 3
	sed -i 's/  task_tags: test/  task_tags: test\n  max_num_concurrent_units: 1/' "$T/task.yml"
	mephisto-launch "$T/task.yml" --quiet > "$BATS_TEST_TMPDIR/launch.log" 2>&1 &
	LAUNCH_PID=$!
	track_pid $LAUNCH_PID
	wait_for 20 run_url
	wait_for 20 launched_is 1
	# the next unit raises the places: refused once
	fake fault '{"method": "PATCH", "path": "studies/", "status": 422, "count": 1}'
	work_unit P1
	wait_for 20 launched_is 2
	grep -q "cannot launch unit .*prolific PATCH studies/.*HTTP 422: injected fault" "$BATS_TEST_TMPDIR/launch.log"
	[ "$(calls | grep -c '^PATCH studies/ID/$')" = 3 ]
	assert_equal "$(fake state | jq '[.studies[]][0].total_available_places')" 2
	assert_equal "$(count_units launched)" 1
	assert_equal "$(count_units created)" 1
}

@test "prolific faults: connection dropped after the bonus was paid: paid once" {
	finished_run
	fake fault '{"method": "POST", "path": "bulk-bonus-payments/", "mode": "drop_after", "count": 1}'
	run --separate-stderr mephisto-review bonus 1.25 --reason good "$U"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"asking Prolific whether it was paid"* ]]
	[ "$(payments)" = 1 ]
	[ "$(calls | grep -c 'pay/$')" = 1 ]
	run -0 mephisto-review bonus 1.25 --reason good "$U"
	[ "$(payments)" = 1 ]
	[ "$(lsql "SELECT count(*) FROM ledger WHERE status = 'paid'")" = 1 ]
}

@test "prolific faults: 500 from pay after paying, and 429 before: paid once" {
	finished_run
	fake fault '{"method": "POST", "path": "bulk-bonus-payments/", "status": 429, "retry_after": 0, "count": 1}'
	fake fault '{"method": "POST", "path": "bulk-bonus-payments/", "mode": "drop_after", "count": 1}'
	run -0 mephisto-review bonus 2 --reason again "$U"
	[ "$(payments)" = 1 ]
}

@test "prolific faults: killed between the vendor's answer and our commit: paid once, reconcile finds it" {
	finished_run
	MEPHISTO_TEST_REVIEW_DIE_AT=1 run mephisto-review bonus 3 --reason crash "$U"
	[ "$status" -eq 137 ]
	[ "$(payments)" = 1 ]
	[ "$(lsql "SELECT count(*) FROM ledger")" = 0 ]
	run mephisto-launch reconcile "$RUN"
	[ "$status" -eq 1 ]
	assert_output --partial "bonus 'bonus:$U:crash' (3.00) was paid on Prolific but is not in the ledger"
	run -0 mephisto-launch reconcile "$RUN" --fix
	assert_output --partial "(fixed)"
	[ "$(lsql "SELECT count(*) FROM ledger WHERE status = 'paid'")" = 1 ]
	run -0 --separate-stderr mephisto-launch reconcile "$RUN"
	[ "$output" = "" ]
	# and a retry of the review pays nothing more
	run -0 mephisto-review bonus 3 --reason crash "$U"
	[ "$(payments)" = 1 ]
}

@test "prolific reconcile: a study left live without a record is found and stopped" {
	finished_run
	# a study of this run that our records lost (as after a crash)
	sqlite3 "$MEPHISTO_DATA/providers.db" "DELETE FROM vendor_records WHERE kind = 'study'"
	fake state > /dev/null
	study=$(the_study)
	curl -sS -X PATCH -H "Authorization: Token $PKEY" -H 'Content-Type: application/json' \
		--data-binary '{"total_available_places": 5}' "$FAKE/api/v1/studies/$study/" > /dev/null
	[ "$(fake state | jq -r '[.studies[]][0].status')" = ACTIVE ]
	run mephisto-launch reconcile "$RUN"
	[ "$status" -eq 1 ]
	assert_output --partial "study $study on Prolific is ACTIVE and has no record here"
	run -0 mephisto-launch reconcile "$RUN" --fix
	assert_output --partial "stopped it (fixed)"
	[ "$(fake state | jq -r '[.studies[]][0].status')" = "AWAITING REVIEW" ]
}

@test "prolific reconcile: a decision the vendor missed is sent with --fix" {
	finished_run
	fake fault '{"method": "POST", "path": "submissions/", "status": 400, "count": 1}'
	run mephisto-review approve "$U"
	assert_fails_cleanly
	# decide locally only (as a decision made while Prolific was down)
	lsql "UPDATE agents SET status = 'approved' WHERE agent_id = $AGENT"
	run mephisto-launch reconcile "$RUN"
	[ "$status" -eq 1 ]
	assert_output --partial "is AWAITING REVIEW on Prolific but agent $AGENT is approved here"
	run -0 mephisto-launch reconcile "$RUN" --fix
	[ "$(fake state | jq -r '[.submissions[]][0].status')" = APPROVED ]
}

@test "prolific reconcile: a submission is matched to its registration byte for byte" {
	finished_run
	lsql "UPDATE agents SET status = 'approved' WHERE agent_id = $AGENT"
	local sub=$(fake state | jq -r '[.submissions[]][0].id')
	[[ "$sub" == *[a-f]* ]]	# hex: has a letter to change the case of
	run mephisto-launch reconcile "$RUN"
	assert_output --partial "submission $sub is AWAITING REVIEW on Prolific but agent $AGENT is approved here"
	# the same id in capitals is another submission, and so is a pattern
	lsql "UPDATE agent_registrations SET registration_id =
		upper('$sub') || substr(registration_id, length('$sub') + 1)
		WHERE agent_id = $AGENT"
	run mephisto-launch reconcile "$RUN"
	assert_output --partial "submission $sub by P1 is AWAITING REVIEW on Prolific and has no agent here"
	refute_output --partial "agent $AGENT is approved here"
}

@test "prolific: no credential in any log line, error message or process list" {
	fake fault '{"method": "PATCH", "path": "studies/", "status": 500, "count": 1}'
	launch_prolific 1
	# (searches running at the same time, this one's included, are left out)
	ps -eo args | grep -v "^grep " > "$BATS_TEST_TMPDIR/ps.txt"
	work_unit P1
	U=$(unit_of_agent "$AGENT")
	wait_for 20 gone "$LAUNCH_PID"
	fake fault '{"method": "GET", "path": "submissions/", "status": 401, "count": 1}'
	run --separate-stderr mephisto-review approve "$U"
	assert_fails_cleanly
	echo "$stderr" > "$BATS_TEST_TMPDIR/review.err"
	[[ "$stderr" == *"HTTP 401"* ]]
	MEPHISTO_LOG_LEVEL=debug mephisto-review bonus 1 --reason x "$U" 2> "$BATS_TEST_TMPDIR/bonus.err"
	[ -s "$BATS_TEST_TMPDIR/ps.txt" ]
	run ! grep -r --exclude=config.yml -l "$PKEY" "$BATS_TEST_TMPDIR" "$MEPHISTO_DATA"
	# the token in the environment instead of the config: still not shown
	sed -i "/api_key/d" "$MEPHISTO_CONFIG"
	PROLIFIC_API_KEY=$PKEY run --separate-stderr mephisto-review approve "$U"
	[[ "$output$stderr" != *"$PKEY"* ]]
}
