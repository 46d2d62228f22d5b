# Helpers for the Prolific provider tests: the fake Prolific API
# (tests/fake/prolific.py) and workers driven with curl.

PKEY="pk-test-7c1e5b0f9a2d4e6b"

# start_fake_prolific: start the fake on loopback and point the config at
# it (short timeouts and back-off so faults are quick).
start_fake_prolific() {
	FAKE_LOG="$BATS_TEST_TMPDIR/prolific-calls.jsonl"
	: > "$FAKE_LOG"
	FAKE_PROLIFIC_KEY=$PKEY python3 "$REPO/tests/fake/prolific.py" \
		--port-file "$BATS_TEST_TMPDIR/prolific.port" \
		--log "$FAKE_LOG" \
		2> "$BATS_TEST_TMPDIR/fake-prolific.err" &
	track_pid $!
	wait_for 10 test -s "$BATS_TEST_TMPDIR/prolific.port"
	FAKE="http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/prolific.port")"
	cat >> "$MEPHISTO_CONFIG" <<YAML
prolific:
  api_key: $PKEY
  api_url: $FAKE/api/v1/
  retry_ms: 10
  timeout: 2
  attempts: 4
YAML
}

# fake ROUTE [JSON]: an admin call to the fake (not logged as a call).
fake() {
	curl -sS -X POST -H 'Content-Type: application/json' \
		--data-binary "${2:-{\}}" "$FAKE/_fake/$1"
}

# calls: the calls the fake received, "METHOD PATH" per line, with the
# vendor's ids replaced by their kind so a sequence can be compared.
calls() {
	jq -r '"\(.method) \(.path)"' "$FAKE_LOG" | sed -E \
		-e 's#/[0-9a-f]{24}/#/ID/#g' -e 's#=[0-9a-f]{24}#=ID#g'
}

# make_prolific_task DIR ROWS: a static task for the prolific provider.
make_prolific_task() {
	make_task "$1" "$2"
	sed -i 's/_provider_type: mock/_provider_type: prolific/' "$1/task.yml"
}

# the_study: the id of the only study on the fake.
the_study() {
	fake state | jq -r '.studies | keys[0]'
}

# work_unit PARTICIPANT: PARTICIPANT arrives on Prolific, takes a unit at
# the task URL, submits it and goes to the completion URL.  Sets SUB and
# AGENT.
work_unit() {
	local who=$1 study url out
	# The study is published once the run's units are launched, which can
	# come a little after the run's URL is recorded: arrive until it is.
	for _ in $(seq 100); do
		study=$(the_study)
		out=$(fake arrive "{\"participant_id\": \"$who\", \"study_id\": \"$study\"}")
		SUB=$(jq -r '.submission_id // empty' <<<"$out" 2> /dev/null)
		[ -n "$SUB" ] && break
		nap
	done
	[ -n "$SUB" ] || { echo "arrive: $out" >&2; return 1; }
	url=$(run_url)
	# The run's units may still be on their way (slow builds): ask again.
	for _ in $(seq 100); do
		out=$(curl -sS -H 'Content-Type: application/json' --data-binary \
			"{\"provider_data\": {\"worker_name\": \"$who\", \"agent_registration_id\": \"$SUB-$who\", \"assignment_id\": \"$SUB\", \"prolific_study_id\": \"$study\", \"provider_type\": \"prolific\"}}" \
			"${url}request_agent")
		AGENT=$(jq -r .data.agent_id <<<"$out")
		[ -n "$AGENT" ] && [ "$AGENT" != null ] && break
		nap
	done
	[ -n "$AGENT" ] && [ "$AGENT" != null ] || { echo "request_agent: $out" >&2; return 1; }
	out=$(curl -sS -H 'Content-Type: application/json' --data-binary \
		"{\"USED_AGENT_ID\": \"$AGENT\", \"final_data\": {\"rating\": \"good\"}}" \
		"${url}submit_task")
	fake complete "{\"submission_id\": \"$SUB\", \"cc\": \"COMPLETED_$study\"}" > /dev/null
}

# launch_prolific ROWS: a live run of a ROWS-unit Prolific task.
launch_prolific() {
	make_prolific_task "$T" "$1"
	mephisto-launch "$T/task.yml" --quiet > "$BATS_TEST_TMPDIR/launch.log" 2>&1 &
	LAUNCH_PID=$!
	track_pid $LAUNCH_PID
	wait_for 20 run_url
	RUN=$(only_run)
}

unit_of_agent() {
	lsql "SELECT unit_id FROM agents WHERE agent_id = $1"
}
