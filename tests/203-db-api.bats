#!/usr/bin/env bats
# The statement cache, ids, transactions and time helpers of lib/db.

load lib/common

@test "cached statements work, come back reset and unbound, and are freed" {
	run -0 --separate-stderr test-db stmt "$MEPHISTO_DB"
	assert_equal "$stderr" ''
	assert_output - <<'OUT'
bound 42
same yes
unbound -1
many ok
bad refused: near "SELEKT": syntax error
bad refused: no such column: nosuchcolumn
OUT
}

@test "an insert whose random id is taken retries with another id" {
	run -0 --separate-stderr test-db ids "$MEPHISTO_DB"
	assert_output - <<'OUT'
first 5000000 first
second 5000001
duplicate unique: UNIQUE constraint failed: projects.project_name
OUT
	run -0 sql 'SELECT project_id, project_name FROM projects ORDER BY project_id'
	assert_output $'5000000|first\n5000001|second'
}

@test "random ids are distinct and within [1000000, 2^63-1]" {
	run -0 test-db random 2000
	assert_equal "${#lines[@]}" 2000
	local id
	for id in "${lines[@]}"; do
		[[ $id =~ ^[1-9][0-9]{6,18}$ ]] || fail "bad id: $id"
		if [ "${#id}" -eq 19 ] && [[ $id > 9223372036854775807 ]]; then
			fail "id too large: $id"
		fi
	done
	assert_equal "$(printf '%s\n' "${lines[@]}" | sort -u | wc -l)" 2000
}

@test "a child process after fork draws other ids than its parent" {
	run -0 test-db random-fork 20
	assert_equal "${#lines[@]}" 41
	assert_equal "$(printf '%s\n' "${lines[@]}" | sort -u | wc -l)" 41
}

@test "the ids of one batch share their top 23 bits and differ in 40 random ones" {
	run -0 test-db batch-ids "$MEPHISTO_DB" 50
	run -0 sql "SELECT project_id, substr(project_name, 1, 7) FROM projects"
	assert_equal "${#lines[@]}" 150
	local line id kind
	local -A prefixes=() low=()
	for line in "${lines[@]}"; do
		id=${line%%|*} kind=${line#*|}
		# 2^40 <= id <= 2^63-1: bash's arithmetic is signed 64-bit
		((id >= 1 << 40 && id > 0)) || fail "id out of range: $id"
		prefixes[$kind]+="$((id >> 40)) "
		low[$((id & ((1 << 40) - 1)))]=1
	done
	assert_equal "$(tr ' ' '\n' <<<"${prefixes[batch-1]}" | sort -u | grep -c .)" 1
	assert_equal "$(tr ' ' '\n' <<<"${prefixes[batch-2]}" | sort -u | grep -c .)" 1
	[ "${prefixes[batch-1]%% *}" != "${prefixes[batch-2]%% *}" ] ||
		fail "two batches drew the same prefix"
	# outside a batch every id is drawn whole
	assert_equal "$(tr ' ' '\n' <<<"${prefixes[single-]}" | sort -u | grep -c .)" 50
	assert_equal "${#low[@]}" 150
}

@test "a second connection in a process leaves the first one's locks alone" {
	run -0 test-db second-open "$MEPHISTO_DB"
	assert_output $'first-1-0\nfirst-1-0 second-1-0'
}

@test "a connection that checkpoints later gets its own threshold back afterwards" {
	run -0 test-db checkpoint "$MEPHISTO_DB"
	# SQLite's 1,000 pages; seldom's 20,000, held while deferred; and
	# the deferred commit's 10 rows in the database file itself.
	assert_output $'1000\n0\n20000\n10'
}

@test "id strings parse strictly" {
	local s
	for s in 1 1000000 9223372036854775807; do
		run -0 test-db parse "$s"
		assert_output "$s"
	done
	for s in '' 0 00 01 -5 +5 ' 5' '5 ' 1e6 abc 12a 0x10 \
	    9223372036854775808 99999999999999999999999; do
		run -1 --separate-stderr test-db parse "$s"
		assert_equal "${#stderr_lines[@]}" 1
		[[ $stderr == "test-db: error: not an id: '$s': "* ]] || fail "$stderr"
	done
}

@test "a failed transaction rolls back and keeps its reason" {
	run -0 test-db txn "$MEPHISTO_DB"
	assert_output - <<'OUT'
insert failed
reason: FOREIGN KEY constraint failed
projects 0
projects 1
OUT
	run -0 sql 'SELECT project_name FROM projects'
	assert_output fixed
}

@test "a request of a batch rolls back alone, its undo in memory or past it in a file" {
	# 3 rows: the undo stays in memory.  3000 pages: it moves to a
	# temporary file, in one write larger than SQLite's unix VFS takes.
	for rows in 3 3000; do
		run -0 --separate-stderr test-db batch "$MEPHISTO_DB" "$rows" 2000
		assert_output - <<OUT
projects $((2 * rows))
request 2 0
OUT
		run -0 sql 'DELETE FROM projects; PRAGMA integrity_check'
		assert_output ok
	done
}

@test "db_now is the wall clock in float seconds" {
	run -0 test-db now
	[[ $output =~ ^[0-9]+\.[0-9]{6}$ ]] || fail "$output"
	local now=$(date +%s)
	run -0 awk -v a="$output" -v b="$now" 'BEGIN { d = a - b; exit !(d > -5 && d < 5) }'
}
