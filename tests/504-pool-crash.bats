#!/usr/bin/env bats
# mephisto-pool: SIGKILL during a burst of submissions loses no
# acknowledged submission.

load lib/common
load lib/pool

acks_at_least() {
	[ "$(wc -l < "$BATS_TEST_TMPDIR/acks")" -ge "$1" ]
}

@test "pool: every acknowledged submission survives SIGKILL; the rest succeed when retried" {
	pool_make_run 2000
	pool_start
	for i in $(seq 1 2000); do reg_packet "x$i"; done | pool_send > "$BATS_TEST_TMPDIR/regs"
	jq -r .data.agent_id "$BATS_TEST_TMPDIR/regs" > "$BATS_TEST_TMPDIR/agents"
	[ "$(sort -u "$BATS_TEST_TMPDIR/agents" | grep -c '^[0-9]')" -eq 2000 ]
	while read -r a; do submit_packet "$a"; done < "$BATS_TEST_TMPDIR/agents" > "$BATS_TEST_TMPDIR/submits"
	pool_send < "$BATS_TEST_TMPDIR/submits" > "$BATS_TEST_TMPDIR/acks" 2>/dev/null &
	client=$!
	wait_for 10 acks_at_least 50
	pool_kill
	wait "$client" || true
	jq -r 'select(.packet_type == "ack") | .subject_id' "$BATS_TEST_TMPDIR/acks" | sort > "$BATS_TEST_TMPDIR/acked"
	acked=$(wc -l < "$BATS_TEST_TMPDIR/acked")
	[ "$acked" -ge 50 ]
	sql "SELECT agent_id FROM agents WHERE status = 'completed'" | sort > "$BATS_TEST_TMPDIR/done"
	# Every acknowledged submission is in the database.
	[ -z "$(comm -23 "$BATS_TEST_TMPDIR/acked" "$BATS_TEST_TMPDIR/done")" ]
	[ "$(sql "SELECT count(*) FROM units u JOIN agents a ON a.agent_id = u.agent_id WHERE a.status = 'completed' AND u.status != 'completed'")" -eq 0 ]
	pool_start
	run -0 pool_send < "$BATS_TEST_TMPDIR/submits"
	[ "$(jq -r .data.status <<<"$output" | sort | uniq -c | awk '{print $1, $2}')" = "2000 Submitted!" ]
	[ "$(sql "SELECT count(*) FROM units WHERE status = 'completed'")" -eq 2000 ]
	[ "$(sql "SELECT count(*) FROM run_events WHERE event = 'unit_submitted'")" -eq 2000 ]
}
