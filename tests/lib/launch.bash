# Helpers for the mephisto-launch tests: small task folders built from
# heredocs, and waiting on a run.

# make_task DIR ROWS [EXTRA_YAML]: a static task in DIR with a ROWS-row CSV.
make_task() {
	local dir=$1 rows=$2 i
	mkdir -p "$dir"
	printf '<p>${text}</p><input name="rating">\n' > "$dir/task.html"
	{
		echo "text,n"
		for ((i = 1; i <= rows; i++)); do echo "row $i,$i"; done
	} > "$dir/data.csv"
	cat > "$dir/task.yml" <<YAML
task:
  task_name: t-$(basename "$dir")
  task_title: A test task
  task_description: Say something.
  task_reward: 0.25
  task_tags: test
blueprint:
  _blueprint_type: static_task
  task_source: task.html
  data_csv: data.csv
provider:
  _provider_type: mock
architect:
  port: 0
${3:-}
YAML
}

# lsql QUERY: sql that waits for a writer instead of failing.
lsql() {
	sqlite3 -batch -noheader -cmd ".timeout 10000" "$MEPHISTO_DB" "$@"
}

# The id of the only run in the database.
only_run() {
	lsql "SELECT task_run_id FROM task_runs"
}

# count_units STATUS: units of every run in STATUS.
count_units() {
	lsql "SELECT COUNT(*) FROM units WHERE status = '$1'"
}

# launched_is N: N units were launched, each once (one event each).
launched_is() {
	[ "$(lsql "SELECT count(*) || '/' || count(DISTINCT unit_id) FROM run_events WHERE event = 'unit_status' AND detail = 'launched'")" = "$1/$1" ]
}

# The task URL of the only run, once its supervisor is serving it.
run_url() {
	local u
	[ -e "$MEPHISTO_DB" ] || return 1
	u=$(lsql "SELECT task_url FROM task_run_state WHERE status = 'running' AND task_url IS NOT NULL")
	[ -n "$u" ] && echo "$u"
}

