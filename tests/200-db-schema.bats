#!/usr/bin/env bats
# A new database gets the whole schema, and opening it again changes nothing.

load lib/common

SCHEMA="$REPO/share/mephisto/schema.sql"

# The number of the last "-- migration N: title" line of schema.sql.
last_migration() {
	sed -n 's/^-- migration \([0-9]*\): .*/\1/p' "$SCHEMA" | tail -n 1
}

@test "a new database file gets every table of schema.sql" {
	run -0 test-db open "$MEPHISTO_DB"
	assert_output "version $(last_migration)"
	local t
	for t in $(sed -n 's/^CREATE TABLE \([a-z_]*\) .*/\1/p' "$SCHEMA"); do
		run -0 sql "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '$t'"
		assert_output "$t"
	done
	# The same schema, indexes included, as running schema.sql whole.
	sqlite3 "$BATS_TEST_TMPDIR/ref.db" < "$SCHEMA"
	run -0 sqlite3 "$BATS_TEST_TMPDIR/ref.db" .schema
	local want=$output
	run -0 sql .schema
	assert_output "$want"
}

@test "a new database is in WAL mode at the last schema version" {
	run -0 test-db open "$MEPHISTO_DB"
	run -0 sql 'PRAGMA journal_mode'
	assert_output wal
	run -0 sql 'PRAGMA user_version'
	assert_output "$(last_migration)"
}

@test "a connection has WAL, synchronous NORMAL and foreign keys on" {
	run -0 test-db pragmas "$MEPHISTO_DB"
	# synchronous: 1 is NORMAL.
	assert_output $'journal_mode wal\nsynchronous 1\nforeign_keys 1'
}

@test "a connection sees when the database changed, by itself or another, and when it did not" {
	run -0 test-db change-mark "$MEPHISTO_DB" \
	    "B:CREATE TABLE t(x)" "A:SELECT count(*) FROM t" \
	    "A:INSERT INTO t VALUES (1)" "B:INSERT INTO t VALUES (2)" \
	    "B:SELECT count(*) FROM t" "A:UPDATE t SET x = x + 1" \
	    "A:UPDATE t SET x = 0 WHERE x > 9" "B:DELETE FROM t"
	assert_output - <<-EOF
	B:CREATE TABLE t(x) moved
	A:SELECT count(*) FROM t same
	A:INSERT INTO t VALUES (1) moved
	B:INSERT INTO t VALUES (2) moved
	B:SELECT count(*) FROM t same
	A:UPDATE t SET x = x + 1 moved
	A:UPDATE t SET x = 0 WHERE x > 9 same
	B:DELETE FROM t moved
	EOF
}

@test "a run's units are read in id order without a sort, and an assignment's through an index" {
	run -0 test-db open "$MEPHISTO_DB"
	run -0 sql "EXPLAIN QUERY PLAN SELECT unit_id, status FROM units
	    WHERE task_run_id = 1 ORDER BY unit_id"
	assert_output --regexp "SEARCH units USING (COVERING )?INDEX"
	refute_output --partial "TEMP B-TREE"
	run -0 sql "EXPLAIN QUERY PLAN SELECT unit_id, status FROM units
	    WHERE assignment_id = 1 ORDER BY unit_index"
	assert_output --regexp "SEARCH units USING (COVERING )?INDEX"
	refute_output --partial "TEMP B-TREE"
}

@test "the migrations table lists every migration applied, completed" {
	run -0 test-db open "$MEPHISTO_DB"
	run -0 sql "SELECT name || '|' || status FROM migrations ORDER BY id"
	assert_output "$(sed -n 's/^-- migration [0-9]*: \(.*\)/\1|completed/p' "$SCHEMA")"
}

@test "the database file is private to its owner" {
	run -0 test-db open "$MEPHISTO_DB"
	run -0 stat -c %a "$MEPHISTO_DB"
	assert_output 600
}

@test "opening an up-to-date database again changes nothing" {
	run -0 test-db open "$MEPHISTO_DB"
	sql "INSERT INTO projects (project_id, project_name) VALUES (1234567, 'p')"
	run -0 sql .dump
	local before=$output
	run -0 sql 'PRAGMA user_version'
	local version=$output
	run -0 test-db open "$MEPHISTO_DB"
	run -0 test-db open "$MEPHISTO_DB"
	run -0 sql .dump
	assert_output "$before"
	run -0 sql 'PRAGMA user_version'
	assert_output "$version"
	run -0 sql 'SELECT count(*) FROM migrations'
	assert_output "$(last_migration)"
}

@test "a missing folder is reported with the file name" {
	run -1 --separate-stderr test-db open "$MEPHISTO_DATA/no/such/database.db"
	assert_equal "$stderr" "test-db: error: cannot open database '$MEPHISTO_DATA/no/such/database.db': No such file or directory"
}

@test "a folder where the database should be is reported as one" {
	mkdir "$MEPHISTO_DATA/folder.db"
	run -1 --separate-stderr test-db open "$MEPHISTO_DATA/folder.db"
	assert_equal "$stderr" "test-db: error: cannot open database '$MEPHISTO_DATA/folder.db': Is a directory"
}

@test "a file that is not a database is reported and left alone" {
	echo 'not a database' > "$MEPHISTO_DB"
	run -1 --separate-stderr test-db open "$MEPHISTO_DB"
	assert_equal "$stderr" "test-db: error: cannot open database '$MEPHISTO_DB': file is not a database"
	run -0 cat "$MEPHISTO_DB"
	assert_output 'not a database'
}

@test "db_check passes a sound database and names a broken reference" {
	run -0 test-db check "$MEPHISTO_DB"
	assert_output ok
	# The sqlite3 shell does not enforce foreign keys by default.
	sql "INSERT INTO tasks (task_id, task_name, task_type, project_id)
	     VALUES (2000000, 't', 'static_task', 999)"
	run -1 --separate-stderr test-db check "$MEPHISTO_DB"
	assert_equal "$stderr" "test-db: error: database '$MEPHISTO_DB' is inconsistent: row 2000000 of table tasks refers to a missing row of table projects"
}
