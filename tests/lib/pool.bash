# Helpers for tests of mephisto-pool (and of anything that needs a task run
# in the database before mephisto-launch can make one).  Load after
# lib/common:
#
#   load lib/common
#   load lib/pool
#
# pool_make_run COUNT [PARAMS_JSON] [UNITS_PER_ASSIGNMENT] [STATUS]
#     Create the database (through mephisto-pool, so the schema and its
#     migrations are applied) and a task run $POOL_RUN of the mock provider
#     (task "demo", static_task) with COUNT assignments, each with shared
#     data {"index": I, "text": "item I"} and UNITS_PER_ASSIGNMENT units
#     (default 1) in STATUS (default launched).  PARAMS_JSON is stored as
#     task_runs.init_params (default: {"task": {}, "blueprint": {},
#     "provider": {"_provider_type": "mock"}}).  Unit ids are 3000000 +
#     assignment * UNITS_PER_ASSIGNMENT + unit_index, assignment ids
#     2000000 + assignment.
# pool_start [ARGS...]
#     Start mephisto-pool --run $POOL_RUN (log in $BATS_TEST_TMPDIR/pool.log)
#     and wait until it is ready; $POOL_SOCK is its socket.
# pool_stop
#     Ask the pool to shut down and wait for it to exit; fail unless it
#     exits with status 0 and no sanitizer report.
# pool_kill
#     SIGKILL the pool.
# pool_send [pool-client options]
#     Run pool-client on $POOL_SOCK with stdin as the packets.
# reg_packet WORKER [REGISTRATION_ID]
#     A register_agent packet for WORKER (registration id defaults to
#     "reg-WORKER").
# submit_packet AGENT_ID [JSON_DATA]
#     A submit_unit packet.

POOL_RUN=1000003
POOL_TASK=1000002
POOL_REQUESTER=1000001

pool_default_params='{"task": {}, "blueprint": {"_blueprint_type": "static_task"}, "provider": {"_provider_type": "mock"}}'

pool_make_run() {
	local count=$1 params=${2:-$pool_default_params} per=${3:-1}
	local status=${4:-launched}
	mephisto-pool qual list >/dev/null
	params=${params//\'/\'\'}
	sql <<-EOF
	INSERT INTO requesters (requester_id, requester_name, provider_type)
	    VALUES ($POOL_REQUESTER, 'MOCK_REQUESTER', 'mock');
	INSERT INTO tasks (task_id, task_name, task_type)
	    VALUES ($POOL_TASK, 'demo', 'static_task');
	INSERT INTO task_runs (task_run_id, task_id, requester_id, init_params,
	    is_completed, provider_type, task_type, sandbox)
	    VALUES ($POOL_RUN, $POOL_TASK, $POOL_REQUESTER, '$params', 0,
	    'mock', 'static_task', 1);
	WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n
	    WHERE i + 1 < $count)
	INSERT INTO assignments (assignment_id, task_id, task_run_id,
	    requester_id, task_type, provider_type, sandbox)
	    SELECT 2000000 + i, $POOL_TASK, $POOL_RUN, $POOL_REQUESTER,
	    'static_task', 'mock', 1 FROM n;
	INSERT INTO assignment_data (assignment_id, shared, unit_data)
	    SELECT assignment_id, json_object('index', assignment_id - 2000000,
	    'text', 'item ' || (assignment_id - 2000000)), '[{}]'
	    FROM assignments WHERE task_run_id = $POOL_RUN;
	WITH RECURSIVE k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k
	    WHERE j + 1 < $per)
	INSERT INTO units (unit_id, assignment_id, unit_index, pay_amount,
	    provider_type, status, task_type, task_id, task_run_id, sandbox,
	    requester_id)
	    SELECT 3000000 + (a.assignment_id - 2000000) * $per + k.j,
	    a.assignment_id, k.j, 0.1, 'mock', '$status', 'static_task',
	    $POOL_TASK, $POOL_RUN, 1, $POOL_REQUESTER
	    FROM assignments a, k WHERE a.task_run_id = $POOL_RUN
	    ORDER BY a.assignment_id, k.j;
	EOF
	POOL_SOCK="$MEPHISTO_DATA/runs/$POOL_RUN/pool.sock"
	export POOL_SOCK
}

pool_start() {
	POOL_SOCK="$MEPHISTO_DATA/runs/$POOL_RUN/pool.sock"
	export POOL_SOCK
	start_daemon pool mephisto-pool --run "$POOL_RUN" --log-level debug "$@"
}

pool_send() {
	pool-client "$@" "$POOL_SOCK"
}

pool_stop() {
	local status=0
	echo '{"packet_type":"shutdown","subject_id":"mephisto","data":{}}' |
	    pool-client -p mephisto-launch "$POOL_SOCK" >/dev/null
	wait "$pool_pid" || status=$?
	if [ "$status" -ne 0 ] || grep -q Sanitizer "$BATS_TEST_TMPDIR/pool.log"; then
		echo "pool exited with status $status; its log:" >&2
		cat "$BATS_TEST_TMPDIR/pool.log" >&2
		return 1
	fi
}

pool_gone() {
	! kill -0 "$pool_pid" 2>/dev/null
}

pool_kill() {
	kill -KILL "$pool_pid"
	wait "$pool_pid" 2>/dev/null || true
}

reg_packet() {
	local w=$1 reg=${2:-reg-$1}
	printf '{"packet_type":"register_agent","subject_id":"%s","data":{"provider_data":{"worker_name":"%s","agent_registration_id":"%s","assignment_id":"a","provider_type":"mock"},"request_id":"%s"}}\n' \
	    "$reg" "$w" "$reg" "$reg"
}

submit_packet() {
	local data=${2:-'{"answer":"yes"}'}
	printf '{"packet_type":"submit_unit","subject_id":"%s","data":%s}\n' \
	    "$1" "$data"
}
