# Helpers for the mephisto-io tests: load after lib/common.
#
# A test gets a run folder $RUN_DIR with a small static site, starts the
# scripted fake pool (io-fakepool) and mephisto-io, and talks to io with
# curl and tests/browser/ws-client.js.  io is stopped with SIGTERM at the
# end of every test and must exit 0 (under the sanitizers a leak makes it
# exit 99).

RUN_ID=1

io_setup_run() {
	RUN_DIR="$MEPHISTO_DATA/runs/$RUN_ID"
	mkdir -p "$RUN_DIR/static"
	printf '<!doctype html><title>index</title>\n' > "$RUN_DIR/static/index.html"
	printf '{"task_title": "demo", "mephisto_task_version": "2.0.4"}\n' \
		> "$RUN_DIR/static/task_config.json"
	printf '<p>Hello ${name}</p>\n' > "$RUN_DIR/static/task.html"
	POOL_LOG="$BATS_TEST_TMPDIR/pool.log"
	POOL_PUSH="$BATS_TEST_TMPDIR/push"
	: > "$POOL_LOG"
	export RUN_DIR POOL_LOG POOL_PUSH
}

setup() {
	setup_env
	io_setup_run
}

# start_fakepool [OPTIONS...]: the scripted pool on $RUN_DIR/pool.sock.
start_fakepool() {
	start_daemon fakepool io-fakepool "$RUN_DIR/pool.sock" \
		--log "$POOL_LOG" --push "$POOL_PUSH" "$@"
}

stop_fakepool() {
	kill -TERM "$fakepool_pid" 2>/dev/null
	wait "$fakepool_pid" 2>/dev/null || true
}

# start_io [OPTIONS...]: mephisto-io for $RUN_DIR on a free port; sets
# $PORT, $URL and $WS_URL.
start_io() {
	start_daemon io mephisto-io --run "$RUN_ID" --port 0 \
		--run-dir "$RUN_DIR" --log-level debug "$@"
	PORT=$(cat "$RUN_DIR/io.port")
	URL="http://127.0.0.1:$PORT"
	WS_URL="ws://127.0.0.1:$PORT/"
}

# io_connected: io has said hello to the pool.
io_connected() {
	grep -q '"packet_type":"hello"' "$POOL_LOG"
}

# start_io_with_pool [IO OPTIONS...]: fake pool, io, and wait for hello.
start_io_with_pool() {
	start_fakepool
	start_io "$@"
	wait_for 5 io_connected
}

# stop_io: SIGTERM, and io must exit 0 within 10 s.
stop_io() {
	local i st
	[ -n "${io_pid:-}" ] || return 0
	kill -TERM "$io_pid" 2>/dev/null || return 0
	for i in $(seq 200); do
		kill -0 "$io_pid" 2>/dev/null || break
		nap
	done
	st=0
	wait "$io_pid" || st=$?
	io_pid=
	if [ "$st" -ne 0 ]; then
		echo "mephisto-io exited with status $st; its log:" >&2
		cat "$BATS_TEST_TMPDIR/io.log" >&2
		return 1
	fi
}

teardown() {
	local st=0
	stop_io || st=1
	common_teardown || st=1
	return $st
}

# http METHOD PATH [CURL ARGS...]: sets $code (HTTP status) and $body.
http() {
	local method=$1 path=$2 out="$BATS_TEST_TMPDIR/http.body"
	shift 2
	code=$(curl -s --path-as-is -o "$out" -w '%{http_code}' -X "$method" \
		--max-time 20 "$@" "$URL$path") || true
	body=$(cat "$out" 2>/dev/null)
}

# post_json PATH JSON: POST a JSON body.
post_json() {
	http POST "$1" -H 'Content-Type: application/json' --data-binary "$2"
}

# json FILTER: run jq on $body.
json() {
	jq -r "$1" <<<"$body"
}

# ws STEP...: the scripted WebSocket client (see tests/browser/ws-client.js).
ws() {
	node "$REPO/tests/browser/ws-client.js" "$WS_URL" "$@"
}

need_node_modules() {
	if [ ! -d "$REPO/tests/browser/node_modules/ws" ]; then
		echo "tests/browser/node_modules is missing: run 'make deps'" >&2
		return 1
	fi
}

# pool_got TYPE: the fake pool received a packet of TYPE.
pool_got() {
	grep -q "\"packet_type\":\"$1\"" "$POOL_LOG"
}

# pool_packet TYPE: the last packet of TYPE the fake pool received.
pool_packet() {
	grep "\"packet_type\":\"$1\"" "$POOL_LOG" | tail -n 1
}

# push LINE: make the fake pool send LINE to io.
push() {
	printf '%s\n' "$1" > "$POOL_PUSH"
}

# io_log_has TEXT: io logged TEXT.
io_log_has() {
	grep -q -- "$1" "$BATS_TEST_TMPDIR/io.log"
}

# files_written: list what io stored under files/ (temporary files too).
files_written() {
	[ -d "$RUN_DIR/files" ] || return 0
	find "$RUN_DIR/files" -type f | sort
}
