#!/usr/bin/env bats
# lib/yml through its test driver: round trips keep order and meaning,
# every node knows its line and column, errors say where.

load lib/common

yml() {
	cat > "$BATS_TEST_TMPDIR/in.yml"
}

@test "built-in checks of scalar typing, accessors and building trees" {
	run test-yml unit
	assert_success
	assert_output ok
}

@test "a round trip keeps key order, types and unknown keys" {
	yml <<-'EOF'
	# comments are dropped
	task:
	  task_name: demo
	  task_reward: 0.3
	  allowed_concurrent: 1
	  task_tags: [a, "b c", '5']
	  text: "line 1\nline 2"
	blueprint:
	  _blueprint_type: static_task
	  units_per_assignment: 1
	  extra: {nested: {deeper: yes}}
	provider:
	  requester_name: "007"
	  sandbox: true
	  nothing: ~
	  empty: ""
	  block: |
	    first
	    second
	zzz: []
	aaa: {}
	EOF
	run test-yml save "$BATS_TEST_TMPDIR/in.yml"
	assert_success
	assert_output "task:
  task_name: demo
  task_reward: 0.3
  allowed_concurrent: 1
  task_tags: [a, b c, '5']
  text: \"line 1\\nline 2\"
blueprint:
  _blueprint_type: static_task
  units_per_assignment: 1
  extra: {nested: {deeper: yes}}
provider:
  requester_name: '007'
  sandbox: true
  nothing: ~
  empty: ''
  block: |
    first
    second
zzz: []
aaa: {}"
	# Saving the saved text again changes nothing.
	echo "$output" > "$BATS_TEST_TMPDIR/once.yml"
	run test-yml save "$BATS_TEST_TMPDIR/once.yml"
	assert_equal "$output" "$(cat "$BATS_TEST_TMPDIR/once.yml")"
}

@test "strings that would read back as something else are quoted" {
	yml <<-'EOF'
	a: "true"
	b: "1.5"
	c: "null"
	d: ""
	e: "~"
	f: "0x10"
	g: "1_000"
	h: "12:30"
	i: "2024-01-31"
	j: "- item"
	k: "#hash"
	l: " padded "
	m: "plain words"
	n: "on"
	o: "<<"
	"6": six
	EOF
	run test-yml save "$BATS_TEST_TMPDIR/in.yml"
	assert_success
	assert_output "a: 'true'
b: '1.5'
c: 'null'
d: ''
e: '~'
f: '0x10'
g: '1_000'
h: '12:30'
i: '2024-01-31'
j: '- item'
k: '#hash'
l: ' padded '
m: plain words
n: 'on'
o: '<<'
'6': six"
	echo "$output" > "$BATS_TEST_TMPDIR/out.yml"
	for k in a b c d e f g h i j k l m n o 6; do
		run test-yml get "$BATS_TEST_TMPDIR/out.yml" "$k"
		assert_output --regexp '^str '
	done
}

@test "every key and value has its line and column" {
	yml <<-'EOF'
	task:
	  task_name: demo
	  tags:
	    - one
	    - {k: v}
	  "quoted key":   value
	EOF
	run test-yml tree "$BATS_TEST_TMPDIR/in.yml"
	assert_success
	assert_output ". map 1:1
task key 1:1
task map 2:3
task.task_name key 2:3
task.task_name str 2:14 demo
task.tags key 3:3
task.tags seq 4:5
task.tags.0 str 4:7 one
task.tags.1 map 5:7
task.tags.1.k key 5:8
task.tags.1.k str 5:11 v
task.quoted key key 6:3
task.quoted key str 6:19 value"
}

@test "set and delete keep the order of the other keys" {
	yml <<-'EOF'
	c: 1
	a: 2
	b: {x: 1, y: 2}
	EOF
	run test-yml set "$BATS_TEST_TMPDIR/in.yml" a 20
	assert_output "c: 1
a: 20
b: {x: 1, y: 2}"
	run test-yml set "$BATS_TEST_TMPDIR/in.yml" b.z 3 string
	assert_output "c: 1
a: 2
b: {x: 1, y: 2, z: '3'}"
	run test-yml set "$BATS_TEST_TMPDIR/in.yml" new yes
	assert_output "c: 1
a: 2
b: {x: 1, y: 2}
new: yes"
	run test-yml delete "$BATS_TEST_TMPDIR/in.yml" c
	assert_output "a: 2
b: {x: 1, y: 2}"
	run -1 test-yml delete "$BATS_TEST_TMPDIR/in.yml" nope
}

@test "typed reads by dotted path" {
	yml <<-'EOF'
	n: 0x1f
	q: "42"
	f: 2.5e-1
	b: Off
	s: [10, 20]
	EOF
	run test-yml get "$BATS_TEST_TMPDIR/in.yml" n long
	assert_output 31
	run test-yml get "$BATS_TEST_TMPDIR/in.yml" q long
	assert_output 42
	run test-yml get "$BATS_TEST_TMPDIR/in.yml" q
	assert_output "str 2:4 42"
	run test-yml get "$BATS_TEST_TMPDIR/in.yml" f double
	assert_output 0.25
	run test-yml get "$BATS_TEST_TMPDIR/in.yml" b bool
	assert_output false
	run test-yml get "$BATS_TEST_TMPDIR/in.yml" s.1 long
	assert_output 20
	run -1 test-yml get "$BATS_TEST_TMPDIR/in.yml" s.2
	run -1 --separate-stderr test-yml get "$BATS_TEST_TMPDIR/in.yml" b long
	assert_equal "$stderr" "test-yml: error: 'b' is not a long: Invalid argument"
}

# check_error TEXT MESSAGE: parsing TEXT fails with "in.yml:MESSAGE".
check_error() {
	printf '%s' "$1" > "$BATS_TEST_TMPDIR/in.yml"
	run --separate-stderr test-yml save "$BATS_TEST_TMPDIR/in.yml"
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "test-yml: error: $BATS_TEST_TMPDIR/in.yml:$2"
}

@test "errors name the line and column" {
	check_error $'a: 1\nb: c: d\n' "2:5: mapping values are not allowed in this context"
	check_error $'a:\n  - 1\n  x: 2\n' "3:3: did not find expected '-' indicator (while parsing a block collection started at line 2, column 3)"
	check_error $'a: "open\n' "2:1: found unexpected end of stream (while scanning a quoted scalar started at line 1, column 4)"
	check_error $'a: 1\n\tb: 2\n' "2:1: found a tab character that violates indentation (while scanning a plain scalar started at line 1, column 4)"
	check_error $'a: ok\nb: \xff\n' "2:4: invalid leading UTF-8 octet"
}

@test "what the tree does not support is refused with its position" {
	check_error $'a: &anchor 1\n' "1:4: anchors (&anchor) are not supported"
	check_error $'a: 1\nb: *x\n' "2:4: aliases (*x) are not supported"
	check_error $'a: 1\nb: !custom 2\n' "2:4: unsupported tag '!custom'"
	check_error $'? [k]\n: v\n' "1:3: a mapping key must be a scalar, not a sequence"
	check_error $'x:\n  k: 1\n  k: 2\n' "3:3: duplicate key 'k' (first at line 2, column 3)"
	check_error $'a: 1\n---\nb: 2\n' "2:1: only one document is allowed (found a second '---')"
	check_error "$(printf '%0.s[' $(seq 1 200))" "1:130: nesting deeper than 128 levels"
}

@test "standard tags set the type" {
	yml <<-'EOF'
	a: !!str 5
	b: !!int "7"
	c: !!map {k: v}
	EOF
	run test-yml tree "$BATS_TEST_TMPDIR/in.yml"
	assert_line "a str 1:4 5"
	assert_line "b int 2:4 7"
	assert_line "c map 3:4"
}

@test "an empty document has no root" {
	: > "$BATS_TEST_TMPDIR/in.yml"
	run test-yml tree "$BATS_TEST_TMPDIR/in.yml"
	assert_output empty
	printf '# just a comment\n\n' > "$BATS_TEST_TMPDIR/in.yml"
	run test-yml tree "$BATS_TEST_TMPDIR/in.yml"
	assert_output empty
	run test-yml save "$BATS_TEST_TMPDIR/in.yml"
	assert_success
	assert_output ""
}

@test "a missing file is an error naming it" {
	run -1 --separate-stderr test-yml save "$BATS_TEST_TMPDIR/nope.yml"
	assert_equal "$stderr" "test-yml: error: cannot read '$BATS_TEST_TMPDIR/nope.yml': No such file or directory"
}
