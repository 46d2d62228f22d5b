#!/usr/bin/env bats
# lib/ipc: Unix sockets, framing, hello, requests, peer checks.

load lib/common

setup() {
	setup_env
	SOCK="$MEPHISTO_DATA/run/pool.sock"
}

# start_server [OPTIONS...]: a test server on $SOCK calling itself
# mephisto-pool; its log is $BATS_TEST_TMPDIR/server.log.
start_server() {
	start_daemon server test-ipc serve --program mephisto-pool "$@" "$SOCK"
}

# stop_server: SIGTERM the server and check that it exits cleanly (status
# 0: under the sanitizers, also without leaks).
stop_server() {
	kill -TERM "$server_pid"
	wait "$server_pid"
}

@test "ipc: a socket path longer than sun_path is refused with a clear error" {
	local long="$MEPHISTO_DATA/$(printf 'd%.0s' {1..120})/pool.sock"
	run -1 test-ipc serve "$long"
	assert_output --partial "error: socket path '$long' is too long ("
	assert_output --partial "at most 107): use a shorter data directory"
	assert_not_exist "$(dirname "$long")"
	run -1 --separate-stderr test-ipc client "$long" hello
	assert_equal "$stderr" "test-ipc: error: socket path '$long' is too long (${#long} bytes, at most 107): use a shorter data directory (core.main_data_directory)"
}

@test "ipc: the socket is 0600 in a 0700 folder" {
	start_server
	run -0 stat -c '%a %F' "$SOCK" "$MEPHISTO_DATA/run"
	assert_line -n 0 "600 socket"
	assert_line -n 1 "700 directory"
	# An existing folder open to others is made private.
	mkdir -m 755 "$MEPHISTO_DATA/open"
	start_daemon server2 test-ipc serve "$MEPHISTO_DATA/open/x.sock"
	run -0 stat -c '%a' "$MEPHISTO_DATA/open" "$MEPHISTO_DATA/open/x.sock"
	assert_output $'700\n600'
}

@test "ipc: a folder of another user or a shared folder is refused" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to chown"
	mkdir "$MEPHISTO_DATA/theirs"
	chown 65534 "$MEPHISTO_DATA/theirs"
	run -1 test-ipc serve "$MEPHISTO_DATA/theirs/x.sock"
	assert_output --partial "error: refusing to listen in '$MEPHISTO_DATA/theirs': it belongs to uid 65534, not to us"
	mkdir -m 1777 "$MEPHISTO_DATA/shared"
	run -1 test-ipc serve "$MEPHISTO_DATA/shared/x.sock"
	assert_output --partial "error: refusing to listen in '$MEPHISTO_DATA/shared': it is a shared folder; use a private one"
	run -0 stat -c '%a' "$MEPHISTO_DATA/shared"
	assert_output "1777"
}

@test "ipc: a live socket is not stolen, a stale one is replaced" {
	start_server
	run -1 test-ipc serve "$SOCK"
	assert_output --partial "error: a daemon is already listening on '$SOCK'"
	run -0 test-ipc client "$SOCK" hello
	assert_output "peer mephisto-pool version 1"

	kill -KILL "$server_pid"
	wait "$server_pid" || true
	[ -S "$SOCK" ]
	run -3 --separate-stderr test-ipc client "$SOCK" hello
	assert_equal "$stderr" "test-ipc: error: cannot connect to '$SOCK': connection refused (the daemon is not running)"

	start_daemon server2 test-ipc serve --program second "$SOCK"
	run -0 grep -c "removed stale socket '$SOCK'" "$BATS_TEST_TMPDIR/server2.log"
	run -0 test-ipc client "$SOCK" hello
	assert_output "peer second version 1"
}

@test "ipc: connecting to a missing socket reports the daemon unreachable" {
	run -3 --separate-stderr test-ipc client "$MEPHISTO_DATA/none.sock" hello
	assert_equal "$stderr" "test-ipc: error: cannot connect to '$MEPHISTO_DATA/none.sock': no such socket (the daemon is not running)"
}

@test "ipc: packets round-trip between a server and a client" {
	start_server
	run -0 test-ipc client "$SOCK" request echo '{"text":"é € 😀\n\"quoted\"\ttab","n":[1,2.5,-3],"o":{"deep":{"x":null,"t":true}}}'
	assert_output 'reply type=echo_reply request_id=1 data={"text":"é € 😀\n\"quoted\"\ttab","n":[1,2.5,-3],"o":{"deep":{"x":null,"t":true}}}'
	# Many large packets queued at once come back whole and in order.
	run -0 test-ipc client "$SOCK" flood 300 50000
	assert_output "flood: 300 replies in order"
	stop_server
}

@test "ipc: an oversized line is refused and the server keeps serving" {
	start_server --max-line 4096
	run -0 test-ipc client "$SOCK" flood 1 4000
	run -0 test-ipc client "$SOCK" oversize 10000
	assert_output --partial 'got type=error request_id=- data={"error":"line longer than 4096 bytes","retryable":false}'
	run -0 grep -c "refusing a client: line longer than 4096 bytes" "$BATS_TEST_TMPDIR/server.log"
	run -0 test-ipc client "$SOCK" hello
	assert_output "peer mephisto-pool version 1"
	stop_server
}

@test "ipc: a line over the default 8 MiB limit is refused" {
	start_server
	run -0 test-ipc client "$SOCK" oversize 9000000
	assert_output --partial '"error":"line longer than 8388608 bytes"'
	run -0 test-ipc client "$SOCK" request echo '{"after":"oversize"}'
	assert_output 'reply type=echo_reply request_id=1 data={"after":"oversize"}'
	stop_server
}

@test "ipc: a hello with another protocol version is refused naming both" {
	start_server
	run -1 --separate-stderr test-ipc client --program mephisto-launch --version 99 "$SOCK" hello
	assert_equal "$stderr" "test-ipc: error: protocol version mismatch: mephisto-pool speaks version 1, mephisto-launch speaks version 99"
	run -0 grep -c "refusing a peer: protocol version mismatch: mephisto-launch speaks version 99, mephisto-pool speaks version 1" "$BATS_TEST_TMPDIR/server.log"
	run -0 test-ipc client "$SOCK" hello
	stop_server
}

@test "ipc: a request gets the reply carrying its request_id" {
	start_server
	# The first request times out; its late reply arrives while the
	# second waits and must not be taken for the second's.
	run -0 test-ipc client "$SOCK" late-reply
	assert_line -n 0 "first: no answer from mephisto-pool in time"
	assert_line -n 1 'reply type=echo_reply request_id=2 data={"delay_ms":400,"which":"second"}'
	assert_equal "${#lines[@]}" 2
	# Unrelated packets arriving first are kept for later.
	run -0 test-ipc client "$SOCK" request echo '{"with_event":true}'
	assert_line -n 0 'reply type=echo_reply request_id=1 data={"with_event":true}'
	assert_line -n 1 'kept type=event request_id=- data={}'
	# An error reply fails the request with the server's message.
	run -1 --separate-stderr test-ipc client "$SOCK" request fail
	assert_equal "${stderr_lines[1]}" "test-ipc: error: mephisto-pool: asked to fail"
	stop_server
}

@test "ipc: a request that is never answered times out at its deadline" {
	start_server
	run -3 --separate-stderr test-ipc client --timeout 500 "$SOCK" request stall
	assert_equal "${stderr_lines[1]}" "test-ipc: error: no answer from mephisto-pool in time"
	[[ "${stderr_lines[0]}" =~ request\ failed\ after\ ([0-9]+)\ ms ]]
	local ms=${BASH_REMATCH[1]}
	[ "$ms" -ge 500 ] && [ "$ms" -lt 2500 ]
	# A reply still pending when its client leaves is dropped cleanly.
	run -3 test-ipc client --timeout 100 "$SOCK" request echo '{"delay_ms":5000}'
	stop_server
}

@test "ipc: a peer running as another user is refused" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to switch users"
	start_server
	# Open the folders so that only the credential check stands.
	chmod 711 "$MEPHISTO_DATA" "$MEPHISTO_DATA/run"
	chmod 666 "$SOCK"
	run -1 --separate-stderr test-ipc client --as-uid 65534 "$SOCK" hello
	assert_equal "$stderr" "test-ipc: error: the daemon closed the connection"
	run -0 grep -c "refused a connection from uid 65534 (pid [0-9]*): only uid 0 may connect" "$BATS_TEST_TMPDIR/server.log"
	run -0 test-ipc client "$SOCK" hello
	stop_server
}

@test "ipc: the server stops cleanly on a shutdown request" {
	start_server
	run -0 test-ipc client "$SOCK" request shutdown
	assert_output "reply type=ack request_id=1 data={}"
	wait "$server_pid"
	assert_not_exist "$SOCK"
}
