#!/usr/bin/env bats
# make install / make uninstall into a staging folder.

load lib/common

@test "make install puts programs and share files under DESTDIR, uninstall removes them" {
	dest="$BATS_TEST_TMPDIR/stage"
	run -0 make -C "$REPO" --no-print-directory install O="$MEPHISTO_BUILD" \
		DESTDIR="$dest" PREFIX=/opt/mph
	assert_file_executable "$dest/opt/mph/bin/mephisto"
	assert_file_exists "$dest/opt/mph/share/mephisto/schema.sql"
	assert_file_exists "$dest/opt/mph/share/man/man1/mephisto.1"
	# An installed dispatcher finds its commands beside it.
	env -u MEPHISTO_EXEC_PATH -u MEPHISTO_SHARE PATH=/usr/bin:/bin \
		"$dest/opt/mph/bin/mephisto" --list-commands > "$BATS_TEST_TMPDIR/cmds"
	run -0 cat "$BATS_TEST_TMPDIR/cmds"
	assert_line "help"
	# Every program has a man page that renders, and a completion.
	for p in mephisto mephisto-config mephisto-launch mephisto-pool mephisto-io mephisto-review; do
		assert_file_executable "$dest/opt/mph/bin/$p"
		run -0 env MANWIDTH=80 man -M "$dest/opt/mph/share/man" "$p"
		assert_line --regexp "^ +$p .+"
		assert_line --partial "EXIT STATUS"
		run -0 groff -mdoc -Tutf8 -ww -z "$dest/opt/mph/share/man/man1/$p.1"
		assert_output ""
		assert_file_exists "$dest/opt/mph/share/bash-completion/completions/$p"
		assert_file_exists "$dest/opt/mph/share/fish/vendor_completions.d/$p.fish"
	done
	assert_file_exists "$dest/opt/mph/share/zsh/site-functions/_mephisto"
	run -0 make -C "$REPO" --no-print-directory uninstall O="$MEPHISTO_BUILD" \
		DESTDIR="$dest" PREFIX=/opt/mph
	assert_file_not_exists "$dest/opt/mph/bin/mephisto"
	assert_file_not_exists "$dest/opt/mph/share/mephisto/schema.sql"
	assert_file_not_exists "$dest/opt/mph/share/man/man1/mephisto-launch.1"
	assert_file_not_exists "$dest/opt/mph/share/bash-completion/completions/mephisto-launch"
}

@test "make deps does nothing when everything is installed" {
	run -0 make -C "$REPO" --no-print-directory deps
	refute_output --partial "installing:"
}
