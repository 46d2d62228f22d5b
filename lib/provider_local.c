#include <stdint.h>
#include <stdlib.h>

#include "provider.h"
#include "banned.h"

/*
 * The local providers (facts sections 1.4 and 3.8): workers are whoever
 * the task URL names (?worker_id=NAME), so there is no vendor to call.
 * Blocks, expired units and registered requesters are rows of the
 * provider_* tables; bonuses are ledger rows paid at once.
 *
 *   mock      a sandbox: worker names get PROVIDER_SANDBOX_SUFFIX
 *   inhouse   the requester's own workers: names are kept as given
 *             (blocks are by worker id, fixing the original's
 *             name/id mix-up)
 *
 * The two differ only in name and sandbox flag, so one macro defines
 * each provider's entries around the provider_local_* helpers.  Their
 * browser-side wrap_crowd_source.js lives in share/mephisto/web/providers.
 */

#define LOCAL_BUDGET 100000.0	/* no vendor account to draw on */

#define LOCAL_PROVIDER(id, NAME, SANDBOX, DESCRIPTION, REQUESTER)	\
static int								\
id##_requester_register(struct db *db, int64_t requester_id,		\
    char **errp)							\
{									\
	return provider_local_requester_register(db, NAME,		\
	    requester_id, errp);					\
}									\
									\
static int								\
id##_requester_budget(struct db *db, int64_t requester_id,		\
    double *out, char **errp)						\
{									\
	*out = LOCAL_BUDGET;						\
	return 0;							\
}									\
									\
static int								\
id##_unit_launch(struct db *db, int64_t unit_id, const char *url,	\
    char **errp)							\
{									\
	return provider_local_unit_expire(db, NAME, unit_id, 0, errp);	\
}									\
									\
static int								\
id##_unit_expire(struct db *db, int64_t unit_id, char **errp)		\
{									\
	return provider_local_unit_expire(db, NAME, unit_id, 1, errp);	\
}									\
									\
static int								\
id##_worker_create(struct db *db, const char *name,			\
    int64_t *worker_id, char **errp)					\
{									\
	return provider_local_worker_create(db, NAME, SANDBOX, name,	\
	    worker_id, errp);						\
}									\
									\
static int								\
id##_worker_bonus(struct db *db, int64_t worker_id, double amount,	\
    const char *reason, int64_t unit_id, const char *key, char **errp)	\
{									\
	return provider_local_bonus(db, NAME, worker_id, amount,	\
	    reason, unit_id, key, errp);				\
}									\
									\
static int								\
id##_worker_block(struct db *db, int64_t worker_id,			\
    const char *reason, char **errp)					\
{									\
	return provider_local_block(db, NAME, worker_id, 1, reason,	\
	    errp);							\
}									\
									\
static int								\
id##_worker_unblock(struct db *db, int64_t worker_id, char **errp)	\
{									\
	return provider_local_block(db, NAME, worker_id, 0, NULL,	\
	    errp);							\
}									\
									\
static int								\
id##_worker_is_blocked(struct db *db, int64_t worker_id, int *out,	\
    char **errp)							\
{									\
	return provider_local_is_blocked(db, NAME, worker_id, out,	\
	    errp);							\
}									\
									\
static int								\
id##_worker_is_eligible(struct db *db, int64_t worker_id,		\
    int64_t task_run_id, int *out, char **errp)				\
{									\
	int blocked;							\
									\
	if (provider_local_is_blocked(db, NAME, worker_id, &blocked,	\
	    errp) < 0)							\
		return -1;						\
	*out = !blocked;						\
	return 0;							\
}									\
									\
const struct provider provider_##id = {					\
	.name = NAME,							\
	.sandbox = SANDBOX,						\
	.description = DESCRIPTION,					\
	.web_script = "local",						\
	.requester_name = REQUESTER,					\
	.requester_register = id##_requester_register,			\
	.requester_is_registered = provider_local_requester_is_registered, \
	.requester_budget = id##_requester_budget,			\
	.unit_launch = id##_unit_launch,				\
	.unit_expire = id##_unit_expire,				\
	.unit_is_expired = provider_local_unit_is_expired,		\
	.worker_create = id##_worker_create,				\
	.worker_bonus = id##_worker_bonus,				\
	.worker_block = id##_worker_block,				\
	.worker_unblock = id##_worker_unblock,				\
	.worker_is_blocked = id##_worker_is_blocked,			\
	.worker_is_eligible = id##_worker_is_eligible,			\
}

LOCAL_PROVIDER(mock, "mock", 1,
    "local workers named in the task URL (?worker_id=NAME); a sandbox",
    "MOCK_REQUESTER");

LOCAL_PROVIDER(inhouse, "inhouse", 0,
    "your own workers named in the task URL (?worker_id=NAME)",
    "INHOUSE_REQUESTER");
