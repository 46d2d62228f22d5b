#!/usr/bin/env bats
# Several processes sharing one database never see "database is locked".

load lib/common

SCHEMA="$REPO/share/mephisto/schema.sql"

last_migration() {
	sed -n 's/^-- migration \([0-9]*\): .*/\1/p' "$SCHEMA" | tail -n 1
}

# An epoch SECONDS from now, for test-db -s.
start_in() {
	test-db now | awk -v d="$1" '{ printf "%.3f\n", $1 + d }'
}

# wait_all NAME...: wait for the background jobs whose pids are in
# $BATS_TEST_TMPDIR/NAME.pid; fail if any failed or wrote to stderr.
wait_all() {
	local name pid rc fail=0
	for name in "$@"; do
		pid=$(cat "$BATS_TEST_TMPDIR/$name.pid")
		rc=0
		wait "$pid" || rc=$?
		if [ "$rc" -ne 0 ] || [ -s "$BATS_TEST_TMPDIR/$name.err" ]; then
			echo "$name exited $rc:" >&2
			cat "$BATS_TEST_TMPDIR/$name.err" >&2
			fail=1
		fi
	done
	return "$fail"
}

# spawn NAME COMMAND...: run COMMAND in the background, output in NAME.out
# and NAME.err.
spawn() {
	local name=$1
	shift
	"$@" > "$BATS_TEST_TMPDIR/$name.out" 2> "$BATS_TEST_TMPDIR/$name.err" &
	echo $! > "$BATS_TEST_TMPDIR/$name.pid"
	track_pid $!
}

@test "8 processes creating the same new database at once apply the schema once" {
	local round i db at names
	for round in 1 2 3 4 5; do
		db="$MEPHISTO_DATA/new-$round.db"
		at=$(start_in 0.5)
		names=()
		for i in 1 2 3 4 5 6 7 8; do
			spawn "open-$round-$i" test-db -s "$at" open "$db"
			names+=("open-$round-$i")
		done
		wait_all "${names[@]}"
		for i in 1 2 3 4 5 6 7 8; do
			run -0 cat "$BATS_TEST_TMPDIR/open-$round-$i.out"
			assert_output "version $(last_migration)"
		done
		run -0 sqlite3 "$db" 'SELECT count(*), count(DISTINCT name) FROM migrations'
		assert_output "$(last_migration)|$(last_migration)"
		run -0 sqlite3 "$db" 'PRAGMA journal_mode'
		assert_output wal
	done
}

@test "8 writers and 2 readers at once all succeed, every row is there" {
	local at i names=()
	at=$(start_in 0.5)
	# Each writer: 40 transactions of 10 rows; every 10th one holds the
	# write lock 100 ms longer.  All start on a file that does not exist.
	for i in 1 2 3 4 5 6 7 8; do
		spawn "w$i" test-db -s "$at" write "$MEPHISTO_DB" "w$i" 40 10 10 100
		names+=("w$i")
	done
	for i in 1 2; do
		spawn "r$i" test-db -s "$at" read "$MEPHISTO_DB" 2000
		names+=("r$i")
	done
	wait_all "${names[@]}"
	for i in 1 2 3 4 5 6 7 8; do
		run -0 cat "$BATS_TEST_TMPDIR/w$i.out"
		assert_output 'wrote 400'
		run -0 sql "SELECT count(*) FROM projects WHERE project_name LIKE 'w$i-%'"
		assert_output 400
	done
	run -1 grep -rl 'locked' "$BATS_TEST_TMPDIR" --include='*.err' --include='*.out'
	assert_output ''
	run -0 sql 'SELECT count(*), count(DISTINCT project_id) FROM projects'
	assert_output '3200|3200'
	run -0 sql 'SELECT count(*) FROM migrations'
	assert_output "$(last_migration)"
}

@test "a writer waits for a long transaction instead of failing" {
	run -0 test-db open "$MEPHISTO_DB"
	local at t0 t1
	at=$(start_in 0.3)
	# One transaction that keeps the write lock for 3 s; the late writer
	# starts 0.9 s after it (room for a slow start under sanitizers).
	spawn hold test-db -s "$at" write "$MEPHISTO_DB" hold 1 1 1 3000
	t0=$(start_in 1.2)
	spawn late test-db -s "$t0" write "$MEPHISTO_DB" late 1 5 0 0
	wait_all hold late
	t1=$(test-db now)
	run -0 cat "$BATS_TEST_TMPDIR/late.out"
	assert_output 'wrote 5'
	# It could only commit after the holder's 3 s were over (about 2.1 s
	# after it started).
	run -0 awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a >= 1.0) }'
	run -0 sql "SELECT count(*) FROM projects"
	assert_output 6
}

@test "a commit is in the file when it returns: SIGKILL right after loses none" {
	run -0 test-db open "$MEPHISTO_DB"
	local spec ntxn rows bytes pages pid last n
	# Small transactions; ones of 2 MiB (the log is written in pieces);
	# ones that overflow a 10-page cache, so that SQLite writes pages to
	# the log before the commit and writes some again.
	for spec in "100000 2 100 2000" "20 2000 1000 2000" "40 300 1000 10"; do
		read -r ntxn rows bytes pages <<<"$spec"
		test-db commits "$MEPHISTO_DB" "$ntxn" "$rows" "$bytes" "$pages" \
		    > "$BATS_TEST_TMPDIR/c.out" 2> "$BATS_TEST_TMPDIR/c.err" &
		pid=$!
		wait_for 60 grep -q '^committed 5$' "$BATS_TEST_TMPDIR/c.out"
		kill -KILL "$pid"
		wait "$pid" || true
		last=$(tail -1 "$BATS_TEST_TMPDIR/c.out" | cut -d' ' -f2)
		run -0 sql 'PRAGMA integrity_check'
		assert_output ok
		# Every transaction it said was committed, whole; perhaps the
		# next one too, whole or not at all.
		n=$(sql 'SELECT count(*) FROM projects')
		echo "$spec: committed $last, $n rows" >&2
		[ "$n" -ge $((last * rows)) ]
		[ "$n" -le $(((last + 1) * rows)) ]
		[ $((n % rows)) -eq 0 ]
		sql 'DELETE FROM projects'
	done
}
