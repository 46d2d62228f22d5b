#!/usr/bin/env bats
# Older databases are brought up to date; newer ones are refused untouched.

load lib/common

SCHEMA="$REPO/share/mephisto/schema.sql"

last_migration() {
	sed -n 's/^-- migration \([0-9]*\): .*/\1/p' "$SCHEMA" | tail -n 1
}

# Print migration N of schema.sql (its marker line up to the next one).
migration_sql() {
	awk -v n="$1" '/^-- migration [0-9]+:/ { split($3, a, ":"); cur = a[1] + 0 }
		cur == n { print }' "$SCHEMA"
}

migration_title() {
	sed -n "s/^-- migration $1: //p" "$SCHEMA"
}

add_rows() {
	sql "INSERT INTO projects (project_id, project_name) VALUES (1000001, 'proj');
	     INSERT INTO tasks (task_id, task_name, task_type, project_id)
	     VALUES (1000002, 'demo', 'static_task', 1000001);"
}

@test "a version 1 database made by the sqlite3 shell is upgraded, rows kept" {
	[ "$(last_migration)" -ge 2 ] || skip "schema.sql has one migration"
	{ migration_sql 1; echo 'PRAGMA user_version = 1;'; } | sql
	add_rows
	run -0 test-db open "$MEPHISTO_DB"
	assert_output "version $(last_migration)"
	run -0 sql 'PRAGMA user_version'
	assert_output "$(last_migration)"
	run -0 sql 'SELECT task_name, project_name FROM tasks JOIN projects USING (project_id)'
	assert_output 'demo|proj'
	run -0 sql 'PRAGMA journal_mode'
	assert_output wal
	# The shell recorded nothing; the program records what it applied.
	run -0 sql 'SELECT name FROM migrations ORDER BY id'
	assert_output "$(for ((i = 2; i <= $(last_migration); i++)); do migration_title $i; done)"
	# The result is the schema of a new database.
	sqlite3 "$BATS_TEST_TMPDIR/ref.db" < "$SCHEMA"
	run -0 sqlite3 "$BATS_TEST_TMPDIR/ref.db" .schema
	local want=$output
	run -0 sql .schema
	assert_output "$want"
}

@test "a database opened at version 1 has only the first migration" {
	run -0 test-db open-version "$MEPHISTO_DB" 1
	assert_output 'version 1'
	run -0 sql 'PRAGMA user_version'
	assert_output 1
	run -0 sql "SELECT name FROM migrations"
	assert_output "$(migration_title 1)"
	run -0 sql "SELECT count(*) FROM sqlite_master WHERE name = 'projects'"
	assert_output 1
	[ "$(last_migration)" -ge 2 ] || return 0
	run -0 sql "SELECT count(*) FROM sqlite_master WHERE name = 'ledger'"
	assert_output 0
}

@test "a version 1 database made by the program is upgraded, rows kept" {
	[ "$(last_migration)" -ge 2 ] || skip "schema.sql has one migration"
	run -0 test-db open-version "$MEPHISTO_DB" 1
	add_rows
	run -0 test-db open "$MEPHISTO_DB"
	assert_output "version $(last_migration)"
	run -0 sql 'SELECT task_name FROM tasks WHERE project_id = 1000001'
	assert_output demo
	run -0 sql "SELECT count(*) FROM sqlite_master WHERE name = 'ledger'"
	assert_output 1
	run -0 sql "SELECT count(*), count(DISTINCT name) FROM migrations WHERE status = 'completed'"
	assert_output "$(last_migration)|$(last_migration)"
}

@test "a version that does not exist is refused" {
	run -1 --separate-stderr test-db open-version "$MEPHISTO_DB" 999
	assert_equal "$stderr" "test-db: error: cannot open database '$MEPHISTO_DB': no schema version 999 (this program knows 1 to $(last_migration))"
}

@test "a database from a newer version is refused and left untouched" {
	run -0 test-db open "$MEPHISTO_DB"
	local newer=$(( $(last_migration) + 5 ))
	sql "PRAGMA user_version = $newer"
	local sum
	sum=$(md5sum < "$MEPHISTO_DB")
	run -1 --separate-stderr test-db open "$MEPHISTO_DB"
	assert_equal "$stderr" "test-db: error: database '$MEPHISTO_DB' has schema version $newer, newer than version $(last_migration) that this program knows; use a newer mephisto"
	assert_equal "$(md5sum < "$MEPHISTO_DB")" "$sum"
	run -0 sql 'PRAGMA user_version'
	assert_output "$newer"
}

@test "a newer database in rollback-journal mode is not switched to WAL" {
	sql 'CREATE TABLE future (x); PRAGMA user_version = 1000;'
	local sum
	sum=$(md5sum < "$MEPHISTO_DB")
	run -1 --separate-stderr test-db open "$MEPHISTO_DB"
	[[ $stderr == *"has schema version 1000, newer than version $(last_migration) "* ]]
	assert_equal "$(md5sum < "$MEPHISTO_DB")" "$sum"
	run -0 sql 'PRAGMA journal_mode'
	assert_output delete
	assert_file_not_exists "$MEPHISTO_DB-wal"
}

@test "a version 2 database whose pool already made the unit index upgrades to the last version" {
	run -0 test-db open-version "$MEPHISTO_DB" 2
	sql "CREATE INDEX IF NOT EXISTS unit_by_run_status_date_index ON units (task_run_id, status, creation_date, unit_id)"
	run -0 test-db open "$MEPHISTO_DB"
	assert_output "version $(last_migration)"
	run -0 sql "SELECT count(*) FROM sqlite_master WHERE name = 'unit_by_run_status_date_index'"
	assert_output 1
}
