#!/usr/bin/env bash
# Crash torture: real runs (mephisto-launch, mephisto-pool, mephisto-io and
# one SQLite database) worked by a storm of scripted HTTP workers, while
# pool, io or the supervisor are killed with SIGKILL at seeded random
# moments.  A killed pool or io is restarted by the supervisor; a killed
# supervisor is replaced by "mephisto-launch resume".  After every trial:
#
#   - no unit was ever held by two agents at once (sampled all along the
#     run, and checked at the end);
#   - every submission answered "Submitted!" (a 2xx from /submit_task) is
#     in the database exactly once: its agent completed, its unit completed
#     by that agent, its outputs stored;
#   - no unit is left created, launched or assigned, and the run is
#     marked completed;
#   - PRAGMA integrity_check is ok and foreign keys hold;
#   - no pool or io process is left behind.
#
# usage: tests/torture.sh [-n TRIALS] [-s SEED] [-u UNITS] [-w WORKERS]
#                         [-k KILLS] [-b BUILD_DIR] [-v]
#
# Trial i uses seed SEED+i; a failing trial prints its seed, and
# "tests/torture.sh -n 1 -s SEED" (or "make torture TRIALS=1 SEED=SEED")
# replays its schedule of kills.  Prints one line per trial and a summary;
# exits 1 if any trial failed.
set -u

TRIALS=3
SEED=$(( $(date +%s) % 100000 ))
UNITS=1000
WORKERS=1000
KILLS=4
VERBOSE=0
REPO="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${MEPHISTO_BUILD:-$REPO/build/default}"

while getopts "n:s:u:w:k:b:v" opt; do
	case $opt in
	n) TRIALS=$OPTARG ;;
	s) SEED=$OPTARG ;;
	u) UNITS=$OPTARG ;;
	w) WORKERS=$OPTARG ;;
	k) KILLS=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	v) VERBOSE=1 ;;
	*) echo "usage: $0 [-n TRIALS] [-s SEED] [-u UNITS] [-w WORKERS] [-k KILLS] [-b BUILD_DIR] [-v]" >&2
	   exit 2 ;;
	esac
done

export PATH="$BUILD/bin:$PATH"
export MEPHISTO_EXEC_PATH="$BUILD/bin"
unset MEPHISTO_LOG_LEVEL NO_COLOR

WORK=$(mktemp -d /tmp/mph-torture.XXXXXX)
PIDS=()		# everything this script started, to stop at the end

say() { [ "$VERBOSE" = 1 ] && echo "  $*" >&2; return 0; }

lsql() {
	sqlite3 -batch -noheader -cmd ".timeout 10000" "$MEPHISTO_DB" "$@"
}

alive() {
	local st
	[ -n "${1:-}" ] || return 1
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ "$st" != Z* ]]
}

# A number in [LO, HI) from the trial's seeded generator.
rand() {
	echo $(( $1 + RANDOM % ($2 - $1) ))
}

run_url() {
	lsql "SELECT task_url FROM task_run_state WHERE status = 'running' AND task_url IS NOT NULL" 2>/dev/null
}

child_pid() {
	cat "$DIR/$1.pid" 2>/dev/null
}

# wait_until SECONDS COMMAND...
wait_until() {
	local limit=$(( $1 * 20 )) i=0
	shift
	until "$@"; do
		i=$((i + 1))
		[ "$i" -ge "$limit" ] && return 1
		sleep 0.05
	done
}

# Statuses in which an agent holds its unit (working on it, or done).
HOLDING="'none', 'accepted', 'onboarding', 'waiting', 'in task', 'completed', 'approved', 'soft_rejected', 'rejected'"

# Sample the database for units held by two agents, until killed.
monitor() {
	while :; do
		lsql "SELECT unit_id, COUNT(*) FROM agents WHERE status IN ($HOLDING) GROUP BY unit_id HAVING COUNT(*) > 1" \
			>> "$T/double-held" 2>/dev/null
		sleep 0.2
	done
}

have_run_id() {
	run_id=$(lsql "SELECT task_run_id FROM task_runs" 2>/dev/null) &&
		[ -n "$run_id" ]
}

have_url() {
	url=$(run_url) && [ -n "$url" ]
}

start_workers() {
	local url
	wait_until 10 have_url || return 1
	mephisto-launch work --workers "$WORKERS" "$url" 2>> "$T/work.log" &
	workers_pid=$!
	workers_url=$url
	PIDS+=("$workers_pid")
	say "workers $workers_pid on $url"
}

start_launch() {
	"$@" >> "$T/launch.log" 2>&1 &
	launch_pid=$!
	PIDS+=("$launch_pid")
}

fresh_child() {
	local pid
	pid=$(child_pid "$1")
	[ -n "$pid" ] && [ "$pid" != "$2" ] && alive "$pid"
}

# The supervisor, pool and io are all up again after a kill.
recovered() {
	alive "$launch_pid" || return 0	# the run may have ended
	fresh_child pool "$1" && fresh_child io "$1"
}

trial() {
	local n=$1 seed=$2 i k victim pid url st fail=() acked lost
	local kills=0 kpool=0 kio=0 klaunch=0
	workers_pid= workers_url= launch_pid= monitor_pid=

	RANDOM=$seed
	T="$WORK/trial-$n"
	mkdir -p "$T/home/.mephisto" "$T/task"
	export HOME="$T/home" MEPHISTO_HOME="$T/home/.mephisto"
	export MEPHISTO_CONFIG="$MEPHISTO_HOME/config.yml"
	export MEPHISTO_DATA=$(mktemp -d /tmp/mph.XXXXXX)
	export MEPHISTO_DB="$MEPHISTO_DATA/database.db"
	printf 'core:\n  main_data_directory: %s\n' "$MEPHISTO_DATA" > "$MEPHISTO_CONFIG"

	printf '<p>${text}</p><input name="rating">\n' > "$T/task/task.html"
	{
		echo "text,n"
		for ((i = 1; i <= UNITS; i++)); do echo "row $i,$i"; done
	} > "$T/task/data.csv"
	cat > "$T/task/task.yml" <<YAML
task:
  task_name: torture-$n
  task_title: Torture
  task_description: Submit whatever.
  task_reward: 0.01
  task_tags: torture
  assignment_duration_in_seconds: 3
  max_num_concurrent_units: $(( RANDOM % 2 ? 0 : 100 ))
blueprint:
  _blueprint_type: static_task
  task_source: task.html
  data_csv: data.csv
provider:
  _provider_type: mock
architect:
  port: 0
YAML
	: > "$T/double-held"

	start_launch mephisto-launch "$T/task/task.yml" --quiet
	if ! wait_until 30 run_url >/dev/null; then
		fail+=("the run did not start")
	else
		wait_until 10 have_run_id
		DIR="$MEPHISTO_DATA/runs/$run_id"
		start_workers
		monitor &
		monitor_pid=$!
		PIDS+=("$monitor_pid")

		for ((k = 0; k < KILLS; k++)); do
			sleep "0.$(rand 100 999)"
			alive "$launch_pid" || break
			case $(( RANDOM % 3 )) in
			0) victim=pool; pid=$(child_pid pool) ;;
			1) victim=io; pid=$(child_pid io) ;;
			2) victim=launch; pid=$launch_pid ;;
			esac
			alive "$pid" || continue
			kill -KILL "$pid" 2>/dev/null || continue
			kills=$((kills + 1))
			say "kill $kills: $victim ($pid)"
			case $victim in
			pool) kpool=$((kpool + 1)) ;;
			io) kio=$((kio + 1)) ;;
			launch)
				klaunch=$((klaunch + 1))
				wait "$pid" 2>/dev/null
				start_launch mephisto-launch resume "$run_id" --quiet
				;;
			esac
			if ! wait_until 30 recovered "$pid"; then
				fail+=("no recovery after killing $victim")
				break
			fi
			url=$(run_url)
			if [ -n "$url" ] && [ "$url" != "$workers_url" ]; then
				start_workers
			fi
		done

		# Let the run finish; keep workers at it (a batch gives up
		# after a long outage).
		for ((i = 0; i < 1200; i++)); do
			alive "$launch_pid" || break
			alive "$workers_pid" || start_workers
			sleep 0.1
		done
		if alive "$launch_pid"; then
			fail+=("the run did not finish within 120 s")
			kill -TERM "$launch_pid" 2>/dev/null
			wait_until 30 eval '! alive "$launch_pid"'
		fi
		wait "$launch_pid" 2>/dev/null
		st=$?
		[ "$st" -eq 0 ] || fail+=("the supervisor exited $st")
		kill -TERM "$monitor_pid" "$workers_pid" 2>/dev/null
		wait "$monitor_pid" "$workers_pid" 2>/dev/null
		for victim in pool io; do
			pid=$(child_pid $victim)
			if alive "$pid"; then
				fail+=("$victim $pid is still running")
				kill -KILL "$pid"
			fi
		done
	fi

	# The invariants.
	[ -s "$T/double-held" ] &&
		fail+=("units held by two agents at once: $(sort -u "$T/double-held" | head -3 | tr '\n' ' ')")
	st=$(lsql "SELECT COUNT(*) FROM (SELECT unit_id FROM agents WHERE status IN ($HOLDING) GROUP BY unit_id HAVING COUNT(*) > 1)")
	[ "$st" = 0 ] || fail+=("$st units held by two agents at the end")
	grep -o 'submitted [0-9]*' "$T/work.log" 2>/dev/null | cut -d' ' -f2 | sort > "$T/acked"
	acked=$(wc -l < "$T/acked")
	[ "$(sort -u "$T/acked" | wc -l)" -eq "$acked" ] ||
		fail+=("an agent was acknowledged twice")
	lsql "CREATE TEMP TABLE acked (agent_id INTEGER);" \
		".import $T/acked acked" \
		"SELECT acked.agent_id FROM acked LEFT JOIN agents a USING (agent_id)
		 LEFT JOIN units u ON u.unit_id = a.unit_id
		 LEFT JOIN agent_data d ON d.agent_id = a.agent_id
		 WHERE a.status IS NOT 'completed' OR u.status IS NOT 'completed'
		    OR u.agent_id IS NOT a.agent_id OR d.outputs IS NULL" \
		> "$T/lost" 2>&1
	lost=$(wc -l < "$T/lost")
	TOTAL_LOST=$((TOTAL_LOST + lost))
	[ "$lost" -eq 0 ] ||
		fail+=("$lost acknowledged submissions lost: $(head -3 "$T/lost" | tr '\n' ' ')")
	st=$(lsql "SELECT COUNT(*) FROM units WHERE status IN ('created', 'launched', 'assigned')")
	[ "$st" = 0 ] || fail+=("$st units left created, launched or assigned")
	st=$(lsql "SELECT COUNT(*) FROM units WHERE status = 'completed'")
	[ "$st" = "$UNITS" ] || fail+=("$st of $UNITS units completed")
	st=$(lsql "SELECT is_completed FROM task_runs")
	[ "$st" = 1 ] || fail+=("the run is not marked completed")
	st=$(lsql "PRAGMA integrity_check")
	[ "$st" = ok ] || fail+=("integrity_check: $st")
	st=$(lsql "PRAGMA foreign_key_check")
	[ -z "$st" ] || fail+=("foreign_key_check: $(head -3 <<<"$st" | tr '\n' ' ')")

	TOTAL_KILLS=$((TOTAL_KILLS + kills))
	TOTAL_ACKED=$((TOTAL_ACKED + acked))
	TOTAL_UNITS=$((TOTAL_UNITS + UNITS))
	printf 'trial %d seed %d: %d units, %d workers, %d kills (pool %d, io %d, launch %d), %d acknowledged, %s\n' \
		"$n" "$seed" "$UNITS" "$WORKERS" "$kills" "$kpool" "$kio" "$klaunch" "$acked" \
		"$([ ${#fail[@]} -eq 0 ] && echo ok || echo FAILED)"
	if [ ${#fail[@]} -ne 0 ]; then
		FAILED=$((FAILED + 1))
		printf '  %s\n' "${fail[@]}"
		echo "  logs: $T (database: $MEPHISTO_DB)"
		echo "  replay: make torture TRIALS=1 SEED=$seed"
		return 1
	fi
	rm -rf "$MEPHISTO_DATA" "$T"
}

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	# the pool and io of a trial cut short
	if [ -n "${DIR:-}" ]; then
		for p in $(child_pid pool) $(child_pid io); do
			kill -KILL "$p" 2>/dev/null
		done
	fi
	[ "$FAILED" -eq 0 ] && rm -rf "$WORK"
}

DIR=
FAILED=0 TOTAL_KILLS=0 TOTAL_ACKED=0 TOTAL_UNITS=0 TOTAL_LOST=0
trap cleanup EXIT
trap 'exit 130' INT TERM

for ((t = 0; t < TRIALS; t++)); do
	trial "$((t + 1))" "$((SEED + t))"
done
echo "torture: $TRIALS trials, $((TRIALS - FAILED)) passed, $FAILED failed; $TOTAL_KILLS kills survived; $TOTAL_UNITS units; $TOTAL_ACKED acknowledged submissions, $TOTAL_LOST lost"
[ "$FAILED" -eq 0 ]
