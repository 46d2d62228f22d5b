#!/usr/bin/env bats
# mephisto-pool: onboarding with an answer key or a validator command.

load lib/common
load lib/pool

NOT_QUALIFIED="You are not currently qualified to work on this task."

onb_params() {
	printf '{"task": {}, "blueprint": {"onboarding_qualification": "onb", %s}, "provider": {"_provider_type": "mock"}}' "$1"
}

# onb_submit WORKER ONBOARDING_AGENT_ID DATA_JSON
onb_submit() {
	printf '{"packet_type":"submit_onboarding","subject_id":"%s","data":{"onboarding_data":%s,"request_id":"s-%s","worker_name":"%s","agent_registration_id":"reg-%s","provider_type":"mock"}}\n' \
	    "$2" "$3" "$1" "$1" "$1" | pool_send
}

@test "pool: onboarding with an answer key: pass, then a unit" {
	pool_make_run 3 "$(onb_params '"onboarding_answers": {"q1": 4}, "onboarding_data": {"question": "2+2"}')"
	pool_start
	run -0 pool_send <<<"$(reg_packet ivy)"
	onb=$(jq -r .data.agent_id <<<"$output")
	[[ "$onb" == onboarding_* ]]
	[ "$(jq -r .data.init_task_data.question <<<"$output")" = "2+2" ]
	[ "$(sql "SELECT status FROM onboarding_agents")" = onboarding ]
	# A reconnect returns the same onboarding agent.
	run -0 pool_send <<<"$(reg_packet ivy)"
	[ "$(jq -r .data.agent_id <<<"$output")" = "$onb" ]
	run -0 onb_submit ivy "$onb" '{"q1": "4"}'
	[ "$(jq -r .packet_type <<<"$output")" = agent_details ]
	[ "$(jq -r .data.request_id <<<"$output")" = s-ivy ]
	agent=$(jq -r .data.agent_id <<<"$output")
	[[ "$agent" =~ ^[0-9]+$ ]]
	[ "$(jq -r .data.init_task_data.text <<<"$output")" = "item 0" ]
	[ "$(sql "SELECT status FROM onboarding_agents")" = approved ]
	[ "$(sql "SELECT g.value FROM granted_qualifications g JOIN qualifications q USING (qualification_id) WHERE qualification_name = 'onb'")" = 1 ]
	[ "$(sql "SELECT json_extract(outputs, '$.q1') FROM onboarding_agent_data")" = 4 ]
	# The registration moved to the real agent.
	run -0 pool_send <<<"$(reg_packet ivy)"
	[ "$(jq -r .data.agent_id <<<"$output")" = "$agent" ]
	# A qualified worker skips onboarding next time.
	run -0 pool_send <<<"$(reg_packet ivy reg-ivy-2)"
	[[ "$(jq -r .data.agent_id <<<"$output")" =~ ^[0-9]+$ ]]
	[ "$(sql "SELECT count(*) FROM onboarding_agents")" = 1 ]
	pool_stop
}

@test "pool: onboarding with an answer key: fail" {
	pool_make_run 3 "$(onb_params '"onboarding_answers": {"q1": "4", "q2": "yes"}')"
	pool_start
	run -0 pool_send <<<"$(reg_packet jack)"
	onb=$(jq -r .data.agent_id <<<"$output")
	run -0 onb_submit jack "$onb" '{"q1": "4", "q2": "no"}'
	[ "$(jq -r .data.failure_reason <<<"$output")" = "$NOT_QUALIFIED" ]
	[ "$(jq -r .data.worker_id <<<"$output")" != null ]
	[ "$(jq -r .data.agent_id <<<"$output")" = null ]
	[ "$(sql "SELECT status FROM onboarding_agents")" = rejected ]
	[ "$(sql "SELECT q.qualification_name || '=' || g.value FROM granted_qualifications g JOIN qualifications q USING (qualification_id) ORDER BY 1")" = "$(printf 'onb-failed=0\nonb=0')" ]
	# Reconnect: rejected onboarding.
	run -0 pool_send <<<"$(reg_packet jack)"
	[ "$(jq -r .data.failure_reason <<<"$output")" = "$NOT_QUALIFIED" ]
	# A new registration: refused by the -failed qualification.
	run -0 pool_send <<<"$(reg_packet jack reg-jack-2)"
	[ "$(jq -r .data.failure_reason <<<"$output")" = "$NOT_QUALIFIED" ]
	[ "$(sql "SELECT count(*) FROM agents")" = 0 ]
}

@test "pool: onboarding with a validator command" {
	pool_make_run 3 "$(onb_params '"onboarding_validator": "jq -e \".outputs.q1 == \\\"4\\\" and .inputs.x == 1\" >/dev/null", "onboarding_data": {"x": 1}')"
	pool_start
	run -0 pool_send <<<"$(reg_packet kim; reg_packet lee)"
	onb_kim=$(jq -r 'select(.data.request_id == "reg-kim") | .data.agent_id' <<<"$output")
	onb_lee=$(jq -r 'select(.data.request_id == "reg-lee") | .data.agent_id' <<<"$output")
	run -0 onb_submit kim "$onb_kim" '{"q1": "4"}'
	[[ "$(jq -r .data.agent_id <<<"$output")" =~ ^[0-9]+$ ]]
	run -0 onb_submit lee "$onb_lee" '{"q1": "5"}'
	[ "$(jq -r .data.failure_reason <<<"$output")" = "$NOT_QUALIFIED" ]
	[ "$(sql "SELECT group_concat(status, ',') FROM (SELECT status FROM onboarding_agents ORDER BY status)")" = approved,rejected ]
	pool_stop
}

@test "pool: a validator that runs out of time fails the worker" {
	pool_make_run 3 "$(onb_params '"onboarding_validator": "sleep 30", "onboarding_validator_timeout": 0.5')"
	pool_start
	run -0 pool_send <<<"$(reg_packet max)"
	onb=$(jq -r .data.agent_id <<<"$output")
	run -0 onb_submit max "$onb" '{}'
	[ "$(jq -r .data.failure_reason <<<"$output")" = "$NOT_QUALIFIED" ]
	[ "$(sql "SELECT status FROM onboarding_agents")" = rejected ]
	grep -q "ran out of time" "$BATS_TEST_TMPDIR/pool.log"
	pool_stop
}

@test "pool: a worker qualified earlier gets a unit and one disqualified is refused" {
	pool_make_run 3 "$(onb_params '"onboarding_answers": {"q": 1}')"
	mephisto-pool qual create onb
	sql "INSERT INTO workers (worker_id, worker_name, provider_type) VALUES (4000001, 'ned_sandbox', 'mock'), (4000002, 'olga_sandbox', 'mock')"
	mephisto-pool grant ned onb 1
	mephisto-pool grant olga onb 0
	pool_start
	run -0 pool_send <<<"$(reg_packet ned)"
	[[ "$(jq -r .data.agent_id <<<"$output")" =~ ^[0-9]+$ ]]
	run -0 pool_send <<<"$(reg_packet olga)"
	[ "$(jq -r .data.failure_reason <<<"$output")" = "$NOT_QUALIFIED" ]
	[ "$(jq -r .data.worker_id <<<"$output")" = 4000002 ]
}

@test "pool: an unknown onboarding agent is refused" {
	pool_make_run 1 "$(onb_params '"onboarding_answers": {}')"
	pool_start
	run -0 onb_submit pat onboarding_123456789 '{}'
	[ "$(jq -r .packet_type <<<"$output")" = error ]
	[ "$(jq -r .data.retryable <<<"$output")" = false ]
}
