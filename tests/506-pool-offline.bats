#!/usr/bin/env bats
# mephisto-pool offline commands: workers, qual, grant, revoke, block,
# unblock.

load lib/common
load lib/pool

setup() {
	setup_env
	pool_make_run 2
	sql "INSERT INTO workers (worker_id, worker_name, provider_type) VALUES (4000001, 'amy_sandbox', 'mock'), (4000002, 'ben', 'inhouse')"
	sql "UPDATE units SET status = 'completed', worker_id = 4000001 WHERE unit_id = 3000000"
}

@test "pool offline: every command has --help" {
	for c in workers qual grant revoke block unblock; do
		run -0 mephisto-pool "$c" --help
		assert_output --partial "usage: mephisto-pool $c"
	done
	run -0 mephisto-pool --help
	assert_output --partial "usage: mephisto-pool --run RUN_ID"
}

@test "pool offline: qual create, list, delete" {
	run -0 mephisto-pool qual create gold --description "good workers"
	run -0 mephisto-pool qual list
	assert_output --partial "gold"
	assert_output --partial "good workers"
	run -0 mephisto-pool qual list --json
	[ "$(jq -r .qualification_name <<<"$output")" = gold ]
	run --separate-stderr mephisto-pool qual create gold
	assert_fails_cleanly
	[ "$stderr" = "mephisto-pool: error: qualification 'gold' already exists" ]
	run -0 mephisto-pool grant amy gold
	run -0 mephisto-pool qual delete gold
	[ "$(sql "SELECT count(*) FROM granted_qualifications")" = 0 ]
	run --separate-stderr mephisto-pool qual delete gold
	assert_fails_cleanly
	[ "$stderr" = "mephisto-pool: error: no qualification 'gold'" ]
	run -2 mephisto-pool qual frobnicate
	run -2 mephisto-pool qual create
}

@test "pool offline: grant and revoke by name or id" {
	mephisto-pool qual create skill
	run -0 mephisto-pool grant amy skill 7
	assert_output "granted 'skill' = 7 to worker 'amy_sandbox'"
	run -0 mephisto-pool grant 4000001 skill 8
	[ "$(sql "SELECT value FROM granted_qualifications")" = 8 ]
	run -0 mephisto-pool grant ben skill
	[ "$(sql "SELECT value FROM granted_qualifications WHERE worker_id = 4000002")" = 1 ]
	run -0 mephisto-pool revoke amy_sandbox skill
	[ "$(sql "SELECT count(*) FROM granted_qualifications WHERE worker_id = 4000001")" = 0 ]
	run --separate-stderr mephisto-pool revoke amy skill
	assert_fails_cleanly
	[ "$stderr" = "mephisto-pool: error: worker 'amy_sandbox' has no grant of 'skill'" ]
	run --separate-stderr mephisto-pool grant nobody skill
	assert_fails_cleanly
	[ "$stderr" = "mephisto-pool: error: no worker 'nobody'" ]
	run --separate-stderr mephisto-pool grant amy nothing
	assert_fails_cleanly
	[ "$stderr" = "mephisto-pool: error: no qualification 'nothing' (create it with 'mephisto-pool qual create nothing')" ]
	run -2 mephisto-pool grant amy skill lots
	run -2 mephisto-pool grant amy
}

@test "pool offline: block and unblock through the provider" {
	run -0 mephisto-pool block amy --reason "copied answers"
	assert_output "blocked worker 'amy_sandbox'"
	[ "$(sql "SELECT provider_type || '|' || is_blocked || '|' || block_reason FROM provider_workers")" = "mock|1|copied answers" ]
	run -0 mephisto-pool workers --json
	[ "$(jq -r 'select(.worker_name == "amy_sandbox") | .blocked' <<<"$output")" = true ]
	run -0 mephisto-pool unblock amy
	[ "$(sql "SELECT is_blocked FROM provider_workers")" = 0 ]
	run -0 mephisto-pool block ben
	[ "$(sql "SELECT provider_type FROM provider_workers WHERE worker_id = 4000002")" = inhouse ]
	run --separate-stderr mephisto-pool block nobody
	assert_fails_cleanly
	[ "$stderr" = "mephisto-pool: error: no worker 'nobody'" ]
	run -2 mephisto-pool unblock amy --reason x
}

@test "pool offline: workers lists units by status" {
	run -0 mephisto-pool workers
	assert_line --partial "amy_sandbox"
	assert_line --partial "completed 1"
	assert_line --partial "ben"
	run -0 mephisto-pool workers --run "$POOL_RUN" --json
	[ "$(jq -r .worker_name <<<"$output")" = amy_sandbox ]
	[ "$(jq -r '.units.completed[0]' <<<"$output")" = 3000000 ]
	run -0 mephisto-pool workers --task demo --json
	[ "$(jq -r .worker_name <<<"$output")" = amy_sandbox ]
	run --separate-stderr mephisto-pool workers --task nope
	assert_fails_cleanly
	[ "$stderr" = "mephisto-pool: error: no task named 'nope'" ]
	run --separate-stderr mephisto-pool workers --run 99999999
	assert_fails_cleanly
	[ "$stderr" = "mephisto-pool: error: no task run '99999999'" ]
	run -2 mephisto-pool workers --run 1 --task demo
}

@test "pool offline: usage errors" {
	run -2 mephisto-pool
	run -2 mephisto-pool frob
	run -2 mephisto-pool --run abc
	run -2 mephisto-pool workers --bogus
}
