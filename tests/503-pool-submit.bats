#!/usr/bin/env bats
# mephisto-pool: submissions, metadata and error logs.

load lib/common
load lib/pool

register() {
	pool_send <<<"$(reg_packet "$1")" | jq -r .data.agent_id
}

@test "pool: a submission is in the database when it is acknowledged" {
	pool_make_run 2
	pool_start
	agent=$(register quinn)
	run -0 pool_send <<<"$(submit_packet "$agent" '{"rating": "good", "files": [{"fieldname": "file1", "originalname": "a.txt", "filename": "a.txt", "path": "files/a.txt", "size": 3, "mimetype": "text/plain"}]}')"
	[ "$(jq -r .packet_type <<<"$output")" = ack ]
	[ "$(jq -r .data.status <<<"$output")" = "Submitted!" ]
	[ "$(sql "SELECT status FROM agents WHERE agent_id = $agent")" = completed ]
	[ "$(sql "SELECT status FROM units WHERE agent_id = $agent")" = completed ]
	[ "$(sql "SELECT json_extract(outputs, '$.rating') FROM agent_data WHERE agent_id = $agent")" = good ]
	[ "$(sql "SELECT json_extract(outputs, '$.files') FROM agent_data WHERE agent_id = $agent")" = '["a.txt"]' ]
	[ "$(sql "SELECT json_extract(files, '\$[0].mimetype') FROM agent_data WHERE agent_id = $agent")" = text/plain ]
	[ "$(sql "SELECT task_end > task_start FROM agent_data WHERE agent_id = $agent")" = 1 ]
	[ "$(sql "SELECT count(*) FROM run_events WHERE event = 'unit_submitted' AND agent_id = $agent")" = 1 ]
	pool_stop
}

@test "pool: a repeated submission is acknowledged and recorded once" {
	pool_make_run 2
	pool_start
	agent=$(register rita)
	run -0 pool_send <<<"$(submit_packet "$agent" '{"v": 1}'; submit_packet "$agent" '{"v": 2}')"
	[ "$(jq -r .data.status <<<"$output" | sort -u)" = "Submitted!" ]
	[ "$(wc -l <<<"$output")" -eq 2 ]
	run -0 pool_send <<<"$(submit_packet "$agent" '{"v": 3}')"
	[ "$(jq -r .data.status <<<"$output")" = "Submitted!" ]
	[ "$(sql "SELECT json_extract(outputs, '$.v') FROM agent_data WHERE agent_id = $agent")" = 1 ]
	[ "$(sql "SELECT count(*) FROM run_events WHERE event = 'unit_submitted'")" = 1 ]
}

@test "pool: a submission for an unknown agent writes nothing" {
	pool_make_run 2
	pool_start
	agent=$(register sam)
	before=$(sql "SELECT (SELECT count(*) FROM run_events) || '/' || (SELECT count(*) FROM agent_data WHERE outputs IS NOT NULL) || '/' || (SELECT group_concat(status) FROM units)")
	run -0 pool_send <<<"$(submit_packet 123456789; submit_packet not-a-number; submit_packet onboarding_5)"
	[ "$(jq -r .packet_type <<<"$output" | sort -u)" = error ]
	[ "$(jq -r .data.retryable <<<"$output" | sort -u)" = false ]
	assert_output --partial "unknown agent '123456789'"
	after=$(sql "SELECT (SELECT count(*) FROM run_events) || '/' || (SELECT count(*) FROM agent_data WHERE outputs IS NOT NULL) || '/' || (SELECT group_concat(status) FROM units)")
	[ "$before" = "$after" ]
	pool_stop
}

@test "pool: a submission for an agent no longer working is refused" {
	pool_make_run 2
	pool_start
	agent=$(register tom)
	sql "UPDATE agents SET status = 'disconnect' WHERE agent_id = $agent"
	run -0 pool_send <<<"$(submit_packet "$agent")"
	[ "$(jq -r .packet_type <<<"$output")" = error ]
	[ "$(sql "SELECT outputs IS NULL FROM agent_data WHERE agent_id = $agent")" = 1 ]
}

@test "pool: metadata and error logs are stored and acknowledged" {
	pool_make_run 2
	pool_start
	agent=$(register uma)
	run -0 pool_send <<<"$(printf '{"packet_type":"submit_metadata","subject_id":"%s","data":{"feedback":"nice"}}\n{"packet_type":"submit_metadata","subject_id":"%s","data":{"tips":"none"}}\n{"packet_type":"log_error","subject_id":"%s","data":{"error":"boom"}}\n{"packet_type":"log_error","subject_id":"mephisto","data":{"error_type":"version-mismatch","text":"x"}}' "$agent" "$agent" "$agent")"
	[ "$(jq -r .data.status <<<"$output")" = "$(printf 'Submitted metadata\nSubmitted metadata\nError log sent!\nError log sent!')" ]
	[ "$(sql "SELECT json_extract(metadata, '$.feedback') || json_extract(metadata, '$.tips') FROM agent_data WHERE agent_id = $agent")" = nicenone ]
	[ "$(sql "SELECT count(*) FROM run_events WHERE event = 'error_logged' AND agent_id = $agent AND json_extract(detail, '$.error') = 'boom'")" = 1 ]
	[ "$(sql "SELECT count(*) FROM run_events WHERE event = 'error_logged' AND agent_id IS NULL")" = 1 ]
	pool_stop
}

@test "pool: live updates for a static task are dropped with a warning" {
	pool_make_run 1
	pool_start
	agent=$(register vic)
	run -0 pool_send <<<"$(printf '{"packet_type":"mephisto_bound_live_update","subject_id":"%s","data":{"update_id":"u1"}}\n{"packet_type":"snapshot","subject_id":"mephisto","data":{}}' "$agent")"
	[ "$(jq -r .packet_type <<<"$output")" = snapshot ]
	grep -q "live update for agent '$agent' dropped" "$BATS_TEST_TMPDIR/pool.log"
}
