#!/usr/bin/env bats
# mephisto-io as a program: options, start-up, readiness, shutdown.

load lib/common
load lib/io

@test "io: --help describes the options" {
	run -0 mephisto-io --help
	assert_output --partial "usage: mephisto-io --run RUN_ID --port N"
	assert_output --partial "--max-upload"
	assert_output --partial "--run-dir"
}

@test "io: missing or bad options are usage errors (exit 2)" {
	run -2 --separate-stderr mephisto-io --port 0 --run-dir "$RUN_DIR"
	assert_equal "$stderr" "mephisto-io: error: --run is required
Try 'mephisto-io --help' for more information."
	run -2 --separate-stderr mephisto-io --run 1 --run-dir "$RUN_DIR"
	[[ "$stderr" == "mephisto-io: error: --port is required"* ]]
	run -2 --separate-stderr mephisto-io --run 1 --port 99999
	[[ "$stderr" == *"invalid value for --port"* ]]
	run -2 --separate-stderr mephisto-io --run '../x' --port 0
	[[ "$stderr" == *"invalid run id '../x'"* ]]
	run -2 --separate-stderr mephisto-io --run 1 --port 0 --max-body -5
	[[ "$stderr" == *"invalid value for --max-body"* ]]
	run -2 --separate-stderr mephisto-io --run 1 --port 0 --log-level loud
	[[ "$stderr" == *"invalid log level 'loud'"* ]]
	run -2 mephisto-io --run 1 --port 0 --bogus
}

@test "io: a missing run or static folder fails cleanly" {
	run -1 --separate-stderr mephisto-io --run 1 --port 0 \
		--run-dir "$MEPHISTO_DATA/nope"
	[[ "$stderr" == *"error: cannot use run folder '$MEPHISTO_DATA/nope'"* ]]
	rm -r "$RUN_DIR/static"
	run -1 --separate-stderr mephisto-io --run 1 --port 0 --run-dir "$RUN_DIR"
	[[ "$stderr" == *"error: cannot open static folder '$RUN_DIR/static': No such file or directory"* ]]
}

@test "io: a run folder too long for the pool socket is refused with advice" {
	local long="$MEPHISTO_DATA/$(printf 'd%.0s' $(seq 100))"
	mkdir -p "$long/static"
	run -1 --separate-stderr mephisto-io --run 1 --port 0 --run-dir "$long"
	[[ "$stderr" == *"socket path '$long/pool.sock' is too long"*"use a shorter data directory"* ]]
}

@test "io: signals readiness, writes io.port, serves, exits 0 on SIGTERM" {
	start_io
	assert_file_exists "$RUN_DIR/io.port"
	[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -gt 0 ]
	http GET /is_alive
	assert_equal "$code" 200
	io_log_has "serving run 1 on http://127.0.0.1:$PORT/"
	stop_io
	assert_file_not_exists "$RUN_DIR/io.port"
	io_log_has "shutting down"
}

@test "io: SIGINT stops it cleanly too" {
	start_io
	local st=0
	kill -INT "$io_pid"
	wait "$io_pid" || st=$?
	io_pid=
	assert_equal "$st" 0
}

@test "io: the run folder defaults to <data dir>/runs/RUN_ID" {
	start_daemon io mephisto-io --run "$RUN_ID" --port 0
	assert_file_exists "$MEPHISTO_DATA/runs/$RUN_ID/io.port"
	URL="http://127.0.0.1:$(cat "$RUN_DIR/io.port")"
	http GET /task.html
	assert_equal "$code" 200
	run -1 --separate-stderr mephisto-io --run 77 --port 0
	[[ "$stderr" == *"error: cannot use run folder '$MEPHISTO_DATA/runs/77': No such file or directory"* ]]
}

@test "io: the log level comes from core.log_level when not given" {
	printf 'core:\n  main_data_directory: %s\n  log_level: debug\n' \
		"$MEPHISTO_DATA" > "$MEPHISTO_CONFIG"
	start_daemon io mephisto-io --run "$RUN_ID" --port 0
	wait_for 5 io_log_has "debug: "
}

@test "io: a port in use is an error naming it" {
	start_io
	run -1 --separate-stderr mephisto-io --run 1 --port "$PORT" \
		--run-dir "$RUN_DIR"
	[[ "$stderr" == *"error: cannot listen on 127.0.0.1 port $PORT: Address already in use"* ]]
	# the first one still serves
	http GET /is_alive
	assert_equal "$code" 200
}

@test "io: --host takes a name or an address" {
	start_io --host localhost
	http GET /is_alive
	assert_equal "$code" 200
	stop_io
	run -1 --separate-stderr mephisto-io --run 1 --port 0 \
		--run-dir "$RUN_DIR" --host no-such-host.invalid
	[[ "$stderr" == *"error: cannot listen on 'no-such-host.invalid': "* ]]
}

@test "io: starts without a pool and keeps trying to reach it" {
	start_io
	io_log_has "cannot connect to '$RUN_DIR/pool.sock': no such socket (the daemon is not running); will keep trying"
	start_fakepool
	wait_for 10 io_connected
	wait_for 5 io_log_has "connected to the pool"
}
