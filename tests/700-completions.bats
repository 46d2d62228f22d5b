#!/usr/bin/env bats
# Shell completions: the bash script, sourced in bash, asks the programs
# themselves (--completion-helper) and offers their commands and options.

load lib/common

setup() {
	setup_env
	source "$REPO/completions/mephisto.bash"
	cd "$BATS_TEST_TMPDIR"
	touch task.yml
}

# complete WORD...: the completions bash offers for the last WORD (the
# word being typed; may be empty), one per line.
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	_mephisto
	printf '%s\n' "${COMPREPLY[@]}"
}

@test "completion: mephisto offers its commands" {
	run complete_words mephisto ""
	assert_line config
	assert_line launch
	assert_line review
	assert_line pool
	assert_line help
	run complete_words mephisto la
	assert_output launch
	run complete_words mephisto --v
	assert_output --version
}

@test "completion: a program's commands and files, then a command's options" {
	run complete_words mephisto launch ""
	assert_line status
	assert_line results
	assert_line task.yml
	run complete_words mephisto launch status --
	assert_output $'--json\n--help'
	run complete_words mephisto-launch --gr
	assert_output --grace=
	run complete_words mephisto-launch results 123 --f
	assert_output --format=
	run complete_words mephisto review ex
	assert_output export
	run complete_words mephisto-review bonus --p
	assert_output --plan
	run complete_words mephisto-pool workers --
	assert_output $'--run=\n--task=\n--json\n--help'
	run complete_words mephisto-pool block --r
	assert_output --reason=
	run complete_words mephisto config s
	assert_output set
	run complete_words mephisto-io --max-b
	assert_output --max-body=
	# After the command's arguments start, only files.
	run complete_words mephisto launch task.yml st
	refute_output --partial status
}

@test "completion: every option offered is in the program's --help" {
	local cmd opt missing=
	for cmd in "mephisto" "mephisto-config" "mephisto-launch" \
		"mephisto-launch list" "mephisto-launch status" "mephisto-launch results" \
		"mephisto-launch resume" "mephisto-launch work" "mephisto-pool" \
		"mephisto-pool workers" "mephisto-pool grant" "mephisto-io" \
		"mephisto-review" "mephisto-review export" "mephisto-review summary"; do
		for opt in $($cmd --completion-helper | grep -- '^--'); do
			opt=${opt%=}
			[ "$opt" = --help ] && continue
			$cmd --help | grep -qe "$opt\b" || missing+=" $cmd:$opt"
		done
	done
	[ -z "$missing" ] || { echo "not in --help:$missing" >&2; false; }
}

@test "completion: the zsh and fish scripts parse" {
	if command -v zsh >/dev/null; then zsh -n "$REPO/completions/_mephisto"; fi
	if command -v fish >/dev/null; then fish -n "$REPO/completions/mephisto.fish"; fi
	bash -n "$REPO/completions/mephisto.bash"
}
