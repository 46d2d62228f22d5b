#!/usr/bin/env bats
# The interactive review, typed on a pseudo-terminal (script(1)).

load lib/common
load lib/launch
load lib/review

setup() {
	setup_env
	command -v script >/dev/null || skip "script(1) is not installed"
}

@test "interactive: approve, reject with a reason and block, as typed" {
	review_run 3 1
	read -r u1 u2 u3 <<<"$(sql "SELECT unit_id FROM units ORDER BY unit_id" | tr "\n" " ")"
	w=$(sql "SELECT worker_id FROM units WHERE unit_id = $u1")
	tty_start "mephisto-review --task t-task > '$BATS_TEST_TMPDIR/decisions'"
	tty_wait 1 "=== worker auto-1_sandbox: 3 units to review"
	tty_wait 1 "$PROMPT"
	tty_send a
	tty_wait 2 "$PROMPT"
	tty_send r
	tty_wait 1 "reason for rejecting: "
	tty_send 'too short\n'
	tty_wait 1 "block this worker too? [y/N]"
	tty_send y
	tty_wait 1 "reason for the block"
	tty_send 'copied answers\n'
	tty_wait 3 "$PROMPT"
	tty_send x
	tty_end
	[ "$tty_status" -eq 0 ]
	grep -q -F "unit $u1 (1 of 3 from this worker)" "$TTY_LOG"
	grep -q -F "rating: good" "$TTY_LOG"
	[ "$(sql "SELECT status FROM units WHERE unit_id = $u1")" = accepted ]
	[ "$(sql "SELECT a.status FROM agents a JOIN units u ON u.agent_id = a.agent_id WHERE u.unit_id = $u1")" = approved ]
	[ "$(sql "SELECT status FROM units WHERE unit_id = $u2")" = rejected ]
	[ "$(sql "SELECT review_note FROM worker_review WHERE unit_id = $u2 AND status = 'rejected'")" = "too short" ]
	[ "$(sql "SELECT is_blocked || ':' || block_reason FROM provider_workers WHERE worker_id = $w")" = "1:copied answers" ]
	[ "$(sql "SELECT status FROM units WHERE unit_id = $u3")" = completed ]
	# The decisions went to stdout as JSON lines.
	[ "$(jq -r '.unit_id + " " + .decision' "$BATS_TEST_TMPDIR/decisions" | tr '\n' ',')" = "$u1 approve,$u2 reject,$u2 block," ]
}

@test "interactive: undo, soft-reject, bonus, qualification, and upper case for the rest" {
	review_run 4 1
	read -r u1 u2 u3 u4 <<<"$(sql "SELECT unit_id FROM units ORDER BY unit_id" | tr "\n" " ")"
	tty_start "mephisto-review --run $RUN > /dev/null"
	tty_wait 1 "$PROMPT"
	tty_send a
	tty_wait 2 "$PROMPT"
	tty_send u
	tty_wait 1 "undone"
	tty_wait 3 "$PROMPT"
	tty_send b
	tty_wait 1 "bonus amount: "
	tty_send '0.5\n'
	tty_wait 1 "reason for the bonus: "
	tty_send 'careful work\n'
	tty_wait 4 "$PROMPT"
	tty_send q
	tty_wait 1 "qualification to grant: "
	tty_send 'gold\n'
	tty_wait 1 "value (empty: 1): "
	tty_send '2\n'
	tty_wait 5 "$PROMPT"
	tty_send p
	tty_wait 6 "$PROMPT"
	tty_send A
	tty_wait 1 "no more units to review"
	tty_end
	[ "$tty_status" -eq 0 ]
	grep -q -F "unit $u1 (1 of 4 from this worker)" "$TTY_LOG"
	grep -q -F "unit $u2 (2 of 4 from this worker)" "$TTY_LOG"
	[ "$(sql "SELECT status FROM units WHERE unit_id = $u1")" = soft_rejected ]
	[ "$(sql "SELECT group_concat(status) FROM units WHERE unit_id IN ($u2, $u3, $u4)")" = "accepted,accepted,accepted" ]
	[ "$(sql "SELECT unit_id || ' ' || amount || ' ' || reason FROM ledger")" = "$u1 0.5 careful work" ]
	[ "$(sql "SELECT q.qualification_name || '=' || g.value FROM granted_qualifications g JOIN qualifications q USING (qualification_id)")" = "gold=2" ]
	# The undone approval was never written.
	[ "$(sql "SELECT count(*) FROM worker_review WHERE unit_id = $u1 AND status = 'approved'")" = 0 ]
}

@test "interactive: units piped on stdin, keys from the terminal; long values folded, files listed" {
	review_run 3 1
	read -r u1 u2 u3 <<<"$(sql "SELECT unit_id FROM units ORDER BY unit_id" | tr "\n" " ")"
	long=$(printf 'word%.0s ' $(seq 1 400))
	sql "UPDATE agent_data SET outputs = json_set(outputs, '\$.essay', '$long'),
	    files = '[{\"fieldname\":\"f\",\"originalname\":\"cat.png\",\"filename\":\"cat.png\",\"path\":\"/data/files/1/cat.png\",\"size\":3}]'
	    WHERE agent_id = (SELECT agent_id FROM units WHERE unit_id = $u2)"
	mephisto-review approve "$u3" > /dev/null
	tty_start "mephisto-launch results $RUN --status all | mephisto-review > '$BATS_TEST_TMPDIR/decisions' 2> '$BATS_TEST_TMPDIR/errors'"
	tty_wait 1 "$PROMPT"
	tty_send a
	tty_wait 2 "$PROMPT"
	tty_send a
	tty_wait 1 "no more units to review"
	tty_end
	[ "$tty_status" -eq 1 ]
	grep -q -F "2 units to review from 1 worker" "$TTY_LOG"
	grep -q -F "1 approved, 0 rejected of 1" "$TTY_LOG"
	grep -q -E "\.\.\. \([0-9]+ more characters\)" "$TTY_LOG"
	grep -q -F "/data/files/1/cat.png (cat.png)" "$TTY_LOG"
	[ "$(cat "$BATS_TEST_TMPDIR/errors")" = "mephisto-review: error: unit $u3 is accepted, not completed: skipped" ]
	[ "$(count_units accepted)" -eq 3 ]
	[ "$(grep -c . "$BATS_TEST_TMPDIR/decisions")" -eq 2 ]
}

@test "interactive: a first-time worker, and quitting leaves the rest undecided" {
	review_run 1 1
	tty_start "mephisto-review --task t-task > /dev/null"
	tty_wait 1 "$PROMPT"
	tty_send '?'
	tty_wait 1 "upper case"
	tty_send x
	tty_end
	[ "$tty_status" -eq 0 ]
	grep -q -F "1 unit to review; first unit from this worker" "$TTY_LOG"
	[ "$(count_units completed)" -eq 1 ]
	[ "$(sql "SELECT count(*) FROM worker_review")" = 0 ]
}
