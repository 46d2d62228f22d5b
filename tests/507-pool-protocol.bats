#!/usr/bin/env bats
# mephisto-pool: malformed packets do not stop it; requests from launch.

load lib/common
load lib/pool

still_serving() {
	run -0 pool_send <<<"$(reg_packet "probe$RANDOM")"
	[ "$(jq -r .packet_type <<<"$output")" = agent_details ]
}

@test "pool: bad JSON, wrong types and unknown packets get errors" {
	pool_make_run 5
	pool_start
	run -0 pool_send -r -t 500 <<'EOF2'
{not json
{"packet_type": 5, "subject_id": "x", "data": {}}
{"packet_type":"register_agent","subject_id":"x","request_id":"a","data":{"provider_data":"oops"}}
{"packet_type":"register_agent","subject_id":"x","request_id":"b","data":{"provider_data":{"worker_name":7}}}
{"packet_type":"frobnicate","subject_id":"x","request_id":"c","data":{}}
{"packet_type":"submit_unit","subject_id":"1","request_id":"d","data":[1]}
{"packet_type":"register_agent","subject_id":"x","request_id":"e","data":{"provider_data":{"worker_name":"good"}}}
EOF2
	[ "$(jq -r 'select(.packet_type != "update_status") | .packet_type' <<<"$output" | sort | uniq -c | awk '{print $1 $2}' | tr '\n' ' ')" = "1agent_details 6error " ]
	[ "$(jq -r 'select(.request_id == "c") | .data.error' <<<"$output")" = "unknown packet type 'frobnicate'" ]
	[ "$(jq -r 'select(.request_id == "a") | .data.retryable' <<<"$output")" = false ]
	still_serving
	pool_stop
}

@test "pool: an oversized line closes that connection only" {
	pool_make_run 5
	pool_start
	head -c 9000000 /dev/zero | tr '\0' 'a' > "$BATS_TEST_TMPDIR/big"
	echo >> "$BATS_TEST_TMPDIR/big"
	run -0 pool_send -r -t 5000 < "$BATS_TEST_TMPDIR/big"
	[ "$(jq -r .data.error <<<"$output")" = "line too long" ]
	still_serving
	pool_stop
}

@test "pool: a peer that does not start with hello is refused" {
	pool_make_run 1
	pool_start
	run -0 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"{\"packet_type\":\"snapshot\",\"subject_id\":\"x\",\"data\":{}}\n")
f = s.makefile()
print(f.readline().strip())
print(f.readline().strip())
' "$POOL_SOCK"
	[ "$(head -1 <<<"$output" | jq -r .packet_type)" = hello ]
	[ "$(tail -1 <<<"$output" | jq -r .packet_type)" = error ]
	still_serving
}

@test "pool: snapshot, subscribe, disconnect_active and shutdown" {
	pool_make_run 3
	pool_start
	agent=$(pool_send <<<"$(reg_packet ann)" | jq -r .data.agent_id)
	run -0 pool_send -p mephisto-launch <<<'{"packet_type":"snapshot","subject_id":"mephisto","data":{}}'
	[ "$(jq -r .data.counts.assigned <<<"$output")" = 1 ]
	[ "$(jq -r .data.counts.launched <<<"$output")" = 2 ]
	[ "$(jq -r '.data.units[] | select(.agent_id != null) | .worker_name + " " + .agent_status' <<<"$output")" = "ann_sandbox in task" ]
	[ "$(jq -c '[(.data.units | length), .data.truncated]' <<<"$output")" = "[3,false]" ]
	# Only the units asked for, at most LIMIT; the counts stay whole.
	run -0 pool_send -p mephisto-launch <<<'{"packet_type":"snapshot","subject_id":"mephisto","data":{"statuses":["assigned"]}}'
	[ "$(jq -c '[.data.units[].worker_name, .data.counts.launched]' <<<"$output")" = '["ann_sandbox",2]' ]
	run -0 pool_send -p mephisto-launch <<<'{"packet_type":"snapshot","subject_id":"mephisto","data":{"statuses":["launched"],"limit":1}}'
	[ "$(jq -c '[(.data.units | length), .data.units[0].status, .data.truncated]' <<<"$output")" = '[1,"launched",true]' ]
	run -0 pool_send -p mephisto-launch <<<'{"packet_type":"snapshot","subject_id":"mephisto","data":{"statuses":[1]}}'
	[ "$(jq -r .data.error <<<"$output")" = "field 'statuses' must list strings" ]
	# A subscriber replaying from the start sees the assignment.
	run -0 pool_send -p mephisto-launch -a <<<'{"packet_type":"subscribe","subject_id":"mephisto","data":{"since":0}}
{"packet_type":"snapshot","subject_id":"mephisto","data":{}}'
	[ "$(jq -r 'select(.packet_type == "event") | .data.event' <<<"$output" | grep -c unit_assigned)" = 1 ]
	run -0 pool_send -p mephisto-launch <<<'{"packet_type":"disconnect_active","subject_id":"mephisto","data":{}}'
	[ "$(jq -r .data.count <<<"$output")" = 1 ]
	[ "$(sql "SELECT status FROM agents WHERE agent_id = $agent")" = disconnect ]
	[ "$(sql "SELECT status FROM units WHERE agent_id = $agent")" = expired ]
	[ "$(sql "SELECT is_expired FROM provider_units WHERE unit_id = (SELECT unit_id FROM units WHERE agent_id = $agent)")" = 1 ]
	pool_stop
	[ ! -e "$POOL_SOCK" ]
}

@test "pool: a subscriber without events is told only that the run changed" {
	pool_make_run 3
	pool_start
	# A subscriber to events that changes its mind gets changes only.
	pool_send -p mephisto-launch -r -t 3000 > "$BATS_TEST_TMPDIR/watch" <<'EOF2' &
{"packet_type":"subscribe","subject_id":"mephisto","request_id":"e","data":{}}
{"packet_type":"subscribe","subject_id":"mephisto","request_id":"s","data":{"events":false}}
EOF2
	watcher=$!
	wait_for 10 grep -q '"request_id":"s"' "$BATS_TEST_TMPDIR/watch"
	run -0 pool_send <<<"$(reg_packet ann)"
	[ "$(jq -r .packet_type <<<"$output")" = agent_details ]
	wait "$watcher"
	# The registration is one "changed" packet, without its events.
	[ "$(jq -r .packet_type < "$BATS_TEST_TMPDIR/watch" | sort | uniq -c | awk '{print $1 $2}' | tr '\n' ' ')" = "2ack 1changed " ]
	[ "$(jq -c .data < <(grep '"changed"' "$BATS_TEST_TMPDIR/watch"))" = "{}" ]
	run -0 pool_send -p mephisto-launch <<<'{"packet_type":"subscribe","subject_id":"mephisto","data":{"events":"no"}}'
	[ "$(jq -r .data.error <<<"$output")" = "field 'events' must be a boolean, not a string" ]
	run -0 pool_send -p mephisto-launch <<<'{"packet_type":"subscribe","subject_id":"mephisto","data":{"events":false,"since":0}}'
	[ "$(jq -r .data.error <<<"$output")" = "field 'since' replays events: not with 'events': false" ]
	still_serving
	pool_stop
}

@test "pool: a second pool for the same run refuses to start" {
	pool_make_run 1
	pool_start
	run mephisto-pool --run "$POOL_RUN"
	assert_fails_cleanly
	assert_output --partial "already listening"
	still_serving
}
