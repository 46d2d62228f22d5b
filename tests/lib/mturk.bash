# Helpers for the MTurk provider tests: the fake MTurk API
# (tests/fake/mturk.py), which checks every request's SigV4 signature
# with these test credentials.

AKID="AKIDTESTEXAMPLE00001"
ASECRET="mturk-test-secret-3f9b1c77d2"

start_fake_mturk() {
	FAKE_LOG="$BATS_TEST_TMPDIR/mturk-calls.jsonl"
	: > "$FAKE_LOG"
	FAKE_MTURK_SECRET=${1:-$ASECRET} python3 "$REPO/tests/fake/mturk.py" \
		--port-file "$BATS_TEST_TMPDIR/mturk.port" --log "$FAKE_LOG" \
		--key-id "$AKID" \
		2> "$BATS_TEST_TMPDIR/fake-mturk.err" &
	track_pid $!
	wait_for 10 test -s "$BATS_TEST_TMPDIR/mturk.port"
	FAKE="http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/mturk.port")"
	cat >> "$MEPHISTO_CONFIG" <<YAML
mturk:
  access_key_id: $AKID
  secret_access_key: $ASECRET
  endpoint: $FAKE/
  retry_ms: 10
  timeout: 2
  attempts: 4
mturk_sandbox:
  endpoint: $FAKE/
YAML
}

fake() {
	curl -sS -X POST -H 'Content-Type: application/json' \
		--data-binary "${2:-{\}}" "$FAKE/_fake/$1"
}

# ops: the operations the fake received, one per line.
ops() {
	jq -r .op "$FAKE_LOG"
}

make_mturk_task() {
	make_task "$1" "$2"
	sed -i "s/_provider_type: mock/_provider_type: ${3:-mturk_sandbox}/" "$1/task.yml"
}

launch_mturk() {
	make_mturk_task "$T" "$1" "${2:-mturk_sandbox}"
	mephisto-launch "$T/task.yml" --quiet > "$BATS_TEST_TMPDIR/launch.log" 2>&1 &
	LAUNCH_PID=$!
	track_pid $LAUNCH_PID
	wait_for 20 run_url
	RUN=$(only_run)
	wait_for 20 hits_are "$1"
}

# hits_are N: the fake has N HITs.
hits_are() {
	[ "$(fake state | jq '.hits | length')" -eq "$1" ]
}

# work_hit WORKER: WORKER accepts a free HIT, does the unit and submits
# back to MTurk.  Sets ASG and AGENT.
work_hit() {
	local who=$1 hit out url
	hit=$(fake state | jq -r '[.hits[] | select(.HITStatus == "Assignable")][0].HITId')
	out=$(fake accept "{\"hitId\": \"$hit\", \"workerId\": \"$who\"}")
	ASG=$(jq -r .assignmentId <<<"$out")
	url=$(run_url)
	out=$(curl -sS -H 'Content-Type: application/json' --data-binary \
		"{\"provider_data\": {\"worker_name\": \"$who\", \"agent_registration_id\": \"$ASG-$who\", \"assignment_id\": \"$ASG\", \"hit_id\": \"$hit\", \"provider_type\": \"mturk_sandbox\"}}" \
		"${url}request_agent")
	AGENT=$(jq -r .data.agent_id <<<"$out")
	[ -n "$AGENT" ] && [ "$AGENT" != null ] || { echo "request_agent: $out" >&2; return 1; }
	curl -sS -H 'Content-Type: application/json' --data-binary \
		"{\"USED_AGENT_ID\": \"$AGENT\", \"final_data\": {\"rating\": \"good\"}}" \
		"${url}submit_task" > /dev/null
	curl -sS --data "assignmentId=$ASG&workerId=$who&rating=good" \
		"$FAKE//mturk/externalSubmit" > /dev/null
}
