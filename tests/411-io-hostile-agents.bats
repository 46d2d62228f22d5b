#!/usr/bin/env bats
# Workers against each other, through a live mephisto-io and a real pool:
# a worker only ever receives its own init_task_data, cannot take over
# another worker's registration, cannot submit for agents it was not
# given, cannot overwrite a submission, and cannot speak for the pool on
# the WebSocket.  Each test asserts the answer and that nothing was
# written.

load lib/common
load lib/pool
load lib/io
load lib/hostile

setup() {
	setup_env
	live_setup 4
}

@test "hostile agents: every worker receives only its own unit's init_task_data" {
	local w seen=()
	for w in w1 w2 w3 w4; do
		register "$w"
		# the data is that of the unit this agent holds, and nobody else's
		expected=$(sql "SELECT d.shared FROM agents a JOIN assignment_data d USING (assignment_id) WHERE a.agent_id = $agent")
		assert_equal "$(jq -cS .data.init_task_data <<<"$body")" "$(jq -cS . <<<"$expected")"
		seen+=("$(jq -c .data.init_task_data <<<"$body")")
		# asking again gives the same agent and the same data
		register "$w"
		assert_equal "$(jq -c .data.init_task_data <<<"$body")" "${seen[-1]}"
	done
	[ "$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)" -eq 4 ]
	# no work left: a fifth worker gets no one's data
	post_json /request_agent '{"provider_data": {"worker_name": "w5", "agent_registration_id": "reg-w5", "assignment_id": "x", "provider_type": "mock"}}'
	assert_equal "$(json .data.agent_id)" null
	assert_equal "$(json .data.init_task_data)" null
}

@test "hostile agents: another worker's registration id is refused" {
	register w1
	local a1=$agent
	register w2
	mark_written
	post_json /request_agent '{"provider_data": {"worker_name": "w2", "agent_registration_id": "reg-w1", "assignment_id": "x", "provider_type": "mock"}}'
	assert_equal "$code" 400
	assert_equal "$(json .error)" "field 'agent_registration_id' belongs to another worker"
	[[ "$body" != *"$a1"* && "$body" != *item* ]]
	# and a new worker name with it creates nobody
	post_json /request_agent '{"provider_data": {"worker_name": "w-new", "agent_registration_id": "reg-w1", "assignment_id": "x", "provider_type": "mock"}}'
	assert_equal "$code" 400
	nothing_written
}

@test "hostile agents: submits for agents never given out are refused" {
	register w1
	mark_written
	local id
	for id in 1 1234567890123 9223372036854775807 99999999999999999999 -5 abc "$agent " "0$agent" ""; do
		post_json /submit_task "{\"USED_AGENT_ID\": \"$id\", \"final_data\": {\"rating\": \"bad\"}}"
		[[ "$code" =~ ^4[0-9][0-9]$ ]] || fail "agent '$id': status $code $body"
		[ "$(json .status)" != "Submitted!" ] || fail "agent '$id' was accepted"
	done
	nothing_written
}

@test "hostile agents: a submission cannot be overwritten by a second submit" {
	register w1
	post_json /submit_task "{\"USED_AGENT_ID\": \"$agent\", \"final_data\": {\"rating\": \"mine\"}}"
	assert_equal "$body" '{"status":"Submitted!"}'
	mark_written
	post_json /submit_task "{\"USED_AGENT_ID\": \"$agent\", \"final_data\": {\"rating\": \"theirs\"}}"
	[ "$(sql "SELECT json_extract(outputs, '$.rating') FROM agent_data WHERE agent_id = $agent")" = mine ]
	http POST /submit_task -F USED_AGENT_ID="$agent" -F 'final_string_data={"rating": "theirs"}'
	[ "$(sql "SELECT json_extract(outputs, '$.rating') FROM agent_data WHERE agent_id = $agent")" = mine ]
	nothing_written
}

@test "hostile agents: a browser cannot send update_status or client_bound_live_update" {
	need_node_modules
	register w1
	mark_written
	run -0 ws "send:{\"packet_type\": \"alive\", \"subject_id\": \"$agent\"}" recv:1 \
		"send:{\"packet_type\": \"update_status\", \"subject_id\": \"$agent\", \"data\": {\"status\": \"completed\"}}" \
		"send:{\"packet_type\": \"client_bound_live_update\", \"subject_id\": \"$agent\", \"data\": {\"x\": 1}}" \
		"send:{\"packet_type\": \"update_status\", \"subject_id\": \"mephisto\", \"data\": {\"status\": \"approved\"}}" \
		'send:{"packet_type": "alive", "subject_id": "1"}' \
		"send:{\"packet_type\": \"heartbeat\", \"subject_id\": \"$agent\"}" recv:2 wait:300
	# only io's and the pool's own packets came back: no echo of the
	# forged ones, no status but the pool's
	echo "$output" >&2
	refute_output --partial '"x":1'
	refute_output --partial '"completed"'
	refute_output --partial '"approved"'
	io_log_has "ignored a update_status packet from a browser"
	io_log_has "ignored a client_bound_live_update packet from a browser"
	[ "$(sql "SELECT status FROM agents WHERE agent_id = $agent")" = "in task" ]
	nothing_written
	io_alive
}
