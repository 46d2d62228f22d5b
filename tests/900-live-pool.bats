#!/usr/bin/env bats
# mephisto-pool and live tasks: the runner of each assignment, quorums of
# several workers, drops, and runners that crash or fall silent.

load lib/common
load lib/pool

# live_run COUNT PER [BLUEPRINT_JSON_MEMBERS]: a live_task run whose
# runner is the chat example's.  Its runners have RUNNER_TIMEOUT seconds
# (default 10: a loaded machine can take seconds to start python) to
# answer a ping.
live_run() {
	local extra=${3:-}
	pool_make_run "$1" "{\"task\": {}, \"blueprint\": {\"_blueprint_type\": \"live_task\", \"runner\": \"python3 $REPO/share/mephisto/examples/chat/runner.py\", \"runner_timeout_seconds\": ${RUNNER_TIMEOUT:-10}${extra:+, $extra}}, \"provider\": {\"_provider_type\": \"mock\"}}" "$2"
	sql "UPDATE task_runs SET task_type = 'live_task'"
}

agent_of() {
	jq -r "select(.data.request_id == \"reg-$1\") | .data.agent_id" "$BATS_TEST_TMPDIR/regs.out"
}

status_of() {
	sql "SELECT status FROM agents WHERE agent_id = $1"
}

unit_status_of() {
	sql "SELECT u.status FROM units u JOIN agents a USING (unit_id) WHERE a.agent_id = $1"
}

status_is() {
	[ "$(status_of "$1")" = "$2" ]
}

unit_status_is() {
	[ "$(unit_status_of "$1")" = "$2" ]
}

pool_log_has() {
	grep -q -- "$1" "$BATS_TEST_TMPDIR/pool.log"
}

@test "live: two workers wait, start together, and their messages go through the runner" {
	live_run 1 2
	pool_start
	run -0 pool_send -a <<<"$(reg_packet ann)"
	a=$(jq -r 'select(.packet_type == "agent_details") | .data.agent_id' <<<"$output")
	[ "$(status_of "$a")" = waiting ]
	run -0 pool_send -a <<<"$(reg_packet bob)"
	b=$(jq -r 'select(.packet_type == "agent_details") | .data.agent_id' <<<"$output")
	[ "$(status_of "$a")" = "in task" ]
	[ "$(status_of "$b")" = "in task" ]
	wait_for 10 pool_log_has "runner \[.*\] started for assignment"
	wait_for 10 pool_log_has "chat of assignment .* starts with 2 workers"

	# ann says hello; only bob hears it.
	run -0 pool_send -a -t 3000 <<<"$(printf '{"packet_type":"mephisto_bound_live_update","subject_id":"%s","data":{"update_id":"u1","text":"hello bob"}}' "$a")"
	jq -e "select(.packet_type == \"client_bound_live_update\" and .subject_id == \"$b\" and .data.text == \"hello bob\" and .data.from == 0)" <<<"$output"
	! jq -e "select(.packet_type == \"client_bound_live_update\" and .subject_id == \"$a\")" <<<"$output"

	# Both submit: the runner's input is closed and it exits.
	run -0 pool_send <<<"$(submit_packet "$a"; submit_packet "$b")"
	wait_for 10 pool_log_has "assignment .* is over"
	wait_for 10 pool_log_has "runner \[.*\] of assignment .* exited with status 0"
	[ "$(status_of "$a")" = completed ]
	[ "$(status_of "$b")" = completed ]
	pool_stop
}

@test "live: a drop marks the partner 'partner disconnect' and offers both units again" {
	live_run 1 2
	pool_start
	{ reg_packet ann; reg_packet bob; } | pool_send > "$BATS_TEST_TMPDIR/regs.out"
	a=$(agent_of ann) b=$(agent_of bob)
	[ "$(status_of "$b")" = "in task" ]
	run -0 pool_send -a -t 2000 <<<"$(printf '{"packet_type":"return_statuses","subject_id":"mephisto","data":{"%s":"disconnect"}}' "$a")"
	jq -e "select(.packet_type == \"update_status\" and .subject_id == \"$b\" and .data.status == \"partner disconnect\")" <<<"$output"
	[ "$(status_of "$a")" = disconnect ]
	[ "$(status_of "$b")" = "partner disconnect" ]
	[ "$(sql "SELECT group_concat(status) FROM units")" = "launched,launched" ]
	wait_for 10 pool_log_has "runner \[.*\] of assignment .* exited"
	pool_stop
}

@test "live: an assignment that starts again while its last runner is still exiting gets a runner of its own" {
	live_run 1 2
	# This runner takes its time to exit once its input is closed.
	sql "UPDATE task_runs SET init_params = json_set(init_params, '$.blueprint.runner', 'cat > /dev/null; sleep 8')"
	pool_start
	{ reg_packet ann; reg_packet bob; } | pool_send > "$BATS_TEST_TMPDIR/regs.out"
	a=$(agent_of ann)
	wait_for 10 pool_log_has "runner \[.*\] started for assignment"
	run -0 pool_send -a -t 2000 <<<"$(printf '{"packet_type":"return_statuses","subject_id":"mephisto","data":{"%s":"disconnect"}}' "$a")"
	# Two other workers take both units while the first runner lingers.
	{ reg_packet cat; reg_packet dan; } | pool_send > "$BATS_TEST_TMPDIR/regs.out"
	c=$(agent_of cat)
	status_is "$c" "in task"
	wait_for 5 eval '[ "$(grep -c "runner \[.*\] started for assignment" "$BATS_TEST_TMPDIR/pool.log")" -eq 2 ]'
	! pool_log_has "exited"
	pool_stop
}

@test "live: the quorum timeout frees a lone waiting worker" {
	live_run 1 2 '"quorum_timeout_seconds": 1'
	pool_start
	run -0 pool_send <<<"$(reg_packet ann)"
	a=$(jq -r .data.agent_id <<<"$output")
	[ "$(status_of "$a")" = waiting ]
	wait_for 10 status_is "$a" timeout
	[ "$(sql "SELECT count(*) FROM units WHERE status = 'launched'")" -eq 2 ]
	pool_log_has "waited 1 s for partners: released"
	pool_stop
}

@test "live: a waiting worker's quorum deadline survives a pool restart" {
	live_run 1 2 '"quorum_timeout_seconds": 2'
	pool_start
	run -0 pool_send <<<"$(reg_packet ann)"
	a=$(jq -r .data.agent_id <<<"$output")
	pool_kill
	pool_start
	wait_for 10 status_is "$a" timeout
	pool_stop
}

@test "live: a runner that crashes does not take the pool down; its unit is offered again" {
	live_run 2 1
	sql "UPDATE task_runs SET init_params = json_set(init_params, '$.blueprint.runner', 'read start; read joined; exit 3')"
	pool_start
	run -0 pool_send <<<"$(reg_packet ann)"
	a=$(jq -r .data.agent_id <<<"$output")
	wait_for 10 status_is "$a" disconnect
	pool_log_has "failed: it exited with status 3 while its agents worked"
	[ "$(unit_status_of "$a")" = launched ]
	[ "$(sql "SELECT count(*) FROM run_events WHERE event = 'runner_failed'")" -eq 1 ]
	# The pool still serves: the unit goes to the next worker.
	run -0 pool_send <<<"$(reg_packet bob)"
	b=$(jq -r .data.agent_id <<<"$output")
	[ "$b" != null ]
	[ "$(sql "SELECT unit_id FROM agents WHERE agent_id = $b")" = "$(sql "SELECT unit_id FROM agents WHERE agent_id = $a")" ]
	pool_stop
}

@test "live: runners are watched where pidfd_open is missing (old kernels, valgrind)" {
	live_run 2 1
	sql "UPDATE task_runs SET init_params = json_set(init_params, '$.blueprint.runner', 'read start; read joined; exit 3')"
	start_daemon pool no-pidfd mephisto-pool --run "$POOL_RUN" --log-level debug
	POOL_SOCK="$MEPHISTO_DATA/runs/$POOL_RUN/pool.sock"
	run -0 pool_send <<<"$(reg_packet ann)"
	a=$(jq -r .data.agent_id <<<"$output")
	wait_for 10 status_is "$a" disconnect
	pool_log_has "failed: it exited with status 3 while its agents worked"
	[ "$(unit_status_of "$a")" = launched ]
	pool_stop
}

@test "live: a silent runner is killed at its time limit; other assignments are unaffected" {
	RUNNER_TIMEOUT=2 live_run 2 1
	pool_start
	run -0 pool_send <<<"$(reg_packet ann)"
	a=$(jq -r .data.agent_id <<<"$output")
	wait_for 10 pool_log_has "chat of assignment"
	# The first assignment's runner stops answering.
	sql "UPDATE task_runs SET init_params = json_set(init_params, '$.blueprint.runner', 'exec sleep 60')"
	pool_kill
	pool_start
	wait_for 10 pool_log_has "was in progress: starting its runner again"
	run -0 pool_send <<<"$(reg_packet bob)"
	b=$(jq -r .data.agent_id <<<"$output")
	wait_for 15 status_is "$a" disconnect
	pool_log_has "failed: it did not answer a ping in time"
	[ "$(unit_status_of "$a")" = launched ]
	# bob's runner is silent too, but ann's failure did not touch bob.
	[ "$(sql "SELECT count(*) FROM run_events WHERE event = 'runner_failed'")" -ge 1 ]
	pool_stop
}

@test "live: a runner's commands: done completes an agent, fail expires the assignment, log is logged" {
	live_run 2 1
	cat > "$BATS_TEST_TMPDIR/r.py" <<'PY'
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e["event"] == "ping":
        print(json.dumps({"command": "pong"}), flush=True)
    if e["event"] == "agent_joined":
        a = e["agent_id"]
        print(json.dumps({"command": "log", "level": "warn", "text": "joined " + a}), flush=True)
        if e["init_data"]["index"] == 0:
            print(json.dumps({"command": "done", "agent_id": a, "data": {"by": "runner"}}), flush=True)
        else:
            print(json.dumps({"command": "fail", "reason": "bad pairing"}), flush=True)
PY
	sql "UPDATE task_runs SET init_params = json_set(init_params, '$.blueprint.runner', 'python3 $BATS_TEST_TMPDIR/r.py')"
	pool_start
	{ reg_packet ann; reg_packet bob; } | pool_send > "$BATS_TEST_TMPDIR/regs.out"
	a=$(agent_of ann) b=$(agent_of bob)
	wait_for 10 status_is "$a" completed
	[ "$(sql "SELECT json_extract(outputs, '$.by') FROM agent_data WHERE agent_id = $a")" = runner ]
	wait_for 10 unit_status_is "$b" expired
	[ "$(status_of "$b")" = disconnect ]
	pool_log_has "warning: runner \[.*\]: joined $a"
	pool_log_has "failed assignment .*: bad pairing"
	pool_stop
}

@test "live: an update re-sent with an update_id already relayed reaches the runner once" {
	live_run 1 1
	cat > "$BATS_TEST_TMPDIR/r.py" <<'PY'
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e["event"] == "ping":
        print(json.dumps({"command": "pong"}), flush=True)
    if e["event"] == "live_update":
        print(json.dumps({"command": "log", "text": "got " + e["data"]["update_id"]}), flush=True)
PY
	sql "UPDATE task_runs SET init_params = json_set(init_params, '$.blueprint.runner', 'python3 $BATS_TEST_TMPDIR/r.py')"
	pool_start
	run -0 pool_send <<<"$(reg_packet ann)"
	a=$(jq -r .data.agent_id <<<"$output")
	wait_for 10 pool_log_has "runner \[.*\] started for assignment"
	update() {
		printf '{"packet_type":"mephisto_bound_live_update","subject_id":"%s","data":{"update_id":"%s","text":"hi"}}\n' "$a" "$1"
	}
	# A reconnecting page sends u1 again, with u2 after it.
	run -0 pool_send <<<"$(update u1; update u1)"
	run -0 pool_send <<<"$(update u1; update u2)"
	wait_for 10 pool_log_has "runner \[.*\]: got u2"
	[ "$(grep -c "runner \[.*\]: got u1" "$BATS_TEST_TMPDIR/pool.log")" -eq 1 ]
	pool_log_has "live update 'u1' from agent $a relayed already: dropped"
	pool_stop
}

# shared_runner_py: a runner for a shared_runner run that writes every
# event it reads to events.jsonl, echoes live updates to their agent, and
# on a live update {"fail": ID} fails that assignment (without an id when
# ID is empty).  Given "EXIT_ON_END=1" it exits after its first end event.
shared_runner_py() {
	cat > "$BATS_TEST_TMPDIR/r.py" <<'PY'
import json, os, sys
out = open(os.environ["EVENTS"], "a")
for line in sys.stdin:
    out.write(line)
    out.flush()
    e = json.loads(line)
    if e["event"] == "ping":
        print(json.dumps({"command": "pong"}), flush=True)
    if e["event"] == "end" and os.environ.get("EXIT_ON_END"):
        break
    if e["event"] == "live_update":
        if "fail" in e["data"]:
            c = {"command": "fail", "reason": "asked to"}
            if e["data"]["fail"]:
                c["assignment_id"] = e["data"]["fail"]
            print(json.dumps(c), flush=True)
        else:
            print(json.dumps({"command": "send", "agent_id": e["agent_id"], "data": {"echo": e["data"]["text"]}}), flush=True)
PY
	sql "UPDATE task_runs SET init_params = json_set(init_params, '$.blueprint.runner', '${1:+$1 }EVENTS=$BATS_TEST_TMPDIR/events.jsonl exec python3 $BATS_TEST_TMPDIR/r.py')"
}

events() {
	jq -c "$1" "$BATS_TEST_TMPDIR/events.jsonl"
}

live_update() {
	printf '{"packet_type":"mephisto_bound_live_update","subject_id":"%s","data":%s}\n' "$1" "$2"
}

@test "live: a shared runner serves every assignment of the run in one process, and each event names its assignment" {
	live_run 3 1 '"shared_runner": true'
	shared_runner_py
	pool_start
	{ reg_packet ann; reg_packet bob; reg_packet cat; } | pool_send > "$BATS_TEST_TMPDIR/regs.out"
	a=$(agent_of ann) b=$(agent_of bob) c=$(agent_of cat)
	asg() { sql "SELECT assignment_id FROM agents WHERE agent_id = $1"; }
	wait_for 10 pool_log_has "assignment $(asg "$c") starts on the run's runner"
	[ "$(grep -c "runner \[.*\] started for the run" "$BATS_TEST_TMPDIR/pool.log")" -eq 1 ]
	wait_for 10 test -s "$BATS_TEST_TMPDIR/events.jsonl"
	wait_for 10 eval '[ "$(events "select(.event == \"agent_joined\")" | wc -l)" -eq 3 ]'
	# Every start and join names its assignment; the process is one.
	[ "$(events "select(.event == \"start\") | .assignment_id" | sort -u | wc -l)" -eq 3 ]
	for x in "$a" "$b" "$c"; do
		[ "$(events "select(.event == \"agent_joined\" and .agent_id == \"$x\") | .assignment_id")" = "\"$(asg "$x")\"" ]
	done

	# An update reaches the runner with its assignment; the answer goes to
	# the agent it names, and only there.
	run -0 pool_send -a -t 3000 <<<"$(live_update "$b" '{"update_id":"u1","text":"hi from bob"}')"
	jq -e "select(.packet_type == \"client_bound_live_update\" and .subject_id == \"$b\" and .data.echo == \"hi from bob\")" <<<"$output"
	! jq -e "select(.packet_type == \"client_bound_live_update\" and .subject_id != \"$b\")" <<<"$output"
	[ "$(events "select(.event == \"live_update\") | .assignment_id")" = "\"$(asg "$b")\"" ]
	# One compact JSON object per line, as every event is written.
	grep -qxF "{\"event\":\"live_update\",\"agent_id\":\"$b\",\"data\":{\"update_id\":\"u1\",\"text\":\"hi from bob\"},\"assignment_id\":\"$(asg "$b")\"}" "$BATS_TEST_TMPDIR/events.jsonl"

	# ann submits: her assignment ends, the runner goes on for the others.
	run -0 pool_send <<<"$(submit_packet "$a")"
	wait_for 10 eval '[ "$(events "select(.event == \"end\") | .assignment_id")" = "\"$(asg "$a")\"" ]'
	[ "$(events "select(.event == \"agent_submitted\") | .assignment_id")" = "\"$(asg "$a")\"" ]
	run -0 pool_send -a -t 3000 <<<"$(live_update "$c" '{"update_id":"u2","text":"still here"}')"
	jq -e "select(.packet_type == \"client_bound_live_update\" and .subject_id == \"$c\" and .data.echo == \"still here\")" <<<"$output"

	# A shared runner's fail must name the assignment; then only it fails.
	run -0 pool_send <<<"$(live_update "$b" '{"update_id":"u3","fail":""}')"
	wait_for 10 pool_log_has "bad 'fail' command: .*assignment_id"
	run -0 pool_send <<<"$(live_update "$b" '{"update_id":"u3b","fail":"12345678"}')"
	wait_for 10 pool_log_has "bad 'fail' command: assignment 12345678 is not in progress"
	status_is "$b" "in task"
	run -0 pool_send <<<"$(live_update "$b" "{\"update_id\":\"u4\",\"fail\":\"$(asg "$b")\"}")"
	wait_for 10 unit_status_is "$b" expired
	status_is "$c" "in task"
	wait_for 10 eval '[ "$(events "select(.event == \"end\")" | wc -l)" -eq 2 ]'
	[ "$(grep -c "runner \[.*\] started for the run" "$BATS_TEST_TMPDIR/pool.log")" -eq 1 ]
	pool_stop
}

@test "live: a shared runner that crashes releases every assignment in progress; the next one starts a new runner" {
	live_run 2 1 '"shared_runner": true'
	# It dies once it has read both assignments' start and join.
	sql "UPDATE task_runs SET init_params = json_set(init_params, '$.blueprint.runner', 'read x; read x; read x; read x; exit 3')"
	pool_start
	{ reg_packet ann; reg_packet bob; } | pool_send > "$BATS_TEST_TMPDIR/regs.out"
	a=$(agent_of ann) b=$(agent_of bob)
	wait_for 10 status_is "$a" disconnect
	wait_for 10 status_is "$b" disconnect
	pool_log_has "the run's runner \[.*\] failed: it exited with status 3 while its agents worked; the units of its 2 assignments in progress are released"
	unit_status_is "$a" launched
	unit_status_is "$b" launched
	[ "$(sql "SELECT count(*) FROM run_events WHERE event = 'runner_failed'")" -eq 2 ]
	# The next worker's assignment starts on a new runner.
	run -0 pool_send <<<"$(reg_packet cat)"
	c=$(jq -r .data.agent_id <<<"$output")
	status_is "$c" "in task"
	wait_for 10 eval '[ "$(grep -c "runner \[.*\] started for the run" "$BATS_TEST_TMPDIR/pool.log")" -eq 2 ]'
	pool_stop
}

@test "live: a shared runner that exits while no assignment is in progress is not a failure; the next assignment starts another" {
	live_run 2 1 '"shared_runner": true'
	shared_runner_py EXIT_ON_END=1
	pool_start
	run -0 pool_send <<<"$(reg_packet ann)"
	a=$(jq -r .data.agent_id <<<"$output")
	wait_for 10 pool_log_has "runner \[.*\] started for the run"
	run -0 pool_send <<<"$(submit_packet "$a")"
	wait_for 10 pool_log_has "the run's runner \[.*\] exited with status 0"
	[ "$(sql "SELECT count(*) FROM run_events WHERE event = 'runner_failed'")" -eq 0 ]
	status_is "$a" completed
	run -0 pool_send <<<"$(reg_packet bob)"
	b=$(jq -r .data.agent_id <<<"$output")
	status_is "$b" "in task"
	wait_for 10 eval '[ "$(grep -c "runner \[.*\] started for the run" "$BATS_TEST_TMPDIR/pool.log")" -eq 2 ]'
	# The new runner serves bob.
	run -0 pool_send -a -t 3000 <<<"$(live_update "$b" '{"update_id":"u1","text":"again"}')"
	jq -e "select(.packet_type == \"client_bound_live_update\" and .subject_id == \"$b\" and .data.echo == \"again\")" <<<"$output"
	pool_stop
}

@test "live: after a pool restart the assignments in progress resume on one shared runner" {
	live_run 2 1 '"shared_runner": true'
	shared_runner_py
	pool_start
	{ reg_packet ann; reg_packet bob; } | pool_send > "$BATS_TEST_TMPDIR/regs.out"
	a=$(agent_of ann) b=$(agent_of bob)
	wait_for 10 eval '[ "$(events "select(.event == \"agent_joined\")" | wc -l)" -eq 2 ]'
	pool_kill
	pool_start
	wait_for 10 eval '[ "$(grep -c "was in progress: starting its runner again" "$BATS_TEST_TMPDIR/pool.log")" -eq 2 ]'
	wait_for 10 eval '[ "$(events "select(.event == \"start\" and .resumed)" | wc -l)" -eq 2 ]'
	[ "$(grep -c "runner \[.*\] started for the run" "$BATS_TEST_TMPDIR/pool.log")" -eq 1 ]
	status_is "$a" "in task"
	status_is "$b" "in task"
	run -0 pool_send -a -t 3000 <<<"$(live_update "$a" '{"update_id":"u1","text":"back"}')"
	jq -e "select(.packet_type == \"client_bound_live_update\" and .subject_id == \"$a\" and .data.echo == \"back\")" <<<"$output"
	pool_stop
}
