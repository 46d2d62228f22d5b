# Helpers for the hostile-input tests (tests/41N-*.bats): a live
# mephisto-io in front of a real mephisto-pool on a run of
# pool_make_run's, and a snapshot of everything a request could write.
# Load after lib/common, lib/pool and lib/io.

# live_setup [UNITS]: the run, its static folder with a secret beside it,
# the pool and io; $URL is io's address.
live_setup() {
	pool_make_run "${1:-4}"
	RUN_ID=$POOL_RUN
	io_setup_run
	printf 'TOPSECRET-run\n' > "$RUN_DIR/secret.txt"
	printf 'TOPSECRET-data\n' > "$MEPHISTO_DATA/secret.txt"
	pool_start
	start_io
	wait_for 5 io_ready
	wait_for 5 grep -q 'from mephisto-io\[' "$BATS_TEST_TMPDIR/pool.log"
}

io_ready() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/is_alive")" = 200 ]
}

# snapshot: every row a browser's request could create or change, and
# every file under the run's files/ folder.
snapshot() {
	sqlite3 -batch -noheader -cmd ".timeout 10000" "$MEPHISTO_DB" \
		"SELECT 'worker', worker_id, worker_name FROM workers ORDER BY 2" \
		"SELECT 'agent', agent_id, unit_id, worker_id, status FROM agents ORDER BY 2" \
		"SELECT 'data', agent_id, outputs, files FROM agent_data ORDER BY 2" \
		"SELECT 'onboarding', onboarding_agent_id, status FROM onboarding_agents ORDER BY 2" \
		"SELECT 'unit', unit_id, status, agent_id FROM units ORDER BY 2" \
		"SELECT 'reg', registration_id, agent_id FROM agent_registrations ORDER BY 2" \
		"SELECT 'qual', * FROM granted_qualifications ORDER BY 2"
	files_written
}

# nothing_written: the snapshot is what it was at the last mark_written.
mark_written() {
	snapshot > "$BATS_TEST_TMPDIR/snapshot.before"
}

nothing_written() {
	snapshot > "$BATS_TEST_TMPDIR/snapshot.after"
	diff -u "$BATS_TEST_TMPDIR/snapshot.before" "$BATS_TEST_TMPDIR/snapshot.after"
}

# register WORKER [REGISTRATION_ID]: POST /request_agent for a mock worker;
# $agent is the agent id it got.
register() {
	local w=$1 reg=${2:-reg-$1}
	post_json /request_agent "{\"provider_data\": {\"worker_name\": \"$w\", \"agent_registration_id\": \"$reg\", \"assignment_id\": \"as-$w\", \"provider_type\": \"mock\"}}"
	assert_equal "$code" 200
	agent=$(json .data.agent_id)
	[ -n "$agent" ] && [ "$agent" != null ]
}

# io_alive: io still runs and answers.
io_alive() {
	kill -0 "$io_pid" && io_ready
}
