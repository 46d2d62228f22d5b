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
