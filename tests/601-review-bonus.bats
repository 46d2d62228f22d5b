#!/usr/bin/env bats
# mephisto-review bonus: the ledger, idempotency keys, --plan, and retries
# after the reviewer was killed.

load lib/common
load lib/launch
load lib/review

# paid_total: the sum of the ledger, to the cent.
paid_total() {
	sql "SELECT printf('%.2f', coalesce(sum(amount), 0)) FROM ledger WHERE kind = 'bonus' AND status = 'paid'"
}

@test "bonus: --plan shows what would be paid and the total, and pays nothing" {
	review_run 3 1
	run -0 mephisto-review bonus 0.4 --reason "clear answers" --task t-task --plan
	[ "${#lines[@]}" -eq 4 ]
	[[ "${lines[0]}" == *"auto-1_sandbox	0.40	to pay" ]]
	[ "${lines[3]}" = "total: 1.20 to pay for 3 bonuses (0 already paid)" ]
	[ "$(paid_total)" = 0.00 ]
	u=$(sql "SELECT unit_id FROM units ORDER BY unit_id LIMIT 1")
	run -0 mephisto-review bonus 0.4 --reason "clear answers" "$u"
	[ "$(jq -r .bonus <<<"$output")" = 0.4 ]
	[ "$(jq -r .key <<<"$output")" = "bonus:$u:clear answers" ]
	run -0 mephisto-review bonus 0.4 --reason "clear answers" --task t-task --plan
	[ "${lines[0]}" = "$u	auto-1_sandbox	0.40	already paid" ]
	[ "${lines[3]}" = "total: 0.80 to pay for 2 bonuses (1 already paid)" ]
	[ "$(paid_total)" = 0.40 ]
}

@test "bonus: the same unit and reason is paid once; another reason or key pays again" {
	review_run 1 1
	u=$(sql "SELECT unit_id FROM units")
	run -0 mephisto-review bonus 1.5 "$u" "$u" --reason speed
	[ "${#lines[@]}" -eq 2 ]
	[ "$(jq -r .decision <<<"${lines[0]}")" = bonus ]
	[ "${lines[1]}" = "mephisto-review: info: unit $u: bonus 'bonus:$u:speed' was already paid" ]
	run -0 mephisto-review bonus 1.5 "$u" --reason speed
	[ "$(paid_total)" = 1.50 ]
	run -0 mephisto-review bonus 0.5 "$u" --reason accuracy
	run -0 mephisto-review bonus 0.25 "$u" --reason speed --key week-12
	[ "$(paid_total)" = 2.25 ]
	[ "$(sql "SELECT count(*) FROM ledger")" = 3 ]
	[ "$(sql "SELECT count(*) FROM worker_review WHERE bonus IS NOT NULL")" = 3 ]
	[ "$(sql "SELECT DISTINCT provider_type || ':' || task_run_id FROM ledger")" = "mock:$RUN" ]
}

@test "bonus: killed between paying and committing, a retry pays each unit once" {
	review_run 4 1
	# The third bonus is killed after the provider was asked to pay it
	# and before its transaction committed.
	MEPHISTO_TEST_REVIEW_DIE_AT=3 run mephisto-review bonus 2 --task t-task --reason good
	[ "$status" -eq 137 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "$(sql "SELECT count(*) FROM ledger")" = 2 ]
	run --separate-stderr mephisto-review bonus 2 --task t-task --reason good
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "${#stderr_lines[@]}" -eq 2 ]
	[ "$(paid_total)" = 8.00 ]
	[ "$(sql "SELECT count(DISTINCT unit_id) || ' ' || count(*) FROM ledger")" = "4 4" ]
}

@test "bonus: a reviewer killed mid-stream and run again pays exactly once" {
	review_run 4 1
	mephisto-launch results "$RUN" > "$BATS_TEST_TMPDIR/all"
	mkfifo "$BATS_TEST_TMPDIR/in"
	mephisto-review bonus 0.3 --reason thanks < "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/out" &
	pid=$!
	track_pid "$pid"
	exec 7> "$BATS_TEST_TMPDIR/in"
	head -n 2 "$BATS_TEST_TMPDIR/all" >&7
	lines_out() { [ "$(grep -c . "$BATS_TEST_TMPDIR/out")" -eq 2 ]; }
	wait_for 10 lines_out
	kill -KILL "$pid"
	exec 7>&-
	wait "$pid" || true
	[ "$(paid_total)" = 0.60 ]
	run --separate-stderr mephisto-review bonus 0.3 --reason thanks < "$BATS_TEST_TMPDIR/all"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "$(paid_total)" = 1.20 ]
	[ "$(sql "SELECT count(*) FROM ledger GROUP BY unit_id HAVING count(*) > 1")" = "" ]
}

@test "bonus: units without a worker are refused" {
	T="$BATS_TEST_TMPDIR/task"
	make_task "$T" 1
	mephisto-launch --create-only "$T/task.yml" >/dev/null 2>&1
	u=$(sql "SELECT unit_id FROM units")
	run --separate-stderr mephisto-review bonus 1 "$u"
	assert_fails_cleanly
	[ "$stderr" = "mephisto-review: error: unit $u is created and has no worker to review" ]
	[ "$(sql "SELECT count(*) FROM ledger")" = 0 ]
}
