#!/usr/bin/env bats
# Bad requests get a clear JSON error; io keeps serving and writes nothing.

load lib/common
load lib/io

# still_serving: io answers and has not crashed.
still_serving() {
	http GET /is_alive
	assert_equal "$code" 200
	kill -0 "$io_pid"
}

@test "io bad input: malformed JSON is 400 naming the problem" {
	start_io_with_pool
	post_json /request_agent '{"provider_data": '
	assert_equal "$code" 400
	assert_equal "$body" '{"error":"bad JSON body: invalid JSON at offset 17","retryable":false}'
	post_json /submit_task '{"USED_AGENT_ID": "1"} trailing'
	assert_equal "$code" 400
	assert_equal "$(json .error)" "bad JSON body: unexpected data after the JSON value at offset 23"
	post_json /submit_task '[1, 2]'
	assert_equal "$code" 400
	assert_equal "$(json .error)" "the request body must be a JSON object"
	post_json /log_error ''
	assert_equal "$code" 400
	assert_equal "$(json .error)" "bad JSON body: empty message"
	still_serving
	run ! pool_got submit_unit
}

@test "io bad input: wrong types are 400 naming the field" {
	start_io_with_pool
	post_json /request_agent '{"provider_data": "x"}'
	assert_equal "$code" 400
	assert_equal "$(json .error)" "field 'provider_data' must be an object, not a string"
	post_json /request_agent '{}'
	assert_equal "$(json .error)" "field 'provider_data' is missing"
	post_json /submit_task '{"USED_AGENT_ID": 5, "final_data": {}}'
	assert_equal "$code" 400
	assert_equal "$(json .error)" "field 'USED_AGENT_ID' must be a string, not a number"
	post_json /submit_task '{"final_data": {}}'
	assert_equal "$(json .error)" "field 'USED_AGENT_ID' is missing"
	post_json /submit_task '{"USED_AGENT_ID": "../../etc", "final_data": {}}'
	assert_equal "$code" 400
	assert_equal "$(json .error)" "field 'USED_AGENT_ID' is not a valid agent id"
	post_json /submit_task '{"USED_AGENT_ID": "1", "final_data": [1]}'
	assert_equal "$(json .error)" "field 'final_data' must be an object, not an array"
	post_json /submit_task '{"USED_AGENT_ID": "1", "final_string_data": "{x"}'
	assert_equal "$(json .error)" "field 'final_string_data' must be JSON text of an object"
	post_json /submit_task '{"USED_AGENT_ID": "1"}'
	assert_equal "$(json .error)" "field 'final_data' is missing"
	post_json /submit_metadata '{"USED_AGENT_ID": "1", "metadata": 3}'
	assert_equal "$(json .error)" "field 'metadata' must be an object, not a number"
	post_json /submit_onboarding '{"provider_data": {"USED_AGENT_ID": "o",
	    "onboarding_data": "x"}}'
	assert_equal "$(json .error)" "field 'onboarding_data' must be an object, not a string"
	post_json /log_error '{"USED_AGENT_ID": "1", "error_data": 7}'
	assert_equal "$(json .error)" "field 'error_data' must be an object, not a number"
	still_serving
	run ! pool_got submit_unit
	run ! pool_got register_agent
	run ! pool_got submit_onboarding
}

@test "io bad input: bodies over --max-body are 413 on every endpoint" {
	start_io_with_pool --max-body 1000
	local big=$(head -c 2000 /dev/zero | tr '\0' a)
	for p in /request_agent /submit_onboarding /submit_task \
	    /submit_metadata /log_error; do
		post_json "$p" "{\"x\": \"$big\"}"
		assert_equal "$code" 413
		assert_equal "$body" '{"error":"the request is over 1000 bytes","retryable":false}'
	done
	# chunked, so no Content-Length to refuse early
	http POST /submit_task -H 'Content-Type: application/json' \
		-H 'Transfer-Encoding: chunked' --data-binary "{\"x\": \"$big\"}"
	assert_equal "$code" 413
	# a multipart body whose fields are too big
	http POST /submit_task -F USED_AGENT_ID=1 -F "final_string_data=$big"
	assert_equal "$code" 413
	still_serving
	run ! pool_got submit_unit
	assert_equal "$(files_written)" ""
}

@test "io bad input: unknown endpoints and methods" {
	start_io
	post_json /download_file/x '{}'
	assert_equal "$code" 404
	assert_equal "$(json .error)" "no such endpoint"
	http GET /download_file/passwd
	assert_equal "$code" 404
	http DELETE /submit_task
	assert_equal "$code" 405
	assert_equal "$(json .error)" "method not allowed"
	still_serving
}

@test "io bad input: static paths never leave the static folder" {
	start_io
	printf 'secret\n' > "$RUN_DIR/secret.txt"
	printf 'hidden\n' > "$RUN_DIR/static/.hidden"
	mkdir -p "$RUN_DIR/static/sub"
	ln -s "$RUN_DIR/secret.txt" "$RUN_DIR/static/link.txt"
	for p in /../secret.txt /%2e%2e/secret.txt /%2E%2E/secret.txt \
	    /..%2fsecret.txt /%2e%2e%2fsecret.txt /sub/../../secret.txt \
	    /sub/%2e%2e/%2e%2e/secret.txt /..%5csecret.txt /.hidden \
	    /link.txt /sub /sub/ /../../../../etc/passwd; do
		http GET "$p"
		[[ "$code" == 404 || "$code" == 400 || "$code" == 403 ]] ||
			fail "GET $p gave $code: $body"
		[[ "$body" != *secret* && "$body" != *hidden* && "$body" != *root:* ]] ||
			fail "GET $p leaked: $body"
	done
	# NUL bytes: refused by io, or the connection dropped by the parser
	for p in /%00index.html '/index.html%00.png'; do
		http GET "$p"
		[[ "$code" == 400 || "$code" == 404 || "$code" == 000 ]] ||
			fail "GET $p gave $code: $body"
	done
	still_serving
}

@test "io bad input: a dot segment that stays inside serves only static files" {
	start_io
	# libwebsockets resolves dot segments before io sees the path, so
	# these name files inside the static folder (no escape is possible)
	http GET /sub/../task.html
	assert_equal "$code" 200
	assert_equal "$body" '<p>Hello ${name}</p>'
}

@test "io bad input: a request that never finishes does not stop others" {
	start_io_with_pool
	# a client that promises a body and goes quiet
	exec 7<>/dev/tcp/127.0.0.1/"$PORT"
	printf 'POST /submit_task HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"USED' >&7
	still_serving
	post_json /submit_task '{"USED_AGENT_ID": "1", "final_data": {}}'
	assert_equal "$code" 200
	exec 7>&-
}

@test "io bad input: garbage on the wire is answered or dropped, not fatal" {
	start_io
	exec 7<>/dev/tcp/127.0.0.1/"$PORT"
	printf 'GARBAGE \x01\x02\r\n\r\n' >&7
	exec 7>&-
	exec 7<>/dev/tcp/127.0.0.1/"$PORT"
	printf 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n' >&7
	exec 7>&-
	still_serving
}
