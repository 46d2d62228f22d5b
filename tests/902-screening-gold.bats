#!/usr/bin/env bats
# mephisto-pool: screening units (index -1) and gold units (index -2),
# facts section 4.4.

load lib/common
load lib/pool
load lib/launch

screen_params='{"task": {"allowed_concurrent": 1}, "blueprint": {"_blueprint_type": "static_task", "use_screening_task": true, "passed_qualification_name": "scr-passed", "block_qualification": "scr-blocked", "max_screening_units": 3, "screening_data": {"q": "2+2"}, "screening_answers": {"a": 4}}, "provider": {"_provider_type": "mock"}}'

gold_params='{"task": {"allowed_concurrent": 1}, "blueprint": {"_blueprint_type": "static_task", "use_golds": true, "gold_qualification_base": "g", "gold_units": {"g1": {"data": {"q": "1+1"}, "answers": {"a": "2"}}}}, "provider": {"_provider_type": "mock"}}'

# validator_params COMMAND [TIMEOUT]: screening judged by COMMAND.
validator_params() {
	jq -nc --arg cmd "$1" --argjson t "${2:-10}" '{"task": {"allowed_concurrent": 1}, "blueprint": {"_blueprint_type": "static_task", "use_screening_task": true, "passed_qualification_name": "scr-passed", "block_qualification": "scr-blocked", "screening_data": {"q": "2+2"}, "screening_validator": $cmd, "screening_validator_timeout": $t}, "provider": {"_provider_type": "mock"}}'
}

# A validator that passes 4 for the question 2+2.
check_four='jq -e ".outputs.a == \"4\" and .inputs.q == \"2+2\"" >/dev/null'

# register WORKER [REG]: sets $agent and $output.
register() {
	run -0 pool_send <<<"$(reg_packet "$@")"
	agent=$(jq -r .data.agent_id <<<"$output")
}

# granted WORKER QUALIFICATION VALUE
granted() {
	[ "$(grant "$1" "$2")" = "$3" ]
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

@test "screening validator: exit 0 grants the passed qualification, then real work" {
	pool_make_run 2 "$(validator_params "$check_four")"
	pool_start
	register cy
	[ "$(unit_index "$agent")" -eq -1 ]
	run -0 pool_send <<<"$(submit_packet "$agent" '{"a":"4"}')"
	[ "$(jq -r .data.status <<<"$output")" = "Submitted!" ]
	wait_for 10 granted cy scr-passed 1
	[ -z "$(grant cy scr-blocked)" ]
	register cy reg-cy-2
	[ "$(unit_index "$agent")" -eq 0 ]
	grep -q "worker [0-9]* passed screening" "$BATS_TEST_TMPDIR/pool.log"
	pool_stop
}

@test "screening validator: a non-zero exit blocks the worker" {
	pool_make_run 2 "$(validator_params "$check_four; echo judged; exit 3")"
	pool_start
	register dee
	run -0 pool_send <<<"$(submit_packet "$agent" '{"a":"5"}')"
	wait_for 10 granted dee scr-blocked 1
	[ -z "$(grant dee scr-passed)" ]
	grep -q "screening validator \[[0-9]*\]: judged" "$BATS_TEST_TMPDIR/pool.log"
	grep -q "screening validator \[[0-9]*\] exited with status 3" "$BATS_TEST_TMPDIR/pool.log"
	register dee reg-dee-2
	[ "$agent" = null ]
	[ "$(jq -r .data.failure_reason <<<"$output")" = "You are not currently qualified to work on this task." ]
	pool_stop
}

@test "screening validator: one past its time limit fails the worker" {
	pool_make_run 2 "$(validator_params "sleep 30" 0.5)"
	pool_start
	register eve
	run -0 pool_send <<<"$(submit_packet "$agent" '{"a":"4"}')"
	wait_for 10 granted eve scr-blocked 1
	grep -q "screening validator \[[0-9]*\] ran out of time: killed" "$BATS_TEST_TMPDIR/pool.log"
	pool_stop
}

@test "screening validator: the submission is acknowledged at once; no work until the outcome, which survives a pool restart" {
	go="$BATS_TEST_TMPDIR/go"
	pool_make_run 2 "$(validator_params "while [ ! -e '$go' ]; do sleep 0.05; done; $check_four")"
	pool_start
	register fay
	# The validator waits for $go: the submission is acknowledged anyway.
	run -0 pool_send <<<"$(submit_packet "$agent" '{"a":"4"}')"
	[ "$(jq -r .data.status <<<"$output")" = "Submitted!" ]
	[ "$(sql "SELECT status FROM agents WHERE agent_id = $agent")" = completed ]
	# Waiting for the outcome: no second screening unit, no real unit.
	register fay reg-fay-2
	[ "$agent" = null ]
	[ "$(jq -r .data.failure_reason <<<"$output")" = "There is currently no available work, please try again later." ]
	[ "$(sql "SELECT count(*) FROM units WHERE unit_index = -1")" -eq 1 ]
	# The pool dies before the outcome; started again, it checks again.
	pool_kill
	touch "$go"
	pool_start
	wait_for 10 granted fay scr-passed 1
	grep -q "checking the screening of agent $(sql "SELECT agent_id FROM agents") again" "$BATS_TEST_TMPDIR/pool.log"
	register fay reg-fay-3
	[ "$(unit_index "$agent")" -eq 0 ]
	pool_stop
}

@test "screening configuration: screening_answers or screening_validator, not both, not neither" {
	T="$BATS_TEST_TMPDIR/task"
	make_task "$T" 2
	sed -i 's/  task_tags: test/  task_tags: test\n  allowed_concurrent: 1/' "$T/task.yml"
	sed -i 's/  data_csv: data.csv/  data_csv: data.csv\n  use_screening_task: true\n  passed_qualification_name: p\n  block_qualification: b/' "$T/task.yml"
	run mephisto-launch --check "$T/task.yml"
	[ "$status" -eq 1 ]
	assert_line --partial "screening needs blueprint.screening_answers or blueprint.screening_validator"
	run mephisto-launch --check "$T/task.yml" 'blueprint.screening_answers={"a": 1}' blueprint.screening_validator=true
	[ "$status" -eq 1 ]
	assert_line --partial "give blueprint.screening_answers or blueprint.screening_validator, not both"
	run -0 mephisto-launch --check "$T/task.yml" blueprint.screening_validator=true blueprint.screening_validator_timeout=2
}

# expired_with_agent AGENT STATUS: AGENT's unit is expired, AGENT in STATUS.
expired_with_agent() {
	[ "$(sql "SELECT u.status || ',' || a.status FROM units u JOIN agents a USING (unit_id) WHERE a.agent_id = $1")" = "expired,$2" ]
}

@test "screening: a screening unit whose worker runs out of time is expired, and its place under max_screening_units given back" {
	pool_make_run 2 "$(jq -c '.task.assignment_duration_in_seconds = 1 | .blueprint.max_screening_units = 1' <<<"$screen_params")"
	pool_start
	register gus
	first=$agent
	[ "$(unit_index "$first")" -eq -1 ]
	register hal
	[ "$agent" = null ]
	wait_for 10 expired_with_agent "$first" disconnect
	[ "$(sql "SELECT count(*) FROM units WHERE unit_index = -1 AND status = 'launched'")" -eq 0 ]
	register hal reg-hal-2
	[ "$(unit_index "$agent")" -eq -1 ]
	pool_stop
}

# request WORKER REG: POST /request_agent to the run; sets $agent.
request() {
	local url=$(run_url)
	agent=$(curl -sS -H 'Content-Type: application/json' --data-binary \
	    "{\"provider_data\": {\"worker_name\": \"$1\", \"agent_registration_id\": \"$2\", \"assignment_id\": \"$2\", \"provider_type\": \"mock\"}, \"client_timestamp\": 0}" \
	    "$url/request_agent" | jq -r .data.agent_id)
}

# submit AGENT JSON: POST /submit_task.
submit() {
	local url=$(run_url)
	curl -sS -H 'Content-Type: application/json' --data-binary \
	    "{\"USED_AGENT_ID\": \"$1\", \"final_data\": $2, \"client_timestamp\": 0}" \
	    "$url/submit_task" | jq -e '.status == "Submitted!"'
}

launched_real() {
	[ "$(lsql "SELECT count(*) FROM units WHERE unit_index >= 0 AND status = 'launched'")" -eq "$1" ]
}

@test "launch: screening units do not count against max_num_concurrent_units, and do not keep a finished run open" {
	T="$BATS_TEST_TMPDIR/task"
	make_task "$T" 2
	sed -i 's/  task_tags: test/  task_tags: test\n  allowed_concurrent: 1\n  max_num_concurrent_units: 1/' "$T/task.yml"
	sed -i 's/  data_csv: data.csv/  data_csv: data.csv\n  use_screening_task: true\n  passed_qualification_name: scr-passed\n  block_qualification: scr-blocked\n  screening_answers: {rating: good}/' "$T/task.yml"
	mephisto-launch "$T/task.yml" --quiet > "$BATS_TEST_TMPDIR/out" 2>&1 &
	launch_pid=$!
	track_pid "$launch_pid"
	wait_for 10 run_url
	wait_for 10 launched_real 1
	# pro passes screening and takes the first unit.
	request pro r-pro-1
	[ "$(lsql "SELECT unit_index FROM units WHERE agent_id = $agent")" -eq -1 ]
	submit "$agent" '{"rating": "good"}'
	request pro r-pro-2
	[ "$(lsql "SELECT unit_index FROM units WHERE agent_id = $agent")" -eq 0 ]
	pro=$agent
	# ann takes a screening unit and keeps it.
	request ann r-ann-1
	ann=$agent
	[ "$(lsql "SELECT unit_index || status FROM units WHERE agent_id = $ann")" = "-1assigned" ]
	# pro finishes: the second unit is launched although ann screens.
	submit "$pro" '{"rating": "good"}'
	wait_for 10 launched_real 1
	request pro r-pro-3
	[ "$(lsql "SELECT unit_index FROM units WHERE agent_id = $agent")" -eq 0 ]
	[ "$(lsql "SELECT unit_id FROM agents WHERE agent_id = $agent")" != "$(lsql "SELECT unit_id FROM agents WHERE agent_id = $pro")" ]
	submit "$agent" '{"rating": "good"}'
	# Every real unit is done: the run completes; ann's unit is expired.
	wait_for 20 gone "$launch_pid"
	wait "$launch_pid"
	[ "$(lsql "SELECT status FROM task_run_state")" = completed ]
	expired_with_agent "$ann" disconnect
	[ "$(lsql "SELECT count(*) FROM units WHERE unit_index >= 0 AND status = 'completed'")" -eq 2 ]
}
