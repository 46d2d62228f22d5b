#!/usr/bin/env bats
# mephisto-pool: agents that run out of time release their units.

load lib/common
load lib/pool

short_params='{"task": {"assignment_duration_in_seconds": 1}, "blueprint": {}, "provider": {"_provider_type": "mock"}}'

unit_free() {
	[ "$(sql "SELECT status || ':' || coalesce(agent_id, '') FROM units")" = "launched:" ]
}

@test "pool: after assignment_duration_in_seconds the unit goes to another worker" {
	pool_make_run 1 "${short_params/: 1/: 3}"
	pool_start
	run -0 pool_send <<<"$(reg_packet walt)"
	agent=$(jq -r .data.agent_id <<<"$output")
	run -0 pool_send <<<"$(reg_packet xena)"
	[ "$(jq -r .data.failure_reason <<<"$output")" = "There is currently no available work, please try again later." ]
	# io reports the worker's socket gone: the unit stays reserved.
	printf '{"packet_type":"return_statuses","subject_id":"mephisto","data":{"%s":"disconnect"}}\n' "$agent" | pool_send
	[ "$(sql "SELECT status FROM units")" = assigned ]
	wait_for 10 unit_free
	[ "$(sql "SELECT status FROM agents WHERE agent_id = $agent")" = disconnect ]
	[ "$(sql "SELECT count(*) FROM run_events WHERE event = 'unit_released'")" = 1 ]
	run -0 pool_send <<<"$(reg_packet xena xena-2)"
	[[ "$(jq -r .data.agent_id <<<"$output")" =~ ^[0-9]+$ ]]
	# The late submission of the released agent is refused.
	run -0 pool_send <<<"$(submit_packet "$agent")"
	[ "$(jq -r .packet_type <<<"$output")" = error ]
	# And its reconnect finds the task gone.
	run -0 pool_send <<<"$(reg_packet walt)"
	[ "$(jq -r .data.agent_id <<<"$output")" = null ]
	pool_stop
}

@test "pool: deadlines are recomputed from the database after a restart" {
	pool_make_run 1 "$short_params"
	pool_start
	run -0 pool_send <<<"$(reg_packet yan)"
	pool_kill
	sleep 1.2
	pool_start
	wait_for 5 unit_free
	[ "$(sql "SELECT status FROM agents")" = disconnect ]
}

@test "pool: a submission in time keeps the unit" {
	pool_make_run 1 "$short_params"
	pool_start
	run -0 pool_send <<<"$(reg_packet zoe)"
	agent=$(jq -r .data.agent_id <<<"$output")
	run -0 pool_send <<<"$(submit_packet "$agent")"
	sleep 1.5
	[ "$(sql "SELECT status FROM units")" = completed ]
	[ "$(sql "SELECT status FROM agents")" = completed ]
}
