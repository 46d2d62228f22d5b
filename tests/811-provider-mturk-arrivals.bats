#!/usr/bin/env bats
# MTurk workers arriving at the task URL: previews, the HIT that names
# the unit, refused arrivals; and the HIT type's settings (locales, a
# session token, https in production), the paged block list.

load lib/common
load lib/launch
load lib/mturk

setup() {
	setup_env
	T="$BATS_TEST_TMPDIR/task"
}

# request_agent JSON: POST provider data JSON to the run's io.
request_agent() {
	curl -sS -H 'Content-Type: application/json' --data-binary \
		"{\"provider_data\": $1}" "$(run_url)request_agent"
}

# hit_of_unit UNIT: the HIT our records tie to UNIT.
hit_of_unit() {
	sqlite3 "$MEPHISTO_DATA/providers.db" \
		"SELECT remote_id FROM vendor_records WHERE kind = 'hit' AND unit_id = $1"
}

# written: the rows an arrival could have written, as one line.
written() {
	lsql "SELECT (SELECT count(*) FROM workers) || ' ' || (SELECT count(*) FROM agents) || ' ' || (SELECT count(*) FROM units WHERE status = 'launched')"
}

@test "mturk: a preview shows the preview page and takes no unit" {
	start_fake_mturk
	launch_mturk 1
	hit=$(fake state | jq -r '[.hits[]][0].HITId')
	url=$(fake preview "{\"hitId\": \"$hit\"}" | jq -r .url)
	[[ "$url" == *"assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=$hit"* ]]
	run -0 curl -sS -f "$url"
	assert_output --partial 'src="wrap_crowd_source.js"'
	curl -sS -f "$(run_url)wrap_crowd_source.js" > "$BATS_TEST_TMPDIR/wrap.js"
	# the served script, run as the page would run it: a preview, also
	# when MTurk names the worker
	for u in "$url" "$url&workerId=AWORKER1"; do
		run -0 node -e '
			const vm = require("vm"), fs = require("fs");
			const ctx = { window: { location: { search: new URL(process.argv[1]).search } },
				URLSearchParams };
			vm.createContext(ctx);
			vm.runInContext(fs.readFileSync(process.argv[2], "utf8") +
				";JSON.stringify([isPreview(), getAssignmentId()])", ctx);
			console.log(vm.runInContext("JSON.stringify([isPreview(), getAssignmentId()])", ctx));
		' "$u" "$BATS_TEST_TMPDIR/wrap.js"
		assert_output '[true,null]'
	done
	# a page that asks for work in a preview all the same gets none
	before=$(written)
	run -0 request_agent "{\"worker_name\": \"AWORKER1\", \"agent_registration_id\": \"ASSIGNMENT_ID_NOT_AVAILABLE-AWORKER1\", \"assignment_id\": \"ASSIGNMENT_ID_NOT_AVAILABLE\", \"hit_id\": \"$hit\", \"provider_type\": \"mturk_sandbox\"}"
	assert_output --partial "a preview takes no unit until the HIT is accepted"
	[ "$(written)" = "$before" ]
	[ "$(count_units launched)" = 1 ]
}

@test "mturk: an arrival takes its HIT's unit; a foreign HIT or another HIT's assignment is refused" {
	start_fake_mturk
	launch_mturk 2
	u1=$(lsql "SELECT unit_id FROM units ORDER BY creation_date, unit_id LIMIT 1")
	u2=$(lsql "SELECT unit_id FROM units WHERE unit_id <> $u1")
	h1=$(hit_of_unit "$u1")
	h2=$(hit_of_unit "$u2")
	# the worker accepts the second unit's HIT: they get that unit
	a2=$(fake accept "{\"hitId\": \"$h2\", \"workerId\": \"AWORKER2\"}" | jq -r .assignmentId)
	run -0 request_agent "{\"worker_name\": \"AWORKER2\", \"agent_registration_id\": \"$a2-AWORKER2\", \"assignment_id\": \"$a2\", \"hit_id\": \"$h2\", \"provider_type\": \"mturk_sandbox\"}"
	agent=$(jq -r .data.agent_id <<<"$output")
	[ "$(lsql "SELECT unit_id FROM agents WHERE agent_id = $agent")" = "$u2" ]
	before=$(written)
	# a HIT that is not ours
	run -0 request_agent "{\"worker_name\": \"AWORKER3\", \"agent_registration_id\": \"A3-AWORKER3\", \"assignment_id\": \"A3\", \"hit_id\": \"NOTOURHIT\", \"provider_type\": \"mturk_sandbox\"}"
	assert_output --partial "HIT 'NOTOURHIT' is not a HIT of run $RUN"
	# the second HIT's assignment presented with the first HIT
	run -0 request_agent "{\"worker_name\": \"AWORKER2\", \"agent_registration_id\": \"$a2-AWORKER2\", \"assignment_id\": \"$a2\", \"hit_id\": \"$h1\", \"provider_type\": \"mturk_sandbox\"}"
	assert_output --partial "assignment '$a2' belongs to HIT '$h2', not to HIT '$h1'"
	# no HIT at all
	run -0 request_agent '{"worker_name": "AWORKER4", "agent_registration_id": "A4-AWORKER4", "assignment_id": "A4", "provider_type": "mturk_sandbox"}'
	assert_output --partial "needs fields 'hit_id' and 'assignment_id'"
	[ "$(written)" = "$before" ]
	[ "$(lsql "SELECT status FROM units WHERE unit_id = $u1")" = launched ]
}

@test "mturk: reading the block list follows every page" {
	start_fake_mturk
	launch_mturk 1
	work_hit AWORKER1
	u=$(lsql "SELECT unit_id FROM agents WHERE agent_id = $AGENT")
	wait_for 20 gone "$LAUNCH_PID"
	# five blocks, two to a page: ours is on the third page
	fake set '{"page_size": 2}'
	for w in AOTHER1 AOTHER2 AOTHER3 AOTHER4 AWORKER1; do
		fake block "{\"workerId\": \"$w\"}" > /dev/null
	done
	: > "$FAKE_LOG"
	run -0 --separate-stderr mephisto-review block "$u" --reason spam
	[[ "$stderr" == *"worker 'AWORKER1_sandbox' is already blocked"* ]]
	[ "$(ops | tr '\n' ' ')" = "ListWorkerBlocks ListWorkerBlocks ListWorkerBlocks " ]
	[ "$(jq -s -c '[.[].body.NextToken]' "$FAKE_LOG")" = '[null,"2","4"]' ]
	# and a worker on no page is not blocked: it is blocked now
	fake set '{"blocks": ["AOTHER1", "AOTHER2", "AOTHER3"]}'
	: > "$FAKE_LOG"
	run -0 mephisto-review block "$u" --reason spam
	[ "$(ops | tr '\n' ' ')" = "ListWorkerBlocks ListWorkerBlocks CreateWorkerBlock " ]
}

@test "mturk: mturk.allowed_locales is the HIT type's Locale requirement; a session token is sent signed" {
	export FAKE_MTURK_SESSION="session-token-0b8e41c2a7"
	start_fake_mturk
	sed -i '/^mturk:/a\  allowed_locales: [DE, US-CA]' "$MEPHISTO_CONFIG"
	AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$ASECRET \
		AWS_SESSION_TOKEN=$FAKE_MTURK_SESSION launch_mturk 1
	run -0 jq -s -c 'map(select(.op == "CreateHITType"))[0].body.QualificationRequirements' "$FAKE_LOG"
	assert_output '[{"QualificationTypeId":"00000000000000000071","Comparator":"In","LocaleValues":[{"Country":"DE"},{"Country":"US","Subdivision":"CA"}],"ActionsGuarded":"DiscoverPreviewAndAccept"}]'
	[ "$(jq -s 'map(select(.session != true)) | length' "$FAKE_LOG")" = 0 ]
	[ "$(jq -s 'map(select(.signed)) | length' "$FAKE_LOG")" -ge 3 ]
	run ! grep -rl "$FAKE_MTURK_SESSION" "$BATS_TEST_TMPDIR" "$MEPHISTO_DATA" --exclude=mturk-calls.jsonl
}

@test "mturk: a bad locale or an http task URL in production is refused before anything is created" {
	start_fake_mturk
	sed -i '/^mturk:/a\  allowed_locales: [usa]' "$MEPHISTO_CONFIG"
	make_mturk_task "$T" 1
	run --separate-stderr mephisto-launch "$T/task.yml" --quiet
	assert_fails_cleanly
	[[ "$stderr" == *"mturk.allowed_locales: 'usa' is not a country code"* ]]
	sed -i '/allowed_locales/d' "$MEPHISTO_CONFIG"
	make_mturk_task "$T" 1 mturk
	run --separate-stderr mephisto-launch "$T/task.yml" --quiet
	assert_fails_cleanly
	[[ "$stderr" == *"mturk needs an https task URL for its ExternalQuestion"*"architect.public_url"* ]]
	[ "$(echo "$stderr" | wc -l)" = 1 ]
	[ ! -s "$FAKE_LOG" ]
	[ "$(lsql "SELECT count(*) FROM task_runs")" = 0 ]
}
