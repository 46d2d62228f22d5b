#!/usr/bin/env bats
# mephisto-pool: qualification requirements, blocks and per-worker limits.

load lib/common
load lib/pool

NOT_QUALIFIED="You are not currently qualified to work on this task."

# mkworker NAME...: workers NAME_sandbox of the mock provider.
mkworker() {
	local w
	for w in "$@"; do
		sql "INSERT INTO workers (worker_id, worker_name, provider_type) VALUES (abs(random()) % 1000000000000 + 1000000, '${w}_sandbox', 'mock')"
	done
}

mkqual() {
	local q
	for q in "$@"; do
		mephisto-pool qual create "$q" >/dev/null
	done
}

# outcome WORKER: "unit" or the failure reason.
outcome() {
	local out
	out=$(pool_send <<<"$(reg_packet "$1" "reg-$1-$RANDOM")")
	if [ "$(jq -r .data.agent_id <<<"$out")" != null ]; then
		echo unit
	else
		jq -r .data.failure_reason <<<"$out"
	fi
}

reqs_params() {
	printf '{"task": {"qualifications": %s}, "blueprint": {}, "provider": {"_provider_type": "mock"}}' "$1"
}

@test "pool: ordering comparators" {
	pool_make_run 10 "$(reqs_params '[
	  {"qualification_name": "gt", "comparator": "GreaterThan", "value": 5},
	  {"qualification_name": "ge", "comparator": "GreaterThanOrEqualTo", "value": 5},
	  {"qualification_name": "lt", "comparator": "LessThan", "value": 5},
	  {"qualification_name": "le", "comparator": "LessThanOrEqualTo", "value": 5}]')"
	mkqual gt ge lt le
	mkworker ok bgt bge blt ble none
	for w in ok bgt bge blt ble; do
		mephisto-pool grant "$w" gt 6 >/dev/null
		mephisto-pool grant "$w" ge 5 >/dev/null
		mephisto-pool grant "$w" lt 4 >/dev/null
		mephisto-pool grant "$w" le 5 >/dev/null
	done
	mephisto-pool grant bgt gt 5
	mephisto-pool grant bge ge 4
	mephisto-pool grant blt lt 5
	mephisto-pool grant ble le 6
	pool_start
	[ "$(outcome ok)" = unit ]
	for w in bgt bge blt ble none; do
		[ "$(outcome $w)" = "$NOT_QUALIFIED" ]
	done
}

@test "pool: equality comparators" {
	pool_make_run 10 "$(reqs_params '[
	  {"qualification_name": "eq", "comparator": "EqualTo", "value": 3},
	  {"qualification_name": "ne", "comparator": "NotEqualTo", "value": 3}]')"
	mkqual eq ne
	mkworker ok beq bne noeq
	for w in ok beq bne; do
		mephisto-pool grant "$w" eq 3 >/dev/null
		mephisto-pool grant "$w" ne 4 >/dev/null
	done
	mephisto-pool grant beq eq 4
	mephisto-pool grant bne ne 3
	mephisto-pool grant noeq ne 4
	pool_start
	[ "$(outcome ok)" = unit ]
	for w in beq bne noeq; do
		[ "$(outcome $w)" = "$NOT_QUALIFIED" ]
	done
}

@test "pool: existence comparators" {
	pool_make_run 10 "$(reqs_params '[
	  {"qualification_name": "ex", "comparator": "Exists", "value": null},
	  {"qualification_name": "nx", "comparator": "DoesNotExist"}]')"
	mkqual ex nx
	mkworker ok bex bnx
	mephisto-pool grant ok ex 0
	mephisto-pool grant bnx ex 1
	mephisto-pool grant bnx nx 0
	pool_start
	[ "$(outcome ok)" = unit ]
	[ "$(outcome bex)" = "$NOT_QUALIFIED" ]
	[ "$(outcome bnx)" = "$NOT_QUALIFIED" ]
}

@test "pool: list comparators" {
	pool_make_run 10 "$(reqs_params '[
	  {"qualification_name": "in", "comparator": "In", "value": [1, 2]},
	  {"qualification_name": "nin", "comparator": "NotIn", "value": [1, 2]}]')"
	mkqual in nin
	mkworker ok bin bnin nonin
	for w in ok bin bnin nonin; do
		mephisto-pool grant "$w" in 2 >/dev/null
	done
	mephisto-pool grant ok nin 3
	mephisto-pool grant bin in 3
	mephisto-pool grant bin nin 3
	mephisto-pool grant bnin nin 1
	pool_start
	[ "$(outcome ok)" = unit ]
	[ "$(outcome bin)" = "$NOT_QUALIFIED" ]
	[ "$(outcome bnin)" = "$NOT_QUALIFIED" ]
	[ "$(outcome nonin)" = "$NOT_QUALIFIED" ]
	pool_stop
}

@test "pool: a requirement on a qualification missing from the database is not met" {
	pool_make_run 10 "$(reqs_params '[
	  {"qualification_name": "ghost", "comparator": "Exists"}]')"
	pool_start
	[ "$(outcome anyone)" = "$NOT_QUALIFIED" ]
	run -0 pool_send <<<"$(reg_packet someone)"
	[ "$(jq -r .data.worker_id <<<"$output")" = null ]
}

@test "pool: a bad requirement stops the pool with a clear error" {
	pool_make_run 1 "$(reqs_params '[{"qualification_name": "x", "comparator": "Bigger", "value": 1}]')"
	run -1 mephisto-pool --run "$POOL_RUN"
	assert_output --partial "task.qualifications[0]: comparator 'Bigger' is not one of"
}

@test "pool: the block qualification refuses a worker" {
	pool_make_run 10 '{"task": {}, "blueprint": {"block_qualification": "naughty"}, "provider": {"_provider_type": "mock"}}'
	pool_start
	[ "$(sql "SELECT count(*) FROM qualifications WHERE qualification_name = 'naughty'")" = 1 ]
	mkworker bad good
	mephisto-pool grant bad naughty 1
	[ "$(outcome bad)" = "$NOT_QUALIFIED" ]
	[ "$(outcome good)" = unit ]
}

@test "pool: a worker blocked at the provider is refused" {
	pool_make_run 10
	mkworker mallory
	mephisto-pool block mallory --reason spam
	pool_start
	[ "$(outcome mallory)" = "$NOT_QUALIFIED" ]
	mephisto-pool unblock mallory
	[ "$(outcome mallory)" = unit ]
}

@test "pool: allowed_concurrent limits the units a worker holds at once" {
	pool_make_run 10 '{"task": {"allowed_concurrent": 1}, "blueprint": {}, "provider": {"_provider_type": "mock"}}'
	pool_start
	[ "$(outcome gina)" = unit ]
	[ "$(outcome gina)" = "You are currently working on too many tasks concurrently to accept another, please finish your current work." ]
}

@test "pool: maximum_units_per_worker limits a worker's units in a task" {
	pool_make_run 10 '{"task": {"maximum_units_per_worker": 2}, "blueprint": {}, "provider": {"_provider_type": "mock"}}'
	pool_start
	run -0 pool_send <<<"$(reg_packet hank)"
	agent=$(jq -r .data.agent_id <<<"$output")
	run -0 pool_send <<<"$(submit_packet "$agent")"
	[ "$(outcome hank)" = unit ]
	[ "$(outcome hank)" = "You have already completed the maximum amount of tasks the requester has set for this task." ]
	pool_stop
}
