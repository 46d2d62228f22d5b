#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <sqlite3.h>

#include "buf.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "msg.h"
#include "vendor.h"
#include "xalloc.h"
#include "banned.h"

#define MAX_BODY (16 << 20)	/* no vendor answer is near this */
#define MAX_BACKOFF_MS 60000

/* --- settings --- */

char *
vendor_conf_str(const struct conf *c, const char *key)
{
	struct conf own = CONF_INIT;
	const struct yml_node *n;
	const char *t;
	char *r = NULL;

	if (!c) {
		if (conf_load(&own, NULL, NULL) < 0)
			return NULL;
		c = &own;
	}
	n = conf_get(c, key);
	t = n ? yml_text(n) : NULL;
	if (t && *t)
		r = xstrdup(t);
	conf_release(&own);
	return r;
}

static long
conf_long(const struct conf *c, const char *section, const char *name,
    long def, char **errp, int *bad)
{
	char *key = xasprintf("%s.%s", section, name);
	const struct yml_node *n = conf_get(c, key);
	long v = def;

	if (n && (yml_long(n, &v) < 0 || v < 0)) {
		error_setf(errp, EINVAL, "%s must be a whole number, not '%s'",
		    key, yml_text(n) ? yml_text(n) : "");
		*bad = 1;
		v = def;
	}
	free(key);
	return v;
}

int
vendor_load(struct vendor *v, const struct conf *c, char **errp)
{
	struct conf own = CONF_INIT;
	int bad = 0;

	if (!c) {
		if (conf_load(&own, NULL, errp) < 0)
			return -1;
		c = &own;
	}
	v->timeout_ms = conf_long(c, v->name, "timeout", 30, errp, &bad) *
	    1000;
	if (!bad)
		v->retry_ms = conf_long(c, v->name, "retry_ms", 500, errp,
		    &bad);
	if (!bad)
		v->attempts = (int)conf_long(c, v->name, "attempts", 5, errp,
		    &bad);
	if (v->timeout_ms <= 0)
		v->timeout_ms = 30000;
	if (v->attempts < 1)
		v->attempts = 1;
	conf_release(&own);
	return bad ? -1 : 0;
}

void
vendor_release(struct vendor *v)
{
	free(v->base_url);
	if (v->auth_header)
		memset(v->auth_header, 0, strlen(v->auth_header));
	free(v->auth_header);
	if (v->userpwd)
		memset(v->userpwd, 0, strlen(v->userpwd));
	free(v->userpwd);
	free(v->sigv4);
	v->base_url = v->auth_header = v->userpwd = v->sigv4 = NULL;
}

/* --- calls --- */

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (b->len + size * n > MAX_BODY)
		return 0;
	buf_add(b, data, size * n);
	return size * n;
}

/* Retry-After in seconds, from the response headers. */
static size_t
header_cb(char *data, size_t size, size_t n, void *arg)
{
	long *retry_after = arg;
	size_t len = size * n;

	if (len > 12 && !strncasecmp(data, "Retry-After:", 12))
		*retry_after = strtol(data + 12, NULL, 10);
	return len;
}

/* The vendor's own message in BODY, or a short piece of it. */
static char *
vendor_message(const char *body)
{
	static const char *const keys[] = {
		"Message", "message", "detail", "error",
	};
	cJSON *j = body && *body ? msg_parse(body, strlen(body), 0, NULL) :
	    NULL;
	const cJSON *v, *e;
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; j && i < ARRAY_SIZE(keys); i++) {
		v = msg_get(j, keys[i]);
		if (cJSON_IsString(v)) {
			buf_addstr(&b, v->valuestring);
			break;
		}
		if (cJSON_IsObject(v) && (e = msg_get(v, "detail")) &&
		    cJSON_IsString(e)) {
			buf_addstr(&b, e->valuestring);
			break;
		}
		if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
			msg_print(v, &b);
			break;
		}
	}
	if (j && (v = msg_get(j, "__type")) && cJSON_IsString(v)) {
		const char *t = strchr(v->valuestring, '#');

		t = t ? t + 1 : v->valuestring;
		if (b.len)
			buf_addstr(&b, " ");
		buf_addf(&b, "(%s)", t);
	}
	msg_free(j);
	if (!b.len && body)
		buf_add(&b, body, strlen(body) > 200 ? 200 : strlen(body));
	for (i = 0; i < b.len; i++)
		if (b.buf[i] == '\n' || b.buf[i] == '\r')
			b.buf[i] = ' ';
	return buf_detach(&b, NULL);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
curl_ready(void)
{
	static int done;

	if (!done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -1;
		done = 1;
	}
	return 0;
}

/* One attempt.  Returns the curl code; R gets status and body. */
static CURLcode
attempt(const struct vendor *v, const char *method, const char *url,
    const char *body, struct curl_slist *hdrs, struct vendor_reply *r,
    long *retry_after, char *cerr)
{
	struct buf b = BUF_INIT;
	CURL *h = curl_easy_init();
	CURLcode rc;

	if (!h)
		return CURLE_FAILED_INIT;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, v->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, v->timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, retry_after);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mephisto-c/" MEPHISTO_VERSION);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (v->userpwd && v->sigv4) {
		curl_easy_setopt(h, CURLOPT_USERPWD, v->userpwd);
		curl_easy_setopt(h, CURLOPT_AWS_SIGV4, v->sigv4);
	}
	*retry_after = -1;
	cerr[0] = '\0';
	rc = curl_easy_perform(h);
	r->status = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(h);
	free(r->body);
	r->body = buf_detach(&b, NULL);
	return rc;
}

int
vendor_request(const struct vendor *v, const char *method, const char *path,
    const char *body, const char *const *headers, unsigned flags,
    struct vendor_reply *r, char **errp)
{
	struct curl_slist *hdrs = NULL, *t;
	char cerr[CURL_ERROR_SIZE];
	char *url, *msg;
	long delay = v->retry_ms, retry_after;
	int i, ret = -1, retry;
	CURLcode rc = CURLE_OK;

	if (curl_ready() < 0)
		return error_setf(errp, EIO, "%s %s %s: cannot start libcurl",
		    v->name, method, path);
	url = xasprintf("%s%s", v->base_url, path);
	if (v->auth_header)
		hdrs = curl_slist_append(hdrs, v->auth_header);
	for (i = 0; headers && headers[i]; i++)
		if ((t = curl_slist_append(hdrs, headers[i])))
			hdrs = t;
	if (body && !headers)
		hdrs = curl_slist_append(hdrs,
		    "Content-Type: application/json");
	/* libcurl's "Expect: 100-continue" would add a round trip. */
	hdrs = curl_slist_append(hdrs, "Expect:");
	for (i = 1;; i++) {
		rc = attempt(v, method, url, body, hdrs, r, &retry_after, cerr);
		if (rc == CURLE_OK && r->status >= 200 && r->status < 300) {
			ret = 0;
			break;
		}
		if (rc != CURLE_OK)
			retry = (flags & VENDOR_RETRY) != 0;
		else
			retry = r->status == 429 || (r->status >= 500 &&
			    (flags & VENDOR_RETRY)) || (r->status == 400 &&
			    r->body && strstr(r->body, "ThrottlingException"));
		if (!retry || i >= v->attempts)
			break;
		if (retry_after >= 0 && retry_after * 1000 > delay)
			delay = retry_after * 1000;
		if (delay > MAX_BACKOFF_MS)
			delay = MAX_BACKOFF_MS;
		if (rc != CURLE_OK)
			warn("%s %s %s: %s; retrying in %ld ms (attempt %d "
			    "of %d)", v->name, method, path,
			    cerr[0] ? cerr : curl_easy_strerror(rc), delay,
			    i + 1, v->attempts);
		else
			warn("%s %s %s: HTTP %ld; retrying in %ld ms (attempt "
			    "%d of %d)", v->name, method, path, r->status,
			    delay, i + 1, v->attempts);
		sleep_ms(delay);
		delay *= 2;
	}
	if (ret < 0) {
		if (rc != CURLE_OK) {
			error_setf(errp, EIO, "%s %s %s: %s", v->name, method,
			    path, cerr[0] ? cerr : curl_easy_strerror(rc));
		} else {
			msg = vendor_message(r->body);
			error_setf(errp, EIO, "%s %s %s: HTTP %ld%s%s",
			    v->name, method, path, r->status,
			    *msg ? ": " : "", msg);
			free(msg);
		}
	}
	curl_slist_free_all(hdrs);
	free(url);
	return ret;
}

void
vendor_reply_release(struct vendor_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->status = 0;
}

/* --- the journal --- */

static const char journal_schema[] =
	"CREATE TABLE IF NOT EXISTS vendor_records ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" provider_type TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL,"
	" remote_id TEXT NULL, state TEXT NULL, detail TEXT NULL,"
	" task_run_id INTEGER NULL, unit_id INTEGER NULL,"
	" worker_id INTEGER NULL, amount REAL NULL,"
	" update_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),"
	" UNIQUE (provider_type, kind, ref));";

static sqlite3 *
journal_open(struct db *db, char **errp)
{
	const char *dbp = db_path(db);
	const char *slash = strrchr(dbp, '/');
	char *path;
	sqlite3 *h = NULL;

	path = slash ? xasprintf("%.*s/providers.db", (int)(slash - dbp), dbp) :
	    xstrdup("providers.db");
	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		error_setf(errp, EIO, "cannot open the provider journal '%s': "
		    "%s", path, h ? sqlite3_errmsg(h) : "out of memory");
		sqlite3_close(h);
		free(path);
		return NULL;
	}
	sqlite3_busy_timeout(h, 10000);
	if (sqlite3_exec(h, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) !=
	    SQLITE_OK || sqlite3_exec(h, journal_schema, NULL, NULL, NULL) !=
	    SQLITE_OK) {
		error_setf(errp, EIO, "cannot set up the provider journal "
		    "'%s': %s", path, sqlite3_errmsg(h));
		sqlite3_close(h);
		free(path);
		return NULL;
	}
	free(path);
	return h;
}

static char *
col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? xstrdup((const char *)s) : NULL;
}

static void
rec_from_row(sqlite3_stmt *st, int first, struct vendor_rec *r)
{
	r->remote_id = col_str(st, first);
	r->state = col_str(st, first + 1);
	r->detail = col_str(st, first + 2);
	r->task_run_id = sqlite3_column_int64(st, first + 3);
	r->unit_id = sqlite3_column_int64(st, first + 4);
	r->worker_id = sqlite3_column_int64(st, first + 5);
	r->amount = sqlite3_column_double(st, first + 6);
}

void
vendor_rec_release(struct vendor_rec *r)
{
	free(r->remote_id);
	free(r->state);
	free(r->detail);
	memset(r, 0, sizeof(*r));
}

/*
 * The record SQL (REC_SELECT and a condition on KEY) finds: 1 with it in
 * *R and its ref in *REFP (when REFP is given), 0 for none, -1 on error.
 */
#define REC_SELECT "SELECT ref, remote_id, state, detail, task_run_id, " \
	"unit_id, worker_id, amount FROM vendor_records " \
	"WHERE provider_type = ? AND kind = ? AND "

static int
rec_lookup(struct db *db, const char *sql, const char *type,
    const char *kind, const char *key, char **refp, struct vendor_rec *r,
    char **errp)
{
	sqlite3 *h = journal_open(db, errp);
	sqlite3_stmt *st = NULL;
	int rc, ret = -1;

	memset(r, 0, sizeof(*r));
	if (refp)
		*refp = NULL;
	if (!h)
		return -1;
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (refp)
			*refp = col_str(st, 0);
		rec_from_row(st, 1, r);
		ret = 1;
	} else if (rc == SQLITE_DONE) {
		ret = 0;
	}
out:
	if (ret < 0)
		error_setf(errp, EIO, "cannot read the provider journal: %s",
		    sqlite3_errmsg(h));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return ret;
}

int
vendor_rec_get(struct db *db, const char *type, const char *kind,
    const char *ref, struct vendor_rec *r, char **errp)
{
	return rec_lookup(db, REC_SELECT "ref = ?", type, kind, ref, NULL, r,
	    errp);
}

int
vendor_rec_find(struct db *db, const char *type, const char *kind,
    const char *remote_id, char **refp, struct vendor_rec *r, char **errp)
{
	return rec_lookup(db, REC_SELECT "remote_id = ? ORDER BY seq LIMIT 1",
	    type, kind, remote_id, refp, r, errp);
}

static void
bind_id(sqlite3_stmt *st, int i, int64_t v)
{
	if (v)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

int
vendor_rec_put(struct db *db, const char *type, const char *kind,
    const char *ref, const struct vendor_rec *r, char **errp)
{
	sqlite3 *h = journal_open(db, errp);
	sqlite3_stmt *st = NULL;
	int ret = -1;

	if (!h)
		return -1;
	if (sqlite3_prepare_v2(h, "INSERT INTO vendor_records "
	    "(provider_type, kind, ref, remote_id, state, detail, "
	    "task_run_id, unit_id, worker_id, amount) VALUES "
	    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
	    "ON CONFLICT (provider_type, kind, ref) DO UPDATE SET "
	    "remote_id = excluded.remote_id, state = excluded.state, "
	    "detail = excluded.detail, task_run_id = excluded.task_run_id, "
	    "unit_id = excluded.unit_id, worker_id = excluded.worker_id, "
	    "amount = excluded.amount, "
	    "update_date = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')", -1, &st,
	    NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ref, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r->remote_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, r->detail, -1, SQLITE_STATIC);
	bind_id(st, 7, r->task_run_id);
	bind_id(st, 8, r->unit_id);
	bind_id(st, 9, r->worker_id);
	sqlite3_bind_double(st, 10, r->amount);
	if (sqlite3_step(st) == SQLITE_DONE)
		ret = 0;
out:
	if (ret < 0)
		error_setf(errp, EIO, "cannot write the provider journal: %s",
		    sqlite3_errmsg(h));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return ret;
}

int
vendor_rec_each(struct db *db, const char *type, const char *kind,
    int64_t run, vendor_rec_fn *fn, void *data, char **errp)
{
	sqlite3 *h = journal_open(db, errp);
	sqlite3_stmt *st = NULL;
	struct vendor_rec r;
	char *ref;
	int rc, ret = -1;

	if (!h)
		return -1;
	if (sqlite3_prepare_v2(h, "SELECT ref, remote_id, state, detail, "
	    "task_run_id, unit_id, worker_id, amount FROM vendor_records "
	    "WHERE provider_type = ?1 AND kind = ?2 AND "
	    "(?3 = 0 OR task_run_id = ?3) ORDER BY seq", -1, &st, NULL) !=
	    SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, run);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ref = col_str(st, 0);
		rec_from_row(st, 1, &r);
		rc = fn(ref ? ref : "", &r, data);
		vendor_rec_release(&r);
		free(ref);
		if (rc) {
			ret = rc < 0 ? -1 : 0;
			if (rc < 0)
				error_setf(errp, EIO, "stopped");
			sqlite3_finalize(st);
			sqlite3_close(h);
			return ret;
		}
	}
	if (rc == SQLITE_DONE)
		ret = 0;
out:
	if (ret < 0)
		error_setf(errp, EIO, "cannot read the provider journal: %s",
		    sqlite3_errmsg(h));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return ret;
}

/* Two FNV-1a variants over KEY: stable across runs and machines. */
char *
vendor_token(const char *key)
{
	uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL;
	const unsigned char *p;

	for (p = (const unsigned char *)key; *p; p++) {
		a = (a ^ *p) * 0x100000001b3ULL;
		b = (b ^ *p) * 0x100000001b3ULL;
		b ^= b >> 29;
	}
	return xasprintf("mph-%016llx%016llx", (unsigned long long)a,
	    (unsigned long long)b);
}
