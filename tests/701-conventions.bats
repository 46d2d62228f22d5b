#!/usr/bin/env bats
# Conventions every program keeps: colour only on a terminal and never
# with NO_COLOR; exit codes.

load lib/common

# on_tty CMD...: run CMD with stderr on a pseudo-terminal; its output,
# with escape characters shown as ^[.
on_tty() {
	script -qec "$*" /dev/null | cat -v
}

@test "colour: error messages are coloured on a terminal only, never with NO_COLOR" {
	run on_tty mephisto-launch --check /nonexistent.yml
	assert_output --partial 'mephisto-launch: ^[[1;31merror^[[m: 1 problem'
	NO_COLOR=1 run on_tty mephisto-launch --check /nonexistent.yml
	assert_output --partial 'mephisto-launch: error: 1 problem'
	refute_output --partial '^['
	TERM=dumb run on_tty mephisto-config get nope.nope
	refute_output --partial '^['
	run mephisto-launch --check /nonexistent.yml
	assert_output --partial 'mephisto-launch: error: 1 problem'
	refute_output --partial $'\033'
}

@test "exit codes: 0 success, 1 failure, 2 usage error, for every program" {
	local p
	for p in mephisto mephisto-config mephisto-launch mephisto-pool mephisto-io mephisto-review; do
		run -0 "$p" --help
		run -2 "$p" --no-such-option
	done
	run -1 mephisto-launch --check /nonexistent.yml
	run -1 mephisto-config get nope.nope
	run -1 mephisto-pool unblock nobody-at-all
	run -1 mephisto-review approve 1234567
}
