#!/usr/bin/env bats
# The fuzz harnesses of fuzz/ replayed without libFuzzer: every seed of
# fuzz/corpus/NAME/ and every input kept in tests/fuzz/NAME/ (crashes that
# were found and fixed, and hostile inputs written by hand) must run
# through the real parsers without a crash, an abort of a harness check or
# (in a sanitizer build) a sanitizer report.  "make fuzz" explores further.

load lib/common

replay() {
	local name=$1 dirs=("$REPO/fuzz/corpus/$1")
	[ -d "$REPO/tests/fuzz/$name" ] && dirs+=("$REPO/tests/fuzz/$name")
	run -0 --separate-stderr "$MEPHISTO_BUILD/fuzz/$name-replay" "${dirs[@]}"
	assert_equal "$output" ""
	[[ "$stderr" == *" inputs" ]]
}

@test "fuzz replay: packet parser (msg)" {
	replay msg
}

@test "fuzz replay: HTTP bodies, multipart and upload names (http_body)" {
	replay http_body
}

@test "fuzz replay: task YAML loader (task_yml)" {
	replay task_yml
}

@test "fuzz replay: CSV data loader (data_csv)" {
	replay data_csv
}

@test "fuzz replay: JSON data loader (data_json)" {
	replay data_json
}

@test "fuzz replay: JSON-lines data loader (data_jsonl)" {
	replay data_jsonl
}

@test "fuzz replay: config loader (conf)" {
	replay conf
}

@test "fuzz replay: every harness has a test here" {
	local f name
	for f in "$REPO"/fuzz/*.c; do
		name=$(basename "$f" .c)
		case $name in replay|file) continue ;; esac
		grep -q "replay $name\$" "$BATS_TEST_FILENAME" || fail "no replay test for $name"
	done
}
