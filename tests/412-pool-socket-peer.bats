#!/usr/bin/env bats
# The pool's Unix socket: 0600 in a 0700 folder, and a peer of another
# uid is refused (SO_PEERCRED) even when the file modes would let it in.

load lib/common
load lib/pool
load lib/io
load lib/hostile

setup() {
	setup_env
	live_setup 2
}

@test "pool socket: 0600 in a 0700 folder" {
	assert_equal "$(stat -c %a "$POOL_SOCK")" 600
	assert_equal "$(stat -c %a "$(dirname "$POOL_SOCK")")" 700
	[ "$(stat -c %u "$POOL_SOCK")" = "$(id -u)" ]
}

@test "pool socket: a peer of another uid is refused by its credentials" {
	[ "$(id -u)" = 0 ] || skip "needs root to connect as another user"
	command -v setpriv >/dev/null && [ -x /usr/bin/python3 ] || skip "needs setpriv and python3"
	mark_written
	# open the way so that only SO_PEERCRED stands in it
	chmod 711 "$MEPHISTO_DATA" "$MEPHISTO_DATA/runs" "$(dirname "$POOL_SOCK")"
	chmod 666 "$POOL_SOCK"
	run -0 setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 - "$POOL_SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(b'{"packet_type":"hello","subject_id":"mephisto-io","data":{"program":"mephisto-io","version":1}}\n')
    s.sendall(b'{"packet_type":"register_agent","subject_id":"r","request_id":"r","data":{"provider_data":{"worker_name":"intruder"}}}\n')
    got = s.recv(4096)
except OSError as e:
    got = b""
print("got:%r" % got)
PY
	assert_output "got:b''"
	wait_for 5 grep -q 'refused a connection from uid 65534' "$BATS_TEST_TMPDIR/pool.log"
	nothing_written
	# the pool still serves its own user
	register w1
}
