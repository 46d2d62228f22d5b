#ifndef MEPHISTO_PROVIDER_H
#define MEPHISTO_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

/*
 * Crowd providers (DESIGN section 5): what the original's CrowdProvider
 * and its Requester, Unit, Worker and Agent classes require of a vendor,
 * as one table of functions per provider, found by name in a static
 * registry.  Adding a provider means adding one file with its table and
 * one line in the registry (lib/provider.c); nothing else changes.
 *
 * "mock" and "inhouse" keep their records locally in the provider_* tables
 * of the shared database (blocks, expired units, registered requesters)
 * and record bonuses in the ledger.
 *
 * Conventions for every entry:
 * - DB is the open shared database.  Entries never begin or end a
 *   transaction: a caller that wants the call and its own writes to be
 *   atomic wraps both in db_begin()/db_commit().  (Remote providers will
 *   do network calls; callers keep them out of long transactions.)
 * - Ids are the main database's ids.
 * - Functions return 0 on success, or -1 with *errp (when not NULL) set
 *   to a malloc'd one-line message the caller frees.  Predicates store
 *   their answer (0 or 1) in *out.
 * - Any entry may be NULL for a provider that has nothing to do there;
 *   call them through the provider_*() wrappers below, which treat a NULL
 *   entry as success (predicates: false; budget: unlimited).
 */

struct db;
struct task_config;
struct cJSON;

struct provider {
	const char *name;	/* provider_type: "mock", "inhouse", ... */
	int sandbox;		/* worker names get SANDBOX_SUFFIX */

	const char *description;	/* one line for "launch --list" */
	/* The requester a task uses when it names none, or NULL. */
	const char *requester_name;
	/*
	 * The browser side (wrap_crowd_source.js, facts section 3.8):
	 * share/mephisto/web/providers/<web_script>.js, after common.js
	 * (lib/site).  Providers of one family share a script.
	 */
	const char *web_script;

	/* Set up the provider's own records (idempotent). */
	int (*datastore_setup)(struct db *db, char **errp);

	/*
	 * Check a task configuration (its provider section, the URL workers
	 * will be sent to) before anything is written or created.
	 */
	int (*check_task_args)(const struct task_config *cfg, char **errp);

	/* Resources for a task run (listings, HITs...), and their removal. */
	int (*run_setup)(struct db *db, int64_t task_run_id,
	    const char *task_url, char **errp);
	int (*run_cleanup)(struct db *db, int64_t task_run_id, char **errp);

	/* Requesters. */
	int (*requester_register)(struct db *db, int64_t requester_id,
	    char **errp);
	int (*requester_is_registered)(struct db *db, int64_t requester_id,
	    int *out, char **errp);
	int (*requester_budget)(struct db *db, int64_t requester_id,
	    double *out, char **errp);

	/* Units. */
	int (*unit_launch)(struct db *db, int64_t unit_id, const char *url,
	    char **errp);
	int (*unit_expire)(struct db *db, int64_t unit_id, char **errp);
	int (*unit_is_expired)(struct db *db, int64_t unit_id, int *out,
	    char **errp);

	/*
	 * An arrival in TASK_RUN_ID with the browser's PROVIDER_DATA (a
	 * JSON object) under registration id REG (NULL: none).  Refuses
	 * (-1, *errp) an arrival that is not for this run: a listing,
	 * study or HIT of someone else, a preview; writes nothing then.
	 * Stores in *UNIT_ID the unit the arrival must take, or 0 for any.
	 * PROVIDER_DATA is NULL when a worker that passed onboarding is
	 * given its unit: only REG is known then.
	 */
	int (*arrival_unit)(struct db *db, int64_t task_run_id,
	    const struct cJSON *provider_data, const char *reg,
	    int64_t *unit_id, char **errp);

	/*
	 * Workers.  worker_create finds or creates the worker whose
	 * provider-side name is NAME (the browser's worker_name), adding
	 * the sandbox suffix where the provider has one.
	 */
	int (*worker_create)(struct db *db, const char *name,
	    int64_t *worker_id, char **errp);
	/*
	 * Pay AMOUNT to WORKER_ID for UNIT_ID (0: none).  KEY makes the
	 * call idempotent: a second call with the same key pays nothing and
	 * succeeds.
	 */
	int (*worker_bonus)(struct db *db, int64_t worker_id, double amount,
	    const char *reason, int64_t unit_id, const char *key,
	    char **errp);
	int (*worker_block)(struct db *db, int64_t worker_id,
	    const char *reason, char **errp);
	int (*worker_unblock)(struct db *db, int64_t worker_id, char **errp);
	int (*worker_is_blocked)(struct db *db, int64_t worker_id, int *out,
	    char **errp);
	/* Whether the provider lets WORKER_ID work on TASK_RUN_ID. */
	int (*worker_is_eligible)(struct db *db, int64_t worker_id,
	    int64_t task_run_id, int *out, char **errp);
	/* Mirror a local grant or revocation on the vendor's side. */
	int (*qual_grant)(struct db *db, int64_t worker_id, const char *qual,
	    int64_t value, char **errp);
	int (*qual_revoke)(struct db *db, int64_t worker_id, const char *qual,
	    char **errp);
	/* Remove vendor-side qualifications named QUAL. */
	int (*qual_cleanup)(struct db *db, const char *qual, char **errp);

	/* Agents: the vendor side of review decisions. */
	int (*agent_approve)(struct db *db, int64_t agent_id,
	    const char *reason, char **errp);
	int (*agent_reject)(struct db *db, int64_t agent_id,
	    const char *reason, char **errp);
	int (*agent_soft_reject)(struct db *db, int64_t agent_id,
	    const char *reason, char **errp);
	int (*agent_mark_done)(struct db *db, int64_t agent_id, char **errp);

	/*
	 * Compare the records of TASK_RUN_ID with the vendor's view of it
	 * and call NOTE once per difference (one line of text); with FIX,
	 * repair what can be repaired safely, and say so in the note.
	 * Returns the number of differences left unrepaired, or -1 with
	 * *errp set.
	 */
	int (*run_reconcile)(struct db *db, int64_t task_run_id, int fix,
	    void (*note)(void *ctx, const char *line), void *ctx,
	    char **errp);
};

#define PROVIDER_SANDBOX_SUFFIX "_sandbox"

/* The provider named NAME, or NULL. */
const struct provider *provider_find(const char *name);

/* Every provider, for listings: *nr gets the count. */
const struct provider *const *provider_all(size_t *nr);

/*
 * The worker name a provider stores for browser name NAME (NAME plus
 * "_sandbox" for sandbox providers).  Caller frees.
 */
char *provider_worker_name(const struct provider *p, const char *name);

/* Wrappers that treat a NULL entry as "nothing to do". */
int provider_datastore_setup(const struct provider *p, struct db *db,
    char **errp);
int provider_check_task_args(const struct provider *p,
    const struct task_config *cfg, char **errp);
int provider_arrival_unit(const struct provider *p, struct db *db,
    int64_t task_run_id, const struct cJSON *provider_data, const char *reg,
    int64_t *unit_id, char **errp);
int provider_run_setup(const struct provider *p, struct db *db,
    int64_t task_run_id, const char *task_url, char **errp);
int provider_run_cleanup(const struct provider *p, struct db *db,
    int64_t task_run_id, char **errp);
int provider_requester_register(const struct provider *p, struct db *db,
    int64_t requester_id, char **errp);
int provider_requester_is_registered(const struct provider *p,
    struct db *db, int64_t requester_id, int *out, char **errp);
int provider_requester_budget(const struct provider *p, struct db *db,
    int64_t requester_id, double *out, char **errp);
int provider_unit_launch(const struct provider *p, struct db *db,
    int64_t unit_id, const char *url, char **errp);
int provider_unit_expire(const struct provider *p, struct db *db,
    int64_t unit_id, char **errp);
int provider_unit_is_expired(const struct provider *p, struct db *db,
    int64_t unit_id, int *out, char **errp);
int provider_worker_create(const struct provider *p, struct db *db,
    const char *name, int64_t *worker_id, char **errp);
int provider_worker_bonus(const struct provider *p, struct db *db,
    int64_t worker_id, double amount, const char *reason, int64_t unit_id,
    const char *key, char **errp);
int provider_worker_block(const struct provider *p, struct db *db,
    int64_t worker_id, const char *reason, char **errp);
int provider_worker_unblock(const struct provider *p, struct db *db,
    int64_t worker_id, char **errp);
int provider_worker_is_blocked(const struct provider *p, struct db *db,
    int64_t worker_id, int *out, char **errp);
int provider_worker_is_eligible(const struct provider *p, struct db *db,
    int64_t worker_id, int64_t task_run_id, int *out, char **errp);
int provider_qual_grant(const struct provider *p, struct db *db,
    int64_t worker_id, const char *qual, int64_t value, char **errp);
int provider_qual_revoke(const struct provider *p, struct db *db,
    int64_t worker_id, const char *qual, char **errp);
int provider_qual_cleanup(const struct provider *p, struct db *db,
    const char *qual, char **errp);
int provider_agent_approve(const struct provider *p, struct db *db,
    int64_t agent_id, const char *reason, char **errp);
int provider_agent_reject(const struct provider *p, struct db *db,
    int64_t agent_id, const char *reason, char **errp);
int provider_agent_soft_reject(const struct provider *p, struct db *db,
    int64_t agent_id, const char *reason, char **errp);
int provider_agent_mark_done(const struct provider *p, struct db *db,
    int64_t agent_id, char **errp);
int provider_run_reconcile(const struct provider *p, struct db *db,
    int64_t task_run_id, int fix, void (*note)(void *ctx, const char *line),
    void *ctx, char **errp);

/*
 * Building blocks shared by the providers that keep their records in the
 * provider_* tables (mock, inhouse); TYPE is the provider_type column.
 */
int provider_local_block(struct db *db, const char *type, int64_t worker_id,
    int blocked, const char *reason, char **errp);
int provider_local_is_blocked(struct db *db, const char *type,
    int64_t worker_id, int *out, char **errp);
/*
 * The agent of run RUN whose registration id starts with PREFIX and "-"
 * (a vendor's assignment or submission id), into *AGENT (0: none), and
 * its status (caller frees), or NULL.
 */
char *provider_registered_agent(struct db *db, int64_t run,
    const char *prefix, int64_t *agent);
int provider_local_unit_expire(struct db *db, const char *type,
    int64_t unit_id, int expired, char **errp);
int provider_local_unit_is_expired(struct db *db, int64_t unit_id, int *out,
    char **errp);
int provider_local_requester_register(struct db *db, const char *type,
    int64_t requester_id, char **errp);
int provider_local_requester_is_registered(struct db *db,
    int64_t requester_id, int *out, char **errp);
/* A ledger row of kind "bonus", status "paid"; a repeated KEY is a no-op. */
int provider_local_bonus(struct db *db, const char *type, int64_t worker_id,
    double amount, const char *reason, int64_t unit_id, const char *key,
    char **errp);
/* Find or create the worker NAME (sandbox suffix added when SANDBOX). */
int provider_local_worker_create(struct db *db, const char *type,
    int sandbox, const char *name, int64_t *worker_id, char **errp);

/* The registered providers (lib/provider_local.c). */
extern const struct provider provider_mock;
extern const struct provider provider_inhouse;
/* lib/provider_prolific.c and lib/provider_mturk.c */
extern const struct provider provider_prolific;
extern const struct provider provider_mturk;
extern const struct provider provider_mturk_sandbox;

#endif
