#!/usr/bin/env bats
# mephisto-io's HTTP endpoints answer with the original router's shapes.

load lib/common
load lib/io

@test "io http: /is_alive and /get_timestamp" {
	start_io
	http GET /is_alive
	assert_equal "$code" 200
	assert_equal "$body" '{"status":"Alive!"}'
	local before=$(( $(date +%s) * 1000 ))
	http GET /get_timestamp
	assert_equal "$code" 200
	local ts=$(json .timestamp)
	[[ "$ts" =~ ^[0-9]+$ ]]
	[ "$ts" -ge "$before" ] && [ "$ts" -le $((before + 60000)) ]
}

@test "io http: /, /task_index and /welcome serve index.html" {
	start_io
	for p in / /task_index /welcome /index.html; do
		http GET "$p"
		assert_equal "$code" 200
		assert_equal "$body" '<!doctype html><title>index</title>'
	done
	run curl -s -D - -o /dev/null "$URL/"
	assert_output --partial "content-type: text/html"
}

@test "io http: static files with their types, HEAD, and 404 JSON" {
	start_io
	printf 'console.log(1)\n' > "$RUN_DIR/static/bundle.js"
	mkdir -p "$RUN_DIR/static/img"
	printf 'PNG' > "$RUN_DIR/static/img/a.png"
	run curl -s -D - "$URL/bundle.js"
	assert_output --partial "content-type: text/javascript"
	assert_output --partial "console.log(1)"
	run curl -s -D - "$URL/img/a.png"
	assert_output --partial "content-type: image/png"
	run curl -s -I "$URL/task.html"
	assert_output --partial "HTTP/1.1 200"
	http GET /missing.html
	assert_equal "$code" 404
	assert_equal "$(json .error)" "not found"
}

@test "io http: answers below, around and above 4 KiB arrive whole on one kept-alive connection" {
	start_io
	# A small body goes out with its headers; a longer one after them.
	for n in 100 3000 3900 4200 100000; do
		head -c "$n" /dev/urandom | base64 -w 64 | head -c "$n" > "$RUN_DIR/static/f$n.txt"
	done
	args=()
	for n in 100 3000 3900 4200 100000 100; do
		args+=(-o "$BATS_TEST_TMPDIR/got$n" "$URL/f$n.txt")
	done
	run -0 curl -s -w '%{http_code} %{num_connects}\n' "${args[@]}"
	# Six answers, one connection.
	assert_output $'200 1\n200 0\n200 0\n200 0\n200 0\n200 0'
	for n in 100 3000 3900 4200 100000; do
		cmp "$RUN_DIR/static/f$n.txt" "$BATS_TEST_TMPDIR/got$n"
	done
	# HEAD: the length of the body, not the body.
	run -0 curl -s -I "$URL/f100000.txt"
	assert_output --partial "content-length: 100000"
	[ "$(curl -s -I "$URL/f100000.txt" | wc -c)" -lt 1000 ]
}

@test "io http: task_config.json; a version mismatch is logged to the pool" {
	start_io_with_pool
	http GET '/task_config.json?mephisto_task_version=2.0.4'
	assert_equal "$code" 200
	assert_equal "$(json .mephisto_task_version)" "2.0.4"
	assert_equal "$(json .task_title)" "demo"
	sleep 0.2
	run ! pool_got log_error
	http GET '/task_config.json?mephisto_task_version=1.0.0'
	assert_equal "$code" 200
	wait_for 5 pool_got log_error
	local p=$(pool_packet log_error)
	assert_equal "$(jq -r .subject_id <<<"$p")" mephisto
	assert_equal "$(jq -r .data.error_type <<<"$p")" version-mismatch
	[[ "$(jq -r .data.text <<<"$p")" == *"Expected version 2.0.4 but frontend is currently using 1.0.0"* ]]
}

@test "io http: /request_agent answers the pool's agent_details packet" {
	start_io_with_pool
	post_json /request_agent '{"provider_data": {"worker_name": "ann",
	    "agent_registration_id": "a1-ann", "assignment_id": "a1",
	    "provider_type": "mock"}, "client_timestamp": 1700000000.5}'
	assert_equal "$code" 200
	assert_equal "$(json .packet_type)" agent_details
	assert_equal "$(json .data.agent_id)" 1001
	assert_equal "$(json .data.worker_id)" 7
	assert_equal "$(json .data.init_task_data.name)" ann
	assert_equal "$(json .data.failure_reason)" null
	[ "$(json '.data | has("request_id")')" = true ]
	[ "$(json '.router_outgoing_timestamp | type')" = number ]
	# what the pool got
	local p=$(pool_packet register_agent)
	local rid=$(jq -r .request_id <<<"$p")
	assert_equal "$(jq -r .subject_id <<<"$p")" "$rid"
	assert_equal "$(jq -r .data.request_id <<<"$p")" "$rid"
	assert_equal "$(jq -r .data.provider_data.agent_registration_id <<<"$p")" a1-ann
	assert_equal "$(jq -r .client_timestamp <<<"$p")" 1700000000.5
	[ "$(jq -r '.router_incoming_timestamp | type' <<<"$p")" = number ]
	[ "$(jq -r '.router_outgoing_timestamp | type' <<<"$p")" = number ]
}

@test "io http: /request_agent passes a failure reason through" {
	start_io_with_pool
	post_json /request_agent '{"provider_data": {"worker_name": "blocked"}}'
	assert_equal "$code" 200
	assert_equal "$(json .data.agent_id)" null
	assert_equal "$(json .data.failure_reason)" \
		"You are not currently qualified to work on this task."
}

@test "io http: /submit_task (JSON) answers Submitted! after the ack" {
	start_io_with_pool
	post_json /submit_task '{"USED_AGENT_ID": "1001",
	    "final_data": {"rating": "good"}, "client_timestamp": 12.5}'
	assert_equal "$code" 200
	assert_equal "$body" '{"status":"Submitted!"}'
	local p=$(pool_packet submit_unit)
	assert_equal "$(jq -r .subject_id <<<"$p")" 1001
	assert_equal "$(jq -c .data <<<"$p")" '{"rating":"good"}'
	assert_equal "$(jq -r .client_timestamp <<<"$p")" 12.5
}

@test "io http: /submit_task accepts final_string_data (urlencoded)" {
	start_io_with_pool
	http POST /submit_task --data-urlencode USED_AGENT_ID=1001 \
		--data-urlencode 'final_string_data={"a": "b c"}'
	assert_equal "$code" 200
	assert_equal "$(json .status)" "Submitted!"
	assert_equal "$(pool_packet submit_unit | jq -c .data)" '{"a":"b c"}'
}

@test "io http: /submit_metadata and /log_error" {
	start_io_with_pool
	post_json /submit_metadata '{"USED_AGENT_ID": "1001",
	    "metadata": "{\"tips\": {\"type\": \"tips\"}}"}'
	assert_equal "$code" 200
	assert_equal "$body" '{"status":"Submitted metadata"}'
	assert_equal "$(pool_packet submit_metadata | jq -c .data)" \
		'{"tips":{"type":"tips"}}'
	post_json /log_error '{"USED_AGENT_ID": "1001",
	    "error_data": {"error": "boom"}}'
	assert_equal "$code" 200
	assert_equal "$body" '{"status":"Error log sent!"}'
	assert_equal "$(pool_packet log_error | jq -r .subject_id)" 1001
	post_json /log_error '{"USED_AGENT_ID": null, "error_data": {"e": 1}}'
	assert_equal "$code" 200
	assert_equal "$(pool_packet log_error | jq -r .subject_id)" mephisto
}

@test "io http: /submit_onboarding strips USED_AGENT_ID and returns the next agent" {
	start_io_with_pool
	post_json /submit_onboarding '{"provider_data": {
	    "USED_AGENT_ID": "onboarding_9", "onboarding_data": {"q": 1}},
	    "client_timestamp": 3}'
	assert_equal "$code" 200
	assert_equal "$(json .packet_type)" agent_details
	assert_equal "$(json .data.agent_id)" 1001
	local p=$(pool_packet submit_onboarding)
	assert_equal "$(jq -r .subject_id <<<"$p")" onboarding_9
	assert_equal "$(jq -c .data.onboarding_data <<<"$p")" '{"q":1}'
	assert_equal "$(jq -r '.data | has("USED_AGENT_ID")' <<<"$p")" false
	assert_equal "$(jq -r .data.request_id <<<"$p")" "$(jq -r .request_id <<<"$p")"
	# onboarding_data defaults to {}
	post_json /submit_onboarding '{"provider_data": {"USED_AGENT_ID": "onboarding_9"}}'
	assert_equal "$code" 200
	assert_equal "$(pool_packet submit_onboarding | jq -c .data.onboarding_data)" '{}'
}

@test "io http: one keep-alive connection serves several requests" {
	start_io_with_pool
	run -0 curl -s -w ' %{num_connects}\n' "$URL/is_alive" \
		--next -s -w ' %{num_connects}\n' \
		-H 'Content-Type: application/json' \
		--data-binary '{"provider_data": {}}' "$URL/request_agent" \
		--next -s -w ' %{num_connects}\n' "$URL/task.html"
	assert_line --index 0 '{"status":"Alive!"} 1'
	assert_line --index 1 --regexp '^\{"packet_type":"agent_details".* 0$'
	assert_line --index 2 '<p>Hello ${name}</p>'
	assert_line --index 3 ' 0'
}

@test "io http: a static file changed, replaced or removed on disk is served as it is now" {
	start_io
	printf 'one\n' > "$RUN_DIR/static/page.txt"
	run -0 curl -sf "$URL/page.txt"
	assert_output "one"
	# rewritten in place (same inode, new size)
	printf 'second\n' > "$RUN_DIR/static/page.txt"
	wait_for 5 eval '[ "$(curl -sf "$URL/page.txt")" = second ]'
	# replaced by another file (a rebuilt site)
	printf 'third\n' > "$RUN_DIR/static/page.new"
	mv "$RUN_DIR/static/page.new" "$RUN_DIR/static/page.txt"
	wait_for 5 eval '[ "$(curl -sf "$URL/page.txt")" = third ]'
	# removed
	rm "$RUN_DIR/static/page.txt"
	wait_for 5 eval '[ "$(curl -s -o /dev/null -w "%{http_code}" "$URL/page.txt")" = 404 ]'
}
