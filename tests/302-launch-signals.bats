#!/usr/bin/env bats
# mephisto-launch: stopping with a signal, and resuming after SIGKILL.

load lib/common
load lib/launch

setup() {
	setup_env
	T="$BATS_TEST_TMPDIR/task"
}

# Start a run of $1 units in the background (extra YAML in $2), wait for
# its URL, and start slow scripted workers on it.
start_run() {
	make_task "$T" "$1"
	[ -n "${2:-}" ] && sed -i "s/  task_tags: test/  task_tags: test\n  $2/" "$T/task.yml"
	mephisto-launch "$T/task.yml" --quiet "${@:3}" > "$BATS_TEST_TMPDIR/launch.out" 2>&1 &
	launch_pid=$!
	track_pid "$launch_pid"
	wait_for 10 run_url
	run_id=$(only_run)
	url=$(run_url)
	dir="$MEPHISTO_DATA/runs/$run_id"
	pool_pid=$(cat "$dir/pool.pid")
	io_pid=$(cat "$dir/io.pid")
	track_pid "$pool_pid"
	track_pid "$io_pid"
	mephisto-launch work --workers 3 --delay "${WORK_DELAY:-300}" "$url" 2>/dev/null &
	workers_pid=$!
	track_pid "$workers_pid"
}

some_completed() {
	[ "$(count_units completed)" -ge "$1" ]
}

@test "Ctrl-C: exits within the grace period, no unit left live, no child left" {
	start_run 40 "" --grace 5
	wait_for 20 some_completed 3
	kill -INT "$launch_pid"
	start=$SECONDS
	status=0
	wait "$launch_pid" || status=$?
	[ $((SECONDS - start)) -le 6 ]
	[ "$status" -eq 1 ]
	[ "$(lsql "SELECT COUNT(*) FROM units WHERE status IN ('created', 'launched', 'assigned')")" -eq 0 ]
	[ "$(count_units expired)" -gt 0 ]
	[ "$(sql "SELECT status FROM task_run_state")" = stopped ]
	gone "$pool_pid"
	gone "$io_pid"
	grep -q "stopping: no more units are launched" "$BATS_TEST_TMPDIR/launch.out"
}

@test "a second signal forces: agents at work are disconnected" {
	WORK_DELAY=3000 start_run 40 "" --grace 60
	wait_for 20 some_completed 1
	kill -TERM "$launch_pid"
	sleep 0.2
	kill -TERM "$launch_pid"
	status=0
	wait "$launch_pid" || status=$?
	cat "$BATS_TEST_TMPDIR/launch.out" >&2
	[ "$status" -eq 1 ]
	[ "$(lsql "SELECT COUNT(*) FROM units WHERE status IN ('created', 'launched', 'assigned')")" -eq 0 ]
	grep -q "forcing: disconnecting the workers" "$BATS_TEST_TMPDIR/launch.out"
	gone "$pool_pid"
	gone "$io_pid"
}

@test "SIGKILL mid-run, then resume: every unit completed exactly once" {
	start_run 30 "max_num_concurrent_units: 4"
	wait_for 30 some_completed 3
	kill -KILL "$launch_pid"
	wait "$launch_pid" || true
	# The pool and io live on; resume re-attaches to them.
	kill -0 "$pool_pid"
	kill -0 "$io_pid"
	run -0 timeout 120 mephisto-launch resume "$run_id" --quiet
	[ "$(count_units completed)" -eq 30 ]
	[ "$(sql "SELECT COUNT(*) FROM agents WHERE status = 'completed'")" -eq 30 ]
	[ -z "$(sql "SELECT unit_id FROM agents WHERE status = 'completed' GROUP BY unit_id HAVING COUNT(*) > 1")" ]
	[ "$(sql "SELECT is_completed FROM task_runs")" = 1 ]
	gone "$pool_pid"
	gone "$io_pid"
}

@test "resume refuses a run that a live supervisor has" {
	start_run 20 "max_num_concurrent_units: 2"
	run mephisto-launch resume "$run_id"
	[ "$status" -eq 1 ]
	assert_output --partial "is supervised by pid $launch_pid already"
	run -0 mephisto-launch stop "$run_id"
	wait_for 30 gone "$launch_pid"
	[ "$(lsql "SELECT COUNT(*) FROM units WHERE status IN ('created', 'launched', 'assigned')")" -eq 0 ]
}
