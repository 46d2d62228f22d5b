# Helpers for the mephisto-review tests.  Load after lib/common and
# lib/launch.
#
# review_run ROWS [WORKERS] [EXTRA_YAML]
#     Make a static task "t-task" with ROWS rows in $T and run it to the end
#     with WORKERS (default 2) scripted mock workers; $RUN is the run id.
# review_state
#     Everything a review decision can change, as text, to compare before
#     and after.

review_run() {
	T="$BATS_TEST_TMPDIR/task"
	make_task "$T" "$1" "${3:-}"
	mephisto-launch "$T/task.yml" --auto-workers "${2:-2}" --quiet \
	    >/dev/null 2>"$BATS_TEST_TMPDIR/launch.err" || {
		cat "$BATS_TEST_TMPDIR/launch.err" >&2
		return 1
	}
	RUN=$(only_run)
}

review_state() {
	sql "SELECT unit_id, status FROM units ORDER BY unit_id;
	    SELECT agent_id, status FROM agents ORDER BY agent_id;
	    SELECT count(*) FROM worker_review;
	    SELECT idempotency_key, amount FROM ledger ORDER BY 1;
	    SELECT worker_id, qualification_id, value FROM granted_qualifications ORDER BY 1, 2;
	    SELECT worker_id, is_blocked FROM provider_workers ORDER BY 1;
	    SELECT count(*) FROM run_events"
}

# The interactive review through a pseudo-terminal, with script(1):
#
# tty_start COMMAND
#     Run the shell command COMMAND on a new pseudo-terminal; what it
#     shows goes to $TTY_LOG, and tty_send types into it.
# tty_wait N TEXT
#     Wait until TEXT has appeared N times on the terminal.
# tty_send TEXT
#     Type TEXT (printf format: '\n' is Enter).
# tty_end
#     Close the keyboard and wait for the command; $tty_status is the
#     command's exit status.
tty_start() {
	TTY_LOG="$BATS_TEST_TMPDIR/tty.log"
	rm -f "$BATS_TEST_TMPDIR/keys" "$TTY_LOG"
	mkfifo "$BATS_TEST_TMPDIR/keys"
	script -qefc "$1" "$TTY_LOG" < "$BATS_TEST_TMPDIR/keys" >/dev/null 2>&1 &
	tty_pid=$!
	track_pid "$tty_pid"
	exec 8> "$BATS_TEST_TMPDIR/keys"
}

tty_seen() {
	[ "$(grep -c -F -- "$2" "$TTY_LOG" 2>/dev/null)" -ge "$1" ]
}

tty_wait() {
	wait_for 10 tty_seen "$1" "$2" || {
		echo "terminal so far:" >&2
		cat -v "$TTY_LOG" >&2
		return 1
	}
}

tty_send() {
	# shellcheck disable=SC2059
	printf "$1" >&8
}

tty_end() {
	exec 8>&-
	tty_status=0
	wait "$tty_pid" || tty_status=$?
}

PROMPT='[a/r/p/b/q/s/u/?/x] > '
