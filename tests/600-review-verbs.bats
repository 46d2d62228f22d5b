#!/usr/bin/env bats
# mephisto-review verbs for scripts: approve, reject, soft-reject, block,
# unblock, qualify, revoke, replay; on runs done by scripted workers.

load lib/common
load lib/launch
load lib/review

@test "review: every command has --help" {
	run -0 mephisto-review --help
	assert_output --partial "usage: mephisto-review [--task NAME"
	for c in approve reject soft-reject bonus block unblock qualify revoke replay export summary; do
		run -0 mephisto-review "$c" --help
		assert_output --partial "usage: mephisto-review $c"
	done
	run -0 mephisto help review
	assert_output --partial "usage: mephisto-review"
}

@test "review: results filtered by jq approve exactly the selected units" {
	review_run 6
	mephisto-launch results "$RUN" > "$BATS_TEST_TMPDIR/results"
	jq -c 'select((.inputs.n | tonumber) % 2 == 0)' "$BATS_TEST_TMPDIR/results" > "$BATS_TEST_TMPDIR/even"
	jq -r .unit_id "$BATS_TEST_TMPDIR/even" | sort > "$BATS_TEST_TMPDIR/want"
	[ "$(grep -c . "$BATS_TEST_TMPDIR/want")" -eq 3 ]
	run --separate-stderr mephisto-review approve --note "fine work" < "$BATS_TEST_TMPDIR/even"
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[ "${#lines[@]}" -eq 3 ]
	jq -r .unit_id <<<"$output" | sort | diff - "$BATS_TEST_TMPDIR/want"
	[ "$(jq -r .decision <<<"$output" | sort -u)" = approve ]
	[ "$(jq -r .note <<<"$output" | sort -u)" = "fine work" ]
	sql "SELECT unit_id FROM units WHERE status = 'accepted'" | sort | diff - "$BATS_TEST_TMPDIR/want"
	[ "$(count_units completed)" -eq 3 ]
	[ "$(sql "SELECT count(*) FROM agents a JOIN units u ON u.agent_id = a.agent_id WHERE u.status = 'accepted' AND a.status = 'approved'")" -eq 3 ]
	[ "$(sql "SELECT count(*) FROM worker_review WHERE status = 'approved' AND review_note = 'fine work'")" -eq 3 ]
}

@test "review: reject and soft-reject by unit id; decided units are refused unless --force" {
	review_run 3
	read -r u1 u2 u3 <<<"$(sql "SELECT unit_id FROM units ORDER BY unit_id" | tr "\n" " ")"
	run -0 mephisto-review reject "$u1" --reason "empty answer"
	[ "$(jq -r '.decision + " " + .note' <<<"$output")" = "reject empty answer" ]
	run -0 mephisto-review soft-reject "$u2"
	[ "$(sql "SELECT status FROM units WHERE unit_id = $u1")" = rejected ]
	[ "$(sql "SELECT a.status FROM agents a JOIN units u ON u.agent_id = a.agent_id WHERE u.unit_id = $u1")" = rejected ]
	[ "$(sql "SELECT status FROM units WHERE unit_id = $u2")" = soft_rejected ]
	[ "$(sql "SELECT status || ':' || review_note FROM worker_review WHERE unit_id = $u1")" = "rejected:empty answer" ]
	run --separate-stderr mephisto-review approve "$u1"
	assert_fails_cleanly
	[ "$output" = "" ]
	[ "$stderr" = "mephisto-review: error: unit $u1 was already rejected (use --force to change the decision)" ]
	[ "$(sql "SELECT status FROM units WHERE unit_id = $u1")" = rejected ]
	run -0 mephisto-review approve --force "$u1"
	[ "$(sql "SELECT status FROM units WHERE unit_id = $u1")" = accepted ]
	# Another unit in the same input still gets its decision.
	run --separate-stderr mephisto-review approve "$u2" "$u3"
	[ "$status" -eq 1 ]
	[ "$(jq -r .unit_id <<<"$output")" = "$u3" ]
	[ "$stderr" = "mephisto-review: error: unit $u2 was already soft-rejected (use --force to change the decision)" ]
}

@test "review: units that are not completed or do not exist are refused" {
	T="$BATS_TEST_TMPDIR/task"
	make_task "$T" 2
	run_id=$(mephisto-launch --create-only "$T/task.yml" 2>/dev/null)
	u=$(sql "SELECT unit_id FROM units ORDER BY unit_id LIMIT 1")
	run --separate-stderr mephisto-review approve "$u" 1234567
	assert_fails_cleanly
	[ "${lines[*]:-}" = "" ]
	[ "${stderr_lines[0]}" = "mephisto-review: error: unit $u is created and has no worker to review" ]
	[ "${stderr_lines[1]}" = "mephisto-review: error: no unit 1234567" ]
	run --separate-stderr mephisto-review approve --run "$run_id"
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ "$(count_units created)" -eq 2 ]
}

@test "review: a saved decision stream replayed changes nothing" {
	review_run 4
	mephisto-launch results "$RUN" | head -n 2 > "$BATS_TEST_TMPDIR/two"
	mephisto-review approve --note ok < "$BATS_TEST_TMPDIR/two" > "$BATS_TEST_TMPDIR/decisions"
	u=$(sql "SELECT unit_id FROM units WHERE status = 'completed' ORDER BY unit_id LIMIT 1")
	mephisto-review reject "$u" --reason no >> "$BATS_TEST_TMPDIR/decisions"
	mephisto-review bonus 0.75 "$u" --reason effort >> "$BATS_TEST_TMPDIR/decisions"
	mephisto-review block "$u" --reason spam >> "$BATS_TEST_TMPDIR/decisions"
	mephisto-review qualify skill 4 "$u" >> "$BATS_TEST_TMPDIR/decisions"
	[ "$(grep -c . "$BATS_TEST_TMPDIR/decisions")" -eq 6 ]
	before=$(review_state)
	run --separate-stderr mephisto-review replay < "$BATS_TEST_TMPDIR/decisions"
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ "${#stderr_lines[@]}" -eq 6 ]
	[[ "$stderr" == *"unit $u is already rejected"* ]]
	[[ "$stderr" == *"bonus 'bonus:$u:effort' was already paid"* ]]
	[ "$(review_state)" = "$before" ]
	# Approving the same results again is a no-op too.
	run -0 --separate-stderr mephisto-review approve < "$BATS_TEST_TMPDIR/two"
	[ "$output" = "" ]
	[ "${#stderr_lines[@]}" -eq 2 ]
	[ "$(review_state)" = "$before" ]
}

@test "review: replay applies decisions not yet in effect" {
	review_run 2
	read -r u1 u2 <<<"$(sql "SELECT unit_id FROM units ORDER BY unit_id" | tr "\n" " ")"
	printf '{"unit_id":"%s","decision":"reject","note":"late"}\n{"unit_id":"%s","decision":"approve","note":null}\n' "$u1" "$u2" > "$BATS_TEST_TMPDIR/d"
	run -0 mephisto-review replay --dry-run < "$BATS_TEST_TMPDIR/d"
	[ "$(jq -r .dry_run <<<"$output" | sort -u)" = true ]
	[ "$(count_units completed)" -eq 2 ]
	run -0 mephisto-review replay < "$BATS_TEST_TMPDIR/d"
	[ "${#lines[@]}" -eq 2 ]
	[ "$(sql "SELECT status FROM units WHERE unit_id = $u1")" = rejected ]
	[ "$(sql "SELECT review_note FROM worker_review WHERE unit_id = $u1")" = late ]
	[ "$(sql "SELECT status FROM units WHERE unit_id = $u2")" = accepted ]
	printf '{"unit_id":"%s","decision":"frobnicate"}\nnot json\n{"no":"id"}\n' "$u1" > "$BATS_TEST_TMPDIR/bad"
	run --separate-stderr mephisto-review replay < "$BATS_TEST_TMPDIR/bad"
	assert_fails_cleanly
	[ "${stderr_lines[0]}" = "mephisto-review: error: unit $u1: unknown decision 'frobnicate'" ]
	[[ "${stderr_lines[1]}" == "mephisto-review: error: stdin line 2: "* ]]
	[ "${stderr_lines[2]}" = "mephisto-review: error: stdin line 3: field 'unit_id' is missing" ]
}

@test "review: block, unblock, qualify and revoke the unit's worker" {
	review_run 2 1
	u=$(sql "SELECT unit_id FROM units ORDER BY unit_id LIMIT 1")
	w=$(sql "SELECT worker_id FROM units WHERE unit_id = $u")
	run -0 mephisto-review block "$u" --reason "copied answers"
	[ "$(jq -r .decision <<<"$output")" = block ]
	[ "$(sql "SELECT is_blocked || ':' || block_reason FROM provider_workers WHERE worker_id = $w")" = "1:copied answers" ]
	[ "$(sql "SELECT blocked_worker FROM worker_review WHERE unit_id = $u")" = 1 ]
	run -0 mephisto-pool workers --json
	[ "$(jq -r .blocked <<<"$output")" = true ]
	run --separate-stderr mephisto-review block "$u"
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ "$stderr" = "mephisto-review: info: worker 'auto-1_sandbox' is already blocked" ]
	run -0 mephisto-review unblock "$u"
	[ "$(sql "SELECT is_blocked FROM provider_workers WHERE worker_id = $w")" = 0 ]
	run -0 mephisto-review qualify trusted 3 "$u"
	[ "$(jq -r '.qualification + "=" + (.value | tostring)' <<<"$output")" = "trusted=3" ]
	[ "$(sql "SELECT g.value FROM granted_qualifications g JOIN qualifications q USING (qualification_id) WHERE q.qualification_name = 'trusted' AND g.worker_id = $w")" = 3 ]
	[ "$(sql "SELECT updated_qualification_value FROM worker_review WHERE updated_qualification_id IS NOT NULL")" = 3 ]
	run -0 mephisto-review qualify trusted "$u" --value 5
	[ "$(sql "SELECT value FROM granted_qualifications")" = 5 ]
	run -0 mephisto-review revoke trusted "$u"
	[ "$(sql "SELECT count(*) FROM granted_qualifications")" = 0 ]
	run --separate-stderr mephisto-review revoke nothing "$u"
	assert_fails_cleanly
	[ "$stderr" = "mephisto-review: error: no qualification 'nothing'" ]
}

@test "review: --dry-run decides nothing" {
	review_run 2
	before=$(review_state)
	run -0 mephisto-review approve --dry-run --task t-task
	[ "${#lines[@]}" -eq 2 ]
	[ "$(jq -r .dry_run <<<"$output" | sort -u)" = true ]
	run -0 mephisto-review bonus 1 --dry-run --task t-task
	[ "${#lines[@]}" -eq 2 ]
	[ "$(review_state)" = "$before" ]
}

@test "review: usage errors exit 2 with one message" {
	run --separate-stderr mephisto-review bonus
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "mephisto-review: bonus needs an AMOUNT" ]
	run -2 mephisto-review bonus -3 1234567
	run -2 mephisto-review bonus abc 1234567
	run -2 mephisto-review approve --task a --run 1234567
	run -2 mephisto-review approve --plan 1234567
	run -2 mephisto-review qualify
	run -2 mephisto-review qualify q --value x 1234567
	run -2 mephisto-review frobnicate
	run -2 mephisto-review approve --status nope --task t
	run --separate-stderr mephisto-review approve --task nothing
	assert_fails_cleanly
	[ "$stderr" = "mephisto-review: error: no task named 'nothing'" ]
	run --separate-stderr mephisto-review approve 12x
	assert_fails_cleanly
	[ "$stderr" = "mephisto-review: error: invalid unit id '12x'" ]
	# Without a terminal there is no interactive review.
	run --separate-stderr setsid -w mephisto-review --task t < /dev/null
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "mephisto-review: no terminal for an interactive review; give a verb (approve, reject, ...)" ]
}

@test "review: qualify NAME VALUE takes an integer as the value unless it is a unit id" {
	review_run 1 1
	u=$(sql "SELECT unit_id FROM units LIMIT 1")
	run -0 mephisto-review qualify skill 7 "$u"
	[ "$(jq -r .value <<<"$output")" = 7 ]
	run -0 mephisto-review qualify level "$u"
	[ "$(jq -r .value <<<"$output")" = 1 ]
	[ "$(jq -r .unit_id <<<"$output")" = "$u" ]
}
