#!/usr/bin/env bats
# The config file: where it is, what shape it must have, what survives a
# change, and the values programs read from it.

load lib/common

# Write stdin to the config file and keep a copy to compare with later.
config() {
	cat > "$MEPHISTO_CONFIG"
	cp "$MEPHISTO_CONFIG" "$BATS_TEST_TMPDIR/before"
}

assert_config_unchanged() {
	cmp "$BATS_TEST_TMPDIR/before" "$MEPHISTO_CONFIG"
}

@test "bad YAML: every command names file, line and column, writes nothing" {
	config <<-'EOF'
	core:
	  log_level: info
	   oops: 1
	EOF
	for args in "get core.log_level" "set core.log_level debug" \
	    "unset core.log_level" "list" "core.log_level" "s.k v"; do
		run --separate-stderr mephisto-config $args
		assert_failure 1
		assert_equal "$stderr" "mephisto-config: error: $MEPHISTO_CONFIG:3:8: mapping values are not allowed in this context"
		assert_config_unchanged
	done
}

@test "bad YAML: an unclosed flow sequence is reported where it started" {
	config <<-'EOF'
	core:
	  tags: [a, b
	other: 1
	EOF
	run --separate-stderr mephisto-config list
	assert_failure 1
	assert_equal "$stderr" "mephisto-config: error: $MEPHISTO_CONFIG:3:6: did not find expected ',' or ']' (while parsing a flow sequence started at line 2, column 9)"
	assert_config_unchanged
}

@test "a top level that is not a mapping is refused with its position" {
	config <<-'EOF'
	- core
	- other
	EOF
	run --separate-stderr mephisto-config set core.log_level debug
	assert_failure 1
	assert_equal "$stderr" "mephisto-config: error: $MEPHISTO_CONFIG:1:1: the config must be a mapping of sections, not a sequence"
	assert_config_unchanged

	printf 'just text\n' > "$MEPHISTO_CONFIG"
	run --separate-stderr mephisto-config get core.log_level
	assert_failure 1
	assert_equal "$stderr" "mephisto-config: error: $MEPHISTO_CONFIG:1:1: the config must be a mapping of sections, not a string"
}

@test "a section that is not a mapping is refused with its position" {
	config <<-'EOF'
	core:
	  log_level: info
	mturk: [US, CA]
	EOF
	run --separate-stderr mephisto-config set mturk.x 1
	assert_failure 1
	assert_equal "$stderr" "mephisto-config: error: $MEPHISTO_CONFIG:3:8: section 'mturk' must be a mapping of keys, not a sequence"
	assert_config_unchanged

	config <<-'EOF'
	core: 5
	EOF
	run --separate-stderr mephisto-config list
	assert_failure 1
	assert_equal "$stderr" "mephisto-config: error: $MEPHISTO_CONFIG:1:7: section 'core' must be a mapping of keys, not a number"
}

@test "anchors, duplicate keys and a second document are errors" {
	config <<-'EOF'
	a: &x {k: 1}
	b: *x
	EOF
	run --separate-stderr mephisto-config list
	assert_failure 1
	assert_equal "$stderr" "mephisto-config: error: $MEPHISTO_CONFIG:1:4: anchors (&x) are not supported"

	config <<-'EOF'
	core:
	  log_level: info
	  log_level: debug
	EOF
	run --separate-stderr mephisto-config list
	assert_failure 1
	assert_equal "$stderr" "mephisto-config: error: $MEPHISTO_CONFIG:3:3: duplicate key 'log_level' (first at line 2, column 3)"

	config <<-'EOF'
	core: {}
	---
	core: {}
	EOF
	run --separate-stderr mephisto-config set s.k v
	assert_failure 1
	assert_equal "$stderr" "mephisto-config: error: $MEPHISTO_CONFIG:2:1: only one document is allowed (found a second '---')"
	assert_config_unchanged
}

@test "the bare form shows a broken file, then says what is wrong" {
	config <<-'EOF'
	core: [
	EOF
	run --separate-stderr mephisto-config
	assert_failure 1
	assert_equal "$output" "$MEPHISTO_CONFIG
core: ["
	assert_regex "$stderr" "^mephisto-config: error: $MEPHISTO_CONFIG:2:1: "
}

@test "an empty config.yml is valid and means no settings" {
	config < /dev/null
	run mephisto-config list
	assert_success
	assert_output ""
	run mephisto-config list --json
	assert_success
	assert_output "{}"
	run -1 mephisto-config get core.main_data_directory
	run mephisto-config
	assert_success
	assert_output "$MEPHISTO_CONFIG"
	run test-yml-conf data-dir
	assert_success
	assert_output "$MEPHISTO_HOME/data"

	# Only comments, a lone "---", or an empty section are no settings too.
	printf '# nothing yet\n' > "$MEPHISTO_CONFIG"
	run mephisto-config list
	assert_success
	assert_output ""
	printf -- '---\n' > "$MEPHISTO_CONFIG"
	run mephisto-config list
	assert_success
	assert_output ""
	printf 'core:\n' > "$MEPHISTO_CONFIG"
	run mephisto-config list
	assert_success
	assert_output ""
	mephisto-config set core.log_level debug
	run mephisto-config list
	assert_output "core.log_level=debug"
}

@test "setting a key in an empty file writes a valid file" {
	config < /dev/null
	mephisto-config set core.log_level warn
	run cat "$MEPHISTO_CONFIG"
	assert_output "core:
  log_level: warn"
}

@test "a missing file means no settings; set creates it and its folder" {
	rm -rf "$MEPHISTO_HOME"
	run mephisto-config list
	assert_success
	assert_output ""
	run -1 mephisto-config get core.log_level
	assert_file_not_exist "$MEPHISTO_CONFIG"
	mephisto-config set core.log_level info
	assert_file_exist "$MEPHISTO_CONFIG"
	run stat -c %a "$MEPHISTO_CONFIG"
	assert_output 600
	run stat -c %a "$MEPHISTO_HOME"
	assert_output 700
}

@test "unknown sections and keys survive a set; key order is kept" {
	config <<-'EOF'
	zeta:
	  second: 2
	  first: "1"
	core:
	  main_data_directory: /tmp/d
	  zzz_unknown: [a, b]
	mturk:
	  allowed_locales:
	  - US
	  - CA
	alpha: {x: 1}
	EOF
	mephisto-config set core.log_level debug
	mephisto-config set newsec.k v
	run cat "$MEPHISTO_CONFIG"
	assert_output "zeta:
  second: 2
  first: '1'
core:
  main_data_directory: /tmp/d
  zzz_unknown: [a, b]
  log_level: debug
mturk:
  allowed_locales:
  - US
  - CA
alpha: {x: 1}
newsec:
  k: v"
	# Changing an existing key keeps its place.
	mephisto-config set zeta.second two
	run mephisto-config list
	assert_output "zeta.second=two
zeta.first=1
core.main_data_directory=/tmp/d
core.zzz_unknown=[\"a\",\"b\"]
core.log_level=debug
mturk.allowed_locales=[\"US\",\"CA\"]
alpha.x=1
newsec.k=v"
}

@test "an invalid value for a known key is refused and nothing is written" {
	cp "$MEPHISTO_CONFIG" "$BATS_TEST_TMPDIR/before"
	run --separate-stderr mephisto-config set core.log_level loud
	assert_failure 1
	assert_equal "$stderr" "mephisto-config: error: invalid core.log_level 'loud': expected debug, info, warn, warning or error"
	assert_config_unchanged
	run --separate-stderr mephisto-config core.main_data_directory relative/dir
	assert_failure 1
	assert_equal "$stderr" "mephisto-config: error: invalid core.main_data_directory 'relative/dir': expected an absolute path or one starting with '~/'"
	assert_config_unchanged
	for level in debug info warn warning error; do
		mephisto-config set core.log_level "$level"
	done
	mephisto-config set core.main_data_directory '~/mdata'
}

@test "a bad known value already in the file is reported with its position" {
	config <<-'EOF'
	core:
	  log_level: loud
	EOF
	run --separate-stderr test-yml-conf log-level
	assert_failure 1
	assert_equal "$stderr" "test-yml-conf: error: $MEPHISTO_CONFIG:2:14: invalid core.log_level 'loud': expected debug, info, warn, warning or error"
	# Writing any other key refuses to keep a broken file...
	run --separate-stderr mephisto-config set s.k v
	assert_failure 1
	assert_config_unchanged
	# ...while fixing the key itself works.
	mephisto-config set core.log_level info
	run test-yml-conf log-level
	assert_output info
}

@test "data folder, database and log level as programs read them" {
	run test-yml-conf data-dir
	assert_output "$MEPHISTO_DATA"
	run test-yml-conf db-path
	assert_output "$MEPHISTO_DB"
	unset MEPHISTO_DB
	run test-yml-conf db-path
	assert_output "$MEPHISTO_DATA/database.db"
	mephisto-config set core.main_data_directory '~/mdata'
	run test-yml-conf data-dir
	assert_output "$HOME/mdata"
	run test-yml-conf db-path
	assert_output "$HOME/mdata/database.db"
	mephisto-config unset core.main_data_directory
	run test-yml-conf data-dir
	assert_output "$MEPHISTO_HOME/data"
	run test-yml-conf log-level
	assert_output unset
	mephisto-config set core.log_level WARN
	run test-yml-conf log-level
	assert_output WARN
}

@test "MEPHISTO_CONFIG picks the file, else MEPHISTO_HOME, else ~/.mephisto" {
	run mephisto-config path
	assert_output "$MEPHISTO_CONFIG"
	export MEPHISTO_CONFIG="$BATS_TEST_TMPDIR/other.yml"
	mephisto-config set s.k v
	run cat "$BATS_TEST_TMPDIR/other.yml"
	assert_output "s:
  k: v"
	unset MEPHISTO_CONFIG
	export MEPHISTO_HOME="$BATS_TEST_TMPDIR/mh"
	run mephisto-config path
	assert_output "$BATS_TEST_TMPDIR/mh/config.yml"
	unset MEPHISTO_HOME
	run mephisto-config path
	assert_output "$HOME/.mephisto/config.yml"
	run test-yml-conf data-dir
	assert_output "$MEPHISTO_DATA"
}

@test "a symlinked config is written through to its target" {
	mv "$MEPHISTO_CONFIG" "$BATS_TEST_TMPDIR/real.yml"
	ln -s "$BATS_TEST_TMPDIR/real.yml" "$MEPHISTO_CONFIG"
	mephisto-config set s.k v
	assert_link_exist "$MEPHISTO_CONFIG"
	run mephisto-config get s.k
	assert_output v
	run grep -c 'k: v' "$BATS_TEST_TMPDIR/real.yml"
	assert_output 1
}

@test "an existing file keeps its mode" {
	chmod 640 "$MEPHISTO_CONFIG"
	mephisto-config set s.k v
	run stat -c %a "$MEPHISTO_CONFIG"
	assert_output 640
}
