#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "db.h"
#include "launch.h"
#include "log.h"
#include "run.h"
#include "xalloc.h"
#include "opt.h"
#include "banned.h"

/*
 * "mephisto launch results": the units of a run or a task as JSON lines
 * (one object per unit, the shape "mephisto review" reads) or as CSV.
 */

static const char results_usage[] =
"usage: mephisto launch results (RUN | --task NAME) [--status S[,S...]]\n"
"                               [--format jsonl|csv]\n"
"\n"
"Print the units of run RUN, or of every run of task NAME, one per line\n"
"as JSON: unit_id, assignment_id, task_run_id, agent_id, worker_id,\n"
"worker_name, status, inputs, outputs, task_start, task_end, files.\n"
"\n"
"  --task NAME          every run of task NAME\n"
"  --status S,...       only units in these statuses (default: completed,\n"
"                       accepted, rejected, soft_rejected; 'all' for all)\n"
"  --format FORMAT      jsonl (default) or csv (inputs and outputs become\n"
"                       columns inputs.KEY and outputs.KEY)\n"
"  -h, --help           show this help\n";

static const char *const all_statuses[] = {
	"created", "launched", "assigned", "completed", "accepted",
	"rejected", "soft_rejected", "expired",
};

struct statuses {
	const char **item;
	size_t nr, alloc;
	char **copies;
	size_t ncopies, copies_alloc;
};

static void
add_statuses(struct statuses *s, const char *arg)
{
	char *copy = xstrdup(arg), *p, *save = NULL;
	size_t i;

	ALLOC_GROW(s->copies, s->ncopies + 1, s->copies_alloc);
	s->copies[s->ncopies++] = copy;
	for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",",
	    &save)) {
		if (!strcmp(p, "all")) {
			for (i = 0; i < ARRAY_SIZE(all_statuses); i++) {
				ALLOC_GROW(s->item, s->nr + 1, s->alloc);
				s->item[s->nr++] = all_statuses[i];
			}
			continue;
		}
		for (i = 0; i < ARRAY_SIZE(all_statuses); i++)
			if (!strcmp(p, all_statuses[i]))
				break;
		if (i == ARRAY_SIZE(all_statuses))
			launch_usage_error(results_usage, "unknown unit status "
			    "'%s'", p);
		ALLOC_GROW(s->item, s->nr + 1, s->alloc);
		s->item[s->nr++] = all_statuses[i];
	}
}

static void
statuses_release(struct statuses *s)
{
	size_t i;

	for (i = 0; i < s->ncopies; i++)
		free(s->copies[i]);
	free(s->copies);
	free(s->item);
}

static int
collect_row(cJSON *row, void *arg)
{
	cJSON_AddItemToArray(arg, cJSON_Duplicate(row, 1));
	return 0;
}

/* --- CSV --- */

static void
csv_field(struct buf *b, const char *s)
{
	const char *p;

	if (!strpbrk(s, ",\"\r\n")) {
		buf_addstr(b, s);
		return;
	}
	buf_addch(b, '"');
	for (p = s; *p; p++) {
		if (*p == '"')
			buf_addch(b, '"');
		buf_addch(b, *p);
	}
	buf_addch(b, '"');
}

/* V as CSV text: strings as they are, null empty, the rest as JSON. */
static void
csv_value(struct buf *b, const cJSON *v)
{
	char *s;

	if (!v || cJSON_IsNull(v))
		return;
	if (cJSON_IsString(v)) {
		csv_field(b, v->valuestring);
		return;
	}
	s = cJSON_PrintUnformatted(v);
	csv_field(b, s);
	cJSON_free(s);
}

static const char *const fixed_columns[] = {
	"unit_id", "assignment_id", "task_run_id", "agent_id", "worker_id",
	"worker_name", "status", "task_start", "task_end",
};

/* Add the keys of the objects ROWS[*].FIELD to the set KEYS, in order. */
static void
collect_keys(const cJSON *rows, const char *field, cJSON *keys)
{
	const cJSON *row, *k, *have;
	int found;

	cJSON_ArrayForEach(row, rows) {
		cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(row,
		    field)) {
			found = 0;
			cJSON_ArrayForEach(have, keys)
				if (!strcmp(have->valuestring, k->string))
					found = 1;
			if (!found)
				cJSON_AddItemToArray(keys,
				    cJSON_CreateString(k->string));
		}
	}
}

static void
print_csv(const cJSON *rows)
{
	cJSON *in = cJSON_CreateArray(), *out = cJSON_CreateArray();
	const cJSON *row, *k;
	struct buf b = BUF_INIT;
	size_t i;

	collect_keys(rows, "inputs", in);
	collect_keys(rows, "outputs", out);
	for (i = 0; i < ARRAY_SIZE(fixed_columns); i++)
		buf_addf(&b, "%s%s", i ? "," : "", fixed_columns[i]);
	cJSON_ArrayForEach(k, in) {
		buf_addstr(&b, ",inputs.");
		csv_field(&b, k->valuestring);
	}
	cJSON_ArrayForEach(k, out) {
		buf_addstr(&b, ",outputs.");
		csv_field(&b, k->valuestring);
	}
	buf_addstr(&b, ",files\r\n");
	fputs(b.buf, stdout);
	cJSON_ArrayForEach(row, rows) {
		buf_reset(&b);
		for (i = 0; i < ARRAY_SIZE(fixed_columns); i++) {
			if (i)
				buf_addch(&b, ',');
			csv_value(&b, cJSON_GetObjectItemCaseSensitive(row,
			    fixed_columns[i]));
		}
		cJSON_ArrayForEach(k, in) {
			buf_addch(&b, ',');
			csv_value(&b, cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(row, "inputs"),
			    k->valuestring));
		}
		cJSON_ArrayForEach(k, out) {
			buf_addch(&b, ',');
			csv_value(&b, cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(row, "outputs"),
			    k->valuestring));
		}
		buf_addch(&b, ',');
		csv_value(&b, cJSON_GetObjectItemCaseSensitive(row, "files"));
		buf_addstr(&b, "\r\n");
		fputs(b.buf, stdout);
	}
	buf_release(&b);
	cJSON_Delete(in);
	cJSON_Delete(out);
}

int
cmd_results(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "task", required_argument, NULL, 't' },
		{ "status", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct run_results_query q = { 0, NULL, NULL, 0, 0, 0 };
	struct statuses st = { 0 };
	cJSON *rows = NULL;
	struct db *db;
	char *err = NULL;
	int c, csv = 0, r;

	while ((c = opt_getopt(argc, argv, "h", opts)) != -1) {
		switch (c) {
		case 't':
			q.task_name = optarg;
			break;
		case 's':
			add_statuses(&st, optarg);
			break;
		case 'f':
			if (!strcmp(optarg, "csv"))
				csv = 1;
			else if (strcmp(optarg, "jsonl") &&
			    strcmp(optarg, "json"))
				launch_usage_error(results_usage, "unknown "
				    "format '%s' (jsonl or csv)", optarg);
			break;
		case 'h':
			fputs(results_usage, stdout);
			statuses_release(&st);
			return EXIT_OK;
		default:
			launch_usage_error(results_usage, NULL);
		}
	}
	if (q.task_name ? optind != argc : optind != argc - 1)
		launch_usage_error(results_usage, "give one run id or --task "
		    "NAME");
	if (!q.task_name)
		q.run_id = launch_parse_run(argv[optind]);
	if (st.nr) {
		q.statuses = st.item;
		q.nr_statuses = st.nr;
	}
	db = launch_open_db();
	if (q.run_id) {
		struct run_info info;

		r = run_info_get(db, q.run_id, &info, &err);
		if (r < 0)
			die("%s", err);
		if (!r)
			die("no task run %lld", (long long)q.run_id);
		run_info_release(&info);
	}
	if (csv)
		rows = cJSON_CreateArray();
	db_bulk_read(db);
	log_stdout_bulk();
	if (csv)
		r = run_results(db, &q, collect_row, rows, &err);
	else
		r = run_results_lines(db, &q, run_line_write, stdout, &err);
	if (r < 0 && err)
		die("%s", err);
	if (csv)
		print_csv(rows);
	cJSON_Delete(rows);
	statuses_release(&st);
	db_close(db);
	return EXIT_OK;
}
