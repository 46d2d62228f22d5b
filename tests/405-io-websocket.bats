#!/usr/bin/env bats
# mephisto-io's WebSocket side: heartbeats, statuses, live updates, and
# liveness pushed to the pool.

load lib/common
load lib/io

setup() {
	setup_env
	io_setup_run
	need_node_modules
}

# register: make io know agent 1001 (as /request_agent does).
register() {
	post_json /request_agent '{"provider_data": {"worker_name": "w"}}'
	assert_equal "$(json .data.agent_id)" 1001
}

# statuses: ask io for its agent statuses as the pool would, and print
# the data of the return_statuses it sends.
statuses() {
	: > "$POOL_LOG.before"
	local n=$(grep -c return_statuses "$POOL_LOG")
	push '{"packet_type": "request_statuses", "subject_id": "mephisto", "data": {}, "server_timestamp": 5}'
	wait_for 5 test "$(grep -c return_statuses "$POOL_LOG")" -gt "$n"
	pool_packet return_statuses | jq -c .data
}

@test "io ws: a heartbeat for an unknown agent is answered, nothing kept" {
	start_io_with_pool
	run -0 ws 'send:{"packet_type": "heartbeat", "subject_id": "424242", "client_timestamp": 1}' recv:1
	local p="${lines[0]}"
	assert_equal "$(jq -r .packet_type <<<"$p")" heartbeat
	assert_equal "$(jq -r .subject_id <<<"$p")" 424242
	assert_equal "$(jq -r '.data | keys | join(",")' <<<"$p")" last_mephisto_ping
	local ping=$(jq -r '.data.last_mephisto_ping | floor' <<<"$p")
	[ $(( $(date +%s%3N) - ping )) -lt 60000 ]
	[ "$(jq -r '.router_outgoing_timestamp | type' <<<"$p")" = number ]
	[ "$(jq -r '.router_incoming_timestamp | type' <<<"$p")" = number ]
	run ws 'send:{"packet_type": "alive", "subject_id": "424242"}' wait:200
	assert_equal "$(statuses)" '{}'
	io_log_has "alive from a socket for unknown agent '424242'"
}

@test "io ws: alive binds a known agent and gets its status; heartbeat reports it" {
	start_io_with_pool
	register
	run -0 ws 'send:{"packet_type": "alive", "subject_id": "1001", "data": {"update_id": "u0"}}' recv:1 \
		'send:{"packet_type": "heartbeat", "subject_id": "1001"}' recv:2
	assert_equal "$(jq -c '[.packet_type, .subject_id, .data]' <<<"${lines[0]}")" \
		'["update_status","1001",{"status":"none"}]'
	assert_equal "$(jq -r .data.status <<<"${lines[1]}")" none
	push '{"packet_type": "update_status", "subject_id": "1001", "data": {"status": "in task"}}'
	run -0 ws 'send:{"packet_type": "heartbeat", "subject_id": "1001"}' recv:1
	assert_equal "$(jq -r .data.status <<<"${lines[0]}")" "in task"
	assert_equal "$(statuses)" '{"1001":"in task"}'
}

@test "io ws: a socket whose alive had no agent id hears the status once it speaks for one" {
	start_io_with_pool
	register
	# mephisto-task's client can send alive before it knows its agent id
	run -0 ws 'send:{"packet_type": "alive", "data": {}}' \
		'send:{"packet_type": "heartbeat", "subject_id": "1001"}' recv:2 \
		'send:{"packet_type": "heartbeat", "subject_id": "1001"}' recv:3 wait:200
	assert_equal "${#lines[@]}" 3
	assert_equal "$(jq -c '[.packet_type, .subject_id, .data]' <<<"${lines[0]}")" \
		'["update_status","1001",{"status":"none"}]'
	assert_equal "$(jq -r .packet_type <<<"${lines[1]}")" heartbeat
	assert_equal "$(jq -r .packet_type <<<"${lines[2]}")" heartbeat
	io_log_has "ignored a packet from a browser: field 'subject_id' is missing"
	push '{"packet_type": "update_status", "subject_id": "1001", "data": {"status": "in task"}}'
	run -0 ws 'send:{"packet_type": "mephisto_bound_live_update", "subject_id": "1001", "data": {"update_id": "u1"}}' \
		recv:2 wait:200
	# what was kept for the agent, then its status, as after alive
	assert_equal "${#lines[@]}" 2
	assert_equal "$(jq -c '[.packet_type, .data.status]' <<<"${lines[0]}")" \
		'["update_status","in task"]'
	assert_equal "$(jq -c '[.packet_type, .data.status]' <<<"${lines[1]}")" \
		'["update_status","in task"]'
	wait_for 5 pool_got mephisto_bound_live_update
}

@test "io ws: live updates from the browser reach the pool (fragmented too)" {
	start_io_with_pool
	register
	run -0 ws 'send:{"packet_type": "alive", "subject_id": "1001"}' recv:1 \
		'frag:{"packet_type": "mephisto_bound_live_update", "subject_id": "1001", "data": {"update_id": "u1", "text": "hello there"}, "client_timestamp": 7}' \
		wait:300
	wait_for 5 pool_got mephisto_bound_live_update
	local p=$(pool_packet mephisto_bound_live_update)
	assert_equal "$(jq -c '[.subject_id, .data.update_id, .data.text, .client_timestamp]' <<<"$p")" \
		'["1001","u1","hello there",7]'
	[ "$(jq -r '.router_incoming_timestamp | type' <<<"$p")" = number ]
	[ "$(jq -r '.router_outgoing_timestamp | type' <<<"$p")" = number ]
}

@test "io ws: browsers may not send update_status or client_bound_live_update" {
	start_io_with_pool
	register
	run -0 ws 'send:{"packet_type": "alive", "subject_id": "1001"}' recv:1 \
		'send:{"packet_type": "update_status", "subject_id": "1001", "data": {"status": "completed"}}' \
		'send:{"packet_type": "client_bound_live_update", "subject_id": "1001", "data": {"x": 1}}' \
		'send:{"packet_type": "alive", "subject_id": "mephisto"}' \
		'send:{"packet_type": "heartbeat", "subject_id": "1001"}' recv:2
	# the status is still the pool's, and only io's replies came back
	assert_equal "${#lines[@]}" 2
	assert_equal "$(jq -r .data.status <<<"${lines[1]}")" none
	io_log_has "ignored a update_status packet from a browser"
	io_log_has "ignored a client_bound_live_update packet from a browser"
	io_log_has "ignored an alive packet for 'mephisto' from a browser"
	run ! pool_got update_status
}

@test "io ws: pool packets reach the agent's socket" {
	start_io_with_pool
	register
	ws 'send:{"packet_type": "alive", "subject_id": "1001"}' recv:3 \
		> "$BATS_TEST_TMPDIR/ws.out" &
	local wpid=$!
	wait_for 5 grep -q update_status "$BATS_TEST_TMPDIR/ws.out"
	push '{"packet_type": "client_bound_live_update", "subject_id": "1001", "data": {"update_id": "s1", "text": "from pool"}}'
	push '{"packet_type": "update_status", "subject_id": "1001", "data": {"status": "completed"}}'
	wait "$wpid"
	run cat "$BATS_TEST_TMPDIR/ws.out"
	assert_equal "$(jq -c '[.packet_type, .data.text]' <<<"${lines[1]}")" \
		'["client_bound_live_update","from pool"]'
	[ "$(jq -r '.router_outgoing_timestamp | type' <<<"${lines[1]}")" = number ]
	assert_equal "$(jq -c '[.packet_type, .data.status]' <<<"${lines[2]}")" \
		'["update_status","completed"]'
}

@test "io ws: packets for an absent socket are kept and delivered on return" {
	start_io_with_pool
	register
	push '{"packet_type": "client_bound_live_update", "subject_id": "1001", "data": {"update_id": "s1", "n": 1}}'
	push '{"packet_type": "client_bound_live_update", "subject_id": "1001", "data": {"update_id": "s2", "n": 2}}'
	# a socket that is not the agent's gets nothing
	run -0 ws 'send:{"packet_type": "heartbeat", "subject_id": "555"}' recv:1 wait:200
	assert_equal "${#lines[@]}" 1
	run -0 ws 'send:{"packet_type": "alive", "subject_id": "1001"}' recv:3
	assert_equal "$(jq -r .packet_type <<<"${lines[0]}")" client_bound_live_update
	assert_equal "$(jq -r .data.n <<<"${lines[0]}")" 1
	assert_equal "$(jq -r .data.n <<<"${lines[1]}")" 2
	assert_equal "$(jq -r .packet_type <<<"${lines[2]}")" update_status
}

@test "io ws: many packets kept for a socket, small and large, arrive whole and in order" {
	start_io_with_pool
	register
	# 300 packets of 1 to 70,000 bytes of text: frames of each length
	# encoding, several writes' worth, waiting at once for one socket.
	awk 'BEGIN {
		for (x = "x"; length(x) < 70000; x = x x)
			;
		for (n = 1; n <= 300; n++) {
			len = n % 50 == 0 ? 70000 : n % 3 == 0 ? 200 : n % 7
			t = substr(x, 1, len)
			printf "{\"packet_type\": \"client_bound_live_update\", \"subject_id\": \"1001\", \"data\": {\"n\": %d, \"text\": \"%s\"}}\n", n, t
		}
	}' > "$BATS_TEST_TMPDIR/pushes"
	cat "$BATS_TEST_TMPDIR/pushes" > "$POOL_PUSH"
	statuses > /dev/null	# io has read every push before this answer
	ws 'send:{"packet_type": "alive", "subject_id": "1001"}' recv:301 \
		> "$BATS_TEST_TMPDIR/ws.out"
	run jq -r 'select(.packet_type == "client_bound_live_update") | "\(.data.n) \(.data.text | length)"' "$BATS_TEST_TMPDIR/ws.out"
	assert_equal "${#lines[@]}" 300
	assert_equal "$(printf '%s\n' "${lines[@]}" | md5sum)" \
		"$(awk 'BEGIN { for (n = 1; n <= 300; n++) print n, n % 50 == 0 ? 70000 : n % 3 == 0 ? 200 : n % 7 }' | md5sum)"
}

@test "io ws: a closed socket is reported disconnect, its return alive" {
	start_io_with_pool --lost-timeout 400
	register
	run -0 ws 'send:{"packet_type": "alive", "subject_id": "1001"}' recv:1
	wait_for 5 pool_got return_statuses
	assert_equal "$(pool_packet return_statuses | jq -c '[.subject_id, .data]')" \
		'["mephisto",{"1001":"disconnect"}]'
	io_log_has "agent 1001 disconnected (socket closed)"
	: > "$POOL_LOG"
	run -0 ws 'send:{"packet_type": "heartbeat", "subject_id": "1001"}' recv:1
	wait_for 5 pool_got return_statuses
	# The first report after its return is "alive" (this socket closing
	# again may add a later "disconnect").
	assert_equal "$(grep '"packet_type":"return_statuses"' "$POOL_LOG" | head -n 1 | jq -c .data)" \
		'{"1001":"alive"}'
}

@test "io ws: a silent socket is reported disconnect while still open" {
	start_io_with_pool --ping-timeout 500
	register
	ws 'send:{"packet_type": "alive", "subject_id": "1001"}' recv:1 wait:1500 \
		'send:{"packet_type": "heartbeat", "subject_id": "1001"}' recv:2 \
		> "$BATS_TEST_TMPDIR/ws.out" &
	local wpid=$!
	wait_for 5 pool_got return_statuses
	assert_equal "$(pool_packet return_statuses | jq -c .data)" '{"1001":"disconnect"}'
	io_log_has "agent 1001 disconnected (socket silent)"
	wait "$wpid"
	wait_for 5 grep -q '"1001":"alive"' "$POOL_LOG"
}

@test "io ws: agents with a final status are not reported" {
	start_io_with_pool --lost-timeout 300
	register
	push '{"packet_type": "update_status", "subject_id": "1001", "data": {"status": "completed"}}'
	run -0 ws 'send:{"packet_type": "alive", "subject_id": "1001"}' recv:1
	sleep 1
	run ! pool_got return_statuses
}

@test "io ws: live updates sent while the pool is away are delivered on its return" {
	start_io_with_pool
	register
	stop_fakepool
	wait_for 5 io_log_has "lost the connection to the pool"
	run -0 ws 'send:{"packet_type": "mephisto_bound_live_update", "subject_id": "1001", "data": {"update_id": "held1"}}' \
		'send:{"packet_type": "heartbeat", "subject_id": "1001"}' recv:1
	: > "$POOL_LOG"
	start_fakepool
	wait_for 10 pool_got mephisto_bound_live_update
	assert_equal "$(pool_packet mephisto_bound_live_update | jq -r .data.update_id)" held1
}

@test "io ws: bad packets are ignored and the socket keeps working" {
	start_io_with_pool
	run -0 ws 'send:{nope' 'send:[1]' 'send:{"packet_type": 3}' \
		'send:{"packet_type": "alive", "subject_id": 5}' \
		'send:{"packet_type": "mystery", "subject_id": "1"}' \
		'send:{"packet_type": "alive"}' 'bin:{"packet_type": "heartbeat"}' \
		'send:{"packet_type": "heartbeat", "subject_id": "1", "data": 4}' \
		'send:{"packet_type": "heartbeat", "subject_id": "1"}' recv:1
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jq -r .packet_type <<<"${lines[0]}")" heartbeat
	io_log_has "ignored a packet from a browser: invalid JSON at offset 2"
	io_log_has "ignored a packet from a browser: field 'packet' must be an object, not an array"
	io_log_has "ignored a packet from a browser: field 'packet_type' must be a string, not a number"
	io_log_has "ignored a packet from a browser: field 'subject_id' must be a string, not a number"
	io_log_has "ignored a packet from a browser: field 'subject_id' is missing"
	io_log_has "ignored a packet from a browser: field 'data' must be an object, not a number"
	io_log_has "ignored a packet of unknown type 'mystery' from a browser"
	io_log_has "ignored a binary message from a browser"
	http GET /is_alive
	assert_equal "$code" 200
}

@test "io ws: a message over --max-body closes that socket only" {
	start_io_with_pool --max-body 2000
	local big=$(head -c 5000 /dev/zero | tr '\0' a)
	run ws "send:{\"packet_type\": \"heartbeat\", \"subject_id\": \"$big\"}" recv:1
	assert_failure
	io_log_has "a browser sent a message over 2000 bytes"
	run -0 ws 'send:{"packet_type": "heartbeat", "subject_id": "1"}' recv:1
}

@test "io ws: any path upgrades, many sockets at once" {
	start_io_with_pool
	WS_URL="ws://127.0.0.1:$PORT/some/path?x=1"
	run -0 ws 'send:{"packet_type": "heartbeat", "subject_id": "1"}' recv:1
	WS_URL="ws://127.0.0.1:$PORT/"
	local i pids=()
	for i in $(seq 20); do
		ws 'send:{"packet_type": "heartbeat", "subject_id": "1"}' recv:1 wait:500 \
			> "$BATS_TEST_TMPDIR/ws.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in $(seq 20); do
		grep -q heartbeat "$BATS_TEST_TMPDIR/ws.$i"
	done
}
