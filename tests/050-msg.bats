#!/usr/bin/env bats
# lib/msg: strict JSON parsing, typed getters, packets.

load lib/common

@test "msg: valid JSON is parsed and printed unformatted" {
	run -0 test-msg parse <<< '{ "a" : [1, 2.5, "x\ny"], "b": {"c": null}, "é": true }'
	assert_output '{"a":[1,2.5,"x\ny"],"b":{"c":null},"é":true}'
}

@test "msg: invalid JSON gives an error with the offset" {
	run -1 --separate-stderr test-msg parse <<< '{"a": [1, 2,, 3]}'
	assert_equal "$stderr" "test-msg: error: invalid JSON at offset 12"
}

@test "msg: empty input and trailing data are refused" {
	run -1 --separate-stderr test-msg parse <<< '   '
	assert_equal "$stderr" "test-msg: error: empty message"
	run -1 --separate-stderr test-msg parse <<< '{"a": 1} {"b": 2}'
	assert_equal "$stderr" "test-msg: error: unexpected data after the JSON value at offset 9"
}

@test "msg: input over the size limit is refused" {
	run -1 --separate-stderr test-msg parse 100 < <(printf '"%0200d"' 0)
	assert_equal "$stderr" "test-msg: error: message too large (202 bytes, limit 100)"
	run -0 test-msg parse 202 < <(printf '"%0200d"' 0)
}

@test "msg: nesting deeper than 64 levels is refused without a crash" {
	run -0 test-msg nest 64
	assert_output "parsed 64 levels"
	run --separate-stderr test-msg nest 65
	assert_fails_cleanly
	assert_equal "$stderr" "test-msg: error: JSON nested deeper than 64 levels"
	run --separate-stderr test-msg nest 1000000
	assert_fails_cleanly
	assert_equal "$stderr" "test-msg: error: JSON nested deeper than 64 levels"
}

@test "msg: brackets inside strings do not count as nesting" {
	local deep
	deep=$(printf '[%.0s' {1..100})
	run -0 test-msg parse <<< "{\"s\": \"$deep\\\"{{\"}"
	assert_output "{\"s\":\"$deep\\\"{{\"}"
}

@test "msg: invalid UTF-8 is refused, valid UTF-8 kept" {
	run -1 --separate-stderr test-msg parse < <(printf '{"a": "\xff"}')
	assert_equal "$stderr" "test-msg: error: invalid UTF-8 at offset 7"
	# Overlong slash, UTF-16 surrogate, beyond U+10FFFF, truncated.
	for bad in '\xc0\xaf' '\xed\xa0\x80' '\xf4\x90\x80\x80' '\xe2\x82'; do
		run -1 --separate-stderr test-msg parse < <(printf "\"$bad\"")
		assert_equal "$stderr" "test-msg: error: invalid UTF-8 at offset 1"
	done
	run -0 test-msg parse < <(printf '"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"')
	assert_output "$(printf '"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"')"
}

@test "msg: NUL bytes and \\u0000 are refused, other escapes decoded" {
	run -1 --separate-stderr test-msg parse < <(printf '"a\0b"')
	assert_equal "$stderr" "test-msg: error: NUL byte at offset 2"
	run -1 --separate-stderr test-msg parse <<< '"a\u0000b"'
	assert_equal "$stderr" "test-msg: error: \\u0000 in a string at offset 2"
	run -1 --separate-stderr test-msg parse <<< '"\ud800"'
	assert_equal "$stderr" "test-msg: error: invalid JSON at offset 1"
	run -0 test-msg parse <<< '"\u00e9\ud83d\ude00\\u0000"'
	assert_output "$(printf '"\xc3\xa9\xf0\x9f\x98\x80\\\\u0000"')"
}

@test "msg: getters return fields of the right type" {
	local obj='{"s": "text", "i": -42, "big": 9007199254740992, "d": 1.5,
		"b": false, "o": {"k": 1}, "a": [1], "id1": "9223372036854775807",
		"id2": 1234567}'
	run -0 test-msg get str s <<< "$obj"
	assert_output "text"
	run -0 test-msg get int i <<< "$obj"
	assert_output "-42"
	run -0 test-msg get int big <<< "$obj"
	assert_output "9007199254740992"
	run -0 test-msg get double d <<< "$obj"
	assert_output "1.5"
	run -0 test-msg get bool b <<< "$obj"
	assert_output "false"
	run -0 test-msg get obj o <<< "$obj"
	assert_output '{"k":1}'
	run -0 test-msg get arr a <<< "$obj"
	assert_output '[1]'
	run -0 test-msg get id id1 <<< "$obj"
	assert_output "9223372036854775807"
	run -0 test-msg get id id2 <<< "$obj"
	assert_output "1234567"
}

@test "msg: getters name the field that is missing or mistyped" {
	local obj='{"s": "text", "n": 3, "f": 1.5, "nul": null, "big": 1e300,
		"neg": -1, "bad": "12a", "huge": "9223372036854775808"}'
	run -1 --separate-stderr test-msg get str agent_id <<< "$obj"
	assert_equal "$stderr" "test-msg: error: field 'agent_id' is missing"
	run -1 --separate-stderr test-msg get str nul <<< "$obj"
	assert_equal "$stderr" "test-msg: error: field 'nul' is missing"
	run -1 --separate-stderr test-msg get str n <<< "$obj"
	assert_equal "$stderr" "test-msg: error: field 'n' must be a string, not a number"
	run -1 --separate-stderr test-msg get int s <<< "$obj"
	assert_equal "$stderr" "test-msg: error: field 's' must be an integer, not a string"
	run -1 --separate-stderr test-msg get int f <<< "$obj"
	assert_equal "$stderr" "test-msg: error: field 'f' must be an integer, not 1.5"
	run -1 --separate-stderr test-msg get int big <<< "$obj"
	assert_equal "$stderr" "test-msg: error: field 'big' is out of range (1e+300)"
	run -1 --separate-stderr test-msg get bool n <<< "$obj"
	assert_equal "$stderr" "test-msg: error: field 'n' must be a boolean, not a number"
	run -1 --separate-stderr test-msg get obj s <<< "$obj"
	assert_equal "$stderr" "test-msg: error: field 's' must be an object, not a string"
	run -1 --separate-stderr test-msg get arr n <<< "$obj"
	assert_equal "$stderr" "test-msg: error: field 'n' must be an array, not a number"
	run -1 --separate-stderr test-msg get double s <<< "$obj"
	assert_equal "$stderr" "test-msg: error: field 's' must be a number, not a string"
	run -1 --separate-stderr test-msg get id bad <<< "$obj"
	assert_equal "$stderr" "test-msg: error: field 'bad' is not a valid id: '12a'"
	run -1 --separate-stderr test-msg get id huge <<< "$obj"
	assert_equal "$stderr" "test-msg: error: field 'huge' is not a valid id: '9223372036854775808'"
	run -1 --separate-stderr test-msg get id neg <<< "$obj"
	assert_equal "$stderr" "test-msg: error: field 'neg' is not a valid id: -1"
	run -1 --separate-stderr test-msg get id f <<< "$obj"
	assert_equal "$stderr" "test-msg: error: field 'f' is not a valid id: 1.5"
	run -1 --separate-stderr test-msg get str s <<< '[1, 2]'
	assert_equal "$stderr" "test-msg: error: cannot read field 's': the message is not an object"
}

@test "msg: optional getters default when missing or null, fail when mistyped" {
	run -0 test-msg opt str s fallback <<< '{}'
	assert_output "fallback"
	run -0 test-msg opt int n 7 <<< '{"n": null}'
	assert_output "7"
	run -0 test-msg opt id n 99 <<< '{}'
	assert_output "99"
	run -0 test-msg opt bool b 1 <<< '{}'
	assert_output "true"
	run -0 test-msg opt obj o - <<< '{}'
	assert_output "(none)"
	run -0 test-msg opt int n 7 <<< '{"n": 8}'
	assert_output "8"
	run -1 --separate-stderr test-msg opt str s fallback <<< '{"s": 1}'
	assert_equal "$stderr" "test-msg: error: field 's' must be a string, not a number"
	run -1 --separate-stderr test-msg opt arr a - <<< '{"a": {}}'
	assert_equal "$stderr" "test-msg: error: field 'a' must be an array, not an object"
}

@test "msg: a packet line round-trips" {
	local line='{"packet_type":"submit_unit","subject_id":"1234567","data":{"answer":"a\nb","files":[{"size":3}]},"request_id":"7","client_timestamp":1711361472.345,"router_incoming_timestamp":1711361472.5,"router_outgoing_timestamp":1711361472.501,"server_timestamp":1711361473}'
	run -0 test-msg packet <<< "$line"
	assert_line -n 0 "packet_type=submit_unit"
	assert_line -n 1 "subject_id=1234567"
	assert_line -n 2 "request_id=7"
	assert_line -n 3 "client_timestamp=1711361472.345"
	assert_line -n 4 'data={"answer":"a\nb","files":[{"size":3}]}'
	assert_line -n 5 "$line"
}

@test "msg: packet fields are checked, data defaults to an empty object" {
	run -0 test-msg packet <<< '{"packet_type":"alive","subject_id":"mephisto"}'
	assert_line -n 2 "request_id=-"
	assert_line -n 3 "client_timestamp=0.000"
	assert_line -n 4 "data={}"
	assert_line -n 5 '{"packet_type":"alive","subject_id":"mephisto","data":{}}'
	run -1 --separate-stderr test-msg packet <<< '{"packet_type":"alive","data":{}}'
	assert_equal "$stderr" "test-msg: error: field 'subject_id' is missing"
	run -1 --separate-stderr test-msg packet <<< '{"packet_type":"alive","subject_id":"x","data":[]}'
	assert_equal "$stderr" "test-msg: error: field 'data' must be an object, not an array"
	run -1 --separate-stderr test-msg packet <<< '{"packet_type":"alive","subject_id":"x","request_id":5}'
	assert_equal "$stderr" "test-msg: error: field 'request_id' must be a string, not a number"
	run -1 --separate-stderr test-msg packet <<< '{"packet_type":"alive","subject_id":"x","client_timestamp":"now"}'
	assert_equal "$stderr" "test-msg: error: field 'client_timestamp' must be a number, not a string"
	run -1 --separate-stderr test-msg packet <<< '["packet_type"]'
	assert_equal "$stderr" "test-msg: error: field 'packet' must be an object, not an array"
}

@test "msg: built packets are one line with ms timestamps" {
	run -0 test-msg build ack agent-1 42 1711361472.3456789 <<< '{"status": "Submitted!", "note": "two\nlines"}'
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 '{"packet_type":"ack","subject_id":"agent-1","data":{"status":"Submitted!","note":"two\nlines"},"request_id":"42","server_timestamp":1711361472.346}'
	assert_line -n 1 "${lines[0]}"
}

@test "msg: a packet written by hand is the line cJSON prints for its tree, for any timestamp" {
	run -0 test-msg stamps 20000 0.001 -12.5 12 1e12 999999999999.9995 1e15 1e300 nan inf -inf -0.0004 0.0004
	assert_output ""
}

@test "msg: timestamps print with millisecond precision" {
	run -0 test-msg timestamp 1711361472.3456
	assert_output "1711361472.346"
	run -0 test-msg timestamp 1711361472
	assert_output "1711361472.000"
}

@test "msg: builders replace keys and write ids as strings" {
	run -0 test-msg set
	assert_line -n 0 '{"s":"two","i":42,"id":"9223372036854775807","d":0.5,"t":1711361472.346,"b":true,"n":null,"a":["x",{}],"o":{}}'
	assert_line -n 1 "len=9 a=2"
}

@test "msg: strings, numbers and ids written directly match the printed tree" {
	run -0 test-msg print <<<'["plain", "", "q\"b\\s\/", "\b\f\n\r\t\u0001\u001f\u007f", "é ✓ 😀", 0, -0.0, 1, -7, 0.1, 1e300, -2.5e-300, 2147483647, 2147483648, -2147483649, 3.0000000000000004, 1700000000.123456]'
	assert_output '"plain"
""
"q\"b\\s/"
"\b\f\n\r\t\u0001\u001f"
"é ✓ 😀"
0
-0
1
-7
0.1
1e+300
-2.5e-300
2147483647
2147483648
-2147483649
3
1700000000.123456
null "9223372036854775807" null'
}
