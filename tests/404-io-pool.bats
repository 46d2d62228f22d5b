#!/usr/bin/env bats
# mephisto-io towards its pool: missing, slow, refusing, going away.

load lib/common
load lib/io

# ms: milliseconds since the epoch
ms() {
	date +%s%3N
}

@test "io pool: no pool gives 503 retryable at once, not a hang" {
	start_io
	local t0=$(ms)
	post_json /request_agent '{"provider_data": {"worker_name": "a"}}'
	assert_equal "$code" 503
	assert_equal "$(json .retryable)" true
	[[ "$(json .error)" == *"try again"* ]]
	post_json /submit_task '{"USED_AGENT_ID": "1", "final_data": {}}'
	assert_equal "$code" 503
	assert_equal "$(json .retryable)" true
	post_json /submit_onboarding '{"provider_data": {"USED_AGENT_ID": "onboarding_1"}}'
	assert_equal "$code" 503
	post_json /submit_metadata '{"USED_AGENT_ID": "1", "metadata": {}}'
	assert_equal "$code" 503
	post_json /log_error '{"USED_AGENT_ID": "1", "error_data": {}}'
	assert_equal "$code" 503
	# five requests, each far quicker than the 10 s deadline a hang would take
	[ $(( $(ms) - t0 )) -lt 8000 ]
	# static files and liveness still work
	http GET /task.html
	assert_equal "$code" 200
}

@test "io pool: a pool that does not answer gives 503 at the deadline" {
	start_fakepool --silent
	start_io --pool-timeout 700
	wait_for 5 io_connected
	local t0=$(ms)
	post_json /request_agent '{"provider_data": {"worker_name": "a"}}'
	local took=$(( $(ms) - t0 ))
	assert_equal "$code" 503
	assert_equal "$body" '{"error":"the pool did not answer in time","retryable":true}'
	[ "$took" -ge 600 ] && [ "$took" -lt 5000 ]
	post_json /submit_task '{"USED_AGENT_ID": "1", "final_data": {}}'
	assert_equal "$code" 503
	assert_equal "$(json .retryable)" true
	post_json /submit_onboarding '{"provider_data": {"USED_AGENT_ID": "onboarding_1"}}'
	assert_equal "$code" 503
	io_log_has "timed out"
}

@test "io pool: Submitted! only comes after the pool's ack" {
	start_fakepool --delay 800
	start_io
	wait_for 5 io_connected
	local t0=$(ms)
	post_json /submit_task '{"USED_AGENT_ID": "1001", "final_data": {"a": 1}}'
	local took=$(( $(ms) - t0 ))
	assert_equal "$code" 200
	assert_equal "$body" '{"status":"Submitted!"}'
	[ "$took" -ge 750 ] || fail "answered after $took ms, before the ack"
}

@test "io pool: a submission in flight when the pool dies is 503 retryable" {
	start_fakepool --silent
	start_io
	wait_for 5 io_connected
	(sleep 0.5; kill -TERM "$fakepool_pid") &
	local t0=$(ms)
	post_json /submit_task '{"USED_AGENT_ID": "1001", "final_data": {}}'
	assert_equal "$code" 503
	assert_equal "$body" '{"error":"the pool went away","retryable":true}'
	[ $(( $(ms) - t0 )) -lt 5000 ]
	wait_for 5 io_log_has "lost the connection to the pool"
}

@test "io pool: io reconnects when the pool comes back, and says hello again" {
	start_io_with_pool
	stop_fakepool
	wait_for 5 io_log_has "lost the connection to the pool"
	post_json /request_agent '{"provider_data": {"worker_name": "a"}}'
	assert_equal "$code" 503
	assert_equal "$(json .retryable)" true
	: > "$POOL_LOG"
	start_fakepool
	wait_for 10 io_connected
	post_json /request_agent '{"provider_data": {"worker_name": "a"}}'
	assert_equal "$code" 200
	assert_equal "$(json .data.agent_id)" 1001
}

@test "io pool: a pool that drops the connection mid-stream is survived" {
	start_fakepool --close-after 2
	start_io
	wait_for 5 io_connected
	post_json /request_agent '{"provider_data": {"worker_name": "a"}}'
	# the hello and this request are 2 packets: the pool hangs up
	[[ "$code" == 200 || "$code" == 503 ]]
	wait_for 10 io_log_has "lost the connection to the pool"
	http GET /is_alive
	assert_equal "$code" 200
}

@test "io pool: a pool speaking another protocol version is refused" {
	start_fakepool --version 99
	start_io
	wait_for 5 io_log_has "the pool refused the connection: protocol version mismatch: mephisto-pool speaks version 99, mephisto-io speaks version 1"
	# and the pool is told why
	wait_for 5 grep -q 'protocol version mismatch' "$POOL_LOG"
	post_json /request_agent '{"provider_data": {}}'
	assert_equal "$code" 503
	assert_equal "$(json .retryable)" true
}

@test "io pool: garbage and unknown packets from the pool are ignored" {
	start_io_with_pool
	push 'not json at all'
	push '{"packet_type": 5}'
	push '{"packet_type": "mystery", "subject_id": "x", "data": {}}'
	push '{"packet_type": "agent_details", "request_id": "nobody", "data": {}}'
	push '{"packet_type": "update_status", "subject_id": "9", "data": {"status": 3}}'
	wait_for 5 io_log_has "unknown type 'mystery'"
	io_log_has "ignored a packet from the pool: invalid JSON at offset 0"
	io_log_has "ignored a packet from the pool: field 'packet_type' must be a string, not a number"
	post_json /request_agent '{"provider_data": {"worker_name": "a"}}'
	assert_equal "$code" 200
}

@test "io pool: a line over the protocol limit makes io reconnect" {
	start_io_with_pool
	{ head -c 9000000 /dev/zero | tr '\0' a; echo; } > "$POOL_PUSH"
	wait_for 10 io_log_has "the pool sent a line over"
	wait_for 10 io_log_has "connected to the pool"
	http GET /is_alive
	assert_equal "$code" 200
}

@test "io pool: a client that leaves before the answer is forgotten cleanly" {
	start_fakepool --delay 600
	start_io
	wait_for 5 io_connected
	run curl -s --max-time 0.2 -H 'Content-Type: application/json' \
		--data-binary '{"provider_data": {}}' "$URL/request_agent"
	sleep 1
	post_json /request_agent '{"provider_data": {}}'
	assert_equal "$code" 200
	io_log_has "its client left"
}

@test "io pool: stopping io still delivers the answers it owes, then exits" {
	start_fakepool --delay 800
	start_io
	wait_for 5 io_connected
	curl -s --max-time 20 -H 'Content-Type: application/json' \
		--data-binary '{"USED_AGENT_ID": "1001", "final_data": {"a": 1}}' \
		"$URL/submit_task" > "$BATS_TEST_TMPDIR/answer" &
	local client=$!
	wait_for 5 pool_got submit_unit
	kill -TERM "$io_pid"
	wait "$client"
	# The answer came although io was asked to stop while it waited.
	assert_equal "$(cat "$BATS_TEST_TMPDIR/answer")" '{"status":"Submitted!"}'
	wait "$io_pid"
	io_pid=
	grep -q "got signal 15; shutting down" "$BATS_TEST_TMPDIR/io.log"
}

@test "io pool: what the pool's socket cannot take at once is sent as soon as it can" {
	# The pool reads nothing for 1.5 s while io queues an error report
	# many times larger than a socket buffer; the rest must follow once
	# the pool reads again, not wait for the next request.
	start_fakepool --stall 1500
	start_io
	head -c 1500000 /dev/zero | tr '\0' x |
		jq -Rc '{USED_AGENT_ID: "1", error_data: {text: .}}' > "$BATS_TEST_TMPDIR/big.json"
	local t0=$(ms)
	http POST /log_error -H 'Content-Type: application/json' \
		--data-binary "@$BATS_TEST_TMPDIR/big.json"
	assert_equal "$code" 200
	assert_equal "$(json .status)" "Error log sent!"
	# well before the 10 s deadline a lost write would run into
	[ $(( $(ms) - t0 )) -lt 8000 ]
	grep -q '"packet_type":"log_error"' "$POOL_LOG"
}
