#!/usr/bin/env bats
# mephisto-review export and summary, with agreement figures checked
# against a hand-computed example.

load lib/common
load lib/launch
load lib/pool
load lib/review

# Three assignments of task "demo", each done by amy, ben and cat (unit
# index 0, 1, 2).  label: (A A A) (A A B) (B B B); ok: yes everywhere but
# cat's last unit, which has no "ok".  Time on task in seconds: amy 10 20
# 60, ben 5 15 25, cat 1 2 4.  Reviews: amy accepted accepted rejected, ben
# accepted soft_rejected completed, cat completed x3.
agreement_fixture() {
	pool_make_run 3 "" 3 completed
	sql "INSERT INTO workers (worker_id, worker_name, provider_type) VALUES
	    (4000000, 'amy', 'mock'), (4000001, 'ben', 'mock'), (4000002, 'cat', 'mock')"
	local a j u labels=(A A A A A B B B B) times=(10 5 1 20 15 2 60 25 4)
	local status=(accepted accepted completed accepted soft_rejected completed rejected completed completed)
	local agent=(approved approved completed approved soft_rejected completed rejected completed completed)
	for a in 0 1 2; do
		for j in 0 1 2; do
			u=$((a * 3 + j))
			ok=',"ok":"yes"'
			[ "$u" -eq 8 ] && ok=''
			sql "INSERT INTO agents (agent_id, worker_id, unit_id, task_id, task_run_id, assignment_id, task_type, provider_type, status)
			    VALUES ($((5000000 + u)), $((4000000 + j)), $((3000000 + u)), $POOL_TASK, $POOL_RUN, $((2000000 + a)), 'static_task', 'mock', '${agent[$u]}');
			    INSERT INTO agent_data (agent_id, inputs, outputs, task_start, task_end)
			    VALUES ($((5000000 + u)), '{}', '{\"label\":\"${labels[$u]}\"$ok}', 1000, $((1000 + ${times[$u]})));
			    UPDATE units SET agent_id = $((5000000 + u)), worker_id = $((4000000 + j)), status = '${status[$u]}' WHERE unit_id = $((3000000 + u))"
		done
	done
}

@test "summary: counts, approval rate and median time per worker and task" {
	agreement_fixture
	run -0 mephisto-review summary --task demo
	assert_line --index 0 --regexp '^WORKER +UNITS +APPROVED +REJECTED +SOFT +PENDING +RATE +MEDIAN_S$'
	assert_line --index 1 --regexp '^amy +3 +2 +1 +0 +0 +66\.7% +20\.000$'
	assert_line --index 2 --regexp '^ben +3 +1 +0 +1 +1 +50\.0% +15\.000$'
	assert_line --index 3 --regexp '^cat +3 +0 +0 +0 +3 +- +2\.000$'
	assert_line --index 5 --regexp '^demo +9 +3 +1 +1 +4 +60\.0% +10\.000$'
	run -0 mephisto-review summary --run "$POOL_RUN" --json
	[ "$(jq -c '.workers[] | select(.worker_name == "ben") | [.units, .approved, .pending, .approval_rate, .median_seconds]' <<<"$output")" = "[3,1,1,0.5,15]" ]
	[ "$(jq -c '.tasks[0] | [.task_name, .units, .approval_rate, .median_seconds]' <<<"$output")" = '["demo",9,0.6,10]' ]
}

@test "summary: percent agreement and Krippendorff's alpha match the hand computation" {
	agreement_fixture
	# label: pairs within assignments: 3 + 3 + 3 = 9, agreeing 3 + 1 + 3
	# = 7 (77.8%).  Coincidences (each ordered pair weighs 1/(m-1) = 1/2):
	# o_AA = 3 + 1 = 4, o_AB = o_BA = 1, o_BB = 3; n_A = 5, n_B = 4, n = 9;
	# alpha = 1 - (n - 1) * (o_AB + o_BA) / (2 n_A n_B) = 1 - 8 * 2 / 40
	# = 0.6.  ok: 7 pairs, all agree, no variation: alpha undefined.
	run -0 mephisto-review summary --task demo
	assert_line --regexp '^FIELD +ITEMS +PAIRS +AGREEMENT +ALPHA$'
	assert_line --regexp '^label +3 +9 +77\.8% +0\.600$'
	assert_line --regexp '^ok +3 +7 +100\.0% +-$'
	run -0 mephisto-review summary --task demo --json
	[ "$(jq -c '.agreement[] | select(.field == "label") | [.items, .pairs, (.percent_agreement * 10 | round), (.krippendorff_alpha * 1000 | round)]' <<<"$output")" = "[3,9,778,600]" ]
	[ "$(jq -c '.agreement[] | select(.field == "ok") | .krippendorff_alpha' <<<"$output")" = null ]
}

@test "summary: two coders, the textbook case" {
	# label over three assignments by two workers: (A A) (A B) (B B).
	# Pairs 3, agreeing 2; o_AA = 2, o_AB = o_BA = 1, o_BB = 2; n = 6,
	# n_A = n_B = 3; alpha = 1 - 5 * 2 / 18 = 0.444.
	agreement_fixture
	sql "DELETE FROM agent_data WHERE agent_id IN (5000002, 5000005, 5000008);
	    DELETE FROM agents WHERE agent_id IN (5000002, 5000005, 5000008);
	    UPDATE units SET status = 'launched', agent_id = NULL, worker_id = NULL WHERE unit_index = 2;
	    UPDATE agent_data SET outputs = '{\"label\":\"B\"}' WHERE agent_id = 5000004"
	run -0 mephisto-review summary --task demo
	assert_line --regexp '^label +3 +3 +66\.7% +0\.444$'
}

@test "summary: no shared assignments, no agreement" {
	review_run 2 1
	run -0 mephisto-review summary --run "$RUN"
	assert_line "agreement: no assignment was done by more than one worker"
	assert_line --regexp '^auto-1_sandbox +2 +0 +0 +0 +2 +- +[0-9.]+$'
	run --separate-stderr mephisto-review summary --task nope
	assert_fails_cleanly
	[ "$stderr" = "mephisto-review: error: no task named 'nope'" ]
	run -2 mephisto-review summary
	run -2 mephisto-review summary --task a --run 1234567
}

@test "export: every unit with its data and review, as JSON lines and CSV" {
	review_run 3 1
	read -r u1 u2 u3 <<<"$(sql "SELECT unit_id FROM units ORDER BY unit_id" | tr "\n" " ")"
	mephisto-review approve "$u1" --note nice >/dev/null
	mephisto-review bonus 0.5 "$u1" --reason extra >/dev/null
	mephisto-review reject "$u2" --reason "said nothing" >/dev/null
	run -0 mephisto-review export --task t-task
	[ "${#lines[@]}" -eq 3 ]
	[ "$(jq -c 'select(.unit_id == "'"$u1"'") | [.status, .review.status, .review.note, .bonus, .outputs.rating, .inputs.text]' <<<"$output")" = '["accepted","approved","nice",0.5,"good","row 1"]' ]
	[ "$(jq -c 'select(.unit_id == "'"$u2"'") | [.status, .review.status, .review.note, .bonus]' <<<"$output")" = '["rejected","rejected","said nothing",0]' ]
	[ "$(jq -c 'select(.unit_id == "'"$u3"'") | [.status, .review]' <<<"$output")" = '["completed",null]' ]
	run -0 mephisto-review export --run "$RUN" --status rejected --format csv
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == "unit_id,assignment_id,task_run_id,agent_id,worker_id,worker_name,status,task_start,task_end,review_status,review_note,review_time,bonus,blocked,inputs.text,inputs.n,inputs.html,outputs.rating,outputs.comment,files"* ]]
	[[ "${lines[1]}" == "$u2,"*",auto-1_sandbox,rejected,"*",rejected,said nothing,"*",0,false,row 2,2,task.html,good,submitted by a scripted worker,[]"* ]]
	run -2 mephisto-review export --task t-task --format xml
	run -2 mephisto-review export
}

@test "export and results as JSON lines: stored text is escaped, stored JSON kept, anything else null" {
	review_run 3 1
	read -r u1 u2 u3 <<<"$(sql "SELECT unit_id FROM units ORDER BY unit_id" | tr "\n" " ")"
	sql "UPDATE workers SET worker_name = 'a \"quoted\" \\ name' || char(10) || 'x' || char(1) WHERE worker_id = (SELECT worker_id FROM units WHERE unit_id = $u1);
	    UPDATE agent_data SET outputs = '{ \"spaced\" : [1, 2.5] }' WHERE agent_id = (SELECT agent_id FROM units WHERE unit_id = $u1);
	    UPDATE agent_data SET outputs = 'not json {', files = 'nor this' WHERE agent_id = (SELECT agent_id FROM units WHERE unit_id = $u2)"
	for cmd in "mephisto-review export --run $RUN" "mephisto-launch results $RUN"; do
		run -0 $cmd
		[ "${#lines[@]}" -eq 3 ]
		# Every line is JSON on its own.
		for line in "${lines[@]}"; do jq -e . <<<"$line" >/dev/null; done
		[ "$(jq -r "select(.unit_id == \"$u1\") | .worker_name" <<<"$output")" = "$(printf 'a "quoted" \\ name\nx\001')" ]
		[ "$(jq -c "select(.unit_id == \"$u1\") | .outputs" <<<"$output")" = '{"spaced":[1,2.5]}' ]
		[ "$(jq -c "select(.unit_id == \"$u2\") | [.outputs, .files]" <<<"$output")" = '[null,[]]' ]
		[ "$(jq -c "select(.unit_id == \"$u3\") | .outputs.rating" <<<"$output")" = '"good"' ]
	done
}

@test "export and results to a full disk fail with the reason, not a short file" {
	review_run 2 1
	for cmd in "mephisto-review export --run $RUN" "mephisto-launch results $RUN" \
	    "mephisto-review export --run $RUN --format csv" "mephisto-launch results $RUN --format csv"; do
		run --separate-stderr $cmd
		[ "$status" -eq 0 ]
		run --separate-stderr sh -c "$cmd > /dev/full"
		assert_fails_cleanly
		[[ "$stderr" == *"write failure on standard output: No space left on device" ]]
	done
}
