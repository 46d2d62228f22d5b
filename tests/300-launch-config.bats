#!/usr/bin/env bats
# mephisto-launch: checking a task YAML and its data before anything is
# written.

load lib/common
load lib/launch

setup() {
	setup_env
	T="$BATS_TEST_TMPDIR/task"
	make_task "$T" 3
}

db_state() {
	if [ -e "$MEPHISTO_DB" ]; then
		sql "SELECT COUNT(*) FROM task_runs; SELECT COUNT(*) FROM units; SELECT COUNT(*) FROM tasks;" | tr '\n' ' '
	else
		echo none
	fi
}

@test "launch --check accepts a good task and writes nothing" {
	run -0 mephisto-launch --check "$T/task.yml"
	assert_output "$T/task.yml: ok: 3 assignments, 3 units"
	[ ! -e "$MEPHISTO_DB" ]
}

@test "the example task checks" {
	run -0 mephisto-launch --check "$REPO/share/mephisto/examples/simple/task.yml"
	assert_output --partial "ok: 5 assignments, 5 units"
}

@test "launch reports every problem of a bad task with FILE:LINE, exit 1" {
	before=$(db_state)
	cat > "$T/task.yml" <<'YAML'
task:
  task_title: x
  task_reward: lots
  max_num_concurrent_units: -2
  bogus: 1
blueprint:
  _blueprint_type: static_task
  task_source: missing.html
  data_csv: data.csv
  units_per_assignment: none
provider:
  _provider_type: turk
architect:
  port: [1]
extra: 1
YAML
	run mephisto-launch "$T/task.yml"
	assert_fails_cleanly
	[ "$status" -eq 1 ]
	f="$T/task.yml"
	assert_line --index 0 "$f:3: task.task_reward must be a number, not a string"
	assert_line --index 1 "$f:4: task.max_num_concurrent_units must not be negative"
	assert_line --index 2 "$f:5: unknown key 'task.bogus'"
	assert_line --index 3 "$f:10: blueprint.units_per_assignment must be an integer, not a string"
	assert_line --index 4 "$f:14: architect.port must be a port number, not a sequence"
	assert_line --index 5 "$f:15: unknown section 'extra' (expected task, blueprint, provider or architect)"
	assert_line --index 6 "$f:1: missing required key 'task.task_description'"
	assert_line --index 7 "$f:1: missing required key 'task.task_tags'"
	assert_line --index 8 "$f:12: unknown provider type 'turk' (known: mock, inhouse, prolific, mturk, mturk_sandbox)"
	assert_line --index 9 --regexp "^$f:8: blueprint.task_source: cannot read '.*/missing.html': No such file or directory$"
	assert_line --index 10 "mephisto-launch: error: 10 problems in '$f'; nothing was written"
	[ "${#lines[@]}" -eq 11 ]
	[ "$(db_state)" = "$before" ]
}

@test "bad YAML syntax is one error with its position" {
	printf 'task: [\n' > "$T/task.yml"
	run mephisto-launch "$T/task.yml"
	[ "$status" -eq 1 ]
	assert_line --index 0 --regexp "^$T/task.yml:2:1: "
	[ "${#lines[@]}" -eq 2 ]
	[ ! -e "$MEPHISTO_DB" ]
}

@test "a missing data file is reported at its key's line" {
	sed -i 's/data_csv: data.csv/data_csv: nothere.csv/' "$T/task.yml"
	run mephisto-launch "$T/task.yml"
	[ "$status" -eq 1 ]
	assert_line --index 0 --regexp "^$T/task.yml:10: blueprint.data_csv: cannot read '.*/nothere.csv': No such file or directory$"
	[ "${#lines[@]}" -eq 2 ]
}

@test "ragged CSV rows are reported one by one, database unchanged" {
	mephisto-launch --create-only "$T/task.yml" >/dev/null
	before=$(db_state)
	printf 'text,n\nok,1\nshort\n"a,b",2,3\n\nok,4\n"open,5\n' > "$T/data.csv"
	run mephisto-launch "$T/task.yml"
	[ "$status" -eq 1 ]
	assert_line --index 0 --regexp "/data.csv:3: row has 1 field, the header has 2$"
	assert_line --index 1 --regexp "/data.csv:4: row has 3 fields, the header has 2$"
	assert_line --index 2 --regexp "/data.csv:7: unterminated quoted field$"
	[ "${#lines[@]}" -eq 4 ]
	[ "$(db_state)" = "$before" ]
}

@test "invalid JSON lines are reported one by one" {
	printf '{"text": "a"}\nnot json\n[1, 2]\n\n{"text": \n{"text": "b"}\n' > "$T/data.jsonl"
	sed -i 's/data_csv: data.csv/data_jsonl: data.jsonl/' "$T/task.yml"
	run mephisto-launch "$T/task.yml"
	[ "$status" -eq 1 ]
	assert_line --index 0 --regexp "/data.jsonl:2: invalid JSON at column 1$"
	assert_line --index 1 --regexp "/data.jsonl:3: expected an object, found a list$"
	assert_line --index 2 --regexp "/data.jsonl:5: invalid JSON: line ends early$"
	[ "${#lines[@]}" -eq 4 ]
	[ ! -e "$MEPHISTO_DB" ]
}

@test "a JSON list must hold objects; a BOM is tolerated" {
	printf '\xef\xbb\xbf[{"text": "a"},\n 7,\n {"text": "b"}]\n' > "$T/data.json"
	sed -i 's/data_csv: data.csv/data_json: data.json/' "$T/task.yml"
	run mephisto-launch "$T/task.yml"
	[ "$status" -eq 1 ]
	assert_line --index 0 --regexp "/data.json:2: item 2 is a number, not an object$"
	printf '\xef\xbb\xbf[{"text": "a"}, {"text": "b"}]\n' > "$T/data.json"
	run -0 mephisto-launch --check "$T/task.yml"
	assert_output --partial "ok: 2 assignments"
}

@test "overrides use the dotted keys and are checked the same way" {
	run -0 mephisto-launch --check "$T/task.yml" blueprint.units_per_assignment=2
	assert_output --partial "3 assignments, 6 units"
	run mephisto-launch --check "$T/task.yml" task.nope=1 task.task_reward=abc blueprint
	[ "$status" -eq 1 ]
	assert_line --index 0 "command line: 'task.nope=1': unknown key 'task.nope'"
	assert_line --index 1 "command line: 'task.task_reward=abc': task.task_reward must be a number, not a string"
	assert_line --index 2 "command line: 'blueprint': expected SECTION.KEY=VALUE"
}

@test "onboarding needs a page and an answer key or a validator" {
	printf 'blueprint:\n  onboarding_qualification: q\n' > "$BATS_TEST_TMPDIR/extra"
	sed -i 's/  data_csv: data.csv/  data_csv: data.csv\n  onboarding_qualification: q/' "$T/task.yml"
	run mephisto-launch --check "$T/task.yml"
	[ "$status" -eq 1 ]
	assert_line --partial "onboarding needs blueprint.onboarding_source"
	assert_line --partial "onboarding needs blueprint.onboarding_answers or blueprint.onboarding_validator"
}

@test "onboarding data and the validator's time limit reach the run's settings" {
	run_id=$(mephisto-launch --create-only "$T/task.yml" 'blueprint.onboarding_data={"hint": "blue"}' \
		blueprint.onboarding_validator_timeout=2.5 2>/dev/null)
	params=$(sql "SELECT init_params FROM task_runs WHERE task_run_id = $run_id")
	[ "$(jq -c .blueprint.onboarding_data <<<"$params")" = '{"hint":"blue"}' ]
	[ "$(jq -c .blueprint.onboarding_validator_timeout <<<"$params")" = 2.5 ]
	run mephisto-launch --check "$T/task.yml" blueprint.onboarding_validator_timeout=0 blueprint.onboarding_data=3
	[ "$status" -eq 1 ]
	assert_line --partial "blueprint.onboarding_validator_timeout"
	assert_line --partial "blueprint.onboarding_data must be a mapping, not a number"
}

@test "a runner and a shared runner are for live tasks only, and shared_runner is a boolean" {
	run mephisto-launch --check "$T/task.yml" blueprint.runner=cat blueprint.shared_runner=true
	[ "$status" -eq 1 ]
	assert_line "command line: 'blueprint.runner=cat': blueprint.runner is only for live_task"
	assert_line "command line: 'blueprint.shared_runner=true': blueprint.shared_runner is only for live_task"
	run mephisto-launch --check "$T/task.yml" blueprint.shared_runner=often
	[ "$status" -eq 1 ]
	assert_line --partial "blueprint.shared_runner must be"
}

@test "--list shows the registered types" {
	run -0 mephisto-launch --list
	assert_line "blueprints:"
	assert_line --regexp "^  static_task "
	assert_line --regexp "^  mock "
	assert_line --regexp "^  inhouse "
	assert_line --regexp "^  local "
	run -0 mephisto-launch --list --json
	[ "$(jq -r 'select(.kind == "provider") | .name' <<<"$output" | sort | tr '\n' ' ')" = "inhouse mock mturk mturk_sandbox prolific " ]
}

@test "--help works for the program and every command" {
	run -0 mephisto-launch --help
	assert_line --index 0 --partial "usage: mephisto launch"
	for c in list status stop expire resume results work; do
		run -0 mephisto-launch "$c" --help
		assert_line --index 0 --partial "usage: mephisto launch $c"
	done
}

@test "usage errors exit 2" {
	run mephisto-launch
	[ "$status" -eq 2 ]
	run mephisto-launch --bogus "$T/task.yml"
	[ "$status" -eq 2 ]
	run mephisto-launch expire notanid
	[ "$status" -eq 2 ]
}
