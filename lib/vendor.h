#ifndef MEPHISTO_VENDOR_H
#define MEPHISTO_VENDOR_H

#include <stdint.h>

/*
 * What the remote crowd providers (Prolific, MTurk) share: HTTPS calls
 * through libcurl with retries, their settings from the config file, and
 * a journal of what was asked of the vendor.
 *
 * Calls.  vendor_request() makes one logical call: with VENDOR_RETRY it
 * retries a 429 and any 5xx or transport failure (timeout, refused or
 * dropped connection) with exponential back-off (honouring Retry-After);
 * without it only a 429 (or AWS's 400 ThrottlingException) is retried,
 * since the vendor did not act on it.
 * Each retry is logged at warning level with the call's name, never its
 * headers or credentials.  Error messages name the call and carry the
 * vendor's own message.
 *
 * Journal.  A provider call can spend money or create something live on
 * the vendor while the caller's transaction on the shared database is
 * still open; a crash would then lose the record.  So every such step is
 * first written to the journal, a small SQLite file beside the database
 * ("providers.db", each write committed at once), and its outcome after.
 * A retry or "mephisto launch reconcile" reads it back.
 *
 * Credentials (API tokens, AWS keys) come from the config file or the
 * environment and are only ever passed to libcurl.
 *
 * Library code: nothing here prints to stdout or exits.
 */

struct db;
struct conf;

enum vendor_flags {
	VENDOR_RETRY = 1 << 0,	/* safe to repeat: retry 5xx and failures */
};

/* Transport settings of one vendor (config section NAME). */
struct vendor {
	const char *name;	/* "prolific", "mturk", for messages */
	char *base_url;		/* ends with '/' */
	char *auth_header;	/* "Authorization: Token ..." or NULL */
	char *userpwd;		/* "AKID:SECRET" for SigV4, or NULL */
	char *sigv4;		/* CURLOPT_AWS_SIGV4 provider string */
	long timeout_ms;	/* per attempt: <name>.timeout seconds */
	long retry_ms;		/* first back-off: <name>.retry_ms */
	int attempts;		/* <name>.attempts, at least 1 */
};

#define VENDOR_INIT { NULL, NULL, NULL, NULL, NULL, 30000, 500, 5 }

/*
 * Read timeout, retry_ms and attempts of section V->name from C (NULL:
 * the default config file).  Returns 0, or -1 with *ERRP set.
 */
int vendor_load(struct vendor *v, const struct conf *c, char **errp);

/*
 * The string value of config key "SECTION.KEY" (malloc'd), or NULL when
 * unset.  C may be NULL to read the default config file.
 */
char *vendor_conf_str(const struct conf *c, const char *key);

void vendor_release(struct vendor *v);

struct vendor_reply {
	long status;		/* HTTP status, 0 when none came back */
	char *body;		/* malloc'd, never NULL after a call */
};

#define VENDOR_REPLY_INIT { 0, NULL }

/*
 * METHOD PATH (relative to V->base_url) with BODY (NULL: none) and the
 * extra HEADERS (NULL-terminated, may be NULL).  Returns 0 for a 2xx
 * answer; else -1 with *ERRP set to "<vendor> METHOD PATH: <problem>".
 * R is filled either way (R->status 0: no answer, e.g. a timeout, when
 * the vendor may or may not have acted).
 */
int vendor_request(const struct vendor *v, const char *method,
    const char *path, const char *body, const char *const *headers,
    unsigned flags, struct vendor_reply *r, char **errp);

void vendor_reply_release(struct vendor_reply *r);

/* One journal record: what KIND of thing REF is on the vendor. */
struct vendor_rec {
	char *remote_id;	/* the vendor's id, or NULL */
	char *state;		/* provider-defined, e.g. "paying", "paid" */
	char *detail;		/* free text or JSON, or NULL */
	int64_t task_run_id, unit_id, worker_id;	/* 0: none */
	double amount;
};

#define VENDOR_REC_INIT { NULL, NULL, NULL, 0, 0, 0, 0 }

void vendor_rec_release(struct vendor_rec *r);

/*
 * The journal record (TYPE, KIND, REF) into R.  Returns 1 when found, 0
 * when not (R empty), -1 with *ERRP set.
 */
int vendor_rec_get(struct db *db, const char *type, const char *kind,
    const char *ref, struct vendor_rec *r, char **errp);

/*
 * The journal record (TYPE, KIND) whose vendor id is REMOTE_ID, into R
 * and its ref into *REFP (malloc'd; may be NULL).  Returns 1, 0 when
 * there is none, -1 with *ERRP set.
 */
int vendor_rec_find(struct db *db, const char *type, const char *kind,
    const char *remote_id, char **refp, struct vendor_rec *r, char **errp);

/* Write (insert or replace) and commit a record.  0 or -1 with *ERRP. */
int vendor_rec_put(struct db *db, const char *type, const char *kind,
    const char *ref, const struct vendor_rec *r, char **errp);

/*
 * Call FN for every record of TYPE and KIND (for a run when RUN is not
 * 0), in the order they were first written.  FN returns 0 to go on.
 */
typedef int vendor_rec_fn(const char *ref, const struct vendor_rec *r,
    void *data);
int vendor_rec_each(struct db *db, const char *type, const char *kind,
    int64_t run, vendor_rec_fn *fn, void *data, char **errp);

/*
 * A token derived from KEY that fits the vendors' limits (64 characters
 * of [A-Za-z0-9-]): "mph-" and 32 hex digits.  Caller frees.
 */
char *vendor_token(const char *key);

#endif
