#!/usr/bin/env bats
# mephisto-pool: screening units (index -1) and gold units (index -2),
# facts section 4.4.

load lib/common
load lib/pool

screen_params='{"task": {"allowed_concurrent": 1}, "blueprint": {"_blueprint_type": "static_task", "use_screening_task": true, "passed_qualification_name": "scr-passed", "block_qualification": "scr-blocked", "max_screening_units": 3, "screening_data": {"q": "2+2"}, "screening_answers": {"a": 4}}, "provider": {"_provider_type": "mock"}}'

gold_params='{"task": {"allowed_concurrent": 1}, "blueprint": {"_blueprint_type": "static_task", "use_golds": true, "gold_qualification_base": "g", "gold_units": {"g1": {"data": {"q": "1+1"}, "answers": {"a": "2"}}}}, "provider": {"_provider_type": "mock"}}'

# register WORKER [REG]: sets $agent and $output.
register() {
	run -0 pool_send <<<"$(reg_packet "$@")"
	agent=$(jq -r .data.agent_id <<<"$output")
}

unit_index() {
	sql "SELECT u.unit_index FROM units u JOIN agents a USING (unit_id) WHERE a.agent_id = $1"
}

grant() {
	sql "SELECT g.value FROM granted_qualifications g JOIN qualifications q USING (qualification_id) JOIN workers w USING (worker_id) WHERE q.qualification_name = '$2' AND w.worker_name = '$1_sandbox'"
}

@test "screening: a worker first gets a screening unit; failing it blocks the worker" {
	pool_make_run 2 "$screen_params"
	pool_start
	register ann
	[ "$(unit_index "$agent")" -eq -1 ]
	[ "$(jq -r .data.init_task_data.q <<<"$output")" = "2+2" ]
	run -0 pool_send <<<"$(submit_packet "$agent" '{"a":"5"}')"
	[ "$(grant ann scr-blocked)" = 1 ]
	[ -z "$(grant ann scr-passed)" ]
	register ann reg-ann-2
	[ "$agent" = null ]
	[ "$(jq -r .data.failure_reason <<<"$output")" = "You are not currently qualified to work on this task." ]
	pool_stop
}

@test "screening: passing it grants the passed qualification and real work follows" {
	pool_make_run 2 "$screen_params"
	pool_start
	register bob
	[ "$(unit_index "$agent")" -eq -1 ]
	run -0 pool_send <<<"$(submit_packet "$agent" '{"a":"4"}')"
	[ "$(grant bob scr-passed)" = 1 ]
	register bob reg-bob-2
	[ "$(unit_index "$agent")" -eq 0 ]
	[ "$(jq -r .data.init_task_data.text <<<"$output")" = "item 0" ]
	pool_stop
}

@test "screening: max_screening_units caps the screening units of a run" {
	pool_make_run 2 "$screen_params"
	pool_start
	for w in a b c; do register "$w"; [ "$(unit_index "$agent")" -eq -1 ]; done
	register d
	[ "$agent" = null ]
	[ "$(jq -r .data.failure_reason <<<"$output")" = "There is currently no available work, please try again later." ]
	pool_stop
}

@test "gold: results move the counters; a wrong gold disqualifies and stops golds" {
	pool_make_run 3 "$gold_params"
	pool_start
	register ann
	[ "$(unit_index "$agent")" -eq -2 ]
	[ "$(jq -r .data.init_task_data.q <<<"$output")" = "1+1" ]
	run -0 pool_send <<<"$(submit_packet "$agent" '{"a":"2"}')"
	[ "$(grant ann g-correct-golds)" = 1 ]
	register ann reg-ann-2
	[ "$(unit_index "$agent")" -eq 0 ]
	run -0 pool_send <<<"$(submit_packet "$agent")"
	[ "$(grant ann g-completed-count)" = 1 ]

	register bob
	[ "$(unit_index "$agent")" -eq -2 ]
	run -0 pool_send <<<"$(submit_packet "$agent" '{"a":"3"}')"
	[ "$(grant bob g-wrong-golds)" = 1 ]
	[ "$(grant bob g-disqualified)" = 1 ]
	register bob reg-bob-2
	[ "$(unit_index "$agent")" -ge 0 ]
	pool_stop
}
