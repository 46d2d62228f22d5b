#!/usr/bin/env bats
# Concurrent writers never lose each other's keys, and a writer killed at
# any moment never leaves a damaged config.yml.

load lib/common

@test "20 concurrent sets leave a valid file holding all 20 keys" {
	local i pids=()
	for i in $(seq 1 20); do
		mephisto-config set "s.k$i" "v$i" &
		pids+=($!)
		track_pid $!
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	for i in $(seq 1 20); do
		run mephisto-config get "s.k$i"
		assert_success
		assert_output "v$i"
	done
	run mephisto-config list
	assert_success
	assert_equal "${#lines[@]}" 21
	assert_line "core.main_data_directory=$MEPHISTO_DATA"
}

@test "concurrent sets and unsets of different keys do not interfere" {
	local i pids=()
	for i in $(seq 1 10); do
		mephisto-config set "a.k$i" "$i"
	done
	for i in $(seq 1 10); do
		mephisto-config unset "a.k$i" &
		pids+=($!)
		mephisto-config set "b.k$i" "$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	run mephisto-config list
	assert_success
	refute_line --regexp '^a\.'
	assert_equal "${#lines[@]}" 11
}

# A reader that checks, until told to stop, that the file always parses
# and still holds the key set before the writers started.  Failures go to
# $BATS_TEST_TMPDIR/reader.err.
start_reader() {
	(
		while [ ! -e "$BATS_TEST_TMPDIR/stop" ]; do
			if ! out=$(mephisto-config get keep.me 2>&1) ||
			    [ "$out" != kept ]; then
				echo "reader saw: $out" >> "$BATS_TEST_TMPDIR/reader.err"
			fi
		done
	) &
	reader=$!
	track_pid "$reader"
}

stop_reader() {
	touch "$BATS_TEST_TMPDIR/stop"
	wait "$reader"
	assert_file_not_exist "$BATS_TEST_TMPDIR/reader.err"
}

@test "writers killed with SIGKILL at random moments never damage the file" {
	local i pid done_keys=()
	mephisto-config set keep.me kept
	start_reader
	for i in $(seq 1 60); do
		mephisto-config set "s.k$i" "v$i" &
		pid=$!
		sleep "0.00$((RANDOM % 10))"
		kill -KILL "$pid" 2>/dev/null || true
		if wait "$pid"; then
			done_keys+=("$i")
		fi
		[ -s "$MEPHISTO_CONFIG" ]
		run mephisto-config get keep.me
		assert_success
		assert_output kept
	done
	stop_reader
	# Every write that finished is there.
	for i in "${done_keys[@]}"; do
		run mephisto-config get "s.k$i"
		assert_output "v$i"
	done
	run mephisto-config get core.main_data_directory
	assert_output "$MEPHISTO_DATA"
	# Temporary files of killed writers are cleared by the next writer.
	mephisto-config set s.last 1
	run ls "$MEPHISTO_HOME"
	assert_output "config.yml
config.yml.lock"
}

@test "a writer killed while it holds the lock changes nothing and frees it" {
	local flag="$BATS_TEST_TMPDIR/paused" pid
	cp "$MEPHISTO_CONFIG" "$BATS_TEST_TMPDIR/before"
	MEPHISTO_TEST_PAUSE_WRITE="$flag" mephisto-config set s.lost 1 &
	pid=$!
	track_pid "$pid"
	wait_for 10 test -e "$flag"
	kill -KILL "$pid"
	wait "$pid" || true
	cmp "$BATS_TEST_TMPDIR/before" "$MEPHISTO_CONFIG"
	run -1 mephisto-config get s.lost
	# The lock went with the writer: the next one gets it at once.
	timeout 10 mephisto-config set s.next 2
	run mephisto-config get s.next
	assert_output 2
}

@test "a second writer waits for the lock and keeps the first one's key" {
	local flag="$BATS_TEST_TMPDIR/paused" first second
	MEPHISTO_TEST_PAUSE_WRITE="$flag" mephisto-config set s.first 1 &
	first=$!
	track_pid "$first"
	wait_for 10 test -e "$flag"
	mephisto-config set s.second 2 &
	second=$!
	track_pid "$second"
	# The second writer is blocked: it has not written, nor finished.
	sleep 0.2
	kill -0 "$second"
	run -1 mephisto-config get s.second
	rm "$flag"
	wait "$first"
	wait "$second"
	run mephisto-config list
	assert_line "s.first=1"
	assert_line "s.second=2"
}
