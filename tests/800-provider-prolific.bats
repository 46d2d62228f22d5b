#!/usr/bin/env bats
# The Prolific provider end to end against a fake Prolific API: the calls
# a run makes, in order, and review decisions on the vendor's side.

load lib/common
load lib/launch
load lib/prolific

setup() {
	setup_env
	T="$BATS_TEST_TMPDIR/task"
	start_fake_prolific
}

@test "prolific: a full run makes exactly the expected calls in order" {
	launch_prolific 2
	work_unit P1
	u1=$(unit_of_agent "$AGENT")
	work_unit P2
	u2=$(unit_of_agent "$AGENT")
	wait_for 20 gone "$LAUNCH_PID"
	[ "$(count_units completed)" -eq 2 ]
	run -0 mephisto-review approve "$u1"
	run -0 mephisto-review reject "$u2" --reason "no answer"
	run -0 mephisto-review bonus 0.5 --reason good "$u1"
	run -0 mephisto-review block "$u2" --reason spam
	run -0 calls
	cat > "$BATS_TEST_TMPDIR/want" <<'CALLS'
GET users/me/
GET workspaces/
POST workspaces/
GET workspaces/ID/projects/
POST workspaces/ID/projects/
POST studies/
PATCH studies/ID/
POST studies/ID/transition/
PATCH studies/ID/
POST studies/ID/transition/
GET submissions/ID/
POST submissions/ID/transition/
GET submissions/ID/
POST submissions/ID/transition/
POST submissions/bonus-payments/
POST bulk-bonus-payments/ID/pay/
GET participant-groups/?project_id=ID&is_active=True
POST participant-groups/
POST participant-groups/ID/participants/
CALLS
	diff -u "$BATS_TEST_TMPDIR/want" <(calls)
	# every call carried the token; the vendor's state is what we asked
	[ "$(jq -s 'map(select(.auth | not)) | length' "$FAKE_LOG")" = 0 ]
	state=$(fake state)
	[ "$(jq '.payments | length' <<<"$state")" = 1 ]
	[ "$(jq -r '.payments[0].csv' <<<"$state")" = P1,0.50 ]
	[ "$(jq -r '[.submissions[] | .participant + ":" + .status] | sort | join(" ")' <<<"$state")" = "P1:APPROVED P2:REJECTED" ]
	[ "$(jq -r '[.studies[]][0].status' <<<"$state")" = "AWAITING REVIEW" ]
	[ "$(jq -r '[.studies[]][0].total_available_places' <<<"$state")" = 2 ]
	[ "$(jq -r '[.studies[]][0].reward' <<<"$state")" = 25 ]
	[ "$(jq -r '[.groups[]][0] | .name + ":" + (.members | join(","))' <<<"$state")" = "Block list:P2" ]
	# the bonus call carried the ledger's idempotency key
	[ "$(jq -r 'select(.path | startswith("bulk-bonus")) | .idem' "$FAKE_LOG")" = "bonus:$u1:good" ]
	# the reject message is long enough and its category a string
	jq -s -e 'map(select(.body.action == "REJECT"))[0] | (.body.message | length) >= 100 and (.body.rejection_category | type) == "string"' "$FAKE_LOG"
	run -0 --separate-stderr mephisto-launch reconcile "$RUN"
	[ "$output" = "" ]
	[[ "$stderr" == *"our records and prolific's agree"* ]]
}

@test "prolific: a blocked participant is shut out of the next study" {
	launch_prolific 1
	work_unit P1
	u=$(unit_of_agent "$AGENT")
	wait_for 20 gone "$LAUNCH_PID"
	run -0 mephisto-review block "$u" --reason spam
	make_prolific_task "$T" 1
	sed -i 's/task_name: .*/task_name: second/' "$T/task.yml"
	mephisto-launch "$T/task.yml" --quiet > "$BATS_TEST_TMPDIR/launch2.log" 2>&1 &
	track_pid $!
	wait_for 20 run_url
	# The second study, once it is published.
	wait_for 20 active_studies 1
	study=$(fake state | jq -r '[.studies[] | select(.status == "ACTIVE")][0].id')
	run curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "{\"participant_id\": \"P1\", \"study_id\": \"$study\"}" "$FAKE/_fake/arrive"
	[ "$output" = 403 ]
}

@test "prolific: no token is an error that names the setting, before anything runs" {
	sed -i "/api_key/d" "$MEPHISTO_CONFIG"
	make_prolific_task "$T" 1
	run --separate-stderr mephisto-launch "$T/task.yml" --quiet
	assert_fails_cleanly
	[[ "$stderr" == *"prolific.api_key"* ]]
	[ "$(jq -s length "$FAKE_LOG")" = 0 ]
}

@test "prolific: a refused call names the call and the vendor's message" {
	fake fault '{"method": "POST", "path": "studies/", "status": 400, "count": 1}'
	make_prolific_task "$T" 1
	run --separate-stderr mephisto-launch "$T/task.yml" --quiet
	assert_fails_cleanly
	[[ "$stderr" == *"prolific POST studies/: HTTP 400: injected fault"* ]]
}

@test "prolific: a batch of launched units raises the study's places with one call" {
	launch_prolific 5
	wait_for 20 launched_is 5
	wait_for 20 study_is ACTIVE
	assert_equal "$(fake state | jq '[.studies[]][0].total_available_places')" 5
	# one PATCH set the completion codes at creation, one the places
	assert_equal "$(calls | grep -c '^PATCH studies/ID/$')" 2
}

@test "prolific: an arrival for another study is refused and writes nothing" {
	launch_prolific 1
	wait_for 20 study_is ACTIVE
	study=$(the_study)
	out=$(fake arrive "{\"participant_id\": \"P1\", \"study_id\": \"$study\"}")
	sub=$(jq -r .submission_id <<<"$out")
	run -0 curl -sS -H 'Content-Type: application/json' --data-binary \
		"{\"provider_data\": {\"worker_name\": \"P1\", \"agent_registration_id\": \"$sub-P1\", \"assignment_id\": \"$sub\", \"prolific_study_id\": \"0123456789abcdef01234567\", \"provider_type\": \"prolific\"}}" \
		"$(run_url)request_agent"
	assert_output --partial "study '0123456789abcdef01234567' is not the study of run $RUN"
	[ "$(lsql "SELECT count(*) FROM workers")" = 0 ]
	[ "$(lsql "SELECT count(*) FROM agents")" = 0 ]
	[ "$(count_units launched)" = 1 ]
}

@test "prolific: once every unit is done or expired the study is stopped, also without the supervisor" {
	launch_prolific 2
	work_unit P1
	wait_for 20 study_is ACTIVE
	# the supervisor dies: its clean-up will not stop the study
	kill -KILL "$LAUNCH_PID"
	wait_for 20 gone "$LAUNCH_PID"
	run -0 mephisto-launch expire "$RUN"
	[ "$(fake state | jq -r '[.studies[]][0].status')" = "AWAITING REVIEW" ]
	[ "$(sqlite3 "$MEPHISTO_DATA/providers.db" "SELECT state FROM vendor_records WHERE kind = 'study'")" = stopped ]
	[ "$(jq -s 'map(select(.body.action == "STOP")) | length' "$FAKE_LOG")" = 1 ]
}

# study_is STATUS: the only study on the fake is in STATUS.
active_studies() {
	[ "$(fake state | jq '[.studies[] | select(.status == "ACTIVE")] | length')" -eq "$1" ]
}

study_is() {
	[ "$(fake state | jq -r '[.studies[]][0].status')" = "$1" ]
}
