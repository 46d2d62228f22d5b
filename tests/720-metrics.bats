#!/usr/bin/env bats
# Prometheus metrics (architect.metrics_port): io's and the pool's, on a
# loopback listener; checked by promtool and scraped by a real Prometheus.

load lib/common
load lib/launch

setup() {
	setup_env
	T="$BATS_TEST_TMPDIR/task"
	make_task "$T" 4
	MPORT=$(free_port)
}

teardown() {
	[ -z "${STOPPED:-}" ] || kill -CONT "$STOPPED" 2>/dev/null || true
	common_teardown
}

metrics() {
	curl -sf "http://127.0.0.1:$MPORT/metrics"
}

# start_run: a run with metrics, two units done by scripted workers.
start_run() {
	mephisto-launch "$T/task.yml" "architect.metrics_port=$MPORT" --quiet \
		> "$BATS_TEST_TMPDIR/out" 2>&1 &
	track_pid $!
	wait_for 20 run_url
	run -0 mephisto-launch work --workers 2 --max-units 1 "$(run_url)"
}

@test "metrics: io's and the pool's figures, in a format promtool accepts" {
	start_run
	grep -q "metrics: http://127.0.0.1:$MPORT/metrics" "$BATS_TEST_TMPDIR/out"
	run -0 metrics
	assert_line 'agent_details_responses_total{response="assigned"} 2'
	assert_line 'active_unit_statuses{status="completed",unit_type="standard"} 2'
	assert_line 'active_unit_statuses{status="launched",unit_type="standard"} 2'
	assert_line 'client_io_handler_latency_seconds_count{packet_type="register_agent"} 2'
	assert_line 'client_io_handler_latency_seconds_count{packet_type="submit_unit"} 2'
	assert_line 'e2e_packet_latency_count{packet_type="submit_unit",stage="e2e_time"} 2'
	assert_line 'mephisto_io_responses_total{code="200"} 4'
	assert_line 'mephisto_io_pool_up 1'
	assert_line --regexp '^database_latency_seconds_count\{method="commit"\} [1-9]'
	metrics | promtool check metrics
	# Only loopback, only GET /metrics, no WebSockets.
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/request_agent")" = 404 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$MPORT/metrics")" = 404 ]
	awk -v want="$(printf '0100007F:%04X' "$MPORT")" \
		'$2 == want && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp
}

@test "metrics: without the pool io still answers with its own figures" {
	start_run
	STOPPED=$(cat "$MEPHISTO_DATA/runs/$(only_run)/pool.pid")
	kill -STOP "$STOPPED"
	# Answered at io's short deadline, not the pool's.
	run -0 metrics
	assert_line 'mephisto_io_pool_up 1'
	assert_line 'client_io_handler_latency_seconds_count{packet_type="submit_unit"} 2'
	refute_line --partial 'agent_details_responses_total'
}

@test "metrics: a real Prometheus server scrapes the run" {
	start_run
	local pport
	pport=$(free_port)
	cat > "$BATS_TEST_TMPDIR/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: mephisto
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
YAML
	prometheus --config.file="$BATS_TEST_TMPDIR/prometheus.yml" \
		--storage.tsdb.path="$BATS_TEST_TMPDIR/tsdb" \
		--web.listen-address="127.0.0.1:$pport" \
		> "$BATS_TEST_TMPDIR/prometheus.log" 2>&1 &
	track_pid $!
	query() {
		curl -sf "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" |
			jq -r '.data.result[0].value[1] // empty'
	}
	scraped() { [ "$(query 'agent_details_responses_total{response="assigned"}')" = 2 ]; }
	wait_for 30 scraped
	[ "$(query 'up{job="mephisto"}')" = 1 ]
	[ "$(query 'sum(active_unit_statuses)')" = 4 ]
	[ "$(query 'mephisto_io_pool_up')" = 1 ]
}
