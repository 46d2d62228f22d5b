#include <stdint.h>
#include <stdlib.h>

#include "provider.h"
#include "banned.h"

/*
 * The inhouse provider (facts sections 1.4 and 3.8): the requester's own
 * workers, named by the URL; not a sandbox, so worker names are kept as
 * given.  Records live in the provider_* tables like the mock provider's
 * (blocks are by worker id, fixing the original's name/id mix-up).
 */

#define INHOUSE "inhouse"
#define INHOUSE_BUDGET 100000.0	/* no vendor account to draw on */

static const char inhouse_wrap_js[] =
	"/* wrap_crowd_source.js for the inhouse provider */\n"
	"(function () {\n"
	"  var params = new URLSearchParams(window.location.search);\n"
	"  window.getWorkerName = function () {\n"
	"    return params.get(\"worker_id\");\n"
	"  };\n"
	"  window.getAssignmentId = function () {\n"
	"    return params.get(\"id\");\n"
	"  };\n"
	"  window.getAgentRegistration = function () {\n"
	"    var w = getWorkerName(), a = getAssignmentId();\n"
	"    return {worker_name: w, agent_registration_id: a + \"-\" + w,\n"
	"      assignment_id: a, provider_type: \"inhouse\"};\n"
	"  };\n"
	"  window.handleSubmitToProvider = function (d) {\n"
	"    alert(\"Thank you for your work!\");\n"
	"    window.location.replace(\"/welcome\");\n"
	"    return true;\n"
	"  };\n"
	"})();\n";

static int
inhouse_requester_register(struct db *db, int64_t requester_id, char **errp)
{
	return provider_local_requester_register(db, INHOUSE, requester_id,
	    errp);
}

static int
inhouse_requester_is_registered(struct db *db, int64_t requester_id, int *out,
    char **errp)
{
	return provider_local_requester_is_registered(db, requester_id, out,
	    errp);
}

static int
inhouse_requester_budget(struct db *db, int64_t requester_id, double *out,
    char **errp)
{
	*out = INHOUSE_BUDGET;
	return 0;
}

static int
inhouse_unit_launch(struct db *db, int64_t unit_id, const char *url,
    char **errp)
{
	return provider_local_unit_expire(db, INHOUSE, unit_id, 0, errp);
}

static int
inhouse_unit_expire(struct db *db, int64_t unit_id, char **errp)
{
	return provider_local_unit_expire(db, INHOUSE, unit_id, 1, errp);
}

static int
inhouse_unit_is_expired(struct db *db, int64_t unit_id, int *out, char **errp)
{
	return provider_local_unit_is_expired(db, unit_id, out, errp);
}

static int
inhouse_worker_create(struct db *db, const char *name, int64_t *worker_id,
    char **errp)
{
	return provider_local_worker_create(db, INHOUSE, 0, name, worker_id,
	    errp);
}

static int
inhouse_worker_bonus(struct db *db, int64_t worker_id, double amount,
    const char *reason, int64_t unit_id, const char *key, char **errp)
{
	return provider_local_bonus(db, INHOUSE, worker_id, amount, reason,
	    unit_id, key, errp);
}

static int
inhouse_worker_block(struct db *db, int64_t worker_id, const char *reason,
    char **errp)
{
	return provider_local_block(db, INHOUSE, worker_id, 1, reason, errp);
}

static int
inhouse_worker_unblock(struct db *db, int64_t worker_id, char **errp)
{
	return provider_local_block(db, INHOUSE, worker_id, 0, NULL, errp);
}

static int
inhouse_worker_is_blocked(struct db *db, int64_t worker_id, int *out,
    char **errp)
{
	return provider_local_is_blocked(db, INHOUSE, worker_id, out, errp);
}

static int
inhouse_worker_is_eligible(struct db *db, int64_t worker_id,
    int64_t task_run_id, int *out, char **errp)
{
	int blocked;

	if (provider_local_is_blocked(db, INHOUSE, worker_id, &blocked,
	    errp) < 0)
		return -1;
	*out = !blocked;
	return 0;
}

const struct provider provider_inhouse = {
	.name = INHOUSE,
	.sandbox = 0,
	.wrap_crowd_source_js = inhouse_wrap_js,
	.requester_register = inhouse_requester_register,
	.requester_is_registered = inhouse_requester_is_registered,
	.requester_budget = inhouse_requester_budget,
	.unit_launch = inhouse_unit_launch,
	.unit_expire = inhouse_unit_expire,
	.unit_is_expired = inhouse_unit_is_expired,
	.worker_create = inhouse_worker_create,
	.worker_bonus = inhouse_worker_bonus,
	.worker_block = inhouse_worker_block,
	.worker_unblock = inhouse_worker_unblock,
	.worker_is_blocked = inhouse_worker_is_blocked,
	.worker_is_eligible = inhouse_worker_is_eligible,
};
