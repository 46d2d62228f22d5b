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
	run -0 mephisto-review bonus 2 --reason crash "$u"
	[ "$(fake state | jq '.bonuses | length')" = 2 ]
	[ "$(lsql "SELECT count(*) FROM ledger WHERE status = 'paid'")" = 2 ]
	# (searches running at the same time, this one's included, are left out)
	ps -eo args | grep -v "^grep " > "$BATS_TEST_TMPDIR/ps.txt"
	run ! grep -rl "$ASECRET" "$BATS_TEST_TMPDIR" "$MEPHISTO_DATA" --exclude=config.yml
}
