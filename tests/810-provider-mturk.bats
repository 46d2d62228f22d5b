#!/usr/bin/env bats
# The MTurk provider end to end against a fake MTurk API that verifies
# every request's SigV4 signature.

load lib/common
load lib/launch
load lib/mturk

setup() {
	setup_env
	T="$BATS_TEST_TMPDIR/task"
}

@test "mturk: a full run makes exactly the expected signed calls in order" {
	start_fake_mturk
	launch_mturk 2
	work_hit AWORKER1
	u1=$(lsql "SELECT unit_id FROM agents WHERE agent_id = $AGENT")
	work_hit AWORKER2
	u2=$(lsql "SELECT unit_id FROM agents WHERE agent_id = $AGENT")
	wait_for 20 gone "$LAUNCH_PID"
	[ "$(count_units completed)" -eq 2 ]
	run -0 mephisto-review approve "$u1"
	run -0 mephisto-review reject "$u2"
	run -0 mephisto-review bonus 0.5 --reason good "$u1"
	run -0 mephisto-review block "$u2" --reason spam
	run -0 ops
	[ "$(echo $output)" = "GetAccountBalance CreateHITType CreateHITWithHITType CreateHITWithHITType ApproveAssignment RejectAssignment SendBonus ListWorkerBlocks CreateWorkerBlock" ]
	[ "$(jq -s 'map(select(.signed | not)) | length' "$FAKE_LOG")" = 0 ]
	state=$(fake state)
	[ "$(jq -r '[.assignments[] | .worker + ":" + .status] | sort | join(" ")' <<<"$state")" = "AWORKER1:Approved AWORKER2:Rejected" ]
	[ "$(jq -r '[.bonuses[]][0] | .worker + ":" + .amount' <<<"$state")" = "AWORKER1:0.50" ]
	[ "$(jq -r '.blocks | join(",")' <<<"$state")" = AWORKER2 ]
	# workers are stored with the sandbox suffix, sent without it
	[ "$(lsql "SELECT count(*) FROM workers WHERE worker_name = 'AWORKER1_sandbox'")" = 1 ]
	# two-decimal amounts; reject feedback always sent; ExternalQuestion
	jq -s -e 'map(select(.op == "CreateHITType"))[0].body.Reward == "0.25"' "$FAKE_LOG"
	jq -s -e 'map(select(.op == "RejectAssignment"))[0].body.RequesterFeedback | length > 0' "$FAKE_LOG"
	jq -s -e 'map(select(.op == "CreateHITWithHITType"))[0].body.Question | contains("<ExternalURL>http://localhost:")' "$FAKE_LOG"
	# our records and MTurk's agree: nothing to say
	run -0 --separate-stderr mephisto-launch reconcile "$RUN"
	[ "$output" = "" ]
	[[ "$stderr" == *"our records and mturk_sandbox's agree"* ]]
}

@test "mturk: a signing mistake fails, and the fake saw the bad signature" {
	start_fake_mturk "not-the-secret"
	make_mturk_task "$T" 1
	run --separate-stderr mephisto-launch "$T/task.yml" --quiet
	assert_fails_cleanly
	[[ "$stderr" == *"mturk GetAccountBalance: HTTP 400: signature mismatch (InvalidSignatureException)"* ]]
	[ "$(jq -s 'map(select(.signed)) | length' "$FAKE_LOG")" = 0 ]
	[[ "$stderr" != *"$ASECRET"* ]]
}

@test "mturk: throttling is retried; a bonus whose answer was lost is paid once" {
	start_fake_mturk
	fake fault '{"op": "CreateHITType", "status": 400, "type": "ThrottlingException", "count": 2}'
	launch_mturk 1
	work_hit AWORKER1
	u=$(lsql "SELECT unit_id FROM agents WHERE agent_id = $AGENT")
	wait_for 20 gone "$LAUNCH_PID"
	grep -q "mturk POST : HTTP 400; retrying" "$BATS_TEST_TMPDIR/launch.log"
	fake fault '{"op": "SendBonus", "mode": "drop_after", "count": 1}'
	run -0 mephisto-review bonus 1.5 --reason good "$u"
	[ "$(fake state | jq '.bonuses | length')" = 1 ]
	[ "$(ops | grep -c SendBonus)" = 2 ]
	# killed after MTurk paid, before our commit: the retry pays nothing
	MEPHISTO_TEST_REVIEW_DIE_AT=1 run mephisto-review bonus 2 --reason crash "$u"
	[ "$status" -eq 137 ]
	run mephisto-launch reconcile "$RUN"
	[ "$status" -eq 1 ]
	assert_output --partial "bonus 'bonus:$u:crash' (2.00) was paid on MTurk but is not in the ledger"
	run -0 mephisto-review bonus 2 --reason crash "$u"
	[ "$(fake state | jq '.bonuses | length')" = 2 ]
	[ "$(lsql "SELECT count(*) FROM ledger WHERE status = 'paid'")" = 2 ]
	# (searches running at the same time, this one's included, are left out)
	ps -eo args | grep -v "^grep " > "$BATS_TEST_TMPDIR/ps.txt"
	run ! grep -rl "$ASECRET" "$BATS_TEST_TMPDIR" "$MEPHISTO_DATA" --exclude=config.yml
}

# A finished one-unit run whose unit AWORKER1 did; sets U.
finished_run() {
	launch_mturk 1
	work_hit AWORKER1
	U=$(lsql "SELECT unit_id FROM agents WHERE agent_id = $AGENT")
	wait_for 20 gone "$LAUNCH_PID"
}

@test "mturk reconcile: a HIT left live without a record is found and expired" {
	start_fake_mturk
	finished_run
	# a HIT of this run that our records lost (as after a crash)
	hit=$(fake hit "{\"annotation\": \"mephisto-run-$RUN\"}" | jq -r .HITId)
	other=$(fake hit '{"annotation": "someone else"}' | jq -r .HITId)
	run mephisto-launch reconcile "$RUN"
	[ "$status" -eq 1 ]
	assert_output "HIT $hit is Assignable on MTurk and has no record here"
	run -0 mephisto-launch reconcile "$RUN" --fix
	assert_output "HIT $hit is Assignable on MTurk and has no record here; expired it (fixed)"
	[ "$(fake state | jq -r ".hits[\"$hit\"].HITStatus")" = Reviewable ]
	[ "$(fake state | jq -r ".hits[\"$other\"].HITStatus")" = Assignable ]
	run -0 --separate-stderr mephisto-launch reconcile "$RUN"
	[ "$output" = "" ]
}

@test "mturk reconcile: a decision MTurk missed is sent with --fix" {
	start_fake_mturk
	finished_run
	fake fault '{"op": "ApproveAssignment", "status": 400, "type": "RequestError", "count": 1}'
	run mephisto-review approve "$U"
	assert_fails_cleanly
	[ "$(fake state | jq -r '[.assignments[]][0].status')" = Submitted ]
	# decided here only (as a decision made while MTurk was down)
	lsql "UPDATE agents SET status = 'approved' WHERE agent_id = $AGENT"
	run mephisto-launch reconcile "$RUN"
	[ "$status" -eq 1 ]
	assert_output "assignment $ASG is Submitted on MTurk but agent $AGENT is approved here"
	run -0 mephisto-launch reconcile "$RUN" --fix
	assert_output --partial "sent the decision (fixed)"
	[ "$(fake state | jq -r '[.assignments[]][0].status')" = Approved ]
}

@test "mturk reconcile: a bonus attempted but never paid is paid with its own token, once" {
	start_fake_mturk
	finished_run
	# every attempt of the bonus fails: MTurk never paid it
	fake fault '{"op": "SendBonus", "status": 500, "count": 4}'
	run mephisto-review bonus 1.25 --reason late "$U"
	assert_fails_cleanly
	[ "$(fake state | jq '.bonuses | length')" = 0 ]
	[ "$(lsql "SELECT count(*) FROM ledger")" = 0 ]
	run mephisto-launch reconcile "$RUN"
	[ "$status" -eq 1 ]
	assert_output "bonus 'bonus:$U:late' (1.25) was attempted but MTurk has not paid it"
	run -0 mephisto-launch reconcile "$RUN" --fix
	assert_line "bonus 'bonus:$U:late' (1.25) was attempted but MTurk has not paid it; sent it again with its token (fixed)"
	assert_line "bonus 'bonus:$U:late' (1.25) was paid on MTurk but is not in the ledger (fixed)"
	[ "$(fake state | jq '.bonuses | length')" = 1 ]
	[ "$(fake state | jq -r '[.bonuses[]][0] | .worker + ":" + .amount')" = AWORKER1:1.25 ]
	# every attempt carried the same token
	[ "$(jq -s '[.[] | select(.op == "SendBonus") | .body.UniqueRequestToken] | unique | length' "$FAKE_LOG")" = 1 ]
	[ "$(lsql "SELECT count(*) FROM ledger WHERE status = 'paid'")" = 1 ]
	# the review again pays nothing; reconcile has nothing left to say
	run -0 mephisto-review bonus 1.25 --reason late "$U"
	[ "$(fake state | jq '.bonuses | length')" = 1 ]
	run -0 --separate-stderr mephisto-launch reconcile "$RUN"
	[ "$output" = "" ]
}

@test "mturk reconcile: a worker blocked here but not on MTurk is blocked with --fix" {
	start_fake_mturk
	finished_run
	run -0 mephisto-review block "$U" --reason spam
	fake set '{"blocks": []}'
	run mephisto-launch reconcile "$RUN"
	[ "$status" -eq 1 ]
	assert_output "worker AWORKER1 is blocked here but not on MTurk"
	run -0 mephisto-launch reconcile "$RUN" --fix
	[ "$(fake state | jq -r '.blocks | join(",")')" = AWORKER1 ]
}
