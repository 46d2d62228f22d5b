#!/usr/bin/env bats
# Hostile HTTP against a live mephisto-io in front of a real pool: every
# test asserts the answer and that nothing was written (no database row,
# no file), and that io is still serving afterwards.

load lib/common
load lib/pool
load lib/io
load lib/hostile

setup() {
	setup_env
	live_setup 4
	mark_written
}

@test "hostile http: '..' and its encodings in static paths never leave the static folder" {
	local p paths=(
		'/../secret.txt' '/../../secret.txt' '/%2e%2e/secret.txt'
		'/%2E%2E/%2E%2E/secret.txt' '/..%2fsecret.txt' '/%2e%2e%2fsecret.txt'
		'/.%2e/secret.txt' '/%252e%252e/secret.txt' '/..%5csecret.txt'
		'/..\secret.txt' '/%c0%ae%c0%ae/secret.txt' '/....//secret.txt'
		'/index.html/../../secret.txt' '/%00/../secret.txt'
		'//../secret.txt' '/./.././secret.txt' '/static/../../secret.txt'
		'/%2e%2e/%2e%2e/database.db' '/../io.log' '/../pool.sock'
	)
	for p in "${paths[@]}"; do
		http GET "$p"
		[[ "$body" != *TOPSECRET* && "$body" != *"SQLite format"* ]] ||
			fail "$p served a file outside the static folder"
		[ "$code" = 200 ] && [ "$body" != "$(cat "$RUN_DIR/static/index.html")" ] &&
			fail "$p: 200 with $body"
		[[ "$code" =~ ^(200|400|403|404|000)$ ]] || fail "$p: status $code"
	done
	io_alive
	nothing_written
}

@test "hostile http: encoded '..' in upload names stays in the agent's own folder" {
	register w1
	mark_written
	printf 'evil\n' > "$BATS_TEST_TMPDIR/x"
	http POST /submit_task -F USED_AGENT_ID="$agent" \
		-F 'final_string_data={"rating": "good"}' \
		-F "a=@$BATS_TEST_TMPDIR/x;filename=%2e%2e%2f%2e%2e%2fevil-a" \
		-F "b=@$BATS_TEST_TMPDIR/x;filename=..%2F..%2Fevil-b" \
		-F "c=@$BATS_TEST_TMPDIR/x;filename=....//....//evil-c" \
		-F "d=@$BATS_TEST_TMPDIR/x;filename=..\\\\..\\\\evil-d"
	assert_equal "$code" 200
	# every file is inside files/<agent>/, none starts with a dot
	run -0 find "$MEPHISTO_DATA" -name '*evil*'
	for f in "${lines[@]}"; do
		[[ "$f" == "$RUN_DIR/files/$agent/"* ]] || fail "stored outside: $f"
		[[ "$(basename "$f")" != .* ]] || fail "hidden name: $f"
	done
	[ "${#lines[@]}" -eq 4 ]
	[ -z "$(find "$RUN_DIR/files" -path '*/.incoming/*' -type f)" ]
}

@test "hostile http: huge headers are refused and io goes on" {
	{ printf 'X-Big: '; head -c 200000 /dev/zero | tr '\0' a; echo; } > "$BATS_TEST_TMPDIR/h1"
	for i in $(seq 2000); do printf 'X-H%d: %0200d\n' "$i" 0; done > "$BATS_TEST_TMPDIR/h2"
	: > "$BATS_TEST_TMPDIR/http.body"
	http POST /request_agent -H "@$BATS_TEST_TMPDIR/h1" -H 'Content-Type: application/json' \
		--data-binary '{"provider_data": {"worker_name": "w1"}}'
	[ "$code" != 200 ] || fail "a 200 KB header was accepted"
	: > "$BATS_TEST_TMPDIR/http.body"
	http POST /request_agent -H "@$BATS_TEST_TMPDIR/h2" -H 'Content-Type: application/json' \
		--data-binary '{"provider_data": {"worker_name": "w1"}}'
	[ "$code" != 200 ] || fail "400 KB of headers were accepted"
	io_alive
	nothing_written
}

@test "hostile http: a body announced or sent past the limit is 413, not read" {
	http POST /submit_task -H 'Content-Type: application/json' \
		-H 'Content-Length: 10000000000' --data-binary '{"USED_AGENT_ID": "1"}'
	[[ "$code" =~ ^(413|400|000)$ ]] || fail "status $code"
	head -c 3000000 /dev/zero | tr '\0' ' ' > "$BATS_TEST_TMPDIR/big"
	http POST /request_agent -H 'Content-Type: application/json' \
		-H 'Transfer-Encoding: chunked' --data-binary "@$BATS_TEST_TMPDIR/big"
	assert_equal "$code" 413
	http POST /submit_task -F USED_AGENT_ID=1 -F "final_string_data=<$BATS_TEST_TMPDIR/big"
	assert_equal "$code" 413
	io_alive
	nothing_written
}

@test "hostile http: invalid UTF-8, NUL escapes and deep nesting are 400" {
	local deep
	http POST /request_agent -H 'Content-Type: application/json' \
		--data-binary $'{"provider_data": {"worker_name": "w\xff\xfe"}}'
	assert_equal "$code" 400
	http POST /request_agent -H 'Content-Type: application/json' \
		--data-binary $'{"provider_data": {"worker_name": "w\xed\xa0\x80"}}'
	assert_equal "$code" 400
	http POST /request_agent -H 'Content-Type: application/json' \
		--data-binary '{"provider_data": {"worker_name": "w\u0000x"}}'
	assert_equal "$code" 400
	deep=$(printf '%0.s[' $(seq 20000))
	post_json /submit_task "{\"USED_AGENT_ID\": \"1\", \"final_data\": $deep"
	assert_equal "$code" 400
	deep=$(printf '%0.s{"a":' $(seq 100))
	post_json /request_agent "{\"provider_data\": $deep 1$(printf '%0.s}' $(seq 101))"
	assert_equal "$code" 400
	[[ "$(json .error)" == *nest* || "$(json .error)" == *deep* ]] || fail "$body"
	io_alive
	nothing_written
}

@test "hostile http: a client trickling bytes does not hold up others" {
	python3 - "$PORT" > "$BATS_TEST_TMPDIR/trickle.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
req = b'POST /request_agent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"provider_data": {"worker_name": "w9"'
try:
    for b in req:
        s.send(bytes([b]))
        time.sleep(0.02)
    time.sleep(1)
    s.shutdown(socket.SHUT_WR)
    print(s.recv(4096)[:12])
except OSError as e:
    print("closed", e)
PY
	local trickler=$!
	track_pid "$trickler"
	local i t0 t1
	for i in 1 2 3 4 5; do
		t0=$(date +%s%N)
		http GET /is_alive
		t1=$(date +%s%N)
		assert_equal "$code" 200
		[ $(( (t1 - t0) / 1000000 )) -lt 3000 ] || fail "a request took $(( (t1 - t0) / 1000000 )) ms"
		sleep 0.3
	done
	wait "$trickler" || true
	# the trickled body was incomplete: refused or dropped
	run cat "$BATS_TEST_TMPDIR/trickle.out"
	refute_output --partial "200"
	io_alive
	nothing_written
}

@test "hostile http: thousands of connections from one client" {
	local before after
	before=$(ls /proc/"$io_pid"/fd | wc -l)
	python3 - "$PORT" "$URL" <<'PY'
import resource, socket, sys, time, urllib.request
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
conns = []
for i in range(3000):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
        if i % 2:
            s.send(b"GET /is_alive HTTP/1.1\r\nHost: x\r\n")
        conns.append(s)
    except OSError:
        pass
print("opened", len(conns), file=sys.stderr)
# someone else is still served while they are all open
t0 = time.time()
ok = urllib.request.urlopen(sys.argv[2] + "/is_alive", timeout=10).status
assert ok == 200, ok
assert time.time() - t0 < 5
for s in conns:
    s.close()
PY
	io_alive
	# io let go of them all
	wait_for 10 eval '[ "$(ls /proc/'"$io_pid"'/fd | wc -l)" -le $((before + 5)) ]'
	nothing_written
}
