#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "db.h"
#include "ipc.h"
#include "launch.h"
#include "log.h"
#include "model.h"
#include "msg.h"
#include "proc.h"
#include "proto.h"
#include "run.h"
#include "xalloc.h"
#include "opt.h"
#include "banned.h"

/*
 * The small subcommands: list, status, stop, expire, results.
 */

static const struct option help_only[] = {
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Parse options that are only --help; returns with optind at the args. */
static void
only_help(int argc, char **argv, const char *usage)
{
	int c;

	while ((c = opt_getopt(argc, argv, "h", help_only)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			log_close_stdout();
			exit(EXIT_OK);
		}
		launch_usage_error(usage, NULL);
	}
}

static void
print_json_line(const cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);

	puts(s);
	cJSON_free(s);
}

/* --- list --- */

static const char list_usage[] =
"usage: mephisto launch list [--json]\n"
"\n"
"List task runs, newest first, with their units by status.  --json\n"
"prints one JSON object per run.\n";

static long
count_of(const cJSON *counts, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(counts, key);

	return cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
}

static const char *
str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "-";
}

int
cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cJSON *runs = cJSON_CreateArray();
	const cJSON *r, *c;
	struct db *db;
	char *err = NULL;
	int ch, json = 0;

	while ((ch = opt_getopt(argc, argv, "h", opts)) != -1) {
		if (ch == 'j') {
			json = 1;
		} else if (ch == 'h') {
			fputs(list_usage, stdout);
			cJSON_Delete(runs);
			return EXIT_OK;
		} else {
			launch_usage_error(list_usage, NULL);
		}
	}
	if (optind != argc)
		launch_usage_error(list_usage, "unexpected argument '%s'",
		    argv[optind]);
	db = launch_open_db();
	if (run_list(db, runs, &err) < 0)
		die("%s", err);
	db_close(db);
	if (!json && cJSON_GetArraySize(runs))
		printf("%-20s %-24s %-10s %6s %6s %6s %6s %6s\n", "RUN", "TASK",
		    "STATUS", "UNITS", "DONE", "LIVE", "WAIT", "EXPIRED");
	cJSON_ArrayForEach(r, runs) {
		if (json) {
			print_json_line(r);
			continue;
		}
		c = cJSON_GetObjectItemCaseSensitive(r, "counts");
		printf("%-20s %-24s %-10s %6ld %6ld %6ld %6ld %6ld\n",
		    str_of(r, "task_run_id"), str_of(r, "task_name"),
		    str_of(r, "status"), count_of(c, "total"),
		    count_of(c, UNIT_COMPLETED) + count_of(c, UNIT_ACCEPTED) +
		    count_of(c, UNIT_REJECTED) +
		    count_of(c, UNIT_SOFT_REJECTED),
		    count_of(c, UNIT_ASSIGNED), count_of(c, UNIT_LAUNCHED) +
		    count_of(c, UNIT_CREATED), count_of(c, UNIT_EXPIRED));
	}
	cJSON_Delete(runs);
	return EXIT_OK;
}

/* --- status --- */

static const char status_usage[] =
"usage: mephisto launch status [--json] [RUN]\n"
"\n"
"Show the queue of run RUN (default: the newest run): units waiting for\n"
"a worker, units assigned with their worker and time so far, and units\n"
"done.  A live run is asked through its worker pool; otherwise the\n"
"database is read.  --json prints the queue as one JSON object: counts\n"
"(units by status), units (the assigned ones), truncated and source.\n";

/* The newest run, or die. */
static int64_t
newest_run(struct db *db)
{
	cJSON *runs = cJSON_CreateArray();
	const cJSON *first;
	char *err = NULL;
	int64_t id = 0;

	if (run_list(db, runs, &err) < 0)
		die("%s", err);
	first = cJSON_GetArrayItem(runs, 0);
	if (!first)
		die("there are no task runs");
	db_id_parse(str_of(first, "task_run_id"), &id);
	cJSON_Delete(runs);
	return id;
}

static void
add_unit_json(cJSON *arr, const struct run_unit_row *r)
{
	cJSON *u = cJSON_CreateObject();
	char b[DB_ID_BUFSZ];

	cJSON_AddStringToObject(u, "unit_id", db_id_format(r->unit_id, b));
	cJSON_AddNumberToObject(u, "unit_index", (double)r->unit_index);
	cJSON_AddStringToObject(u, "assignment_id",
	    db_id_format(r->assignment_id, b));
	cJSON_AddStringToObject(u, "status", r->status);
	if (r->worker_id)
		cJSON_AddStringToObject(u, "worker_id",
		    db_id_format(r->worker_id, b));
	else
		cJSON_AddNullToObject(u, "worker_id");
	if (r->worker_name)
		cJSON_AddStringToObject(u, "worker_name", r->worker_name);
	else
		cJSON_AddNullToObject(u, "worker_name");
	if (r->agent_id)
		cJSON_AddStringToObject(u, "agent_id",
		    db_id_format(r->agent_id, b));
	else
		cJSON_AddNullToObject(u, "agent_id");
	if (r->agent_status)
		cJSON_AddStringToObject(u, "agent_status", r->agent_status);
	else
		cJSON_AddNullToObject(u, "agent_status");
	if (r->started > 0)
		cJSON_AddNumberToObject(u, "started", r->started);
	else
		cJSON_AddNullToObject(u, "started");
	if (r->ended > 0)
		cJSON_AddNumberToObject(u, "ended", r->ended);
	else
		cJSON_AddNullToObject(u, "ended");
	cJSON_AddItemToArray(arr, u);
}

/*
 * The queue from the database, in the shape of the pool's snapshot for
 * {"statuses": ["assigned"]}: counts of every status, the held units.
 */
static cJSON *
queue_from_db(struct db *db, int64_t run_id)
{
	struct run_units u = RUN_UNITS_INIT;
	cJSON *snap = cJSON_CreateObject(), *units, *counts, *n;
	char *err = NULL;
	size_t i;

	if (run_units_get(db, run_id, &u, &err) < 0)
		die("%s", err);
	units = cJSON_AddArrayToObject(snap, "units");
	counts = cJSON_AddObjectToObject(snap, "counts");
	for (i = 0; i < u.nr; i++) {
		n = cJSON_GetObjectItemCaseSensitive(counts, u.row[i].status);
		if (n)
			cJSON_SetNumberValue(n, n->valuedouble + 1);
		else
			cJSON_AddNumberToObject(counts, u.row[i].status, 1);
		if (!strcmp(u.row[i].status, UNIT_ASSIGNED))
			add_unit_json(units, &u.row[i]);
	}
	cJSON_AddBoolToObject(snap, "truncated", 0);
	run_units_release(&u);
	return snap;
}

/* The queue from the live pool, or NULL when it cannot be reached. */
static cJSON *
queue_from_pool(int64_t run_id)
{
	struct msg_packet req = MSG_PACKET_INIT, reply = MSG_PACKET_INIT;
	char *dir = launch_run_dir(run_id), *sock, *err = NULL;
	struct ipc_conn *c;
	cJSON *snap = NULL;

	sock = xasprintf("%s/pool.sock", dir);
	c = ipc_open(sock, 2000, &err);
	if (!c)
		goto out;
	req.packet_type = PT_SNAPSHOT;
	req.subject_id = PROTO_SYSTEM_SUBJECT;
	req.data = cJSON_CreateObject();
	cJSON_AddItemToObject(req.data, "statuses",
	    cJSON_CreateStringArray((const char *const[]){ UNIT_ASSIGNED }, 1));
	if (ipc_request(c, &req, &reply, PROTO_DEADLINE_MS, &err) == 0 &&
	    reply.data)
		snap = cJSON_Duplicate(reply.data, 1);
	cJSON_Delete(req.data);
	msg_packet_release(&reply);
	ipc_conn_free(c);
out:
	if (err)
		log_debug("pool of run %lld: %s", (long long)run_id, err);
	free(err);
	free(sock);
	free(dir);
	return snap;
}

static void
format_elapsed(struct buf *b, double secs)
{
	long s = secs > 0 ? (long)secs : 0;

	if (s >= 3600)
		buf_addf(b, "%ldh%02ldm%02lds", s / 3600, s / 60 % 60, s % 60);
	else if (s >= 60)
		buf_addf(b, "%ldm%02lds", s / 60, s % 60);
	else
		buf_addf(b, "%lds", s);
}

static double
num_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void
print_queue(const struct run_info *info, const cJSON *snap, int live)
{
	const cJSON *units = cJSON_GetObjectItemCaseSensitive(snap, "units");
	const cJSON *counts = cJSON_GetObjectItemCaseSensitive(snap, "counts");
	double done = 0;
	struct buf b = BUF_INIT;
	const cJSON *u, *n;
	double now = db_now();

	printf("run %lld (task %s): %s%s%s\n", (long long)info->task_run_id,
	    info->task_name, info->status ? info->status : "unknown",
	    info->task_url ? " at " : "",
	    info->task_url ? info->task_url : "");
	cJSON_ArrayForEach(n, counts)
		if (strcmp(n->string, UNIT_LAUNCHED) &&
		    strcmp(n->string, UNIT_CREATED) &&
		    strcmp(n->string, UNIT_EXPIRED) &&
		    strcmp(n->string, UNIT_ASSIGNED))
			done += n->valuedouble;
	printf("  waiting for a worker: %.0f (and %.0f not launched yet)\n",
	    num_of(counts, UNIT_LAUNCHED), num_of(counts, UNIT_CREATED));
	printf("  assigned: %.0f\n", num_of(counts, UNIT_ASSIGNED));
	cJSON_ArrayForEach(u, units) {
		buf_reset(&b);
		if (num_of(u, "started") > 0)
			format_elapsed(&b, now - num_of(u, "started"));
		printf("    unit %s  worker %s  %s\n", str_of(u, "unit_id"),
		    str_of(u, "worker_name"), b.len ? b.buf : "-");
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(snap, "truncated")))
		printf("    ... (more not shown)\n");
	printf("  completed: %.0f\n  expired: %.0f\n", done,
	    num_of(counts, UNIT_EXPIRED));
	printf("  (from the %s)\n", live ? "worker pool" : "database");
	buf_release(&b);
}

int
cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct run_info info;
	struct db *db;
	int64_t run_id;
	cJSON *snap;
	char *err = NULL;
	int c, json = 0, live = 1, r;

	while ((c = opt_getopt(argc, argv, "h", opts)) != -1) {
		if (c == 'j') {
			json = 1;
		} else if (c == 'h') {
			fputs(status_usage, stdout);
			return EXIT_OK;
		} else {
			launch_usage_error(status_usage, NULL);
		}
	}
	if (argc - optind > 1)
		launch_usage_error(status_usage, "at most one run id");
	db = launch_open_db();
	run_id = optind < argc ? launch_parse_run(argv[optind]) :
	    newest_run(db);
	r = run_info_get(db, run_id, &info, &err);
	if (r < 0)
		die("%s", err);
	if (!r)
		die("no task run %lld", (long long)run_id);
	snap = NULL;
	if (info.status && strcmp(info.status, "completed") &&
	    strcmp(info.status, "stopped"))
		snap = queue_from_pool(run_id);
	if (!snap) {
		live = 0;
		snap = queue_from_db(db, run_id);
	}
	if (json) {
		cJSON_AddStringToObject(snap, "source", live ? "pool" :
		    "database");
		print_json_line(snap);
	} else {
		print_queue(&info, snap, live);
	}
	cJSON_Delete(snap);
	run_info_release(&info);
	db_close(db);
	return EXIT_OK;
}

/* --- stop --- */

static const char stop_usage[] =
"usage: mephisto launch stop RUN\n"
"\n"
"Stop run RUN as Ctrl-C would: its supervisor stops launching, expires\n"
"units nobody holds, waits for work in progress (its grace period) and\n"
"stops the io and pool.  Waits until the supervisor has exited.  A run\n"
"whose supervisor is gone is stopped here: units nobody holds are\n"
"expired and its io and pool are stopped.\n";

/* Stop a pidfile's process with SIGTERM, then SIGKILL after 5 s. */
static void
stop_pidfile(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s.pid", dir, name);
	pid_t pid;

	if (proc_pidfile_read(path, &pid) == 0 && proc_alive(pid)) {
		kill(pid, SIGTERM);
		if (!proc_wait_exit(pid, 5000, NULL)) {
			warn("%s (pid %ld) did not stop; killing it", name,
			    (long)pid);
			kill(pid, SIGKILL);
			proc_wait_exit(pid, 2000, NULL);
		}
	}
	unlink(path);
	free(path);
}

static int
stop_offline(struct db *db, int64_t run_id)
{
	char *dir = launch_run_dir(run_id), *err = NULL;
	size_t n = 0;
	int done;

	if (run_expire(db, run_id, NULL, 0, 0, &n, &err) < 0)
		die("%s", err);
	stop_pidfile(dir, "io");
	stop_pidfile(dir, "pool");
	/* Nobody serves the run any more: units still held are lost. */
	if (run_expire(db, run_id, NULL, 0, RUN_EXPIRE_HELD, &n, &err) < 0)
		die("%s", err);
	if (run_complete_if_done(db, run_id, &done, &err) < 0)
		die("%s", err);
	if (run_set_state(db, run_id, done ? "completed" : "stopped", NULL,
	    -1, 0, &err) < 0)
		die("%s", err);
	free(dir);
	return EXIT_OK;
}

int
cmd_stop(int argc, char **argv)
{
	struct run_info info;
	struct db *db;
	int64_t run_id;
	char *err = NULL;
	pid_t pid;
	int r;

	only_help(argc, argv, stop_usage);
	if (optind != argc - 1)
		launch_usage_error(stop_usage, "one run id is needed");
	run_id = launch_parse_run(argv[optind]);
	db = launch_open_db();
	r = run_info_get(db, run_id, &info, &err);
	if (r < 0)
		die("%s", err);
	if (!r)
		die("no task run %lld", (long long)run_id);
	pid = (pid_t)info.supervisor_pid;
	run_info_release(&info);
	if (pid > 0 && proc_alive(pid) && kill(pid, SIGTERM) == 0) {
		log_info("asked the supervisor of run %lld (pid %ld) to stop",
		    (long long)run_id, (long)pid);
		proc_wait_exit(pid, -1, NULL);
		db_close(db);
		return EXIT_OK;
	}
	r = stop_offline(db, run_id);
	db_close(db);
	return r;
}

/* --- expire --- */

static const char expire_usage[] =
"usage: mephisto launch expire RUN [UNIT...]\n"
"\n"
"Expire the units of run RUN that nobody holds (created or launched), or\n"
"only the UNITs given.  Units assigned to a worker are left alone.\n";

int
cmd_expire(int argc, char **argv)
{
	struct run_info info;
	int64_t run_id, *units;
	struct db *db;
	char *err = NULL;
	size_t n, i, done = 0;
	int finished, r;

	only_help(argc, argv, expire_usage);
	if (optind >= argc)
		launch_usage_error(expire_usage, "a run id is needed");
	run_id = launch_parse_run(argv[optind++]);
	n = (size_t)(argc - optind);
	units = xcalloc(n ? n : 1, sizeof(*units));
	for (i = 0; i < n; i++)
		if (db_id_parse(argv[optind + (int)i], &units[i]) < 0)
			launch_usage_error(expire_usage, "'%s' is not a unit "
			    "id", argv[optind + (int)i]);
	db = launch_open_db();
	r = run_info_get(db, run_id, &info, &err);
	if (r < 0)
		die("%s", err);
	if (!r)
		die("no task run %lld", (long long)run_id);
	run_info_release(&info);
	if (run_expire(db, run_id, units, n, 0, &done, &err) < 0)
		die("%s", err);
	free(units);
	printf("expired %zu unit%s\n", done, done == 1 ? "" : "s");
	if (run_complete_if_done(db, run_id, &finished, &err) < 0)
		die("%s", err);
	db_close(db);
	return EXIT_OK;
}
