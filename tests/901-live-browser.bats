#!/usr/bin/env bats
# The two-worker chat example (share/mephisto/examples/chat) end to end:
# mephisto-launch, the pool with the example's runner, io, and two
# headless browsers on a page built with mephisto-task 2.0.4's live hooks.

load lib/common
load lib/launch
load lib/io

setup() {
	setup_env
	need_node_modules
	T="$BATS_TEST_TMPDIR/chat"
	HS="$BATS_TEST_TMPDIR/hs"
	mkdir -p "$HS"
	cp -r "$REPO/share/mephisto/examples/chat" "$T"
	node "$REPO/tests/browser/build-react.js" "$T/bundle.js" "$T/app.jsx"
}

# link N: the assignment's worker link (one per assignment), as worker N.
link() {
	local l
	l=$(grep -m1 -o "http://[^ ]*worker_id=worker-1&[^ ]*" "$BATS_TEST_TMPDIR/out") &&
		echo "${l/worker-1/worker-$1}"
}

launch_chat() {
	mephisto-launch "$T/task.yml" architect.port=0 "$@" > "$BATS_TEST_TMPDIR/out" 2>&1 &
	launch_pid=$!
	track_pid "$launch_pid"
	wait_for 20 link 1
}

# chat N ME OTHER [MODE]: a browser in the background, output in
# $BATS_TEST_TMPDIR/ME.out.
chat() {
	node "$REPO/tests/browser/run.js" chat "$(link "$1")" "$HS" "$2" "$3" ${4:+"$4"} \
		> "$BATS_TEST_TMPDIR/$2.out" 2>&1 &
	eval "${2}_pid=\$!"
}

# finished NAME: its browser exited 0.
finished() {
	local pid_var="${1}_pid"
	if ! wait "${!pid_var}"; then
		cat "$BATS_TEST_TMPDIR/$1.out" >&2
		cat "$MEPHISTO_DATA"/runs/*/pool.log >&2
		return 1
	fi
}

# agent_status N: the status of worker-N's agent.
agent_status() {
	lsql "SELECT a.status FROM agents a JOIN workers w USING (worker_id) WHERE w.worker_name = 'worker-$1_sandbox'"
}

# chat_both_ways [OVERRIDES...]: the chat launched with OVERRIDES; ann and
# bob hear each other and both submit; the run completes.  Sets $log to
# the pool's log.
chat_both_ways() {
	launch_chat "$@"
	chat 1 ann bob
	chat 2 bob ann
	finished ann
	finished bob
	grep -q "heard: hello from bob" "$BATS_TEST_TMPDIR/ann.out"
	grep -q "heard: hello from ann" "$BATS_TEST_TMPDIR/bob.out"
	grep -q "^submitted" "$BATS_TEST_TMPDIR/ann.out"
	grep -q "^submitted" "$BATS_TEST_TMPDIR/bob.out"
	wait_for 20 gone "$launch_pid"
	wait "$launch_pid"
	[ "$(count_units completed)" -eq 2 ]
	log="$MEPHISTO_DATA/runs/$(only_run)/pool.log"
}

@test "chat: two browsers exchange messages both ways through the runner and both submit" {
	chat_both_ways
	grep -q "assignment .* is over: its runner is told" "$log"
}

@test "chat: with one shared runner for the run, two browsers exchange messages and both submit" {
	chat_both_ways blueprint.shared_runner=true
	grep -q "runner \[.*\] started for the run" "$log"
	! grep -q "started for assignment" "$log"
}

@test "chat: closing one browser marks the partner 'partner disconnect'" {
	launch_chat
	chat 1 ann bob leave
	chat 2 bob ann stay
	finished ann
	finished bob
	grep -q "status: partner disconnect" "$BATS_TEST_TMPDIR/bob.out"
	[ "$(agent_status 1)" = disconnect ]
	[ "$(agent_status 2)" = "partner disconnect" ]
	[ "$(count_units launched)" -eq 2 ]
	kill -TERM "$launch_pid"
	wait "$launch_pid" || true
}

@test "chat: a refreshed page resumes the same agent and receives what it missed" {
	launch_chat
	chat 1 ann bob refresh
	chat 2 bob ann late
	finished ann
	finished bob
	grep -q "same agent: true" "$BATS_TEST_TMPDIR/ann.out"
	grep -q "heard: hello from bob" "$BATS_TEST_TMPDIR/ann.out"
	grep -q "heard: hello from ann" "$BATS_TEST_TMPDIR/bob.out"
	wait_for 20 gone "$launch_pid"
	wait "$launch_pid"
	[ "$(count_units completed)" -eq 2 ]
}
