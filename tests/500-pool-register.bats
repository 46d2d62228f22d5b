#!/usr/bin/env bats
# mephisto-pool: registration, unit reservation and reconnects.

load lib/common
load lib/pool

@test "pool: a worker gets a unit with the assignment's shared data" {
	pool_make_run 3
	pool_start
	run -0 pool_send <<<"$(reg_packet alice)"
	[ "$(jq -r .packet_type <<<"$output")" = agent_details ]
	[ "$(jq -r .request_id <<<"$output")" = r1 ]
	[ "$(jq -r .data.request_id <<<"$output")" = reg-alice ]
	[ "$(jq -r .data.failure_reason <<<"$output")" = null ]
	[ "$(jq -r .data.init_task_data.text <<<"$output")" = "item 0" ]
	agent=$(jq -r .data.agent_id <<<"$output")
	worker=$(jq -r .data.worker_id <<<"$output")
	[ "$(sql "SELECT worker_name FROM workers WHERE worker_id = $worker")" = alice_sandbox ]
	[ "$(sql "SELECT status, worker_id FROM units WHERE agent_id = $agent")" = "assigned|$worker" ]
	[ "$(sql "SELECT status FROM agents WHERE agent_id = $agent")" = "in task" ]
	[ "$(sql "SELECT json_extract(inputs, '$.text') FROM agent_data WHERE agent_id = $agent")" = "item 0" ]
	[ "$(sql "SELECT agent_id FROM agent_registrations WHERE registration_id = 'reg-alice'")" = "$agent" ]
	[ "$(sql "SELECT count(*) FROM run_events WHERE event = 'unit_assigned' AND agent_id = $agent")" = 1 ]
	pool_stop
}

@test "pool: 200 workers at once for 100 units: each unit has one agent" {
	pool_make_run 100
	pool_start
	for i in $(seq 1 200); do reg_packet "w$i"; done > "$BATS_TEST_TMPDIR/regs"
	# Two connections at once, 100 registrations each.
	head -100 "$BATS_TEST_TMPDIR/regs" | pool_send > "$BATS_TEST_TMPDIR/out1" &
	p1=$!
	tail -100 "$BATS_TEST_TMPDIR/regs" | pool_send > "$BATS_TEST_TMPDIR/out2"
	wait "$p1"
	cat "$BATS_TEST_TMPDIR/out1" "$BATS_TEST_TMPDIR/out2" > "$BATS_TEST_TMPDIR/out"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/out")" -eq 200 ]
	[ "$(jq -r 'select(.data.agent_id != null) | .data.agent_id' "$BATS_TEST_TMPDIR/out" | sort -u | wc -l)" -eq 100 ]
	[ "$(jq -r 'select(.data.agent_id == null) | .data.failure_reason' "$BATS_TEST_TMPDIR/out" | sort -u)" = \
	    "There is currently no available work, please try again later." ]
	[ "$(sql "SELECT count(*) FROM units WHERE status = 'assigned' AND agent_id IS NOT NULL")" -eq 100 ]
	[ "$(sql "SELECT count(*) FROM agents")" -eq 100 ]
	[ "$(sql "SELECT count(*) FROM (SELECT unit_id FROM agents GROUP BY unit_id HAVING count(*) > 1)")" -eq 0 ]
	[ "$(sql "SELECT count(*) FROM units u JOIN agents a ON a.agent_id = u.agent_id WHERE a.unit_id != u.unit_id OR a.worker_id != u.worker_id")" -eq 0 ]
	pool_stop
}

@test "pool: reservations from several processes never share a unit" {
	pool_make_run 60
	run -0 pool-reserve "$POOL_RUN" 4 30
	[ "$(sql "SELECT count(*) FROM agents")" -eq 60 ]
	[ "$(sql "SELECT count(DISTINCT unit_id) FROM agents")" -eq 60 ]
	[ "$(sql "SELECT count(*) FROM units WHERE status = 'assigned'")" -eq 60 ]
}

@test "pool: a worker never gets two units of one assignment" {
	pool_make_run 2 "" 2
	pool_start
	run -0 pool_send <<<"$(reg_packet bob r1; reg_packet bob r2; reg_packet bob r3)"
	[ "$(jq -r 'select(.data.agent_id != null) | .data.agent_id' <<<"$output" | wc -l)" -eq 2 ]
	[ "$(sql "SELECT count(DISTINCT assignment_id) FROM units WHERE worker_id IS NOT NULL")" -eq 2 ]
	[ "$(sql "SELECT count(*) FROM units WHERE worker_id IS NOT NULL")" -eq 2 ]
}

@test "pool: units with a negative index and units not launched are never offered" {
	pool_make_run 2
	sql "UPDATE units SET unit_index = -1 WHERE unit_id = 3000000"
	sql "UPDATE units SET status = 'created' WHERE unit_id = 3000001"
	pool_start
	run -0 pool_send <<<"$(reg_packet carol)"
	[ "$(jq -r .data.failure_reason <<<"$output")" = \
	    "There is currently no available work, please try again later." ]
	[ "$(jq -r .data.worker_id <<<"$output")" != null ]
}

@test "pool: a reconnect returns the same agent, also after a restart" {
	pool_make_run 3
	pool_start
	run -0 pool_send <<<"$(reg_packet dave)"
	agent=$(jq -r .data.agent_id <<<"$output")
	run -0 pool_send <<<"$(reg_packet dave)"
	[ "$(jq -r .data.agent_id <<<"$output")" = "$agent" ]
	[ "$(jq -r .data.init_task_data.text <<<"$output")" = "item 0" ]
	pool_kill
	pool_start
	run -0 pool_send <<<"$(reg_packet dave)"
	[ "$(jq -r .data.agent_id <<<"$output")" = "$agent" ]
	[ "$(jq -r .data.init_task_data.index <<<"$output")" = 0 ]
	[ "$(sql "SELECT count(*) FROM agents")" -eq 1 ]
	pool_stop
}

@test "pool: a reconnect for an agent that is gone gets TASK_MISSING" {
	pool_make_run 3
	pool_start
	run -0 pool_send <<<"$(reg_packet erin)"
	agent=$(jq -r .data.agent_id <<<"$output")
	run -0 pool_send <<<"$(submit_packet "$agent")"
	run -0 pool_send <<<"$(reg_packet erin)"
	[ "$(jq -r .data.failure_reason <<<"$output")" = \
	    "You appear to have already completed this task, or have disconnected long enough for your session to clear." ]
	[ "$(jq -r .data.agent_id <<<"$output")" = null ]
	# A registration whose agent row does not exist.
	sql "INSERT INTO agent_registrations (registration_id, task_run_id, worker_id, agent_id) SELECT 'ghost', $POOL_RUN, worker_id, 999999999 FROM workers LIMIT 1"
	run -0 pool_send <<<"$(reg_packet erin ghost)"
	[ "$(jq -r .data.failure_reason <<<"$output")" = \
	    "You appear to have already completed this task, or have disconnected long enough for your session to clear." ]
}

@test "pool: status updates go to mephisto-io" {
	pool_make_run 1
	pool_start
	# The snapshot's reply comes after the status pushed for fay's agent.
	run -0 pool_send -a <<<"$(reg_packet fay; echo '{"packet_type":"snapshot","subject_id":"mephisto","data":{}}')"
	agent=$(jq -r 'select(.packet_type == "agent_details") | .data.agent_id' <<<"$output")
	[ "$(jq -r 'select(.packet_type == "update_status") | .subject_id + " " + .data.status' <<<"$output")" = "$agent in task" ]
	[ "$(jq -r 'select(.packet_type == "snapshot") | .data.counts.assigned' <<<"$output")" = 1 ]
}
