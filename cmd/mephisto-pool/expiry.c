#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "proto.h"
#include "xalloc.h"
#include "banned.h"

/*
 * assignment_duration_in_seconds: an agent (or onboarding agent) that has
 * not submitted that long after it was created is released, as the
 * original's static runner does: agent "disconnect", its unit back to
 * "launched" for another worker.
 *
 * Every agent of a run gets the same duration, so deadlines mostly come
 * in the order agents are created: a queue kept sorted (a new deadline is
 * put in place from the tail; live tasks add quorum deadlines, which are
 * shorter), rebuilt from the database on start, with one loop timer for
 * its head.  Whether an agent is still live is decided by the database
 * when its deadline comes.
 *
 * Live tasks: an agent out of time is dropped as "timeout" (its partners
 * and runner are told, pool_live_drop()), and a waiting agent past its
 * quorum deadline is released (pool_live_quorum_expire()).
 */

#define EXPIRE_BATCH 256	/* releases per transaction */

static void arm(struct pool *pool, double min_delay);
static void push_released(struct pool *pool, const struct pool_deadline *d,
    size_t n, const char *flags);

static int
cmp_deadline(const void *a, const void *b)
{
	const struct pool_deadline *x = a, *y = b;

	return x->when < y->when ? -1 : x->when > y->when;
}

void
pool_expiry_add(struct pool *pool, double when, int64_t id, int onboarding)
{
	struct pool_deadline *d;
	size_t i;

	if (pool->dl_head && pool->dl_head == pool->dl_nr) {
		pool->dl_head = pool->dl_nr = 0;
	} else if (pool->dl_head > 1024 && pool->dl_head * 2 > pool->dl_nr) {
		memmove(pool->dl, pool->dl + pool->dl_head,
		    (pool->dl_nr - pool->dl_head) * sizeof(*pool->dl));
		pool->dl_nr -= pool->dl_head;
		pool->dl_head = 0;
	}
	ALLOC_GROW(pool->dl, pool->dl_nr + 1, pool->dl_alloc);
	i = pool->dl_nr;
	while (i > pool->dl_head && pool->dl[i - 1].when > when)
		i--;
	memmove(pool->dl + i + 1, pool->dl + i,
	    (pool->dl_nr - i) * sizeof(*pool->dl));
	pool->dl_nr++;
	d = &pool->dl[i];
	d->when = when;
	d->id = id;
	d->onboarding = onboarding;
	if (!pool->dl_timer || i == pool->dl_head)
		arm(pool, 0);
}

static int
expire_one(struct pool *pool, const struct pool_deadline *d, int *released)
{
	struct model_agent a;
	int rc;

	*released = 0;
	if (d->onboarding) {
		rc = model_onboarding_set_status(pool->db, d->id,
		    AGENT_ONBOARDING, AGENT_DISCONNECT, NULL);
		*released = rc == 1;
		return rc < 0 ? -1 : 0;
	}
	rc = model_agent_get(pool->db, d->id, &a);
	if (rc <= 0)
		return rc;
	rc = model_agent_release(pool->db, &a, AGENT_DISCONNECT, NULL);
	*released = rc == 1;
	return rc < 0 ? -1 : 0;
}

/* A live run's onboarding agent out of time, in its own transaction. */
static int
expire_onboarding(struct pool *pool, const struct pool_deadline *d)
{
	int released;

	if (db_begin(pool->db) < 0 || expire_one(pool, d, &released) < 0 ||
	    db_commit(pool->db) < 0)
		return pool_db_fail(pool, "release an onboarding agent");
	if (released)
		push_released(pool, d, 1, "\1");
	return 0;
}

static void
push_released(struct pool *pool, const struct pool_deadline *d, size_t n,
    const char *flags)
{
	char subject[64];
	size_t i;

	for (i = 0; i < n; i++) {
		if (!flags[i])
			continue;
		snprintf(subject, sizeof(subject), "%s%" PRId64,
		    d[i].onboarding ? PROTO_ONBOARDING_PREFIX : "", d[i].id);
		log_info("agent %s ran out of time: released", subject);
		pool_push_status(pool, subject, AGENT_DISCONNECT);
	}
}

/* Release the due agents among the first N of the queue. */
static int
expire_batch(struct pool *pool, size_t n)
{
	const struct pool_deadline *d = pool->dl + pool->dl_head;
	char *flags = xcalloc(n ? n : 1, 1);
	size_t i;
	int released;

	if (db_begin(pool->db) < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		if (expire_one(pool, &d[i], &released) < 0)
			goto fail;
		flags[i] = (char)released;
	}
	if (db_commit(pool->db) < 0)
		goto fail;
	pool->dl_head += n;
	push_released(pool, d, n, flags);
	free(flags);
	return 0;
fail:
	free(flags);
	return pool_db_fail(pool, "release agents that ran out of time");
}

static long
on_timer(struct loop *l, long long id, void *arg)
{
	struct pool *pool = arg;
	double now = db_now();
	double retry = 0;
	size_t n;

	pool->dl_timer = 0;
	if (pool->run.live) {
		/* One at a time: each drop has its own consequences. */
		while (pool->dl_head < pool->dl_nr &&
		    pool->dl[pool->dl_head].when <= now) {
			struct pool_deadline d = pool->dl[pool->dl_head++];

			if (d.onboarding == POOL_DL_QUORUM)
				pool_live_quorum_expire(pool, d.id);
			else if (d.onboarding == POOL_DL_AGENT)
				pool_live_drop(pool, d.id, AGENT_TIMEOUT);
			else if (expire_onboarding(pool, &d) < 0) {
				pool->dl_head--;
				retry = 1;
				break;
			}
		}
		goto done;
	}
	for (;;) {
		n = 0;
		while (pool->dl_head + n < pool->dl_nr && n < EXPIRE_BATCH &&
		    pool->dl[pool->dl_head + n].when <= now)
			n++;
		if (!n)
			break;
		if (expire_batch(pool, n) < 0) {
			retry = 1;	/* the database is busy: try again */
			break;
		}
	}
done:
	pool_publish(pool);
	arm(pool, retry);
	return LOOP_NOMORE;
}

/* Arm the timer for the head of the queue, at least MIN_DELAY from now. */
static void
arm(struct pool *pool, double min_delay)
{
	double delay;

	if (pool->dl_timer) {
		loop_del_timer(pool->loop, pool->dl_timer);
		pool->dl_timer = 0;
	}
	if (pool->dl_head >= pool->dl_nr || !pool->loop)
		return;
	delay = pool->dl[pool->dl_head].when - db_now();
	if (delay < min_delay)
		delay = min_delay;
	pool->dl_timer = loop_add_timer(pool->loop, (long)(delay * 1000) + 1,
	    on_timer, pool);
}

static int
load(struct pool *pool, const char *sql, int onboarding)
{
	sqlite3_stmt *st = db_stmt(pool->db, sql);
	double duration = (double)pool->run.assignment_duration;
	struct pool_deadline *d;
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, pool->run.task_run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ALLOC_GROW(pool->dl, pool->dl_nr + 1, pool->dl_alloc);
		d = &pool->dl[pool->dl_nr++];
		d->id = sqlite3_column_int64(st, 0);
		d->when = sqlite3_column_double(st, 1) + duration;
		d->onboarding = onboarding;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Waiting agents of a live run: their quorum deadlines. */
static int
load_quorum(struct pool *pool)
{
	sqlite3_stmt *st = db_stmt(pool->db, "SELECT agent_id, "
	    "(julianday(creation_date) - 2440587.5) * 86400.0 FROM agents "
	    "WHERE task_run_id = ? AND status = 'waiting'");
	struct pool_deadline *d;
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, pool->run.task_run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ALLOC_GROW(pool->dl, pool->dl_nr + 1, pool->dl_alloc);
		d = &pool->dl[pool->dl_nr++];
		d->id = sqlite3_column_int64(st, 0);
		d->when = sqlite3_column_double(st, 1) +
		    pool->run.quorum_timeout;
		d->onboarding = POOL_DL_QUORUM;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
pool_expiry_start(struct pool *pool)
{
	if (load(pool, "SELECT agent_id, (julianday(creation_date) - "
	    "2440587.5) * 86400.0 FROM agents WHERE task_run_id = ? AND "
	    "status IN ('none', 'accepted', 'onboarding', 'waiting', "
	    "'in task')", 0) < 0 ||
	    load(pool, "SELECT onboarding_agent_id, (julianday(creation_date) "
	    "- 2440587.5) * 86400.0 FROM onboarding_agents WHERE "
	    "task_run_id = ? AND status = 'onboarding'", 1) < 0)
		return pool_db_fail(pool, "read the live agents");
	if (pool->run.live && load_quorum(pool) < 0)
		return pool_db_fail(pool, "read the waiting agents");
	if (pool->dl_nr) {
		qsort(pool->dl, pool->dl_nr, sizeof(*pool->dl), cmp_deadline);
		log_info("%zu live agents", pool->dl_nr);
	}
	arm(pool, 0);
	return 0;
}

void
pool_expiry_release(struct pool *pool)
{
	if (pool->dl_timer && pool->loop)
		loop_del_timer(pool->loop, pool->dl_timer);
	pool->dl_timer = 0;
	free(pool->dl);
	pool->dl = NULL;
	pool->dl_head = pool->dl_nr = pool->dl_alloc = 0;
}
