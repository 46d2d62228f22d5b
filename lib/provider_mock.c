#include <stdint.h>
#include <stdlib.h>

#include "provider.h"
#include "banned.h"

/*
 * The mock provider (facts section 1.4): a sandbox whose workers are
 * whoever the URL says.  Blocks, expired units and registered requesters
 * are rows of the provider_* tables; bonuses are ledger rows paid at once.
 */

#define MOCK "mock"
#define MOCK_BUDGET 100000.0

static const char mock_wrap_js[] =
	"/* wrap_crowd_source.js for the mock provider */\n"
	"(function () {\n"
	"  var params = new URLSearchParams(window.location.search);\n"
	"  window.getWorkerName = function () {\n"
	"    return params.get(\"worker_id\");\n"
	"  };\n"
	"  window.getAssignmentId = function () {\n"
	"    return params.get(\"assignment_id\");\n"
	"  };\n"
	"  window.getAgentRegistration = function () {\n"
	"    var w = getWorkerName(), a = getAssignmentId();\n"
	"    return {worker_name: w, agent_registration_id: a + \"-\" + w,\n"
	"      assignment_id: a, provider_type: \"mock\"};\n"
	"  };\n"
	"  window.handleSubmitToProvider = function (d) {\n"
	"    if (typeof d === \"string\") d = JSON.parse(d);\n"
	"    alert(\"The task has been submitted! Data: \" +\n"
	"      JSON.stringify(d));\n"
	"    return true;\n"
	"  };\n"
	"})();\n";

static int
mock_requester_register(struct db *db, int64_t requester_id, char **errp)
{
	return provider_local_requester_register(db, MOCK, requester_id,
	    errp);
}

static int
mock_requester_is_registered(struct db *db, int64_t requester_id, int *out,
    char **errp)
{
	return provider_local_requester_is_registered(db, requester_id, out,
	    errp);
}

static int
mock_requester_budget(struct db *db, int64_t requester_id, double *out,
    char **errp)
{
	*out = MOCK_BUDGET;
	return 0;
}

static int
mock_unit_launch(struct db *db, int64_t unit_id, const char *url,
    char **errp)
{
	return provider_local_unit_expire(db, MOCK, unit_id, 0, errp);
}

static int
mock_unit_expire(struct db *db, int64_t unit_id, char **errp)
{
	return provider_local_unit_expire(db, MOCK, unit_id, 1, errp);
}

static int
mock_unit_is_expired(struct db *db, int64_t unit_id, int *out, char **errp)
{
	return provider_local_unit_is_expired(db, unit_id, out, errp);
}

static int
mock_worker_create(struct db *db, const char *name, int64_t *worker_id,
    char **errp)
{
	return provider_local_worker_create(db, MOCK, 1, name, worker_id,
	    errp);
}

static int
mock_worker_bonus(struct db *db, int64_t worker_id, double amount,
    const char *reason, int64_t unit_id, const char *key, char **errp)
{
	return provider_local_bonus(db, MOCK, worker_id, amount, reason,
	    unit_id, key, errp);
}

static int
mock_worker_block(struct db *db, int64_t worker_id, const char *reason,
    char **errp)
{
	return provider_local_block(db, MOCK, worker_id, 1, reason, errp);
}

static int
mock_worker_unblock(struct db *db, int64_t worker_id, char **errp)
{
	return provider_local_block(db, MOCK, worker_id, 0, NULL, errp);
}

static int
mock_worker_is_blocked(struct db *db, int64_t worker_id, int *out,
    char **errp)
{
	return provider_local_is_blocked(db, MOCK, worker_id, out, errp);
}

static int
mock_worker_is_eligible(struct db *db, int64_t worker_id,
    int64_t task_run_id, int *out, char **errp)
{
	int blocked;

	if (provider_local_is_blocked(db, MOCK, worker_id, &blocked,
	    errp) < 0)
		return -1;
	*out = !blocked;
	return 0;
}

const struct provider provider_mock = {
	.name = MOCK,
	.sandbox = 1,
	.wrap_crowd_source_js = mock_wrap_js,
	.requester_register = mock_requester_register,
	.requester_is_registered = mock_requester_is_registered,
	.requester_budget = mock_requester_budget,
	.unit_launch = mock_unit_launch,
	.unit_expire = mock_unit_expire,
	.unit_is_expired = mock_unit_is_expired,
	.worker_create = mock_worker_create,
	.worker_bonus = mock_worker_bonus,
	.worker_block = mock_worker_block,
	.worker_unblock = mock_worker_unblock,
	.worker_is_blocked = mock_worker_is_blocked,
	.worker_is_eligible = mock_worker_is_eligible,
};
