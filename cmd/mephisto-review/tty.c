#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "msg.h"
#include "review.h"
#include "run.h"
#include "xalloc.h"
#include "banned.h"

/*
 * The interactive review, on the terminal (/dev/tty, so that units can
 * come on stdin from a pipe).  Units are shown grouped by worker, with the
 * worker's history, and one key decides each (facts section 8.4):
 *
 *   a approve   r reject (reason, offers to block)   p soft-reject
 *   (offers the soft block)   b bonus   q qualify   s skip   u undo
 *   ? help   x quit; upper case applies to the rest of the worker's units.
 *
 * The decisions of the last key stay pending, so that "u" can take them
 * back; they are written (each in its own transaction, echoed on stdout
 * when stdout is not the terminal) when the next decision is made and on
 * quit.  The terminal is in non-canonical mode without echo for the whole
 * review; line answers are edited here.
 */

#define FOLD_LINES 6		/* a longer value shows its first lines */

struct item {
	int64_t unit_id;
	size_t worker;		/* index into workers */
	cJSON *row;		/* run_results() row */
};

struct pending {
	struct decision d;
	char *note, *qual, *key;	/* owned copies */
	int64_t unit_id;
};

struct tty {
	struct db *db;
	const struct review_tty_opts *o;
	int fd;
	FILE *out;
	int echo_stdout;		/* print decisions on stdout */
	int cols;
	struct item *items;
	size_t nr, alloc;
	char **workers;			/* worker names, first-seen order */
	size_t nr_workers, alloc_workers;
	struct pending *pend;		/* the last key's decisions */
	size_t nr_pend, alloc_pend;
	size_t pend_pos;		/* the item they were made on */
	size_t failed;
};

static struct termios saved;
static int saved_fd = -1;

static void
tty_restore(void)
{
	if (saved_fd >= 0)
		tcsetattr(saved_fd, TCSANOW, &saved);
}

static void
on_signal(int sig)
{
	tty_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
tty_raw(int fd)
{
	struct termios t;

	if (tcgetattr(fd, &saved) < 0)
		return -1;
	saved_fd = fd;
	t = saved;
	t.c_lflag &= ~(ICANON | ECHO | ISIG);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	return tcsetattr(fd, TCSANOW, &t);
}

static void
say(struct tty *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(t->out, fmt, ap);
	va_end(ap);
	fflush(t->out);
}

/* One key; -1 at end of input. */
static int
read_key(struct tty *t)
{
	unsigned char c;
	ssize_t n;

	do
		n = read(t->fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n <= 0 || c == 3 || c == 4)
		return -1;
	return c;
}

/*
 * Ask PROMPT and read a line (echoed, with backspace).  Returns a malloc'd
 * line, or NULL at end of input.
 */
static char *
ask(struct tty *t, const char *prompt)
{
	struct buf b = BUF_INIT;
	int c;

	say(t, "%s", prompt);
	for (;;) {
		c = read_key(t);
		if (c < 0) {
			buf_release(&b);
			say(t, "\n");
			return NULL;
		}
		if (c == '\n' || c == '\r')
			break;
		if (c == 127 || c == 8) {
			if (b.len) {
				buf_setlen(&b, b.len - 1);
				say(t, "\b \b");
			}
			continue;
		}
		if (c < ' ')
			continue;
		buf_addch(&b, c);
		say(t, "%c", c);
	}
	say(t, "\n");
	return buf_detach(&b, NULL);
}

/* A yes/no question; the default is no. */
static int
ask_yes(struct tty *t, const char *prompt)
{
	int c;

	say(t, "%s [y/N] ", prompt);
	c = read_key(t);
	say(t, "%c\n", c == 'y' || c == 'Y' ? 'y' : 'n');
	return c == 'y' || c == 'Y';
}

/* --- display --- */

static void
show_value(struct tty *t, const char *key, const cJSON *v)
{
	char *s = cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
	size_t width = t->cols > 20 ? (size_t)t->cols - 6 : 60, len, i, n;
	size_t lines = 0;
	const char *p;

	if (!s) {
		char *j = cJSON_PrintUnformatted(v);

		s = xstrdup(j ? j : "null");
		cJSON_free(j);
	}
	say(t, "    %s:", key);
	len = strlen(s);
	if (strlen(key) + 6 + len <= width && !strchr(s, '\n')) {
		say(t, " %s\n", s);
		free(s);
		return;
	}
	say(t, "\n");
	for (p = s; *p && lines < FOLD_LINES; lines++) {
		n = strcspn(p, "\n");
		if (n > width - 2)
			n = width - 2;
		/* Break at a space when the line is cut. */
		if (p[n] && p[n] != '\n')
			for (i = n; i > width / 2; i--)
				if (p[i] == ' ') {
					n = i;
					break;
				}
		say(t, "      %.*s\n", (int)n, p);
		p += n;
		if (*p == '\n' || *p == ' ')
			p++;
	}
	if (*p)
		say(t, "      ... (%zu more characters)\n", strlen(p));
	free(s);
}

static void
show_object(struct tty *t, const char *title, const cJSON *obj)
{
	const cJSON *v;

	if (!cJSON_IsObject(obj) || !msg_len(obj)) {
		say(t, "  %s: (none)\n", title);
		return;
	}
	say(t, "  %s:\n", title);
	msg_foreach(v, obj)
		show_value(t, v->string, v);
}

static void
show_unit(struct tty *t, size_t i, size_t nth, size_t of)
{
	const cJSON *row = t->items[i].row, *f, *files;
	double start = 0, end = 0;
	const char *path, *name;

	say(t, "\n--- unit %lld (%zu of %zu from this worker)",
	    (long long)t->items[i].unit_id, nth, of);
	if (msg_get_double(row, "task_start", &start, NULL) == 0 &&
	    msg_get_double(row, "task_end", &end, NULL) == 0)
		say(t, ", %.1f s on task", end - start);
	say(t, "\n");
	show_object(t, "inputs", msg_get(row, "inputs"));
	show_object(t, "outputs", msg_get(row, "outputs"));
	files = msg_get(row, "files");
	if (msg_len(files)) {
		say(t, "  files:\n");
		msg_foreach(f, files) {
			path = NULL;
			name = NULL;
			msg_opt_str(f, "path", NULL, &path, NULL);
			msg_opt_str(f, "originalname", NULL, &name, NULL);
			say(t, "    %s%s%s%s\n", path ? path : "?",
			    name ? " (" : "", name ? name : "", name ? ")" : "");
		}
	}
}

/* "3 approved, 1 rejected of 4", or "first unit from this worker". */
static void
show_worker(struct tty *t, size_t w, size_t units)
{
	sqlite3_stmt *st = db_stmt(t->db, "SELECT "
	    "count(*) FILTER (WHERE u.status = 'accepted'), "
	    "count(*) FILTER (WHERE u.status = 'rejected'), "
	    "count(*) FILTER (WHERE u.status = 'soft_rejected'), "
	    "count(*) FROM units u JOIN workers w ON w.worker_id = u.worker_id "
	    "WHERE w.worker_name = ? AND u.status IN ('completed', "
	    "'accepted', 'rejected', 'soft_rejected')");
	long a = 0, r = 0, s = 0, done = 0;

	if (st) {
		sqlite3_bind_text(st, 1, t->workers[w], -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			a = sqlite3_column_int64(st, 0);
			r = sqlite3_column_int64(st, 1);
			s = sqlite3_column_int64(st, 2);
			done = sqlite3_column_int64(st, 3);
		}
		sqlite3_reset(st);
	}
	say(t, "\n=== worker %s: %zu unit%s to review; ", t->workers[w],
	    units, units == 1 ? "" : "s");
	if (done <= 1)
		say(t, "first unit from this worker\n");
	else if (a + r + s == 0)
		say(t, "none of their %ld units reviewed yet\n", done);
	else if (s)
		say(t, "%ld approved, %ld rejected, %ld soft-rejected of %ld\n",
		    a, r, s, a + r + s);
	else
		say(t, "%ld approved, %ld rejected of %ld\n", a, r, a + r);
}

static const char help_text[] =
"  a  approve              r  reject (asks a reason, offers to block)\n"
"  p  soft-reject (paid, flagged; offers the soft block)\n"
"  b  bonus (amount and reason)    q  grant a qualification (name, value)\n"
"  s  skip    u  undo the last decision    ?  this help    x  quit\n"
"  upper case (A, R, P, B, S) applies to the rest of this worker's units\n"
"  Decisions are written when the next one is made, and on quit.\n";

/* --- decisions --- */

static void
pend_clear(struct tty *t)
{
	size_t i;

	for (i = 0; i < t->nr_pend; i++) {
		free(t->pend[i].note);
		free(t->pend[i].qual);
		free(t->pend[i].key);
	}
	t->nr_pend = 0;
}

/* Write the pending decisions. */
static void
flush(struct tty *t)
{
	struct pending *p;
	cJSON *line;
	char *msg;
	size_t i;
	int rc;

	for (i = 0; i < t->nr_pend; i++) {
		p = &t->pend[i];
		rc = review_decide(t->db, &p->d, p->unit_id, t->o->flags,
		    &line, &msg);
		if (rc > 0 && t->echo_stdout)
			review_print_line(line);
		if (rc < 0) {
			say(t, "error: %s\n", msg);
			t->failed++;
		} else if (rc == 0) {
			say(t, "%s\n", msg);
		}
		msg_free(line);
		free(msg);
	}
	pend_clear(t);
}

static void
pend_add(struct tty *t, enum review_verb v, int64_t unit_id,
    const char *note, double amount, const char *qual, int64_t value)
{
	struct pending *p;

	ALLOC_GROW(t->pend, t->nr_pend + 1, t->alloc_pend);
	p = &t->pend[t->nr_pend++];
	memset(p, 0, sizeof(*p));
	p->note = note && *note ? xstrdup(note) : NULL;
	p->qual = qual ? xstrdup(qual) : NULL;
	p->d.verb = v;
	p->d.note = p->note;
	p->d.amount = amount;
	p->d.qual = p->qual;
	p->d.value = value;
	p->unit_id = unit_id;
}

/* The soft-block qualification of the unit's run, or NULL (caller frees). */
static char *
block_qual(struct tty *t, int64_t unit_id)
{
	sqlite3_stmt *st;
	const char *s;
	char *q = NULL;

	if (t->o->block_qual)
		return xstrdup(t->o->block_qual);
	st = db_stmt(t->db, "SELECT json_extract(r.init_params, "
	    "'$.blueprint.block_qualification') FROM units u JOIN task_runs r "
	    "ON r.task_run_id = u.task_run_id WHERE u.unit_id = ?");
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, unit_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		s = (const char *)sqlite3_column_text(st, 0);
		if (s && *s)
			q = xstrdup(s);
	}
	sqlite3_reset(st);
	return q;
}

static int
parse_amount(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || !isfinite(*out) || *out <= 0 ?
	    -1 : 0;
}

/* --- the loop --- */

static int
cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	return x->worker < y->worker ? -1 : x->worker > y->worker;
}

static int
collect_row(cJSON *row, void *arg)
{
	cJSON **out = arg;

	*out = msg_dup(row);
	return 0;
}

/* Load the units, report and skip those that cannot be reviewed. */
static void
load(struct tty *t, const int64_t *ids, size_t nr)
{
	struct run_results_query q = { 0, NULL, NULL, 0, 0, 0 };
	static const char *const any[] = {
		"created", "launched", "assigned", "completed", "accepted",
		"rejected", "soft_rejected", "expired",
	};
	struct review_unit u;
	cJSON *row;
	char *err = NULL;
	size_t i, w;
	int rc;

	q.statuses = any;
	q.nr_statuses = ARRAY_SIZE(any);
	for (i = 0; i < nr; i++) {
		rc = review_unit_load(t->db, ids[i], &u);
		if (rc < 0)
			die("cannot read units: %s", db_errmsg(t->db));
		if (!rc) {
			error("no unit %lld", (long long)ids[i]);
			t->failed++;
			continue;
		}
		if (!u.worker_id || (!review_status_reviewable(u.status) &&
		    !(t->o->flags & REVIEW_FORCE))) {
			error("unit %lld is %s, not completed: skipped",
			    (long long)ids[i], u.status);
			t->failed++;
			review_unit_release(&u);
			continue;
		}
		row = NULL;
		q.unit_id = ids[i];
		if (run_results(t->db, &q, collect_row, &row, &err) < 0)
			die("%s", err);
		for (w = 0; w < t->nr_workers; w++)
			if (!strcmp(t->workers[w], u.worker_name))
				break;
		if (w == t->nr_workers) {
			ALLOC_GROW(t->workers, w + 1, t->alloc_workers);
			t->workers[t->nr_workers++] = xstrdup(u.worker_name);
		}
		ALLOC_GROW(t->items, t->nr + 1, t->alloc);
		t->items[t->nr].unit_id = ids[i];
		t->items[t->nr].worker = w;
		t->items[t->nr++].row = row;
		review_unit_release(&u);
	}
	/* Group by worker; qsort is not stable, so break ties by order. */
	for (i = 0; i < t->nr; i++)
		t->items[i].worker = t->items[i].worker * (nr + 1) + i;
	qsort(t->items, t->nr, sizeof(*t->items), cmp_item);
	for (i = 0; i < t->nr; i++)
		t->items[i].worker /= nr + 1;
}

/* The end of worker W's run of items starting at I. */
static size_t
worker_end(struct tty *t, size_t i)
{
	size_t j = i;

	while (j < t->nr && t->items[j].worker == t->items[i].worker)
		j++;
	return j;
}

/* Handle the decision key C on item I.  Returns how many items it covers. */
static size_t
decide(struct tty *t, int c, size_t i)
{
	int all = c >= 'A' && c <= 'Z';
	size_t end = all ? worker_end(t, i) : i + 1, k;
	char *reason = NULL, *block = NULL, *bq;
	int64_t id = t->items[i].unit_id;

	flush(t);
	t->pend_pos = i;
	switch (c | 0x20) {
	case 'a':
		for (k = i; k < end; k++)
			pend_add(t, REVIEW_APPROVE, t->items[k].unit_id, NULL,
			    0, NULL, 0);
		say(t, "approved %zu unit%s\n", end - i, end - i > 1 ? "s" :
		    "");
		break;
	case 'r':
		reason = ask(t, "reason for rejecting: ");
		if (!reason)
			return 0;
		for (k = i; k < end; k++)
			pend_add(t, REVIEW_REJECT, t->items[k].unit_id, reason,
			    0, NULL, 0);
		if (ask_yes(t, "block this worker too?")) {
			block = ask(t, "reason for the block (empty: the "
			    "same): ");
			pend_add(t, REVIEW_BLOCK, id, block && *block ? block :
			    reason, 0, NULL, 0);
		}
		say(t, "rejected %zu unit%s\n", end - i, end - i > 1 ? "s" :
		    "");
		break;
	case 'p':
		for (k = i; k < end; k++)
			pend_add(t, REVIEW_SOFT_REJECT, t->items[k].unit_id,
			    NULL, 0, NULL, 0);
		bq = block_qual(t, id);
		if (bq) {
			reason = xasprintf("soft-block this worker (grant "
			    "'%s')?", bq);
			if (ask_yes(t, reason))
				pend_add(t, REVIEW_QUALIFY, id, NULL, 0, bq, 1);
		}
		free(bq);
		say(t, "soft-rejected %zu unit%s\n", end - i, end - i > 1 ?
		    "s" : "");
		break;
	}
	free(reason);
	free(block);
	return end - i;
}

/* b: a bonus for the unit (or the rest of the worker's units). */
static void
bonus(struct tty *t, int c, size_t i)
{
	size_t end = c == 'B' ? worker_end(t, i) : i + 1, k;
	char *amount = ask(t, "bonus amount: "), *reason = NULL;
	double v;

	if (!amount)
		return;
	if (parse_amount(amount, &v) < 0) {
		say(t, "not a positive amount: '%s'\n", amount);
		free(amount);
		return;
	}
	reason = ask(t, "reason for the bonus: ");
	if (reason) {
		flush(t);
		t->pend_pos = i;
		for (k = i; k < end; k++)
			pend_add(t, REVIEW_BONUS, t->items[k].unit_id, reason,
			    v, NULL, 0);
		say(t, "bonus of %.2f on %zu unit%s\n", v, end - i,
		    end - i > 1 ? "s" : "");
	}
	free(amount);
	free(reason);
}

/* q: grant a qualification to the unit's worker. */
static void
qualify(struct tty *t, size_t i)
{
	char *name = ask(t, "qualification to grant: "), *value = NULL, *end;
	long long v = 1;

	if (!name || !*name)
		goto out;
	value = ask(t, "value (empty: 1): ");
	if (!value)
		goto out;
	if (*value) {
		errno = 0;
		v = strtoll(value, &end, 10);
		if (errno || *end) {
			say(t, "not an integer: '%s'\n", value);
			goto out;
		}
	}
	flush(t);
	t->pend_pos = i;
	pend_add(t, REVIEW_QUALIFY, t->items[i].unit_id, NULL, 0, name, v);
	say(t, "granting '%s' = %lld\n", name, v);
out:
	free(name);
	free(value);
}

static void
loop(struct tty *t)
{
	size_t i = 0, shown_worker = (size_t)-1, start = 0, end, n;
	int c;

	while (i < t->nr) {
		if (t->items[i].worker != shown_worker) {
			shown_worker = t->items[i].worker;
			for (start = i; start > 0 && t->items[start - 1].worker
			    == shown_worker; start--)
				;
			end = worker_end(t, i);
			show_worker(t, shown_worker, end - start);
		}
		end = worker_end(t, start);
		show_unit(t, i, i - start + 1, end - start);
		for (;;) {
			say(t, "[a/r/p/b/q/s/u/?/x] > ");
			c = read_key(t);
			if (c >= 0 && c > ' ')
				say(t, "%c\n", c);
			else
				say(t, "\n");
			if (c < 0 || c == 'x' || c == 'X')
				return;
			if (strchr("aArRpP", c)) {
				n = decide(t, c, i);
				if (!n)
					return;
				i += n;
				break;
			}
			if (c == 's' || c == 'S') {
				i = c == 's' ? i + 1 : worker_end(t, i);
				break;
			}
			if (c == 'b' || c == 'B') {
				bonus(t, c, i);
				continue;
			}
			if (c == 'q' || c == 'Q') {
				qualify(t, i);
				continue;
			}
			if (c == 'u') {
				if (!t->nr_pend) {
					say(t, "nothing to undo (decisions "
					    "before the last one are written)\n");
					continue;
				}
				pend_clear(t);
				say(t, "undone\n");
				i = t->pend_pos;
				shown_worker = (size_t)-1;
				break;
			}
			say(t, "%s", help_text);
		}
	}
	say(t, "\nno more units to review\n");
}

int
review_interactive(struct db *db, const int64_t *ids, size_t nr,
    const struct review_tty_opts *o)
{
	struct tty t;
	struct winsize ws;
	size_t i;

	memset(&t, 0, sizeof(t));
	t.db = db;
	t.o = o;
	t.fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (t.fd < 0)
		die_errno("cannot open the terminal '/dev/tty'");
	t.out = fdopen(dup(t.fd), "w");
	if (!t.out)
		die_errno("cannot open the terminal '/dev/tty'");
	t.echo_stdout = !isatty(STDOUT_FILENO);
	t.cols = ioctl(t.fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col :
	    80;
	load(&t, ids, nr);
	if (!t.nr) {
		say(&t, "no units to review\n");
	} else {
		if (tty_raw(t.fd) < 0)
			die_errno("cannot set up the terminal");
		say(&t, "%zu unit%s to review from %zu worker%s; ? for help\n",
		    t.nr, t.nr == 1 ? "" : "s", t.nr_workers,
		    t.nr_workers == 1 ? "" : "s");
		loop(&t);
		flush(&t);
		tty_restore();
	}
	for (i = 0; i < t.nr; i++)
		msg_free(t.items[i].row);
	for (i = 0; i < t.nr_workers; i++)
		free(t.workers[i]);
	free(t.items);
	free(t.workers);
	free(t.pend);
	fclose(t.out);
	close(t.fd);
	return t.failed ? EXIT_FAIL : EXIT_OK;
}
