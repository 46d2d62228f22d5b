# Shared set-up for every bats file: load with `load lib/common`.
#
# Each test gets a private HOME, config and data folder under
# $BATS_TEST_TMPDIR, and a short runtime folder under /tmp (Unix socket paths
# must fit in 108 bytes).  Programs are taken from the build folder that
# `make check` names in MEPHISTO_BUILD.

bats_require_minimum_version 1.5.0

# (Their source files are read directly: their load.bash files start a
# process per file, which every test would pay for.)
load_helpers() {
	local d f
	for d in /usr/lib/bats /usr/lib/bats-core /usr/local/lib; do
		if [ -d "$d/bats-support" ]; then
			for f in "$d"/bats-support/src/{output,error,lang}.bash \
			    "$d"/bats-assert/src/*.bash \
			    "$d"/bats-file/src/*.bash; do
				source "$f" || return
			done
			return
		fi
	done
	echo "bats-support, bats-assert and bats-file are not installed" >&2
	return 1
}
load_helpers

REPO="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
MEPHISTO_BUILD="${MEPHISTO_BUILD:-$REPO/build/default}"
export MEPHISTO_BUILD REPO
export PATH="$MEPHISTO_BUILD/bin:$MEPHISTO_BUILD/tests:$PATH"
export MEPHISTO_EXEC_PATH="$MEPHISTO_BUILD/bin"
export MEPHISTO_SHARE="$REPO/share/mephisto"
# Sanitizer builds: fail on the first report and on leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=99}"

setup_env() {
	export HOME="$BATS_TEST_TMPDIR/home"
	export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share"
	export XDG_CACHE_HOME="$HOME/.cache"
	export MEPHISTO_HOME="$HOME/.mephisto"
	export MEPHISTO_CONFIG="$MEPHISTO_HOME/config.yml"
	export MEPHISTO_DATA="$(mktemp -d /tmp/mph.XXXXXX)"
	export MEPHISTO_DB="$MEPHISTO_DATA/database.db"
	unset MEPHISTO_LOG_LEVEL NO_COLOR
	mkdir -p "$HOME" "$MEPHISTO_HOME"
	# A run folder lives under the data folder; keep the socket path short.
	printf 'core:\n  main_data_directory: %s\n' "$MEPHISTO_DATA" > "$MEPHISTO_CONFIG"
	: > "$BATS_TEST_TMPDIR/pids"
	[ -n "${VALGRIND:-}" ] && valgrind_wrap
	return 0
}

# make check VALGRIND=1: every program of the build runs under valgrind
# memcheck, through wrappers put first in PATH and MEPHISTO_EXEC_PATH (so
# the supervisor's children are wrapped too).  An error or a definite
# leak makes the program exit 99 and leaves a report that fails the test
# (valgrind_reports).
valgrind_wrap() {
	local vg="$BATS_TEST_TMPDIR/valgrind-bin" p name
	mkdir -p "$vg"
	for p in "$MEPHISTO_BUILD"/bin/*; do
		name=$(basename "$p")
		cat > "$vg/$name" <<-SH
		#!/bin/sh
		exec valgrind -q --error-exitcode=99 --leak-check=full \\
			--show-leak-kinds=definite --errors-for-leak-kinds=definite \\
			--log-file="$BATS_TEST_TMPDIR/valgrind.$name.%p.log" \\
			${VALGRIND_FLAGS:-} "$p" "\$@"
		SH
		chmod +x "$vg/$name"
	done
	export PATH="$vg:$PATH" MEPHISTO_EXEC_PATH="$vg"
}

# Reports that valgrind left: with -q its logs hold only errors and leaks
# ("==PID== ..." lines) and warnings about itself ("--PID-- ...", such as
# an unhandled pidfd_open, which the programs then do without).
valgrind_reports() {
	local found
	found=$(grep -lsE '^==[0-9]+== ' "$BATS_TEST_TMPDIR"/valgrind.*.log) || return 0
	echo "valgrind reports in: $found" >&2
	grep -hE '^==[0-9]+== ' $found | head -60 >&2
	return 1
}

setup() {
	setup_env
}

# run_daemons: the pids in this test's run folders' pid files whose
# process has this test's data folder (a stale pid file may name another
# test's process).
run_daemons() {
	local f pid
	[ -n "${MEPHISTO_DATA:-}" ] && [ -d "$MEPHISTO_DATA/runs" ] || return 0
	for f in "$MEPHISTO_DATA"/runs/*/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null)
		[[ "$pid" =~ ^[0-9]+$ ]] || continue
		tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null |
			grep -qxF "MEPHISTO_DATA=$MEPHISTO_DATA" && echo "$pid"
	done
}

# Kill only what this test started: the pids in its pid file and the
# daemons of its runs.  SIGTERM first, and SIGKILL what is still there
# after 5 s, and then whatever a supervisor started again meanwhile.
teardown_daemons() {
	local pid pids=() i alive
	[ -f "$BATS_TEST_TMPDIR/pids" ] && mapfile -t pids < "$BATS_TEST_TMPDIR/pids"
	pids+=($(run_daemons))
	for pid in "${pids[@]}"; do
		[[ "$pid" =~ ^[0-9]+$ ]] && kill -TERM "$pid" 2>/dev/null
	done
	for ((i = 0; i < 100; i++)); do
		alive=0
		for pid in "${pids[@]}"; do
			[[ "$pid" =~ ^[0-9]+$ ]] || continue
			gone "$pid" || alive=1
		done
		[ "$alive" -eq 0 ] && break
		nap
	done
	for pid in "${pids[@]}" $(run_daemons); do
		[[ "$pid" =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null
	done
	return 0
}

# gone PID: the process has exited (a zombie waiting for a parent that
# is not ours to reap counts as exited).
gone() {
	local st
	{ read -r st < "/proc/$1/stat"; } 2> /dev/null || return 0
	st=${st##*) }
	[[ "$st" == [ZX]* ]]
}

# Sanitizer reports that daemons wrote to their logs (a test does not see
# a daemon's exit status) fail the test.
sanitizer_reports() {
	local dirs=("$BATS_TEST_TMPDIR") found
	[ -n "${MEPHISTO_DATA:-}" ] && [ -d "$MEPHISTO_DATA" ] && dirs+=("$MEPHISTO_DATA")
	found=$(grep -rlsIE "ERROR: (Address|Leak)Sanitizer|runtime error:" "${dirs[@]}") || return 0
	echo "sanitizer reports in: $found" >&2
	grep -hsE -A12 "ERROR: (Address|Leak)Sanitizer|runtime error:" $found | head -40 >&2
	return 1
}

common_teardown() {
	local r=0
	teardown_daemons
	sanitizer_reports || r=1
	[ -n "${VALGRIND:-}" ] && { valgrind_reports || r=1; }
	[ -n "${MEPHISTO_DATA:-}" ] && rm -rf "$MEPHISTO_DATA"
	return $r
}

teardown() {
	common_teardown
}

# Remember PID so teardown kills it.
track_pid() {
	echo "$1" >> "$BATS_TEST_TMPDIR/pids"
}

# wait_for TIMEOUT_SECONDS COMMAND...: poll COMMAND every 50 ms until it
# succeeds; fail the test after the timeout.
wait_for() {
	local limit=$(( $1 * 20 )) i=0
	shift
	until "$@" 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -ge "$limit" ]; then
			echo "timed out waiting for: $*" >&2
			return 1
		fi
		nap
	done
}

# nap: wait 50 ms without starting a process (read times out on a pipe
# nobody writes to).
nap() {
	[ -n "${NAP_FD:-}" ] || exec {NAP_FD}<> <(:)
	read -r -t 0.05 -u "$NAP_FD" || true
}

# start_daemon NAME COMMAND...: start COMMAND in the background with a
# readiness pipe on fd 3 (the daemon writes a line and closes it when it is
# ready), wait up to 10 s for that line, and track the pid.  Output goes to
# $BATS_TEST_TMPDIR/NAME.log.
start_daemon() {
	local name=$1 fifo="$BATS_TEST_TMPDIR/$1.ready" line
	shift
	rm -f "$fifo"
	mkfifo "$fifo"
	MEPHISTO_READY_FD=3 "$@" 3>"$fifo" >"$BATS_TEST_TMPDIR/$name.log" 2>&1 &
	local pid=$!
	track_pid "$pid"
	eval "${name//-/_}_pid=$pid"
	if ! read -r -t 10 line < "$fifo"; then
		echo "$name did not become ready; its log:" >&2
		cat "$BATS_TEST_TMPDIR/$name.log" >&2
		return 1
	fi
}

# assert_fails_cleanly: after `run`, the command failed with an ordinary
# exit status (not a signal death, 126 or 127, nor a sanitizer report's 99).
assert_fails_cleanly() {
	if [ "$status" -eq 0 ]; then
		echo "expected failure, got status 0; output: $output" >&2
		return 1
	fi
	if [ "$status" -gt 128 ] || [ "$status" -eq 126 ] || \
	   [ "$status" -eq 127 ] || [ "$status" -eq 99 ]; then
		echo "command died with status $status; output: $output" >&2
		return 1
	fi
}

# sql QUERY: run QUERY on the test database and print the result.
sql() {
	sqlite3 -batch -noheader "$MEPHISTO_DB" "$@"
}

# free_port: a loopback TCP port nothing listens on, chosen below the
# kernel's ephemeral range: the suite's own port-0 binds and outgoing
# connections take ports from that range, and could take this one
# between the check and its use.
free_port() {
	python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    port = random.randrange(10000, max(low, 10001))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
PY
}
