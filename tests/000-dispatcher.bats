#!/usr/bin/env bats
# The mephisto front end: finding and running mephisto-CMD.

load lib/common

setup() {
	setup_env
	FAKE="$BATS_TEST_TMPDIR/fake"
	mkdir -p "$FAKE"
	cat > "$FAKE/mephisto-echo" <<'SH'
#!/bin/sh
echo "argv0=$(basename "$0") args=$*"
exit "${ECHO_STATUS:-0}"
SH
	chmod +x "$FAKE/mephisto-echo"
}

@test "runs mephisto-CMD from MEPHISTO_EXEC_PATH with its arguments" {
	MEPHISTO_EXEC_PATH="$FAKE" run -0 mephisto echo a 'b c'
	assert_output "argv0=mephisto-echo args=a b c"
}

@test "passes the command's exit status through" {
	ECHO_STATUS=7 MEPHISTO_EXEC_PATH="$FAKE" run -7 mephisto echo
}

@test "finds commands on PATH after the exec path" {
	PATH="$FAKE:$PATH" run -0 mephisto echo x
	assert_output "argv0=mephisto-echo args=x"
}

@test "MEPHISTO_EXEC_PATH comes before PATH" {
	other="$BATS_TEST_TMPDIR/other"
	mkdir -p "$other"
	printf '#!/bin/sh\necho from-other\n' > "$other/mephisto-echo"
	chmod +x "$other/mephisto-echo"
	PATH="$FAKE:$PATH" MEPHISTO_EXEC_PATH="$other" run -0 mephisto echo
	assert_output "from-other"
}

@test "an unknown command is an error that suggests the closest name" {
	MEPHISTO_EXEC_PATH="$FAKE" run -1 --separate-stderr mephisto ecoh
	assert_equal "$output" ""
	[[ "$stderr" == *"'ecoh' is not a mephisto command"* ]]
	[[ "$stderr" == *"echo"* ]]
}

@test "an unknown command far from every name suggests nothing" {
	MEPHISTO_EXEC_PATH="$FAKE" run -1 --separate-stderr mephisto zzzzzzzzzz
	[[ "$stderr" == *"'zzzzzzzzzz' is not a mephisto command"* ]]
	[[ "$stderr" != *"most similar"* ]]
}

@test "a command name with a slash is refused" {
	run -1 --separate-stderr mephisto ../bin/mephisto-echo
	[[ "$stderr" == *"is not a mephisto command"* ]]
}

@test "--version prints the version" {
	run -0 mephisto --version
	assert_output --regexp '^mephisto version [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "--help and help list the commands" {
	run -0 mephisto --help
	assert_output --partial "usage: mephisto"
	assert_output --partial "launch"
	run -0 mephisto help
	assert_output --partial "review"
}

@test "help CMD runs the command's --help" {
	MEPHISTO_EXEC_PATH="$FAKE" run -0 mephisto help echo
	assert_output "argv0=mephisto-echo args=--help"
}

@test "no command is a usage error" {
	run -2 --separate-stderr mephisto
	[[ "$stderr" == *"usage: mephisto"* ]]
}

@test "--list-commands lists what it can run" {
	MEPHISTO_EXEC_PATH="$FAKE" run -0 mephisto --list-commands
	assert_line "echo"
	assert_line "help"
}
