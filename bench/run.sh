#!/bin/bash
# bench/run.sh: the figures of `make bench` (BENCHMARKS.md), from one
# invocation.  Sets up a private data folder, a static task with $UNITS
# units, launches it in the background (io and pool pinned to one core,
# the load generator to the other), runs each figure $REPS times and
# prints the median and the spread (min..max) of each, with the CPU use
# of the generator (gen), of mephisto-io (io) and of mephisto-pool (pool)
# during the runs (1.00 = one core busy).
#
# Environment: MEPHISTO_BUILD (the build folder, default build/default),
# BENCH_REPS (3), BENCH_SECONDS per repetition (2), BENCH_UNITS (100000),
# BENCH_SERVED_UNITS for the run the registrations draw from (400000: the
# registration figures must not run out of units), BENCH_SOCKETS for the
# memory figure (10000), BENCH_ONLY=live for the
# live-update figures alone, BENCH_KEEP=1 keeps the
# data folder.  Benchmarks print; they never fail on a slow machine.

set -u
cd "$(dirname "$0")/.."
BUILD=${MEPHISTO_BUILD:-$PWD/build/default}
BIN=$BUILD/bin
GEN=$BUILD/bench/mephisto-bench
REPS=${BENCH_REPS:-3}
SECS=${BENCH_SECONDS:-2}
UNITS=${BENCH_UNITS:-100000}
SERVED_UNITS=${BENCH_SERVED_UNITS:-400000}
SOCKETS=${BENCH_SOCKETS:-10000}

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$GEN" ] && [ -x "$BUILD/bench/echo-runner" ] ||
	die "no load generator at $GEN (make bench-build)"

# Pinning: io and pool on CPU 0, the generator on the last CPU.
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
	SUT="taskset -c 0"
	LOAD="taskset -c $((NCPU - 1))"
	PINNING="mephisto-io and mephisto-pool on CPU 0, generator on CPU $((NCPU - 1))"
else
	SUT="" LOAD="" PINNING="none (one CPU or no taskset)"
fi

DATA=$(mktemp -d /tmp/mphb.XXXXXX)
export MEPHISTO_HOME=$DATA/home MEPHISTO_CONFIG=$DATA/home/config.yml
export MEPHISTO_DB=$DATA/database.db MEPHISTO_EXEC_PATH=$BIN
export MEPHISTO_LOG_LEVEL=warn
# This tree's web client and templates, for a build made elsewhere too.
export MEPHISTO_SHARE=${MEPHISTO_SHARE:-$PWD/share/mephisto}
mkdir -p "$MEPHISTO_HOME"
printf 'core:\n  main_data_directory: %s\n' "$DATA" > "$MEPHISTO_CONFIG"
RUNS=()
# stop_all: stop every run of the benchmark's database still served.
stop_all() {
	local r
	for r in $(sqlite3 "$MEPHISTO_DB" "SELECT task_run_id FROM task_runs WHERE NOT is_completed" 2>/dev/null); do
		"$BIN/mephisto-launch" stop "$r" >/dev/null 2>&1
	done
}
cleanup() {
	stop_all
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$DATA"
}
trap cleanup EXIT

# static_task DIR NAME N: a static task NAME of N units in DIR.
static_task() {
	mkdir -p "$1"
	printf '<p>${text}</p><input name="rating">\n' > "$1/task.html"
	awk -v n="$3" 'BEGIN { for (i = 1; i <= n; i++)
		printf "{\"text\": \"row %d of the benchmark\", \"n\": %d}\n", i, i }' \
		> "$1/data.jsonl"
	cat > "$1/task.yml" <<YAML
task:
  task_name: $2
  task_title: Benchmark
  task_description: Load from mephisto-bench.
  task_reward: 0.01
  task_tags: bench
  assignment_duration_in_seconds: 3600
blueprint:
  _blueprint_type: static_task
  task_source: task.html
  data_jsonl: data.jsonl
provider:
  _provider_type: mock
architect:
  port: 0
YAML
}
TASK=$DATA/task
static_task "$TASK" bench "$UNITS"

# all_launched RUN N: wait until N units of RUN are launched.
all_launched() {
	until [ "$(sqlite3 "$MEPHISTO_DB" "SELECT count(*) FROM units WHERE task_run_id = $1 AND status = 'launched'")" = "$2" ]; do
		sleep 0.05
	done
}
export -f all_launched

# summary NAME FILE: median and spread of the figures in FILE's lines.
summary() {
	awk -v name="$1" '
	function med(a, n,   i, j, t) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function lo(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] < m) m = a[i]; return m }
	function hi(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] > m) m = a[i]; return m }
	{
		n++
		for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			v[kv[1], n] = kv[2]
		}
	}
	END {
		if (!n) { printf "%-34s no figures\n", name; exit }
		split("rate p50_ms p99_ms gen io pool io_us pool_us io_wait pool_wait errors", keys, " ")
		line = sprintf("%-34s", name)
		for (k = 1; k <= 11; k++) {
			key = keys[k]
			if (!((key, 1) in v))
				continue
			for (i = 1; i <= n; i++) a[i] = v[key, i] + 0
			fmt = key == "rate" || key == "errors" || key ~ /_us$/ ? "%.0f" : "%.2f"
			line = line sprintf(" %s=" fmt " [" fmt ".." fmt "]", key,
			    med(a, n), lo(a, n), hi(a, n))
		}
		print line
	}' "$2"
}

# figure NAME GENERATOR-ARGS...: run the generator $REPS times and
# summarise, with the CPU use of io and pool over each measured run (the
# generator reads it: --pids), their CPU time per answer (io_us,
# pool_us) and the share of the run they spent waiting for a CPU
# (io_wait, pool_wait).
figure() {
	local name=$1 out=$DATA/fig.$RANDOM r line
	shift
	: > "$out"
	for ((r = 1; r <= REPS; r++)); do
		line=$($LOAD "$GEN" --pids "$IO_PID,$POOL_PID" "$@" "$HOSTPORT")
		echo "  $name #$r: $line" >&2
		line=${line/cpu=/gen=}
		awk -v line="$line" 'BEGIN {
			n = split(line, kv, " ")
			for (i = 1; i <= n; i++) {
				split(kv[i], x, "=")
				v[x[1]] = x[2]
			}
			split(v["pids_cpu"], c, ",")
			split(v["pids_wait"], w, ",")
			rate = v["rate"] > 0 ? v["rate"] : 1
			sub(/ pids_cpu=.*/, "", line)
			printf "%s io=%.2f pool=%.2f io_us=%.0f pool_us=%.0f io_wait=%.2f pool_wait=%.2f\n",
			    line, c[1], c[2], c[1] * 1e6 / rate, c[2] * 1e6 / rate, w[1], w[2]
		}' >> "$out"
	done
	summary "$name" "$out" | tee -a "$DATA/summary"
}

# timed NAME CMD...: wall seconds of CMD, $REPS times; a run that fails
# is reported and is no figure.
timed() {
	local name=$1 out=$DATA/fig.$RANDOM r t0 t1
	shift
	: > "$out"
	for ((r = 1; r <= REPS; r++)); do
		t0=$(date +%s.%N)
		if ! "$@" >/dev/null 2>"$DATA/timed.err"; then
			cat "$DATA/timed.err" >&2
			echo "  $name #$r: failed" >&2
			continue
		fi
		t1=$(date +%s.%N)
		awk -v a="$t0" -v b="$t1" -v u="$UNITS" \
		    'BEGIN { printf "rate=%.0f p50_ms=%.1f p99_ms=%.1f\n", u / (b - a), (b - a) * 1000, (b - a) * 1000 }' >> "$out"
		echo "  $name #$r: $(tail -1 "$out")" >&2
	done
	summary "$name" "$out" | tee -a "$DATA/summary"
}

# ratio A B: figure A's median wall time over figure B's.
ratio() {
	awk -v a="$1" -v b="$2" '
	function is(name) { return index($0, name " ") == 1 }
	is(a) || is(b) {
		match($0, /p50_ms=[0-9.]+/)
		v = substr($0, RSTART + 7, RLENGTH - 7)
		if (is(a)) x = v; else y = v
	}
	END { if (x && y) printf "%-34s %.2fx\n", a " / " b, x / y }' \
		"$DATA/summary" | tee -a "$DATA/summary"
}

# serve TASK_YML TASK_TYPE: launch TASK_YML in the background (pinned as
# the system under test) and wait for its io and pool; sets RUN, RUN_DIR,
# IO_PID, POOL_PID and HOSTPORT, and remembers the run in RUNS.
serve() {
	local i
	$SUT "$BIN/mephisto-launch" "$1" --detach -q ||
		die "cannot launch $1"
	RUN=$(sqlite3 "$MEPHISTO_DB" "SELECT r.task_run_id FROM task_run_state r JOIN task_runs t USING (task_run_id) WHERE r.status = 'running' AND t.task_type = '$2' ORDER BY r.rowid DESC LIMIT 1")
	RUNS+=("$RUN")
	RUN_DIR=$DATA/runs/$RUN
	for ((i = 0; i < 100; i++)); do
		[ -s "$RUN_DIR/io.port" ] && [ -s "$RUN_DIR/pool.pid" ] && break
		sleep 0.1
	done
	IO_PID=$(cat "$RUN_DIR/io.pid") POOL_PID=$(cat "$RUN_DIR/pool.pid")
	HOSTPORT=127.0.0.1:$(cat "$RUN_DIR/io.port")
	echo "run $RUN served on $HOSTPORT (io $IO_PID, pool $POOL_PID)" >&2
}

echo "mephisto-c benchmarks: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(uname -sr), $NCPU CPU ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pinning: $PINNING"
echo "repetitions: $REPS of ${SECS}s; $UNITS units; figures: median [min..max]"
echo "rate is answers/s (units/s for creation and export); p50/p99 are"
echo "latencies in ms (wall ms for creation and export); gen, io, pool: CPU"
echo "use of the generator, mephisto-io and mephisto-pool (1.00 = one core);"
echo "io_us, pool_us: their CPU microseconds per answer; io_wait, pool_wait:"
echo "the share of the time they were runnable but waiting for a CPU"
echo

# (BENCH_ONLY=live skips to the live-update figures; the body is not
# indented.)
if [ "${BENCH_ONLY:-}" != live ]; then

# Unit creation: --create-only is creation alone.  "create + launch" is
# from the command to every unit launched and io and pool serving the run
# (the run is stopped after the clock stops).
timed "create $UNITS units" "$BIN/mephisto-launch" "$TASK/task.yml" --create-only -q
# What SQLite alone takes for the rows creation writes, measured in the
# same run: the sqlite3 shell inserts them with one INSERT ... SELECT per
# table, in one transaction, into a copy of a new database of the same
# schema (no file to read, nothing to parse or bind): the unit rows
# alone, without the indexes of units (the UNIQUE constraint's stays) or
# foreign keys, as the original's floor; then every row and index entry
# creation writes (3 rows and 7 index entries per unit), foreign keys
# checked.  The ratio of creation to the second is what the program adds.
floor_db() {
	rm -f "$DATA/$1.db"*
	sqlite3 "$DATA/$1.db" < share/mephisto/schema.sql >/dev/null &&
	sqlite3 "$DATA/$1.db" "PRAGMA journal_mode = WAL; $2
		INSERT INTO tasks (task_id, task_name, task_type)
		VALUES (5052279011158650213, 'bench', 'static_task');
		INSERT INTO requesters (requester_id, requester_name, provider_type)
		VALUES (8898763956010532803, 'bench', 'mock');
		INSERT INTO task_runs (task_run_id, task_id, requester_id,
		init_params, is_completed, provider_type, task_type, sandbox)
		VALUES (5642328320562342973, 5052279011158650213,
		8898763956010532803, '{}', 0, 'mock', 'static_task', 1);
		PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null ||
	die "cannot set up $DATA/$1.db"
}
# floor_txn FK SQL: SQL in one transaction, foreign keys FK (ON or OFF).
floor_txn() {
	printf 'PRAGMA foreign_keys = %s;\nPRAGMA synchronous = NORMAL;\nBEGIN IMMEDIATE;\n%s\nCOMMIT;\n' "$1" "$2"
}
NUMBERS="CREATE TEMP TABLE n (i INTEGER PRIMARY KEY);
WITH RECURSIVE c (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $UNITS)
INSERT INTO n SELECT i FROM c;"
UNIT_ROWS="INSERT INTO units (unit_id, assignment_id, unit_index, pay_amount,
	provider_type, status, task_type, task_id, task_run_id, sandbox,
	requester_id, creation_date)
SELECT 4984627168438419712 + i * 7919, 3329450951278519883 + i * 7919, 0,
	0.01, 'mock', 'created', 'static_task', 5052279011158650213,
	5642328320562342973, 1, 8898763956010532803,
	strftime('%Y-%m-%d %H:%M:%f', 'now') FROM n;"
floor_db floor-units "$(sqlite3 -cmd '.read share/mephisto/schema.sql' :memory: \
	"SELECT group_concat('DROP INDEX ' || name || ';', ' ') FROM sqlite_master
	WHERE type = 'index' AND tbl_name = 'units' AND sql IS NOT NULL")"
floor_txn OFF "$NUMBERS
$UNIT_ROWS" > "$DATA/floor-units.sql"
floor_db floor-all ""
floor_txn ON "$NUMBERS
INSERT INTO assignments SELECT 3329450951278519883 + i * 7919,
	5052279011158650213, 5642328320562342973, 8898763956010532803,
	'static_task', 'mock', 1, strftime('%Y-%m-%d %H:%M:%f', 'now') FROM n;
INSERT INTO assignment_data SELECT 3329450951278519883 + i * 7919,
	'{\"text\":\"row ' || i || ' of the benchmark\",\"n\":' || i ||
	',\"html\":\"task.html\"}', '[{}]' FROM n;
$UNIT_ROWS" > "$DATA/floor-all.sql"
# floor NAME WHICH: time the floor-WHICH rows into a copy of its database.
floor() {
	timed "$1" bash -c "
		cp '$DATA/floor-$2.db' '$DATA/floor.db' && rm -f '$DATA/floor.db-wal'
		sqlite3 -bail '$DATA/floor.db' < '$DATA/floor-$2.sql'"
}
floor "SQLite alone: the unit rows" units
floor "SQLite alone: creation's rows" all
ratio "create $UNITS units" "SQLite alone: creation's rows"
# ... and launching them: each unit's status from created to launched,
# in one statement (creation's rows, copied from the last floor).
sqlite3 "$DATA/floor.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null &&
	cp "$DATA/floor.db" "$DATA/floor-launch.db" ||
	die "cannot keep $DATA/floor.db"
floor_txn ON "UPDATE units SET status = 'launched'
WHERE task_run_id = 5642328320562342973 AND status = 'created';" \
	> "$DATA/floor-launch.sql"
floor "SQLite alone: launching them" launch
CREATED=$(sqlite3 "$MEPHISTO_DB" "SELECT task_run_id FROM task_runs LIMIT 1")
timed "export $UNITS units (results)" "$BIN/mephisto-launch" results "$CREATED" --status all
timed "export $UNITS units (review)" "$BIN/mephisto-review" export --run "$CREATED"
IO_PID=0 POOL_PID=0
timed "create + launch $UNITS units" bash -c "
	$SUT '$BIN/mephisto-launch' '$TASK/task.yml' --detach -q &&
	all_launched \"\$(sqlite3 '$MEPHISTO_DB' \"SELECT task_run_id FROM task_runs ORDER BY creation_date DESC, rowid DESC LIMIT 1\")\" $UNITS"
stop_all

# The run the HTTP and WebSocket figures use: the same task, with enough
# units for every registration the figures make (a registration refused
# for want of a unit is answered at once, and would count as one).
SERVED=$DATA/served
static_task "$SERVED" bench-served "$SERVED_UNITS"
serve "$SERVED/task.yml" static_task
all_launched "$RUN" "$SERVED_UNITS"

AG=$DATA/agents
for c in 1 16 64; do
	figure "registrations, concurrency $c" -c "$c" -d "$SECS" --agents "$AG.$c" register
done
# Every agent registered above submits at most once: the generator takes
# the ids it submits out of the file, so no repetition re-submits.
cat "$AG".* > "$AG.unsubmitted"
figure "submissions, concurrency 16" -c 16 -d "$SECS" --agents "$AG.unsubmitted" submit
figure "static task page, 64 connections" -c 64 -d "$SECS" --path /task.html static
figure "heartbeat echo, 1000 ws at 10000/s" -c 1000 -d "$SECS" --rate 10000 ws-echo
figure "heartbeat echo, 1000 ws, flat out" -c 1000 -d "$SECS" --window 8 ws-echo

# Memory: $SOCKETS WebSockets sending heartbeats, io's RSS against idle,
# on a run of its own: io keeps a little state (about 0.4 KiB) for each
# agent registered until it has been idle for a while, and the figures
# above register 100,000 and more.
stop_all
serve "$TASK/task.yml" static_task
rss() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }
IDLE=$(rss "$IO_PID")
rm -f "$DATA/ready"
$LOAD "$GEN" -c "$SOCKETS" -d $((SECS + 20)) --interval 5 \
	--ready "$DATA/ready" ws-hold "$HOSTPORT" > "$DATA/hold" &
HOLD=$!
for ((i = 0; i < 300; i++)); do
	[ -e "$DATA/ready" ] && break
	sleep 0.1
done
sleep "$SECS"
HELD=$(rss "$IO_PID")
kill -TERM "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null
if [ -e "$DATA/ready" ]; then
	awk -v n="$SOCKETS" -v idle="$IDLE" -v held="$HELD" 'BEGIN {
		printf "%-34s io RSS idle %.1f MiB, held %.1f MiB, %.2f KiB per socket\n",
		    n " WebSockets with heartbeats", idle / 1024, held / 1024, (held - idle) / n }' |
		tee -a "$DATA/summary"
else
	echo "$SOCKETS WebSockets: not all sockets came up" | tee -a "$DATA/summary"
fi
# The static run is done with: its processes share CPU 0 with the live
# run's otherwise.
stop_all

fi

# Live updates: a live task whose runner (bench/echo-runner) sends every
# update straight back to its agent, so a round trip is worker -> io ->
# pool -> runner -> pool -> io -> worker.  Measured twice: with one runner
# for the run (blueprint.shared_runner) and with one runner per
# assignment.  The runners' own CPU is not in the figures.
LIVE=$DATA/live
LIVE_AGENTS=${BENCH_LIVE_SOCKETS:-1000}
mkdir -p "$LIVE"
: > "$LIVE/bundle.js"
awk -v n="$LIVE_AGENTS" 'BEGIN { for (i = 1; i <= n; i++)
	printf "{\"n\": %d}\n", i }' > "$LIVE/data.jsonl"
# live_figures SHARED LABEL: launch the live task with shared_runner
# SHARED, register its agents, measure, stop it.
live_figures() {
	cat > "$LIVE/task.yml" <<YAML
task:
  task_name: bench-live
  task_title: Live benchmark
  task_description: Live updates from mephisto-bench.
  task_reward: 0.01
  task_tags: bench
  assignment_duration_in_seconds: 3600
blueprint:
  _blueprint_type: live_task
  task_source: bundle.js
  data_jsonl: data.jsonl
  runner: exec '$BUILD/bench/echo-runner'
  runner_timeout_seconds: 60
  shared_runner: $1
provider:
  _provider_type: mock
architect:
  port: 0
YAML
	serve "$LIVE/task.yml" live_task
	rm -f "$LIVE/agents"
	$LOAD "$GEN" -c 16 -n "$LIVE_AGENTS" -d 60 --agents "$LIVE/agents" \
		register "$HOSTPORT" >&2
	figure "live round trip, $2, $LIVE_AGENTS ws at 10000/s" \
		-c "$LIVE_AGENTS" -d "$SECS" --rate 10000 \
		--agents "$LIVE/agents" ws-live
	figure "live relay, $2, $LIVE_AGENTS ws, flat out" \
		-c "$LIVE_AGENTS" -d "$SECS" --window 8 \
		--agents "$LIVE/agents" ws-live
	"$BIN/mephisto-launch" stop "$RUN" >/dev/null 2>&1
}
live_figures true "shared runner"
live_figures false "runner per assignment"

echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
