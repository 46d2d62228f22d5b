#!/usr/bin/env bats
# mephisto-config's commands as a user types them.

load lib/common

@test "no arguments: the file's path, then its contents" {
	printf '# mine\ncore:\n  main_data_directory: /x\n' > "$MEPHISTO_CONFIG"
	run --separate-stderr mephisto-config
	assert_success
	assert_output "$MEPHISTO_CONFIG
# mine
core:
  main_data_directory: /x"
	assert_equal "$stderr" ""
}

@test "SECTION.KEY prints a value; SECTION.KEY VALUE sets it" {
	run mephisto-config core.main_data_directory
	assert_success
	assert_output "$MEPHISTO_DATA"
	mephisto-config mturk.region us-east-1
	run mephisto-config mturk.region
	assert_success
	assert_output us-east-1
	run -2 --separate-stderr mephisto-config mturk.region a b
	assert_equal "$stderr" "mephisto-config: error: too many arguments
usage: mephisto-config [SECTION.KEY [VALUE]]
   or: mephisto-config get|set|unset|list|path|init|edit ...
'mephisto-config --help' shows more."
}

@test "get prints scalars as written and collections as JSON" {
	cat > "$MEPHISTO_CONFIG" <<-'EOF'
	s:
	  quoted: "a: b"
	  num: 007
	  empty:
	  list: [1, two, {x: null}]
	  block: |
	    one
	    two
	EOF
	run mephisto-config get s.quoted
	assert_output "a: b"
	run mephisto-config get s.num
	assert_output "007"
	run mephisto-config get s.empty
	assert_success
	assert_output ""
	run mephisto-config get s.list
	assert_output '[1,"two",{"x":null}]'
	run mephisto-config get s.block
	assert_output "one
two"
}

@test "get of a key that is not set fails with a clear message" {
	run -1 --separate-stderr mephisto-config get core.nope
	assert_equal "$output" ""
	assert_equal "$stderr" "mephisto-config: error: key 'core.nope' is not set in '$MEPHISTO_CONFIG'"
	run -1 --separate-stderr mephisto-config nosection.key
	assert_equal "$stderr" "mephisto-config: error: key 'nosection.key' is not set in '$MEPHISTO_CONFIG'"
}

@test "keys must look like SECTION.KEY" {
	for key in nodot .key section.; do
		run -2 --separate-stderr mephisto-config get "$key"
		assert_equal "${stderr_lines[0]}" "mephisto-config: error: invalid key '$key': expected SECTION.KEY, e.g. core.main_data_directory"
		run -2 --separate-stderr mephisto-config set "$key" v
		run -2 --separate-stderr mephisto-config unset "$key"
		run -2 --separate-stderr mephisto-config "$key" v
	done
	run -2 --separate-stderr mephisto-config nodot
	assert_equal "${stderr_lines[0]}" "mephisto-config: error: 'nodot' is not a mephisto-config command"
}

@test "set stores numbers and booleans plain, everything else as strings" {
	printf 'core: {}\n' > "$MEPHISTO_CONFIG"
	mephisto-config set s.n 5
	mephisto-config set s.neg -12
	mephisto-config set s.f 0.5
	mephisto-config set s.t true
	mephisto-config set s.yes yes
	mephisto-config set s.oct 007
	mephisto-config set s.exp 1e3
	mephisto-config set s.null null
	mephisto-config set s.empty ''
	mephisto-config set s.path /tmp/a
	mephisto-config set s.colon 'a: b'
	mephisto-config set --string s.str 5
	mephisto-config set -s s.date 2024-01-31
	run cat "$MEPHISTO_CONFIG"
	assert_output "core: {}
s:
  n: 5
  neg: -12
  f: 0.5
  t: true
  'yes': 'yes'
  oct: '007'
  exp: '1e3'
  'null': 'null'
  empty: ''
  path: /tmp/a
  colon: 'a: b'
  str: '5'
  date: '2024-01-31'"
	run mephisto-config list --json
	assert_output '{"core":{},"s":{"n":5,"neg":-12,"f":0.5,"t":true,"yes":"yes","oct":"007","exp":"1e3","null":"null","empty":"","path":"/tmp/a","colon":"a: b","str":"5","date":"2024-01-31"}}'
	# Each reads back exactly as given.
	for k in n neg f t yes oct exp null path colon str date; do
		run mephisto-config get "s.$k"
		refute_output ""
	done
	run mephisto-config get s.oct
	assert_output 007
	run mephisto-config get s.exp
	assert_output 1e3
}

@test "set takes a value that starts with a dash" {
	mephisto-config set s.v -5
	mephisto-config set s.w --json
	run mephisto-config get s.v
	assert_output -- -5
	run mephisto-config get s.w
	assert_output -- --json
}

@test "set replaces a value in place; comments do not survive a set" {
	printf '# note\na:\n  x: 1 # one\n  y: 2\nb:\n  z: 3\n' > "$MEPHISTO_CONFIG"
	mephisto-config set a.x one
	run cat "$MEPHISTO_CONFIG"
	assert_output "a:
  x: one
  y: 2
b:
  z: 3"
}

@test "unset removes a key, then an empty section; a missing key fails" {
	printf 'a:\n  x: 1\n  y: 2\nb:\n  z: 3\n' > "$MEPHISTO_CONFIG"
	mephisto-config unset a.x
	run cat "$MEPHISTO_CONFIG"
	assert_output "a:
  y: 2
b:
  z: 3"
	mephisto-config unset b.z
	run cat "$MEPHISTO_CONFIG"
	assert_output "a:
  y: 2"
	cp "$MEPHISTO_CONFIG" "$BATS_TEST_TMPDIR/before"
	run -1 --separate-stderr mephisto-config unset a.x
	assert_equal "$stderr" "mephisto-config: error: key 'a.x' is not set"
	cmp "$BATS_TEST_TMPDIR/before" "$MEPHISTO_CONFIG"
	mephisto-config unset a.y
	run mephisto-config list
	assert_success
	assert_output ""
}

@test "list prints section.key=value lines, or one JSON object" {
	cat > "$MEPHISTO_CONFIG" <<-'EOF'
	core:
	  main_data_directory: /d
	  log_level: info
	empty:
	other:
	  flag: yes
	  n: 3
	  f: 1.25
	  inf: .inf
	  nothing: ~
	  big: 123456789012345678
	  tags: [a, b]
	EOF
	run --separate-stderr mephisto-config list
	assert_success
	assert_output "core.main_data_directory=/d
core.log_level=info
other.flag=yes
other.n=3
other.f=1.25
other.inf=.inf
other.nothing=~
other.big=123456789012345678
other.tags=[\"a\",\"b\"]"
	run --separate-stderr mephisto-config list --json
	assert_success
	assert_output '{"core":{"main_data_directory":"/d","log_level":"info"},"empty":null,"other":{"flag":true,"n":3,"f":1.25,"inf":".inf","nothing":null,"big":123456789012345678,"tags":["a","b"]}}'
	run jq -r '.other.big, .core.log_level' <<< "$output"
	assert_line --index 1 info
}

@test "path prints the file's path" {
	run --separate-stderr mephisto-config path
	assert_success
	assert_output "$MEPHISTO_CONFIG"
	assert_equal "$stderr" ""
}

@test "init creates the file with core: {} and leaves an existing one alone" {
	rm -rf "$MEPHISTO_HOME"
	run --separate-stderr mephisto-config init
	assert_success
	assert_equal "$stderr" "mephisto-config: info: created '$MEPHISTO_CONFIG'"
	run cat "$MEPHISTO_CONFIG"
	assert_output "core: {}"
	mephisto-config set core.log_level info
	cp "$MEPHISTO_CONFIG" "$BATS_TEST_TMPDIR/before"
	run --separate-stderr mephisto-config init
	assert_success
	assert_equal "$stderr" ""
	cmp "$BATS_TEST_TMPDIR/before" "$MEPHISTO_CONFIG"
	run cat "$MEPHISTO_CONFIG"
	assert_output "core:
  log_level: info"
}

# make_editor NAME: an editor script that replaces the file with stdin.
make_editor() {
	local script="$BATS_TEST_TMPDIR/$1"
	{
		echo '#!/bin/sh'
		echo "cat > \"\$1\" <<'END'"
		cat
		echo 'END'
	} > "$script"
	chmod +x "$script"
	echo "$script"
}

@test "edit replaces the file with a valid edit, comments included" {
	local ed
	ed=$(make_editor good.sh <<-'EOF'
	# my settings
	core:
	  log_level: debug   # loud
	extra: {k: v}
	EOF
	)
	EDITOR="$ed" run --separate-stderr mephisto-config edit
	assert_success
	run cat "$MEPHISTO_CONFIG"
	assert_output "# my settings
core:
  log_level: debug   # loud
extra: {k: v}"
	run mephisto-config get extra.k
	assert_output v
	# No copies are left behind.
	run ls "$MEPHISTO_HOME"
	assert_output "config.yml
config.yml.lock"
}

@test "edit refuses an invalid result and keeps the original" {
	local ed
	cp "$MEPHISTO_CONFIG" "$BATS_TEST_TMPDIR/before"
	ed=$(make_editor bad.sh <<-'EOF'
	core:
	  log_level: [unclosed
	EOF
	)
	EDITOR="$ed" run --separate-stderr mephisto-config edit
	assert_failure 1
	cmp "$BATS_TEST_TMPDIR/before" "$MEPHISTO_CONFIG"
	assert_regex "${stderr_lines[0]}" "^mephisto-config: error: $MEPHISTO_CONFIG\.edit-[A-Za-z0-9]{6}\.yml:3:1: did not find expected ',' or ']'"
	assert_regex "${stderr_lines[1]}" "^mephisto-config: error: '$MEPHISTO_CONFIG' was not changed; the edited copy is in '$MEPHISTO_CONFIG\.edit-"
	# The copy holds the user's work.
	run cat "$MEPHISTO_CONFIG".edit-*.yml
	assert_output "core:
  log_level: [unclosed"

	# A valid YAML that is not a valid config is refused the same way.
	ed=$(make_editor bad2.sh <<-'EOF'
	core:
	  log_level: loud
	EOF
	)
	EDITOR="$ed" run --separate-stderr mephisto-config edit
	assert_failure 1
	assert_regex "${stderr_lines[0]}" ":2:14: invalid core.log_level 'loud'"
	cmp "$BATS_TEST_TMPDIR/before" "$MEPHISTO_CONFIG"
}

@test "edit: VISUAL wins over EDITOR; a failing editor changes nothing" {
	local ed
	ed=$(make_editor visual.sh <<-'EOF'
	from: {who: visual}
	EOF
	)
	cp "$MEPHISTO_CONFIG" "$BATS_TEST_TMPDIR/before"
	VISUAL=false EDITOR="$ed" run --separate-stderr mephisto-config edit
	assert_failure 1
	assert_equal "$stderr" "mephisto-config: error: editor 'false' exited with status 1; config not changed"
	cmp "$BATS_TEST_TMPDIR/before" "$MEPHISTO_CONFIG"
	VISUAL="$ed" EDITOR=false run mephisto-config edit
	assert_success
	run cat "$MEPHISTO_CONFIG"
	assert_output "from: {who: visual}"
	# EDITOR is a shell command: arguments work.
	EDITOR="sed -i s/visual/sed/" run mephisto-config edit
	assert_success
	run cat "$MEPHISTO_CONFIG"
	assert_output "from: {who: sed}"
	EDITOR=true run --separate-stderr mephisto-config edit
	assert_success
	assert_equal "$stderr" "mephisto-config: info: no changes"
}

@test "edit refuses when the file changed while the editor ran" {
	local script="$BATS_TEST_TMPDIR/racing.sh"
	printf '#!/bin/sh\nmephisto-config set s.other 1\necho "mine: {k: 1}" > "$1"\n' > "$script"
	chmod +x "$script"
	EDITOR="$script" run --separate-stderr mephisto-config edit
	assert_failure 1
	assert_equal "${stderr_lines[0]}" "mephisto-config: error: '$MEPHISTO_CONFIG' was changed by someone else meanwhile"
	run mephisto-config get s.other
	assert_output 1
}

@test "edit of a missing file starts from core: {} and creates it" {
	rm -f "$MEPHISTO_CONFIG"
	EDITOR=true run mephisto-config edit
	assert_success
	run cat "$MEPHISTO_CONFIG"
	assert_output "core: {}"
}

@test "--help works for the program and every command" {
	run --separate-stderr mephisto-config --help
	assert_success
	assert_line --index 0 "usage: mephisto-config [SECTION.KEY [VALUE]]"
	assert_line "  edit                   edit the file in \$VISUAL or \$EDITOR"
	run mephisto-config -h
	assert_success
	for cmd in get set unset list path init edit; do
		run --separate-stderr mephisto-config "$cmd" --help
		assert_success
		assert_line --index 0 --regexp "^usage: mephisto-config $cmd"
		assert_equal "$stderr" ""
	done
	run mephisto-config set --help
	assert_line "  -s, --string   always store VALUE as a string"
}

@test "usage errors exit 2" {
	run -2 --separate-stderr mephisto-config --bogus
	assert_equal "${stderr_lines[0]}" "mephisto-config: error: unknown option '--bogus'"
	run -2 --separate-stderr mephisto-config list --string
	assert_equal "${stderr_lines[0]}" "mephisto-config: error: unknown option '--string'"
	assert_equal "${stderr_lines[1]}" "usage: mephisto-config list [--json]"
	run -2 mephisto-config get
	run -2 mephisto-config get a.b c
	run -2 mephisto-config set a.b
	run -2 mephisto-config path extra
	run -2 mephisto-config frobnicate
}

@test "the mephisto front end runs mephisto-config" {
	[ -x "$MEPHISTO_BUILD/bin/mephisto" ] || skip "no dispatcher in this build"
	run mephisto config get core.main_data_directory
	assert_success
	assert_output "$MEPHISTO_DATA"
}
