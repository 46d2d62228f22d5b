#!/usr/bin/env bats
# lib/loop (timers, fds, signals) and lib/proc (spawn, readiness,
# pidfiles, detaching).

load lib/common

@test "loop: timers fire in order of due time, then of creation" {
	run -0 test-loop timers
	assert_output "now
self-cancel
repeat 1
repeat 2
repeat 3
a-100ms
b1-200ms
b2-200ms
c-300ms
canceller
last
elapsed>=500: yes"
}

@test "loop: fds are dispatched to their callbacks" {
	run -0 test-loop fds
	assert_output "read 6 bytes after >=30 ms: hello
end of file
fd writable: yes"
}

@test "loop: signals are delivered through the loop" {
	start_daemon loop test-loop signals
	local log="$BATS_TEST_TMPDIR/loop.log"
	kill -USR1 "$loop_pid"
	wait_for 5 grep -q "got USR1" "$log"
	kill -TERM "$loop_pid"
	wait "$loop_pid"
	run -0 cat "$log"
	assert_output "got HUP
got USR1
got TERM
stopped"
}

@test "proc: processes are watched from the loop until they exit, with or without pidfd_open" {
	local expected="a reaped child cannot be watched: No such process
first child exited with status 5
the orphan is gone
third child was killed by signal 9 (Killed)
the zombie of another parent is gone"
	run -0 test-proc watch
	assert_output "$expected"
	# Where pidfd_open(2) is missing (before Linux 5.3, valgrind).
	run -0 no-pidfd test-proc watch
	assert_output "$expected"
}

@test "proc: readiness is waited for, not slept for" {
	local marker="$BATS_TEST_TMPDIR/ready-marker"
	run -0 test-proc start --log "$BATS_TEST_TMPDIR/child.log" -- \
	    test-proc child --delay 400 --marker "$marker"
	assert_line -n 1 --regexp "^ready after [0-9]+ ms$"
	local ms=${lines[1]//[^0-9]/}
	# Not before the child said so, and not a fixed wait after it.
	[ "$ms" -ge 400 ] && [ "$ms" -lt 3000 ]
	assert_file_exists "$marker"
	assert_line -n 2 "child was killed by signal 15 (Terminated)"
}

@test "proc: the child gets stdin from /dev/null, its env and its log" {
	local log="$BATS_TEST_TMPDIR/child.log"
	echo "earlier line" > "$log"
	run -0 test-proc start --log "$log" --env FOO=bar -- test-proc child
	run -0 cat "$log"
	assert_line -n 0 "earlier line"
	assert_line "child: MEPHISTO_READY_FD=3 FOO=bar"
	assert_line "child: to stderr"
	assert_line "child: stdin is empty"
}

@test "proc: a child that exits before it is ready is reported with its status" {
	local log="$BATS_TEST_TMPDIR/child.log"
	run -1 --separate-stderr test-proc start --log "$log" -- test-proc child --delay 100 --exit 7
	assert_equal "$stderr" "test-proc: error: child exited with status 7 before it was ready"
	run -1 --separate-stderr test-proc start --log "$log" -- test-proc child --delay 100 --signal 9
	assert_equal "$stderr" "test-proc: error: child was killed by signal 9 (Killed) before it was ready"
	run -1 --separate-stderr test-proc start -- sh -c 'exec 3>&-; sleep 5'
	assert_equal "$stderr" "test-proc: error: child closed its readiness fd without signalling ready"
}

@test "proc: a child that never gets ready times out; a missing program is reported" {
	run -1 --separate-stderr test-proc start --timeout 300 -- sleep 10
	assert_equal "$stderr" "test-proc: error: child did not become ready within 300 ms"
	run -1 --separate-stderr test-proc start -- /nonexistent/prog
	assert_equal "$stderr" "test-proc: error: cannot run '/nonexistent/prog': No such file or directory"
}

@test "proc: pidfiles round-trip and bad ones are refused" {
	local pf="$BATS_TEST_TMPDIR/launch.pid"
	run -0 test-proc pidfile-write "$pf" 4242
	run -0 cat "$pf"
	assert_output "4242"
	run -0 test-proc pidfile-read "$pf"
	assert_output "4242"
	echo "not a pid" > "$pf"
	run -1 --separate-stderr test-proc pidfile-read "$pf"
	assert_equal "$stderr" "test-proc: error: cannot read pidfile '$pf': Invalid argument"
	run -1 --separate-stderr test-proc pidfile-read "$BATS_TEST_TMPDIR/none.pid"
	assert_equal "$stderr" "test-proc: error: cannot read pidfile '$BATS_TEST_TMPDIR/none.pid': No such file or directory"
	run -0 test-proc alive $$
	assert_output "alive"
	sleep 0 & local gone=$!
	wait "$gone"
	run -0 test-proc alive "$gone"
	assert_output "dead"
}

@test "proc: --detach puts the daemon in its own session and waits for it" {
	local log="$BATS_TEST_TMPDIR/daemon.log"
	run -0 test-proc detach "$log"
	assert_output --regexp "^daemon [0-9]+ is ready$"
	local pid=${output//[^0-9]/}
	run -0 cat "$log"
	assert_output "daemon pid=$pid leader=no stdin=/dev/null"
}
