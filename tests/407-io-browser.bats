#!/usr/bin/env bats
# Real pages in headless chromium against mephisto-io and the fake pool:
# the project's static-task client and the published mephisto-task 2.0.4.

load lib/common
load lib/io

setup() {
	setup_env
	io_setup_run
	need_node_modules
	T="$BATS_TEST_TMPDIR/task"
	mkdir -p "$T/extra"
	cat > "$T/task.html" <<'HTML'
<p id="greet">Hello ${name}</p>
<p id="agent">${mephisto_agent_id}/${provider_worker_id}</p>
<input id="answer" name="answer">
<label><input type="radio" id="good" name="rating" value="good"> good</label>
<input type="file" id="file1" name="file1">
<script>document.getElementById("greet").setAttribute("data-ran", "inline");</script>
<script src="extra.js"></script>
<script>document.getElementById("greet").setAttribute("data-order", window.extraLoaded ? "ok" : "bad");</script>
<script>document.getElementById("greet").setAttribute("data-button", document.getElementById("mephisto-form").hasAttribute("data-ready") ? "early" : "waits");</script>
<script>
var submit = document.getElementById("html-task-submit-button");
submit.disabled = true;
document.getElementById("answer").addEventListener("input", function () { submit.disabled = false; });
</script>
HTML
	printf '<p id="preview-text">A preview of ${name}</p>\n' > "$T/preview.src.html"
	cat > "$T/onboarding.src.html" <<'HTML'
<p id="onboarding-question">Favourite colour, ${provider_worker_id}?</p>
<input id="q1" name="q1">
HTML
	printf 'window.extraLoaded = true;\n' > "$T/extra/extra.js"
	printf 'some notes\n' > "$BATS_TEST_TMPDIR/notes.txt"
}

# build_static_site: the static_task site of the task above.
build_static_site() {
	rm -rf "$RUN_DIR/static"
	io-site build "$RUN_DIR/static" --blueprint static_task \
		--task "$T/task.html" --preview "$T/preview.src.html" \
		--onboarding "$T/onboarding.src.html" --extra "$T/extra" \
		--provider mock --args '{"task_title": "demo"}'
}

# browser SCENARIO ARGS...: run a scenario against io (output in $output).
browser() {
	run node "$REPO/tests/browser/run.js" "$@"
	if [ "$status" -ne 0 ]; then
		echo "$output" >&2
		return 1
	fi
}

# browser_step FILE: wait up to 60 s for the scenario started in the
# background (pid $bpid, output in browser.out) to touch FILE.  Fails at
# once if the scenario ends first, showing what it printed.
browser_step() {
	local i=0
	until [ -e "$1" ]; do
		if ! kill -0 "$bpid" 2>/dev/null || [ $((i += 1)) -ge 1200 ]; then
			echo "the browser did not reach ${1##*/}:" >&2
			cat "$BATS_TEST_TMPDIR/browser.out" >&2
			return 1
		fi
		nap
	done
}

@test "browser: the static client takes a unit from load to Submitted" {
	build_static_site
	start_io_with_pool
	browser static-task "$URL" '<b>ann</b>' a1 "$BATS_TEST_TMPDIR/notes.txt"
	assert_line "greet: Hello <b>ann</b>"
	assert_line "agent: 1001/<b>ann</b>"
	assert_line "inline script: inline"
	assert_line "script order: ok"
	assert_line "submit while scripts run: waits"
	assert_line "submit before an answer: disabled"
	assert_line "done: Submitted. Thank you for your work!"
	assert_line --partial 'provider: dialog: The task has been submitted! Data: {"answer":"forty two"'
	local p=$(pool_packet register_agent)
	assert_equal "$(jq -c .data.provider_data <<<"$p")" \
		'{"worker_name":"<b>ann</b>","agent_registration_id":"a1-<b>ann</b>","assignment_id":"a1","provider_type":"mock"}'
	p=$(pool_packet submit_unit)
	assert_equal "$(jq -r .subject_id <<<"$p")" 1001
	assert_equal "$(jq -c '[.data.answer, .data.rating, .data.file1.name, .data.file1.size]' <<<"$p")" \
		'["forty two","good","notes.txt",11]'
	assert_equal "$(jq -c '[.data.files[] | [.fieldname, .filename, .size]]' <<<"$p")" \
		'[["file1","notes.txt",11]]'
	assert_equal "$(cat "$RUN_DIR/files/1001/notes.txt")" "some notes"
	# the client asked for the right version: nothing was logged
	run ! pool_got log_error
}

@test "browser: a worker who submits before the task's scripts have run is asked to wait" {
	build_static_site
	start_io_with_pool
	browser early-submit "$URL"
	assert_line "early: The task is still loading. Please submit again in a moment."
	assert_line "sent early: 0"
	assert_line "status once ready: []"
	assert_line "script order: ok"
	assert_line "done"
	# one submission: the one made once the page was ready
	assert_equal "$(grep -c '"packet_type":"submit_unit"' "$POOL_LOG")" 1
	assert_equal "$(pool_packet submit_unit | jq -r .data.answer)" "in time"
}

@test "browser: preview mode shows preview.html without a form" {
	build_static_site
	start_io_with_pool
	browser preview "$URL"
	assert_line 'preview: A preview of ${name}'
	assert_line "buttons: 0"
	run ! pool_got register_agent
}

@test "browser: a worker who may not work sees the reason" {
	build_static_site
	start_io_with_pool
	browser blocked "$URL" blocked
	assert_line "blocked: You are not currently qualified to work on this task."
	assert_line "buttons: 0"
}

@test "browser: onboarding first, then a real unit" {
	build_static_site
	start_io_with_pool
	browser onboarding "$URL" onb1
	assert_line "onboarding: Favourite colour, onb1?"
	assert_line "task: Hello onboarded"
	assert_line "agent: 1002/onb1"
	assert_line "done"
	local p=$(pool_packet submit_onboarding)
	assert_equal "$(jq -r .subject_id <<<"$p")" onboarding_1001
	assert_equal "$(jq -c .data.onboarding_data <<<"$p")" '{"q1":"blue"}'
	assert_equal "$(pool_packet submit_unit | jq -c '[.subject_id, .data.answer]')" \
		'["1002","after onboarding"]'
}

@test "browser: the client retries while the pool is away" {
	build_static_site
	start_io
	local hs="$BATS_TEST_TMPDIR/hs"
	mkdir -p "$hs"
	node "$REPO/tests/browser/run.js" retry "$URL" "$hs" \
		> "$BATS_TEST_TMPDIR/browser.out" 2>&1 &
	local bpid=$!
	track_pid "$bpid"
	sleep 2
	start_fakepool
	browser_step "$hs/loaded"
	stop_fakepool
	wait_for 5 io_log_has "lost the connection to the pool"
	touch "$hs/go"
	browser_step "$hs/retrying"
	: > "$POOL_LOG"
	start_fakepool
	local st=0
	wait "$bpid" || st=$?
	cat "$BATS_TEST_TMPDIR/browser.out"
	assert_equal "$st" 0
	grep -q '^done$' "$BATS_TEST_TMPDIR/browser.out"
	assert_equal "$(pool_packet submit_unit | jq -r .data.answer)" "despite it all"
}

@test "browser: a mephisto-task 2.0.4 page (static_react_task) works unmodified" {
	node "$REPO/tests/browser/build-react.js" "$T/bundle.js"
	rm -rf "$RUN_DIR/static"
	io-site build "$RUN_DIR/static" --blueprint static_react_task \
		--task "$T/bundle.js" --provider mock
	start_io_with_pool
	browser react-static "$URL" ann
	assert_line "name: ann"
	assert_line "agent: 1001"
	assert_line --partial 'provider: The task has been submitted! Data: {"answer":"from react"}'
	assert_equal "$(pool_packet submit_unit | jq -c '[.subject_id, .data]')" \
		'["1001",{"answer":"from react"}]'
	assert_equal "$(pool_packet submit_metadata | jq -c .data)" \
		'{"feedback":{"type":"feedback","text":"nice"}}'
	assert_equal "$(grep '"subject_id":"1001"' "$POOL_LOG" | grep log_error | jq -c .data)" \
		'{"error":"boom"}'
	# the published 2.0.4 build calls itself 2.0.3; io reports that, as
	# the original router does, and serves the page anyway
	grep -q 'frontend is currently using 2.0.3' "$POOL_LOG"
}

@test "browser: a live mephisto-task page over the WebSocket" {
	node "$REPO/tests/browser/build-react.js" "$T/bundle.js"
	rm -rf "$RUN_DIR/static"
	io-site build "$RUN_DIR/static" --blueprint static_react_task \
		--task "$T/bundle.js" --provider mock
	start_io_with_pool
	local hs="$BATS_TEST_TMPDIR/hs"
	mkdir -p "$hs"
	node "$REPO/tests/browser/run.js" react-live "$URL" "$hs" \
		> "$BATS_TEST_TMPDIR/browser.out" 2>&1 &
	local bpid=$!
	track_pid "$bpid"
	browser_step "$hs/connected"
	wait_for 10 pool_got mephisto_bound_live_update
	assert_equal "$(pool_packet mephisto_bound_live_update | jq -c '[.subject_id, .data.text]')" \
		'["1001","from browser"]'
	push '{"packet_type": "client_bound_live_update", "subject_id": "1001", "data": {"update_id": "p1", "text": "from the pool"}}'
	push '{"packet_type": "update_status", "subject_id": "1001", "data": {"status": "in task"}}'
	local st=0
	wait "$bpid" || st=$?
	cat "$BATS_TEST_TMPDIR/browser.out"
	assert_equal "$st" 0
	grep -q '^connection: connected$' "$BATS_TEST_TMPDIR/browser.out"
	grep -q '^update: from the pool$' "$BATS_TEST_TMPDIR/browser.out"
	grep -q '^status: in task$' "$BATS_TEST_TMPDIR/browser.out"
}
