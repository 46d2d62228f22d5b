#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "csv.h"
#include "db.h"
#include "log.h"
#include "msg.h"
#include "review.h"
#include "run.h"
#include "xalloc.h"
#include "opt.h"
#include "banned.h"

/*
 * "export": every unit of a task or run with its data and its review, as
 * JSON lines or CSV.  "summary": counts, approval rate and median time on
 * task per worker and per task, and the agreement between workers who did
 * units of the same assignment (percent agreement and Krippendorff's
 * alpha for nominal data, per output field).
 */

static const char export_usage[] =
"usage: mephisto-review export (--task NAME | --run ID) [--status S,...]\n"
"                              [--format jsonl|csv]\n"
"\n"
"Print every unit of task NAME or run ID with its data and its review:\n"
"the fields of 'mephisto launch results' (unit_id, assignment_id,\n"
"task_run_id, agent_id, worker_id, worker_name, status, inputs, outputs,\n"
"task_start, task_end, files) plus review (the last decision: status,\n"
"note, time; null if none), bonus (the total paid for the unit) and\n"
"blocked (whether the worker is blocked).\n"
"\n"
"  --status S,...       only units in these statuses (default: all)\n"
"  --format FORMAT      jsonl (default) or csv (inputs and outputs become\n"
"                       columns inputs.KEY and outputs.KEY)\n"
"  -h, --help           show this help\n"
"\n"
"Exit status: 0 success, 1 failure, 2 usage error.\n";

static const char summary_usage[] =
"usage: mephisto-review summary (--task NAME | --run ID) [--json]\n"
"\n"
"Per worker and per task: units done, approved, rejected, soft-rejected,\n"
"waiting for review, the approval rate (approved of reviewed) and the\n"
"median time on task.  Then, for each output field, the agreement between\n"
"workers who did units of the same assignment: the items (assignments\n"
"with two or more answers), the pairs of answers compared, the percent of\n"
"pairs that agree and Krippendorff's alpha (nominal; null when the\n"
"answers do not vary).  --json prints one object {workers, tasks,\n"
"agreement} instead of tables.\n"
"\n"
"Exit status: 0 success, 1 failure, 2 usage error.\n";

static const char *const all_statuses[] = {
	"created", "launched", "assigned", "completed", "accepted",
	"rejected", "soft_rejected", "expired",
};

struct xopts {
	const char *task, *run;
	const char **statuses;
	size_t nr_statuses, alloc;
	char *copy;
	int csv, json;
};

static int
xparse(int argc, char **argv, const char *usage, int is_export,
    struct xopts *o)
{
	static const struct option longopts[] = {
		{ "task", required_argument, NULL, 't' },
		{ "run", required_argument, NULL, 'r' },
		{ "status", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const int export_only[] = { 't', 'r', 's', 'F', 0 };
	static const int summary_only[] = { 't', 'r', 'j', 0 };
	char *p, *save = NULL;
	size_t i;
	int c;

	optind = 0;
	while ((c = opt_getopt_only(argc, argv, "h", longopts,
	    is_export ? export_only : summary_only)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage, stdout);
			exit(log_close_stdout());
		case 't':
			o->task = optarg;
			break;
		case 'r':
			o->run = optarg;
			break;
		case 's':
			if (!is_export)
				review_usage_error(usage, "--status is not "
				    "valid here");
			free(o->copy);
			o->copy = xstrdup(optarg);
			o->nr_statuses = 0;
			for (p = strtok_r(o->copy, ",", &save); p;
			    p = strtok_r(NULL, ",", &save)) {
				for (i = 0; i < ARRAY_SIZE(all_statuses); i++)
					if (!strcmp(p, all_statuses[i]))
						break;
				if (i == ARRAY_SIZE(all_statuses))
					review_usage_error(usage, "unknown unit "
					    "status '%s'", p);
				ALLOC_GROW(o->statuses, o->nr_statuses + 1,
				    o->alloc);
				o->statuses[o->nr_statuses++] =
				    all_statuses[i];
			}
			break;
		case 'F':
			if (!is_export)
				review_usage_error(usage, "--format is not "
				    "valid here");
			if (!strcmp(optarg, "csv"))
				o->csv = 1;
			else if (strcmp(optarg, "jsonl"))
				review_usage_error(usage, "unknown format "
				    "'%s' (jsonl or csv)", optarg);
			break;
		case 'j':
			if (is_export)
				review_usage_error(usage, "--json is not valid "
				    "here");
			o->json = 1;
			break;
		default:
			review_usage_error(usage, "invalid option");
		}
	}
	if (optind < argc)
		review_usage_error(usage, "unexpected argument '%s'",
		    argv[optind]);
	if (!o->task == !o->run)
		review_usage_error(usage, "give --task NAME or --run ID");
	return 0;
}

static void
xopts_release(struct xopts *o)
{
	free(o->statuses);
	free(o->copy);
}

/* --- export --- */

/* CSV: collect the rows, to know every column first. */
static int
collect_row(cJSON *row, void *rows)
{
	msg_push(rows, msg_dup(row));
	return 0;
}

static const char *const fixed_columns[] = {
	"unit_id", "assignment_id", "task_run_id", "agent_id", "worker_id",
	"worker_name", "status", "task_start", "task_end",
};

static void
print_csv(const cJSON *rows)
{
	cJSON *in = msg_new_array(), *out = msg_new_array();
	const cJSON *row, *k, *rev;
	struct buf b = BUF_INIT;
	size_t i;

	csv_collect_keys(rows, "inputs", in);
	csv_collect_keys(rows, "outputs", out);
	for (i = 0; i < ARRAY_SIZE(fixed_columns); i++)
		buf_addf(&b, "%s%s", i ? "," : "", fixed_columns[i]);
	buf_addstr(&b, ",review_status,review_note,review_time,bonus,blocked");
	msg_foreach(k, in) {
		buf_addstr(&b, ",inputs.");
		csv_field(&b, k->valuestring);
	}
	msg_foreach(k, out) {
		buf_addstr(&b, ",outputs.");
		csv_field(&b, k->valuestring);
	}
	buf_addstr(&b, ",files\r\n");
	fputs(b.buf, stdout);
	msg_foreach(row, rows) {
		buf_reset(&b);
		for (i = 0; i < ARRAY_SIZE(fixed_columns); i++) {
			if (i)
				buf_addch(&b, ',');
			csv_value(&b, msg_get(row, fixed_columns[i]));
		}
		rev = msg_get(row, "review");
		buf_addch(&b, ',');
		csv_value(&b, msg_get(rev, "status"));
		buf_addch(&b, ',');
		csv_value(&b, msg_get(rev, "note"));
		buf_addch(&b, ',');
		csv_value(&b, msg_get(rev, "time"));
		buf_addch(&b, ',');
		csv_value(&b, msg_get(row, "bonus"));
		buf_addch(&b, ',');
		csv_value(&b, msg_get(row, "blocked"));
		msg_foreach(k, in) {
			buf_addch(&b, ',');
			csv_value(&b, msg_get(msg_get(row, "inputs"),
			    k->valuestring));
		}
		msg_foreach(k, out) {
			buf_addch(&b, ',');
			csv_value(&b, msg_get(msg_get(row, "outputs"),
			    k->valuestring));
		}
		buf_addch(&b, ',');
		csv_value(&b, msg_get(row, "files"));
		buf_addstr(&b, "\r\n");
		fputs(b.buf, stdout);
	}
	buf_release(&b);
	msg_free(in);
	msg_free(out);
}

int
review_cmd_export(int argc, char **argv)
{
	struct xopts o = { 0 };
	struct run_results_query q = { 0, NULL, NULL, 0, 0, 0 };
	struct review_query rq = { 0 };
	cJSON *rows = NULL;
	struct db *db;
	char *err = NULL;
	int r;

	xparse(argc, argv, export_usage, 1, &o);
	db = review_open_db();
	rq.task = o.task;
	rq.run = o.run;
	review_query_check(db, &rq);
	if (o.run)
		db_id_parse(o.run, &q.run_id);
	q.task_name = o.task;
	q.statuses = o.nr_statuses ? o.statuses : all_statuses;
	q.nr_statuses = o.nr_statuses ? o.nr_statuses :
	    ARRAY_SIZE(all_statuses);
	q.review = 1;
	db_bulk_read(db);
	log_stdout_bulk();
	if (o.csv) {
		rows = msg_new_array();
		r = run_results(db, &q, collect_row, rows, &err);
	} else {
		r = run_results_lines(db, &q, run_line_write, stdout, &err);
	}
	if (r < 0 && err)
		die("%s", err);
	if (o.csv)
		print_csv(rows);
	msg_free(rows);
	db_close(db);
	xopts_release(&o);
	log_close_stdout();
	return EXIT_OK;
}

/* --- summary --- */

struct sunit {
	int64_t assignment_id;
	char *task, *worker;
	char status[MODEL_STATUS_MAX];
	double seconds;			/* time on task; < 0: unknown */
	cJSON *outputs;			/* or NULL */
};

struct group {
	char *name;
	long done, approved, rejected, soft, pending;
	double *times;
	size_t nr_times, alloc_times;
};

struct groups {
	struct group *g;
	size_t nr, alloc;
};

static struct group *
group_get(struct groups *gs, const char *name)
{
	size_t i;

	for (i = 0; i < gs->nr; i++)
		if (!strcmp(gs->g[i].name, name))
			return &gs->g[i];
	ALLOC_GROW(gs->g, gs->nr + 1, gs->alloc);
	memset(&gs->g[gs->nr], 0, sizeof(gs->g[0]));
	gs->g[gs->nr].name = xstrdup(name);
	return &gs->g[gs->nr++];
}

static void
group_add(struct group *g, const struct sunit *u)
{
	g->done++;
	if (!strcmp(u->status, UNIT_ACCEPTED))
		g->approved++;
	else if (!strcmp(u->status, UNIT_REJECTED))
		g->rejected++;
	else if (!strcmp(u->status, UNIT_SOFT_REJECTED))
		g->soft++;
	else
		g->pending++;
	if (u->seconds >= 0) {
		ALLOC_GROW(g->times, g->nr_times + 1, g->alloc_times);
		g->times[g->nr_times++] = u->seconds;
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of G's times, or -1 when there are none. */
static double
group_median(struct group *g)
{
	size_t n = g->nr_times;

	if (!n)
		return -1;
	qsort(g->times, n, sizeof(double), cmp_double);
	return n % 2 ? g->times[n / 2] :
	    (g->times[n / 2 - 1] + g->times[n / 2]) / 2;
}

static void
groups_release(struct groups *gs)
{
	size_t i;

	for (i = 0; i < gs->nr; i++) {
		free(gs->g[i].name);
		free(gs->g[i].times);
	}
	free(gs->g);
}

/* Agreement on one output field. */
struct agreement {
	const char *field;
	long items, pairs, agreeing;
	double alpha;		/* NAN: undefined */
};

/* V as the text compared for agreement (caller frees). */
static char *
value_text(const cJSON *v)
{
	char *s, *copy;

	if (cJSON_IsString(v))
		return xstrdup(v->valuestring);
	s = cJSON_PrintUnformatted(v);
	copy = xstrdup(s ? s : "");
	cJSON_free(s);
	return copy;
}

/*
 * Agreement on FIELD over UNITS[0..N) (sorted by assignment): every
 * assignment with two or more values is an item.  Percent agreement
 * counts agreeing pairs of values within items.  Krippendorff's alpha
 * for nominal data: with o[c][k] the coincidences (each ordered pair of
 * values of an item with m values adds 1/(m-1)), n_c their marginals and
 * n their total, alpha = 1 - (n-1) * sum_{c!=k} o[c][k] /
 * sum_{c!=k} n_c n_k.
 */
static void
agree_field(const struct sunit *units, size_t n, struct agreement *a)
{
	char **vals = NULL, **distinct = NULL;
	size_t nv = 0, av = 0, nd = 0, ad = 0, i, j, k, start, c, d;
	double *o = NULL, *nc, total = 0, obs = 0, exp_ = 0;
	size_t *idx = NULL, ai = 0;
	const cJSON *v;

	a->items = a->pairs = a->agreeing = 0;
	/* Distinct values first, to size the coincidence matrix. */
	for (i = 0; i < n; i++) {
		v = msg_get(units[i].outputs, a->field);
		if (!v || cJSON_IsNull(v))
			continue;
		ALLOC_GROW(vals, nv + 1, av);
		vals[nv] = value_text(v);
		for (k = 0; k < nd; k++)
			if (!strcmp(distinct[k], vals[nv]))
				break;
		if (k == nd) {
			ALLOC_GROW(distinct, nd + 1, ad);
			distinct[nd++] = vals[nv];
		}
		ALLOC_GROW(idx, nv + 1, ai);
		idx[nv++] = i;
	}
	o = xcalloc(nd * nd + 1, sizeof(double));
	nc = xcalloc(nd + 1, sizeof(double));
	for (start = 0; start < nv; start = j) {
		for (j = start; j < nv && units[idx[j]].assignment_id ==
		    units[idx[start]].assignment_id; j++)
			;
		if (j - start < 2)
			continue;
		a->items++;
		for (i = start; i < j; i++) {
			for (c = 0; strcmp(distinct[c], vals[i]); c++)
				;
			for (k = start; k < j; k++) {
				if (k == i)
					continue;
				for (d = 0; strcmp(distinct[d], vals[k]); d++)
					;
				o[c * nd + d] += 1.0 / (double)(j - start - 1);
				if (k > i) {
					a->pairs++;
					a->agreeing += c == d;
				}
			}
		}
	}
	for (c = 0; c < nd; c++)
		for (d = 0; d < nd; d++) {
			nc[c] += o[c * nd + d];
			total += o[c * nd + d];
			if (c != d)
				obs += o[c * nd + d];
		}
	for (c = 0; c < nd; c++)
		for (d = 0; d < nd; d++)
			if (c != d)
				exp_ += nc[c] * nc[d];
	a->alpha = exp_ > 0 ? 1 - (total - 1) * obs / exp_ : NAN;
	for (i = 0; i < nv; i++)
		free(vals[i]);
	free(vals);
	free(distinct);
	free(idx);
	free(o);
	free(nc);
}

static int
cmp_sunit(const void *a, const void *b)
{
	const struct sunit *x = a, *y = b;

	return x->assignment_id < y->assignment_id ? -1 :
	    x->assignment_id > y->assignment_id;
}

static void
load_units(struct db *db, const struct xopts *o, struct sunit **unitsp,
    size_t *nrp)
{
	int64_t run_id = 0;
	struct sunit *units = NULL, *u;
	size_t nr = 0, alloc = 0;
	sqlite3_stmt *st;
	const char *s;
	int rc;

	if (o->run)
		db_id_parse(o->run, &run_id);
	st = db_stmt(db, "SELECT u.assignment_id, t.task_name, w.worker_name, "
	    "u.status, d.task_start, d.task_end, d.outputs FROM units u "
	    "JOIN tasks t ON t.task_id = u.task_id "
	    "JOIN workers w ON w.worker_id = u.worker_id "
	    "LEFT JOIN agent_data d ON d.agent_id = u.agent_id "
	    "WHERE (?1 IS NULL OR u.task_run_id = ?1) "
	    "AND (?2 IS NULL OR t.task_name = ?2) AND u.status IN "
	    "('completed', 'accepted', 'rejected', 'soft_rejected') "
	    "ORDER BY u.assignment_id, u.unit_index");
	if (!st)
		die("cannot read units: %s", db_errmsg(db));
	if (run_id)
		sqlite3_bind_int64(st, 1, run_id);
	if (o->task)
		sqlite3_bind_text(st, 2, o->task, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ALLOC_GROW(units, nr + 1, alloc);
		u = &units[nr++];
		memset(u, 0, sizeof(*u));
		u->assignment_id = sqlite3_column_int64(st, 0);
		u->task = xstrdup((const char *)sqlite3_column_text(st, 1));
		u->worker = xstrdup((const char *)sqlite3_column_text(st, 2));
		snprintf(u->status, sizeof(u->status), "%s",
		    (const char *)sqlite3_column_text(st, 3));
		u->seconds = -1;
		if (sqlite3_column_type(st, 4) != SQLITE_NULL &&
		    sqlite3_column_type(st, 5) != SQLITE_NULL)
			u->seconds = sqlite3_column_double(st, 5) -
			    sqlite3_column_double(st, 4);
		s = (const char *)sqlite3_column_text(st, 6);
		u->outputs = s ? cJSON_Parse(s) : NULL;
		if (u->outputs && !cJSON_IsObject(u->outputs)) {
			msg_free(u->outputs);
			u->outputs = NULL;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		die("cannot read units: %s", db_errmsg(db));
	qsort(units, nr, sizeof(*units), cmp_sunit);
	*unitsp = units;
	*nrp = nr;
}

/* Add the keys of the object OBJ (may be NULL) missing from KEYS. */
static void
add_keys(cJSON *keys, const cJSON *obj)
{
	const cJSON *k, *have;
	int found;

	msg_foreach(k, obj) {
		found = 0;
		msg_foreach(have, keys)
			if (!strcmp(have->valuestring, k->string))
				found = 1;
		if (!found)
			msg_push_str(keys, k->string);
	}
}

static cJSON *
group_json(struct group *g, const char *key)
{
	cJSON *o = msg_new_object();
	long reviewed = g->approved + g->rejected + g->soft;
	double m = group_median(g);

	msg_set_str(o, key, g->name);
	msg_set_int(o, "units", g->done);
	msg_set_int(o, "approved", g->approved);
	msg_set_int(o, "rejected", g->rejected);
	msg_set_int(o, "soft_rejected", g->soft);
	msg_set_int(o, "pending", g->pending);
	if (reviewed)
		msg_set_double(o, "approval_rate",
		    (double)g->approved / (double)reviewed);
	else
		msg_set_null(o, "approval_rate");
	if (m >= 0)
		msg_set_double(o, "median_seconds", m);
	else
		msg_set_null(o, "median_seconds");
	return o;
}

static void
print_groups(const char *title, struct groups *gs)
{
	long reviewed;
	double m;
	size_t i;
	char rate[16], med[24];

	printf("%-24s %6s %8s %8s %5s %7s %8s %10s\n", title, "UNITS",
	    "APPROVED", "REJECTED", "SOFT", "PENDING", "RATE", "MEDIAN_S");
	for (i = 0; i < gs->nr; i++) {
		struct group *g = &gs->g[i];

		reviewed = g->approved + g->rejected + g->soft;
		m = group_median(g);
		if (reviewed)
			snprintf(rate, sizeof(rate), "%.1f%%", 100.0 *
			    (double)g->approved / (double)reviewed);
		else
			snprintf(rate, sizeof(rate), "-");
		if (m >= 0)
			snprintf(med, sizeof(med), "%.3f", m);
		else
			snprintf(med, sizeof(med), "-");
		printf("%-24s %6ld %8ld %8ld %5ld %7ld %8s %10s\n", g->name,
		    g->done, g->approved, g->rejected, g->soft, g->pending,
		    rate, med);
	}
}

int
review_cmd_summary(int argc, char **argv)
{
	struct xopts o = { 0 };
	struct review_query rq = { 0 };
	struct groups workers = { 0 }, tasks = { 0 };
	struct agreement *ag = NULL;
	struct sunit *units;
	cJSON *fields, *root, *arr, *x;
	const cJSON *k;
	size_t nr, i, nag = 0;
	struct db *db;

	xparse(argc, argv, summary_usage, 0, &o);
	db = review_open_db();
	rq.task = o.task;
	rq.run = o.run;
	review_query_check(db, &rq);
	load_units(db, &o, &units, &nr);
	fields = msg_new_array();
	for (i = 0; i < nr; i++) {
		group_add(group_get(&workers, units[i].worker), &units[i]);
		group_add(group_get(&tasks, units[i].task), &units[i]);
		add_keys(fields, units[i].outputs);
	}
	ag = xcalloc(msg_len(fields) + 1, sizeof(*ag));
	msg_foreach(k, fields) {
		ag[nag].field = k->valuestring;
		agree_field(units, nr, &ag[nag]);
		if (ag[nag].items)
			nag++;
	}
	if (o.json) {
		root = msg_new_object();
		arr = msg_set_array(root, "workers");
		for (i = 0; i < workers.nr; i++)
			msg_push(arr, group_json(&workers.g[i], "worker_name"));
		arr = msg_set_array(root, "tasks");
		for (i = 0; i < tasks.nr; i++)
			msg_push(arr, group_json(&tasks.g[i], "task_name"));
		arr = msg_set_array(root, "agreement");
		for (i = 0; i < nag; i++) {
			x = msg_new_object();
			msg_set_str(x, "field", ag[i].field);
			msg_set_int(x, "items", ag[i].items);
			msg_set_int(x, "pairs", ag[i].pairs);
			msg_set_double(x, "percent_agreement", ag[i].pairs ?
			    100.0 * (double)ag[i].agreeing /
			    (double)ag[i].pairs : 0);
			if (isnan(ag[i].alpha))
				msg_set_null(x, "krippendorff_alpha");
			else
				msg_set_double(x, "krippendorff_alpha",
				    ag[i].alpha);
			msg_push(arr, x);
		}
		review_print_line(root);
		msg_free(root);
	} else {
		print_groups("WORKER", &workers);
		printf("\n");
		print_groups("TASK", &tasks);
		printf("\n");
		if (!nag)
			printf("agreement: no assignment was done by more "
			    "than one worker\n");
		else
			printf("%-24s %6s %6s %10s %8s\n", "FIELD", "ITEMS",
			    "PAIRS", "AGREEMENT", "ALPHA");
		for (i = 0; i < nag; i++) {
			char alpha[24];

			if (isnan(ag[i].alpha))
				snprintf(alpha, sizeof(alpha), "-");
			else
				snprintf(alpha, sizeof(alpha), "%.3f",
				    ag[i].alpha);
			printf("%-24s %6ld %6ld %9.1f%% %8s\n", ag[i].field,
			    ag[i].items, ag[i].pairs, 100.0 *
			    (double)ag[i].agreeing / (double)ag[i].pairs,
			    alpha);
		}
	}
	for (i = 0; i < nr; i++) {
		free(units[i].task);
		free(units[i].worker);
		msg_free(units[i].outputs);
	}
	free(units);
	free(ag);
	msg_free(fields);
	groups_release(&workers);
	groups_release(&tasks);
	db_close(db);
	xopts_release(&o);
	log_close_stdout();
	return EXIT_OK;
}
