#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "buf.h"
#include "db.h"
#include "metrics.h"
#include "model.h"
#include "pool.h"
#include "proto.h"
#include "banned.h"

/*
 * The pool's Prometheus metrics (facts section 9), sent to io on request
 * (a "metrics" packet) so that io's one metrics listener shows the whole
 * run.  Unit and agent gauges and onboarding outcomes are read from the
 * database, so they are right after a restart; the agent_details
 * counters and database latencies count since this pool started.
 */

/* agent_details_responses{response}: the original's label values. */
static const char *const responses[POOL_NR_RESPONSES] = {
	[POOL_RESP_NOT_QUALIFIED] = "not_qualified",
	[POOL_RESP_NO_UNITS] = "no_available_units",
	[POOL_RESP_AGENT_MISSING] = "agent_missing",
	[POOL_RESP_ASSIGNED] = "assigned",
	[POOL_RESP_ASSIGNED_ONBOARDING] = "assigned_onboarding",
	[POOL_RESP_OTHER] = "other",
};

void
pool_count_details(struct pool *pool, const struct pool_reply *r)
{
	enum pool_response k = POOL_RESP_OTHER;

	if (r->agent_id)
		k = r->onboarding ? POOL_RESP_ASSIGNED_ONBOARDING :
		    POOL_RESP_ASSIGNED;
	else if (r->failure && !strcmp(r->failure, REASON_NOT_QUALIFIED))
		k = POOL_RESP_NOT_QUALIFIED;
	else if (r->failure && (!strcmp(r->failure,
	    REASON_NO_AVAILABLE_UNITS) || !strcmp(r->failure,
	    REASON_TOO_MANY_CONCURRENT) || !strcmp(r->failure,
	    REASON_MAX_FOR_TASK)))
		k = POOL_RESP_NO_UNITS;
	else if (r->failure && !strcmp(r->failure, REASON_TASK_MISSING))
		k = POOL_RESP_AGENT_MISSING;
	pool->details[k]++;
}

/*
 * One sample per row of SQL (run id bound to ?1): the value of label L1,
 * then of L2 (NULL: no second label), then the count.
 */
static int
gauge_rows(struct pool *pool, struct buf *b, const char *name,
    const char *l1, const char *l2, const char *sql)
{
	sqlite3_stmt *st = db_stmt(pool->db, sql);
	struct buf labels = BUF_INIT;
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, pool->run.task_run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		buf_reset(&labels);
		buf_addf(&labels, "%s=\"", l1);
		metrics_label_value(&labels,
		    (const char *)sqlite3_column_text(st, 0));
		if (l2) {
			buf_addf(&labels, "\",%s=\"", l2);
			metrics_label_value(&labels,
			    (const char *)sqlite3_column_text(st, 1));
		}
		buf_addch(&labels, '"');
		metrics_sample(b, name, labels.buf,
		    (double)sqlite3_column_int64(st, l2 ? 2 : 1));
	}
	sqlite3_reset(st);
	buf_release(&labels);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
database_gauges(struct pool *pool, struct buf *b)
{
	metrics_header(b, "active_unit_statuses", "gauge",
	    "Units of the run by status and type.");
	if (gauge_rows(pool, b, "active_unit_statuses", "status", "unit_type",
	    "SELECT status, CASE unit_index WHEN -1 THEN 'screening_unit' "
	    "WHEN -2 THEN 'gold_unit' ELSE 'standard' END AS t, COUNT(*) "
	    "FROM units WHERE task_run_id = ?1 GROUP BY status, t") < 0)
		return -1;
	metrics_header(b, "active_agent_statuses", "gauge",
	    "Agents of the run by status and type.");
	if (gauge_rows(pool, b, "active_agent_statuses", "status",
	    "agent_type", "SELECT status, 'main', COUNT(*) FROM agents "
	    "WHERE task_run_id = ?1 GROUP BY status UNION ALL "
	    "SELECT status, 'onboarding', COUNT(*) FROM onboarding_agents "
	    "WHERE task_run_id = ?1 GROUP BY status") < 0)
		return -1;
	metrics_header(b, "worker_pool_onboarding_outcomes_total", "counter",
	    "Onboarding attempts launched, passed and failed.");
	return gauge_rows(pool, b, "worker_pool_onboarding_outcomes_total",
	    "outcome", NULL, "SELECT 'launched', COUNT(*) FROM "
	    "onboarding_agents WHERE task_run_id = ?1 UNION ALL SELECT "
	    "'passed', COUNT(*) FROM onboarding_agents WHERE "
	    "task_run_id = ?1 AND status = '" AGENT_APPROVED "' UNION ALL "
	    "SELECT 'failed', COUNT(*) FROM onboarding_agents WHERE "
	    "task_run_id = ?1 AND status = '" AGENT_REJECTED "'");
}

static void
memory_metrics(struct pool *pool, struct buf *b)
{
	struct buf labels = BUF_INIT;
	struct pool_conn *c;
	int i, io = 0;

	metrics_header(b, "agent_details_responses_total", "counter",
	    "Answers to workers asking for a unit, by outcome.");
	for (i = 0; i < POOL_NR_RESPONSES; i++) {
		buf_reset(&labels);
		buf_addf(&labels, "response=\"%s\"", responses[i]);
		metrics_sample(b, "agent_details_responses_total", labels.buf,
		    (double)pool->details[i]);
	}
	metrics_header(b, "database_latency_seconds", "histogram",
	    "Time to take the database's write lock (begin) and to commit.");
	metrics_histogram(b, "database_latency_seconds", "method=\"begin\"",
	    db_latency(pool->db, 0));
	metrics_histogram(b, "database_latency_seconds", "method=\"commit\"",
	    db_latency(pool->db, 1));
	for (c = pool->conns; c; c = c->next)
		io += c->is_io && !c->closing;
	metrics_header(b, "mephisto_pool_io_connections", "gauge",
	    "mephisto-io processes connected to the pool.");
	metrics_sample(b, "mephisto_pool_io_connections", "", io);
	buf_release(&labels);
}

void
pool_metrics(struct pool_conn *c, const struct msg_packet *p)
{
	struct pool *pool = c->pool;
	struct msg_packet reply = MSG_PACKET_INIT;
	struct buf b = BUF_INIT;
	cJSON *d;

	if (database_gauges(pool, &b) < 0) {
		pool_send_error(c, p->request_id, db_errmsg(pool->db), 1);
		buf_release(&b);
		return;
	}
	memory_metrics(pool, &b);
	d = msg_new_object();
	msg_set_str(d, "text", b.buf);
	reply.packet_type = PT_METRICS;
	reply.subject_id = PROTO_SYSTEM_SUBJECT;
	reply.request_id = p->request_id;
	reply.data = d;
	reply.server_timestamp = msg_now();
	pool_send(c, &reply);
	msg_free(d);
	buf_release(&b);
}
