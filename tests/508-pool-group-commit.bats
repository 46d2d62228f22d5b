#!/usr/bin/env bats
# mephisto-pool: group commit.  The packets read in one round of the event
# loop share one transaction, each in its own savepoint; answers leave
# only after the round's commit.

load lib/common
load lib/pool

@test "pool: a failing request in a round is rolled back alone; the others are committed and answered" {
	pool_make_run 10
	pool_start
	packets=$(
		reg_packet ada
		reg_packet bo
		# An empty worker name fails inside the transaction.
		printf '{"packet_type":"register_agent","subject_id":"bad","data":{"provider_data":{"worker_name":"","agent_registration_id":"reg-bad"},"request_id":"bad"}}\n'
		submit_packet 123456789
		reg_packet cy
		reg_packet dee
	)
	# Raw: the six packets go in one write, so one read takes them all.
	run -0 pool_send -r -t 2000 <<<"$packets"
	[ "$(jq -r 'select(.packet_type == "agent_details") | .data.agent_id' <<<"$output" | grep -c '^[0-9]')" -eq 4 ]
	[ "$(jq -r 'select(.packet_type == "error") | .packet_type' <<<"$output" | wc -l)" -eq 2 ]
	assert_output --partial "field 'worker_name' is empty"
	assert_output --partial "unknown agent '123456789'"
	# The four registrations are in the database, the bad one left nothing.
	[ "$(sql "SELECT count(*) FROM units WHERE status = 'assigned'")" -eq 4 ]
	[ "$(sql "SELECT group_concat(worker_name, ' ') FROM (SELECT worker_name FROM workers ORDER BY worker_name)")" = "ada_sandbox bo_sandbox cy_sandbox dee_sandbox" ]
	[ "$(sql "SELECT count(*) FROM agent_registrations WHERE registration_id = 'reg-bad'")" -eq 0 ]
	while read -r a; do
		[ "$(sql "SELECT status FROM units WHERE agent_id = $a")" = assigned ]
	done < <(jq -r 'select(.packet_type == "agent_details") | .data.agent_id' <<<"$output")
	# They shared one commit.
	grep -q "one commit for 6 packets" "$BATS_TEST_TMPDIR/pool.log"
	pool_stop
}

acks_at_least() {
	[ "$(grep -c agent_details "$BATS_TEST_TMPDIR/details")" -ge "$1" ]
}

@test "pool: every agent_details sent survives SIGKILL during a burst of registrations" {
	pool_make_run 3000
	pool_start
	for i in $(seq 1 3000); do reg_packet "w$i"; done > "$BATS_TEST_TMPDIR/regs"
	pool_send < "$BATS_TEST_TMPDIR/regs" > "$BATS_TEST_TMPDIR/details" 2>/dev/null &
	client=$!
	wait_for 10 acks_at_least 100
	pool_kill
	wait "$client" || true
	jq -r 'select(.packet_type == "agent_details") | .data.agent_id' "$BATS_TEST_TMPDIR/details" | sort > "$BATS_TEST_TMPDIR/granted"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/granted")" -ge 100 ]
	sql "SELECT agent_id FROM units WHERE status = 'assigned'" | sort > "$BATS_TEST_TMPDIR/held"
	# Every agent announced holds its unit in the database.
	[ -z "$(comm -23 "$BATS_TEST_TMPDIR/granted" "$BATS_TEST_TMPDIR/held")" ]
	# No unit is held twice, and the pool starts again on the same data.
	[ "$(sql "SELECT count(*) - count(DISTINCT unit_id) FROM agents")" -eq 0 ]
	pool_start
	pool_stop
}
