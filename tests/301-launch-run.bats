#!/usr/bin/env bats
# mephisto-launch: real runs with a real pool, io and HTTP workers.

load lib/common
load lib/launch

setup() {
	setup_env
	T="$BATS_TEST_TMPDIR/task"
}

@test "creation writes the run, assignments, data and units in one go" {
	make_task "$T" 4 "" 
	sed -i 's/  data_csv: data.csv/  data_csv: data.csv\n  units_per_assignment: 2/' "$T/task.yml"
	run_id=$(mephisto-launch --create-only "$T/task.yml" 2>/dev/null)
	[ "$(sql "SELECT COUNT(*) FROM assignments WHERE task_run_id = $run_id")" -eq 4 ]
	[ "$(sql "SELECT COUNT(*) FROM units WHERE task_run_id = $run_id AND status = 'created' AND pay_amount = 0.25")" -eq 8 ]
	[ "$(sql "SELECT group_concat(DISTINCT unit_index) FROM units")" = "0,1" ]
	[ "$(sql "SELECT shared FROM assignment_data ORDER BY assignment_id LIMIT 1")" = '{"text":"row 1","n":"1","html":"task.html"}' ]
	[ "$(sql "SELECT DISTINCT unit_data FROM assignment_data")" = '[{},{}]' ]
	[ "$(sql "SELECT requester_name || ' ' || provider_type FROM requesters")" = "MOCK_REQUESTER mock" ]
	[ "$(sql "SELECT task_type FROM tasks WHERE task_name = 't-task'")" = "static_task" ]
	[ "$(sql "SELECT is_completed || ' ' || sandbox FROM task_runs")" = "0 1" ]
	params=$(sql "SELECT init_params FROM task_runs")
	[ "$(jq -r .task.assignment_duration_in_seconds <<<"$params")" = 1800 ]
	[ "$(jq -r .blueprint.task_source <<<"$params")" = "$T/task.html" ]
	[ "$(jq -r .architect.hostname <<<"$params")" = localhost ]
	[ "$(jq -r 'keys|join(",")' <<<"$params")" = "architect,blueprint,provider,task" ]
}

@test "a run's units get ids near each other, in the data's order; the next run's are elsewhere" {
	make_task "$T" 20
	first=$(mephisto-launch --create-only "$T/task.yml" 2>/dev/null)
	second=$(mephisto-launch --create-only "$T/task.yml" 2>/dev/null)
	local run
	for run in "$first" "$second"; do
		# one 23-bit prefix for the run's units, another for its assignments
		[ "$(sql "SELECT COUNT(DISTINCT unit_id >> 40) FROM units WHERE task_run_id = $run")" -eq 1 ]
		[ "$(sql "SELECT COUNT(DISTINCT assignment_id >> 40) FROM assignments WHERE task_run_id = $run")" -eq 1 ]
		[ "$(sql "SELECT MIN(unit_id) >= 1 << 40 FROM units")" -eq 1 ]
		# ids ascend with the rows of the data file
		run -0 sql "SELECT json_extract(d.shared, '\$.n') FROM units u JOIN assignment_data d USING (assignment_id) WHERE u.task_run_id = $run ORDER BY u.unit_id"
		assert_equal "$(tr '\n' ' ' <<<"$output")" "$(seq -s ' ' 1 20) "
	done
	[ "$(sql "SELECT COUNT(DISTINCT unit_id >> 40) FROM units")" -eq 2 ]
	[ "$(sql "SELECT COUNT(DISTINCT unit_id & ((1 << 40) - 1)) FROM units")" -eq 40 ]
}

@test "100,000 units are created from a JSON lines file" {
	make_task "$T" 1
	awk 'BEGIN { for (i = 0; i < 100000; i++) printf "{\"text\": \"item %d\"}\n", i }' > "$T/data.jsonl"
	sed -i 's/data_csv: data.csv/data_jsonl: data.jsonl/' "$T/task.yml"
	run -0 mephisto-launch --create-only "$T/task.yml"
	[ "$(count_units created)" -eq 100000 ]
	[ "$(sql "SELECT COUNT(*) FROM assignment_data")" -eq 100000 ]
}

@test "the example runs end to end with scripted workers and prints results" {
	run --separate-stderr mephisto-launch "$REPO/share/mephisto/examples/simple/task.yml" \
	    architect.port=0 --auto-workers 3 --results
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 5 ]
	for l in "${lines[@]}"; do
		[ "$(jq -r .status <<<"$l")" = completed ]
		[ "$(jq -r .outputs.rating <<<"$l")" = good ]
		[ "$(jq -r .inputs.html <<<"$l")" = task.html ]
		jq -e '.worker_name | test("^auto-[0-9]+_sandbox$")' <<<"$l" >/dev/null
	done
	jq -r .inputs.character_name <<<"$output" | sort > "$BATS_TEST_TMPDIR/names"
	grep -c . "$BATS_TEST_TMPDIR/names" | grep -qx 5
	grep -qx 'The "Great" Gatsby' "$BATS_TEST_TMPDIR/names"
	[[ "$stderr" == *"is live at http://localhost:"* ]]
	[[ "$stderr" == *"?worker_id=worker-1&assignment_id="* ]]
	[ "$(sql "SELECT is_completed FROM task_runs")" = 1 ]
	[ "$(sql "SELECT status FROM task_run_state")" = completed ]
	# Every worker passed onboarding with the answer key.
	[ "$(sql "SELECT COUNT(*) FROM onboarding_agents WHERE status = 'approved'")" -ge 1 ]
	run_id=$(only_run)
	[ ! -e "$MEPHISTO_DATA/runs/$run_id/pool.pid" ]
	[ ! -e "$MEPHISTO_DATA/runs/$run_id/launch.pid" ]
}

@test "list, status, results and expire" {
	make_task "$T" 6
	run_id=$(mephisto-launch --create-only "$T/task.yml" 2>/dev/null)
	run -0 mephisto-launch list
	assert_line --index 0 --regexp "^RUN +TASK +STATUS"
	assert_line --index 1 --regexp "^$run_id +t-task +stopped +6 +0 +0 +6 +0$"
	run -0 mephisto-launch list --json
	[ "$(jq -r .counts.created <<<"$output")" = 6 ]
	run -0 mephisto-launch status "$run_id"
	assert_line --partial "waiting for a worker: 0 (and 6 not launched yet)"
	assert_line --partial "(from the database)"
	units=$(sql "SELECT unit_id FROM units ORDER BY unit_id LIMIT 2" | tr '\n' ' ')
	run -0 mephisto-launch expire "$run_id" $units
	assert_output "expired 2 units"
	[ "$(count_units expired)" -eq 2 ]
	run mephisto-launch expire "$run_id" 1234567
	[ "$status" -eq 1 ]
	assert_output --partial "unit 1234567 is not in task run $run_id"
	# Resume the rest with scripted workers; results then list 4 units.
	run -0 mephisto-launch resume "$run_id" --auto-workers 2 --quiet
	[ "$(count_units completed)" -eq 4 ]
	run -0 mephisto-launch results "$run_id"
	[ "${#lines[@]}" -eq 4 ]
	run -0 mephisto-launch results --task t-task --status expired
	[ "${#lines[@]}" -eq 2 ]
	[ "$(jq -r .outputs <<<"${lines[0]}")" = null ]
	run -0 mephisto-launch results "$run_id" --format csv
	assert_line --index 0 "unit_id,assignment_id,task_run_id,agent_id,worker_id,worker_name,status,task_start,task_end,inputs.text,inputs.n,inputs.html,outputs.rating,outputs.comment,files"$'\r'
	[ "${#lines[@]}" -eq 5 ]
	run -0 mephisto-launch status "$run_id" --json
	[ "$(jq -r .source <<<"$output")" = database ]
	[ "$(jq -c '[.counts.completed, .counts.expired, (.units | length)]' <<<"$output")" = "[4,2,0]" ]
	run -0 mephisto-launch expire "$run_id"
	assert_output "expired 0 units"
}

@test "expiring a whole run expires each unit nobody holds once, with its event, lowest ids first" {
	make_task "$T" 5
	run_id=$(mephisto-launch --create-only "$T/task.yml" 2>/dev/null)
	local done_unit=$(sql "SELECT unit_id FROM units ORDER BY unit_id LIMIT 1 OFFSET 2")
	sql "UPDATE units SET status = 'completed' WHERE unit_id = $done_unit"
	sql "UPDATE units SET status = 'launched' WHERE unit_id = (SELECT max(unit_id) FROM units)"
	run -0 mephisto-launch expire "$run_id"
	assert_output "expired 4 units"
	assert_equal "$(sql "SELECT status FROM units WHERE unit_id = $done_unit")" completed
	assert_equal "$(count_units expired)" 4
	assert_equal "$(sql "SELECT group_concat(unit_id) FROM (SELECT unit_id FROM run_events WHERE event = 'unit_expired' AND detail = 'expired' AND agent_id IS NULL ORDER BY seq)")" \
		"$(sql "SELECT group_concat(unit_id) FROM (SELECT unit_id FROM units WHERE unit_id != $done_unit ORDER BY unit_id)")"
	assert_equal "$(sql "SELECT count(*) FROM provider_units WHERE is_expired = 1")" 4
	run -0 mephisto-launch expire "$run_id"
	assert_output "expired 0 units"
}

@test "max_num_concurrent_units=5 over 50 units: never more than 5 live" {
	make_task "$T" 50
	sed -i 's/  task_tags: test/  task_tags: test\n  max_num_concurrent_units: 5/' "$T/task.yml"
	mephisto-launch "$T/task.yml" --quiet > "$BATS_TEST_TMPDIR/out" 2>&1 &
	launch_pid=$!
	track_pid "$launch_pid"
	wait_for 10 run_url
	url=$(run_url)
	mephisto-launch work --workers 8 --delay 20 "$url" 2>/dev/null &
	track_pid $!
	max=0
	while kill -0 "$launch_pid" 2>/dev/null; do
		n=$(lsql "SELECT COUNT(*) FROM units WHERE status IN ('launched', 'assigned')" 2>/dev/null || echo 0)
		[ "$n" -gt "$max" ] && max=$n
		sleep 0.02
	done
	wait "$launch_pid"
	echo "max live: $max" >&2
	[ "$max" -le 5 ]
	[ "$max" -ge 1 ]
	[ "$(count_units completed)" -eq 50 ]
	# each unit was launched once, with one event, lowest ids first
	local launched="SELECT unit_id FROM run_events WHERE event = 'unit_status' AND detail = 'launched' AND agent_id IS NULL AND worker_id IS NULL"
	assert_equal "$(lsql "SELECT group_concat(unit_id) FROM ($launched ORDER BY seq)")" \
		"$(lsql "SELECT group_concat(unit_id) FROM (SELECT unit_id FROM units ORDER BY unit_id)")"
}

@test "--detach serves in the background; status asks the pool; stop ends it" {
	make_task "$T" 3
	run -0 mephisto-launch "$T/task.yml" --detach
	assert_line --regexp "^run [0-9]+ is served in the background by pid [0-9]+; log: .*/launch.log$"
	run_id=$(only_run)
	pid=$(cat "$MEPHISTO_DATA/runs/$run_id/launch.pid")
	track_pid "$pid"
	run -0 mephisto-launch status "$run_id"
	assert_line --partial "waiting for a worker: 3"
	assert_line --partial "(from the worker pool)"
	run -0 mephisto-launch stop "$run_id"
	gone "$pid"
	[ "$(count_units expired)" -eq 3 ]
	[ "$(lsql "SELECT status FROM task_run_state")" = stopped ]
}

@test "once a new run's units are launched they are in the database file itself, not only in its log" {
	make_task "$T" 3
	run -0 mephisto-launch "$T/task.yml" --detach
	run_id=$(only_run)
	pid=$(cat "$MEPHISTO_DATA/runs/$run_id/launch.pid")
	track_pid "$pid"
	wait_for 30 eval '[ "$(count_units launched)" -eq 3 ]'
	# immutable=1: the file alone, as a power cut that lost the log
	# would leave it.
	wait_for 10 eval '[ "$(sqlite3 "file:$MEPHISTO_DB?immutable=1" \
	    "SELECT count(*) FROM units WHERE status = '\''launched'\''")" = 3 ]'
	run -0 mephisto-launch stop "$run_id"
	gone "$pid"
}

@test "a supervisor does not keep the memory it used to create a large run" {
	# AddressSanitizer's quarantine and valgrind keep freed memory.
	[ -z "${VALGRIND:-}" ] || skip "memory is valgrind's"
	! ldd "$MEPHISTO_BUILD/bin/mephisto-launch" | grep -q libasan ||
	    skip "memory is the sanitizer's"
	make_task "$T" 0
	awk 'BEGIN { for (i = 1; i <= 50000; i++) print "row " i "," i }' >> "$T/data.csv"
	run -0 mephisto-launch "$T/task.yml" --detach
	run_id=$(only_run)
	pid=$(cat "$MEPHISTO_DATA/runs/$run_id/launch.pid")
	track_pid "$pid"
	wait_for 30 eval '[ "$(count_units launched)" -eq 50000 ]'
	# Creating the run wrote about 50 MiB of pages; serving it needs few.
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
	echo "supervisor RSS: $rss KiB"
	[ "$rss" -lt 16384 ]
	run -0 mephisto-launch stop "$run_id"
	gone "$pid"
}

@test "where pidfd_open is missing, the supervisor still restarts a killed io and stops its children" {
	make_task "$T" 3
	run -0 no-pidfd mephisto-launch "$T/task.yml" --detach
	run_id=$(only_run)
	dir="$MEPHISTO_DATA/runs/$run_id"
	pid=$(cat "$dir/launch.pid")
	track_pid "$pid"
	io=$(cat "$dir/io.pid")
	pool=$(cat "$dir/pool.pid")
	kill -KILL "$io"
	wait_for 20 grep -q "starting io again" "$dir/launch.log"
	wait_for 20 eval '[ "$(cat "$dir/io.pid")" != "$io" ]'
	io=$(cat "$dir/io.pid")
	run -0 mephisto-launch stop "$run_id"
	gone "$pid"
	gone "$io"
	gone "$pool"
	[ "$(count_units expired)" -eq 3 ]
}

# listening ADDR PORT: a TCP socket listens on hex ADDR (as /proc/net/tcp
# writes it) and PORT.
listening() {
	awk -v want="$(printf '%s:%04X' "$1" "$2")" \
		'$2 == want && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp
}

@test "io listens on loopback for localhost, on every interface for another hostname" {
	make_task "$T" 2
	mephisto-launch "$T/task.yml" --quiet > /dev/null 2>&1 &
	track_pid $!
	wait_for 20 run_url
	port=$(lsql "SELECT port FROM task_run_state")
	listening 0100007F "$port"
	run ! listening 00000000 "$port"
	mephisto-launch stop "$(only_run)"

	rm -f "$MEPHISTO_DB"*
	mephisto-launch "$T/task.yml" architect.hostname=tasks.example.org --quiet > /dev/null 2>&1 &
	track_pid $!
	wait_for 20 run_url
	[ "$(run_url)" = "http://tasks.example.org:$(lsql "SELECT port FROM task_run_state")/" ]
	listening 00000000 "$(lsql "SELECT port FROM task_run_state")"
	mephisto-launch stop "$(only_run)"
}

@test "a task name or requester already used with another type is refused, nothing written" {
	make_task "$T" 2
	run -0 mephisto-launch --create-only "$T/task.yml"
	before=$(sql "SELECT COUNT(*) FROM units")
	run mephisto-launch --create-only "$T/task.yml" blueprint._blueprint_type=static_react_task
	[ "$status" -eq 1 ]
	assert_output --partial "task 't-task' exists with type 'static_task', not 'static_react_task'; choose another task.task_name"
	run mephisto-launch --create-only "$T/task.yml" provider._provider_type=inhouse \
		provider.requester_name=MOCK_REQUESTER
	[ "$status" -eq 1 ]
	assert_output --partial "requester 'MOCK_REQUESTER' exists with type 'mock', not 'inhouse'; choose another provider.requester_name"
	[ "$(sql "SELECT COUNT(*) FROM units")" = "$before" ]
	[ "$(sql "SELECT COUNT(*) FROM task_runs")" = 1 ]
	# The same data again makes a second run of the same task; an inhouse
	# run is not a sandbox run.
	run -0 mephisto-launch --create-only "$T/task.yml" provider._provider_type=inhouse
	[ "$(sql "SELECT group_concat(sandbox, ',') FROM (SELECT sandbox FROM task_runs ORDER BY creation_date)")" = "1,0" ]
	[ "$(sql "SELECT COUNT(DISTINCT task_id) FROM task_runs")" = 1 ]
}
