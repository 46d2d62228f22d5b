#!/usr/bin/env bats
# The documented nginx recipe (share/mephisto/proxy/nginx.conf): TLS, a
# path prefix, WebSockets and X-Forwarded-For, with a real nginx, a real
# run and a real browser.

load lib/common
load lib/launch
load lib/io
bats_require_minimum_version 1.5.0

setup() {
	setup_env
	need_node_modules
	if ! command -v nginx >/dev/null || ! command -v openssl >/dev/null; then
		echo "nginx or openssl is missing: run 'make deps'" >&2
		return 1
	fi
	T="$BATS_TEST_TMPDIR/task"
	cp -r "$REPO/share/mephisto/examples/simple" "$T"
	head -2 "$REPO/share/mephisto/examples/simple/data.csv" > "$T/data.csv"
	P="$BATS_TEST_TMPDIR/proxy"
	mkdir -p "$P"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
		-keyout "$P/key.pem" -out "$P/cert.pem" 2>/dev/null
	NGX_PORT=$(free_port)
	BASE="https://localhost:$NGX_PORT/tasks/"
}

# start_nginx IO_PORT: nginx with the recipe's server block, pointed at io.
start_nginx() {
	sed -e "s|listen 443 ssl;|listen 127.0.0.1:$NGX_PORT ssl;|" \
		-e "s|/etc/ssl/certs/tasks.example.org.pem|$P/cert.pem|" \
		-e "s|/etc/ssl/private/tasks.example.org.key|$P/key.pem|" \
		-e "s|127.0.0.1:3000|127.0.0.1:$1|" \
		"$REPO/share/mephisto/proxy/nginx.conf" > "$P/site.conf"
	grep -q "127.0.0.1:$1/" "$P/site.conf"
	{
		[ "$(id -u)" -eq 0 ] && echo "user root;"
		cat <<CONF
worker_processes 1;
pid $P/nginx.pid;
error_log $P/error.log;
events { worker_connections 256; }
http {
    access_log $P/access.log;
    client_body_temp_path $P/body;
    proxy_temp_path $P/proxy-temp;
    fastcgi_temp_path $P/fastcgi;
    uwsgi_temp_path $P/uwsgi;
    scgi_temp_path $P/scgi;
    include $P/site.conf;
}
CONF
	} > "$P/nginx.conf"
	nginx -p "$P" -c "$P/nginx.conf" -g 'daemon off;' 2>> "$P/error.log" &
	track_pid $!
	wait_for 10 curl -sfk -o /dev/null "${BASE}is_alive" || {
		cat "$P/error.log" >&2
		return 1
	}
}

# link N: the Nth worker link the run printed.
link() {
	local l
	l=$(grep -m1 -o "https://[^ ]*worker_id=worker-$1&[^ ]*" "$BATS_TEST_TMPDIR/out") &&
		echo "$l"
}

@test "proxy: through nginx with TLS under /tasks/, a browser does onboarding and the task; WebSockets pass" {
	MEPHISTO_LOG_LEVEL=debug mephisto-launch "$T/task.yml" architect.port=0 \
		"architect.public_url=$BASE" > "$BATS_TEST_TMPDIR/out" 2>&1 &
	launch_pid=$!
	track_pid "$launch_pid"
	wait_for 20 link 1
	grep -q "is live at $BASE" "$BATS_TEST_TMPDIR/out"
	run_id=$(only_run)
	start_nginx "$(lsql "SELECT port FROM task_run_state")"

	# X-Forwarded-For from the proxy names the worker in io's log.
	run -0 curl -sk -H 'X-Forwarded-For: 203.0.113.9' "${BASE}get_timestamp"
	[ "$(jq -r '.timestamp | type' <<<"$output")" = number ]
	wait_for 5 grep -q "GET /get_timestamp from 203.0.113.9" "$MEPHISTO_DATA/runs/$run_id/io.log"

	# A WebSocket through the proxy.
	run -0 --separate-stderr env NODE_TLS_REJECT_UNAUTHORIZED=0 node "$REPO/tests/browser/ws-client.js" \
		"wss://localhost:$NGX_PORT/tasks/" \
		'send:{"packet_type": "heartbeat", "subject_id": "424242", "client_timestamp": 1}' recv:1
	[ "$(jq -r .packet_type <<<"${lines[0]}")" = heartbeat ]

	# A worker in a browser, through onboarding to Submitted.
	MEPHISTO_BROWSER_INSECURE=1 run -0 node "$REPO/tests/browser/run.js" worker-link "$(link 1)" blue good
	assert_line "onboarding: Before you start"
	assert_line "done: Submitted. Thank you for your work!"
	wait_for 20 gone "$launch_pid"
	[ "$(count_units completed)" -eq 1 ]
	run -0 mephisto-launch results "$run_id"
	[ "$(jq -c '[.outputs.rating, .outputs.comment]' <<<"$output")" = '["good","typed in a browser"]' ]
	# Every request of the page went through the prefix (the browser's own
	# /favicon.ico aside).
	run ! grep -v -e "\"[A-Z]* /tasks/" -e "GET /favicon.ico" "$P/access.log"
}

@test "proxy: a public_url that is not http(s) is refused" {
	make_task "$BATS_TEST_TMPDIR/t" 1
	run mephisto-launch --check "$BATS_TEST_TMPDIR/t/task.yml" architect.public_url=ftp://x/
	[ "$status" -eq 1 ]
	assert_line --partial "architect.public_url must start with http:// or https://"
}
