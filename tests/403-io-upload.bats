#!/usr/bin/env bats
# Files uploaded with /submit_task: stored per agent under safe names,
# within limits, and only for requests that are otherwise valid.

load lib/common
load lib/io

setup() {
	setup_env
	io_setup_run
	printf 'hello\n' > "$BATS_TEST_TMPDIR/a.txt"
	head -c 5000 /dev/urandom > "$BATS_TEST_TMPDIR/big.bin"
}

@test "io upload: multipart files go to files/<agent>/ and are listed to the pool" {
	start_io_with_pool
	http POST /submit_task -F USED_AGENT_ID=1001 \
		-F 'final_string_data={"rating": "good", "file1": {"name": "a.txt"}}' \
		-F "file1=@$BATS_TEST_TMPDIR/a.txt;type=text/plain" \
		-F "extra=ignored"
	assert_equal "$code" 200
	assert_equal "$body" '{"status":"Submitted!"}'
	assert_file_exists "$RUN_DIR/files/1001/a.txt"
	assert_equal "$(cat "$RUN_DIR/files/1001/a.txt")" hello
	local p=$(pool_packet submit_unit)
	assert_equal "$(jq -r .data.rating <<<"$p")" good
	assert_equal "$(jq -c '.data.files[0] | [.fieldname, .originalname, .filename, .size, .mimetype]' <<<"$p")" \
		'["file1","a.txt","a.txt",6,"text/plain"]'
	assert_equal "$(jq -r '.data.files[0].path' <<<"$p")" "$RUN_DIR/files/1001/a.txt"
	# no temporary files left behind
	assert_equal "$(files_written)" "$RUN_DIR/files/1001/a.txt"
}

@test "io upload: hostile names are sanitized, collisions get a suffix" {
	start_io_with_pool
	http POST /submit_task -F USED_AGENT_ID=1001 -F 'final_string_data={}' \
		-F "f1=@$BATS_TEST_TMPDIR/a.txt;filename=../../../etc/passwd" \
		-F "f2=@$BATS_TEST_TMPDIR/a.txt;filename=..\\\\..\\\\x.txt" \
		-F "f3=@$BATS_TEST_TMPDIR/a.txt;filename=.bashrc" \
		-F "f4=@$BATS_TEST_TMPDIR/a.txt;filename=..." \
		-F "f5=@$BATS_TEST_TMPDIR/a.txt;filename=a..b.txt" \
		-F "f6=@$BATS_TEST_TMPDIR/a.txt;filename=x.txt" \
		-F "f7=@$BATS_TEST_TMPDIR/a.txt;filename=/" 
	assert_equal "$code" 200
	run ls -A "$RUN_DIR/files/1001"
	assert_output "___
_bashrc
a._b.txt
file
passwd
x-1.txt
x.txt"
	local names=$(pool_packet submit_unit | jq -r '[.data.files[].filename] | join(" ")')
	assert_equal "$names" "passwd x.txt _bashrc ___ a._b.txt x-1.txt file"
	# nothing escaped the agent's folder
	assert_file_not_exists "$RUN_DIR/passwd"
	assert_file_not_exists "$RUN_DIR/files/x.txt"
	[ -z "$(find "$MEPHISTO_DATA" -name '.bashrc')" ]
}

@test "io upload: raw backslashes and quotes in names (as browsers send them)" {
	start_io_with_pool
	local b=XyZ
	printf -- '--%s\r\nContent-Disposition: form-data; name="USED_AGENT_ID"\r\n\r\n1001\r\n--%s\r\nContent-Disposition: form-data; name="final_string_data"\r\n\r\n{}\r\n--%s\r\nContent-Disposition: form-data; name="f"; filename="C:\\Users\\me\\pic.png"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--%s\r\nContent-Disposition: form-data; name="g"; filename="say \\"hi\\".txt"\r\n\r\nhi\r\n--%s--\r\n' \
		$b $b $b $b $b > "$BATS_TEST_TMPDIR/body"
	http POST /submit_task -H "Content-Type: multipart/form-data; boundary=$b" \
		--data-binary @"$BATS_TEST_TMPDIR/body"
	assert_equal "$code" 200
	assert_equal "$(cat "$RUN_DIR/files/1001/pic.png")" PNG
	assert_equal "$(cat "$RUN_DIR/files/1001/say \"hi\".txt")" hi
	assert_equal "$(pool_packet submit_unit | jq -r '.data.files[0].originalname')" \
		'C:\Users\me\pic.png'
}

@test "io upload: a control character in a name is replaced" {
	start_io_with_pool
	http POST /submit_task -F USED_AGENT_ID=1001 -F 'final_string_data={}' \
		-F "f=@$BATS_TEST_TMPDIR/a.txt;filename=\"a$(printf '\t')b.txt\""
	assert_equal "$code" 200
	assert_file_exists "$RUN_DIR/files/1001/a_b.txt"
}

@test "io upload: a second submission does not overwrite the first's files" {
	start_io_with_pool
	for i in 1 2; do
		http POST /submit_task -F USED_AGENT_ID=1001 -F 'final_string_data={}' \
			-F "file1=@$BATS_TEST_TMPDIR/a.txt"
		assert_equal "$code" 200
	done
	assert_file_exists "$RUN_DIR/files/1001/a.txt"
	assert_file_exists "$RUN_DIR/files/1001/a-1.txt"
}

@test "io upload: an empty file input stores nothing" {
	start_io_with_pool
	http POST /submit_task -F USED_AGENT_ID=1001 -F 'final_string_data={"x": 1}' \
		-F 'file1=;filename=""'
	assert_equal "$code" 200
	assert_equal "$(pool_packet submit_unit | jq -c .data)" '{"x":1}'
	assert_equal "$(files_written)" ""
}

@test "io upload: a file over --max-upload is 413 and nothing is kept" {
	start_io_with_pool --max-upload 1000
	http POST /submit_task -F USED_AGENT_ID=1001 -F 'final_string_data={}' \
		-F "file1=@$BATS_TEST_TMPDIR/a.txt" \
		-F "file2=@$BATS_TEST_TMPDIR/big.bin"
	assert_equal "$code" 413
	assert_equal "$body" '{"error":"an uploaded file is over 1000 bytes","retryable":false}'
	assert_equal "$(files_written)" ""
	run ! pool_got submit_unit
	http GET /is_alive
	assert_equal "$code" 200
}

@test "io upload: more files than --max-files is 413 and nothing is kept" {
	start_io_with_pool --max-files 2
	http POST /submit_task -F USED_AGENT_ID=1001 -F 'final_string_data={}' \
		-F "f1=@$BATS_TEST_TMPDIR/a.txt" -F "f2=@$BATS_TEST_TMPDIR/a.txt" \
		-F "f3=@$BATS_TEST_TMPDIR/a.txt"
	assert_equal "$code" 413
	assert_equal "$(json .error)" "more than 2 files"
	assert_equal "$(files_written)" ""
	run ! pool_got submit_unit
}

@test "io upload: an invalid or missing agent id stores nothing" {
	start_io_with_pool
	http POST /submit_task -F 'USED_AGENT_ID=../../x' -F 'final_string_data={}' \
		-F "f1=@$BATS_TEST_TMPDIR/a.txt"
	assert_equal "$code" 400
	assert_equal "$(json .error)" "field 'USED_AGENT_ID' is not a valid agent id"
	http POST /submit_task -F 'final_string_data={}' -F "f1=@$BATS_TEST_TMPDIR/a.txt"
	assert_equal "$code" 400
	assert_equal "$(json .error)" "field 'USED_AGENT_ID' is missing"
	http POST /submit_task -F USED_AGENT_ID=1001 -F 'final_string_data=nope' \
		-F "f1=@$BATS_TEST_TMPDIR/a.txt"
	assert_equal "$code" 400
	assert_equal "$(json .error)" "field 'final_string_data' must be JSON text of an object"
	assert_equal "$(files_written)" ""
	run ! pool_got submit_unit
}

@test "io upload: a submission the pool refuses leaves no files" {
	start_fakepool --error
	start_io
	wait_for 5 io_connected
	http POST /submit_task -F USED_AGENT_ID=1001 -F 'final_string_data={}' \
		-F "f1=@$BATS_TEST_TMPDIR/a.txt"
	assert_equal "$code" 400
	assert_equal "$body" '{"error":"refused by the fake pool","retryable":false}'
	assert_equal "$(files_written)" ""
	assert_file_not_exists "$RUN_DIR/files/1001"
}

@test "io upload: a malformed or truncated multipart body is 400" {
	start_io_with_pool
	http POST /submit_task -H 'Content-Type: multipart/form-data' --data-binary x
	assert_equal "$code" 400
	assert_equal "$(json .error)" "multipart body without a valid boundary"
	http POST /submit_task -H 'Content-Type: multipart/form-data; boundary=XX' \
		--data-binary $'--XX\r\nContent-Disposition: form-data; name="USED_AGENT_ID"\r\n\r\n1001\r\n--XX\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\npartial'
	assert_equal "$code" 400
	assert_equal "$(json .error)" "the multipart body is incomplete"
	http POST /submit_task -H 'Content-Type: multipart/form-data; boundary=XX' \
		--data-binary $'--XX\r\nX-Nothing: 1\r\n\r\nv\r\n--XX--\r\n'
	assert_equal "$code" 400
	assert_equal "$(json .error)" "a multipart part has no Content-Disposition"
	assert_equal "$(files_written)" ""
	run ! pool_got submit_unit
}

@test "io upload: /submit_metadata takes multipart too" {
	start_io_with_pool
	http POST /submit_metadata -F USED_AGENT_ID=1001 \
		-F 'metadata={"feedback": {"type": "feedback", "text": "ok"}}' \
		-F "shot=@$BATS_TEST_TMPDIR/a.txt;filename=screen.png;type=image/png"
	assert_equal "$code" 200
	assert_equal "$body" '{"status":"Submitted metadata"}'
	local p=$(pool_packet submit_metadata)
	assert_equal "$(jq -r .data.feedback.text <<<"$p")" ok
	assert_equal "$(jq -r '.data.files[0].filename' <<<"$p")" screen.png
	assert_file_exists "$RUN_DIR/files/1001/screen.png"
}

@test "io upload: stale temporary uploads are removed at start" {
	mkdir -p "$RUN_DIR/files/.incoming"
	printf x > "$RUN_DIR/files/.incoming/up-1-1"
	start_io
	assert_file_not_exists "$RUN_DIR/files/.incoming/up-1-1"
}
