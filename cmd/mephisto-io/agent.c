/*
 * What io knows about agents (the original router's LocalAgentState),
 * and liveness: io tells the pool when an agent's socket has been silent
 * past the heartbeat deadline or closed for long enough, and when it comes
 * back (DESIGN.md section 6, "liveness is pushed").
 */
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "log.h"
#include "proto.h"
#include "xalloc.h"
#include "banned.h"

static const char *const final_statuses[] = {
	"completed", "disconnect", "timeout", "expired", "returned",
	"soft_rejected", "approved", "rejected",
};

int
agent_status_final(const char *status)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(final_statuses); i++)
		if (!strcmp(status, final_statuses[i]))
			return 1;
	return 0;
}

struct agent *
agent_find(struct io *io, const char *id)
{
	return (struct agent *)smap_get(&io->agents, id);
}

struct agent *
agent_get(struct io *io, const char *id)
{
	struct agent *a = agent_find(io, id);

	if (a)
		return a;
	a = xcalloc(1, sizeof(*a));
	a->id = xstrdup(id);
	a->ent.key = a->id;
	memcpy(a->status, "none", 5);
	a->touched_us = now_us();
	smap_put(&io->agents, &a->ent);
	log_debug("tracking agent %s", id);
	return a;
}

void
agent_free(struct io *io, struct agent *a)
{
	smap_remove(&io->agents, &a->ent);
	if (a->conn)
		a->conn->agent = NULL;
	frameq_clear(&a->unsent);
	free(a->id);
	free(a);
}

static void
free_one(struct smap_entry *e, void *arg)
{
	agent_free(arg, (struct agent *)e);
}

void
agent_free_all(struct io *io)
{
	smap_each(&io->agents, free_one, io);
	smap_release(&io->agents);
}

static void
flush_unsent(struct agent *a)
{
	struct frame *f;

	while (a->conn && (f = frameq_pop(&a->unsent)))
		ws_send(a->conn, f);
}

int
agent_bind(struct io *io, struct agent *a, struct session *c)
{
	if (a->conn == c)
		return 0;
	if (a->conn)
		a->conn->agent = NULL;
	if (c->agent && c->agent != a)
		c->agent->conn = NULL;
	a->conn = c;
	c->agent = a;
	a->had_socket = 1;
	a->lost_us = 0;
	flush_unsent(a);
	return 1;
}

void
agent_socket_lost(struct io *io, struct session *c)
{
	struct agent *a = c->agent;

	if (!a)
		return;
	a->conn = NULL;
	a->lost_us = now_us();
	a->touched_us = a->lost_us;
	c->agent = NULL;
	log_debug("socket of agent %s closed", a->id);
}

/* Send return_statuses with the map DATA; 0 if it was sent. */
static int
send_statuses(struct io *io, cJSON *data)
{
	struct msg_packet p = MSG_PACKET_INIT;

	p.packet_type = PT_RETURN_STATUSES;
	p.subject_id = PROTO_SYSTEM_SUBJECT;
	p.data = data;
	return pool_send(io, &p);
}

/* Tell the pool about one agent's status; 0 if it was sent. */
static int
report(struct io *io, const char *id, const char *status)
{
	cJSON *data = msg_new_object();
	int r;

	msg_set_str(data, id, status);
	r = send_statuses(io, data);
	msg_free(data);
	return r;
}

void
agent_seen(struct io *io, struct agent *a)
{
	a->seen_us = now_us();
	a->touched_us = a->seen_us;
	if (a->reported && !report(io, a->id, "alive")) {
		a->reported = 0;
		log_info("agent %s is back", a->id);
	}
}

void
agent_deliver(struct io *io, struct agent *a, struct frame *f)
{
	a->touched_us = now_us();
	if (a->conn) {
		ws_send(a->conn, f);
		return;
	}
	if (a->unsent.count >= IO_UNSENT_MAX_FRAMES) {
		free(frameq_pop(&a->unsent));
		warn("agent %s has no socket; dropped its oldest unsent packet",
		    a->id);
	}
	frameq_push(&a->unsent, f);
}

struct sweep {
	struct io *io;
	int64_t now;
	cJSON *gone;		/* agents to report, or NULL */
};

/* Is A's socket silent or lost past its deadline? */
static int
is_gone(struct io *io, struct agent *a, int64_t now)
{
	if (!a->had_socket || a->reported || agent_status_final(a->status))
		return 0;
	if (a->conn)
		return now - a->seen_us > (int64_t)io->opt.ping_timeout_ms * 1000;
	return a->lost_us &&
	    now - a->lost_us > (int64_t)io->opt.lost_timeout_ms * 1000;
}

static void
sweep_one(struct smap_entry *e, void *arg)
{
	struct sweep *sw = arg;
	struct agent *a = (struct agent *)e;

	if (is_gone(sw->io, a, sw->now)) {
		if (!sw->gone)
			sw->gone = msg_new_object();
		msg_set_str(sw->gone, a->id, "disconnect");
		return;
	}
	if (!a->conn && sw->now - a->touched_us >
	    (int64_t)IO_AGENT_IDLE_MS * 1000) {
		log_debug("forgetting idle agent %s", a->id);
		agent_free(sw->io, a);
	}
}

static void
mark_reported(struct smap_entry *e, void *arg)
{
	struct sweep *sw = arg;
	struct agent *a = (struct agent *)e;

	if (msg_has(sw->gone, a->id)) {
		a->reported = 1;
		log_info("agent %s disconnected (%s)", a->id,
		    a->conn ? "socket silent" : "socket closed");
	}
}

void
agent_sweep(struct io *io)
{
	struct sweep sw = { io, now_us(), NULL };

	smap_each(&io->agents, sweep_one, &sw);
	if (!sw.gone)
		return;
	/* If the pool is away, a later sweep tries again. */
	if (!send_statuses(io, sw.gone))
		smap_each(&io->agents, mark_reported, &sw);
	msg_free(sw.gone);
}

static void
recheck_one(struct smap_entry *e, void *arg)
{
	struct sweep *sw = arg;
	struct agent *a = (struct agent *)e;

	if (!a->reported)
		return;
	a->reported = 0;
	if (a->conn && !is_gone(sw->io, a, sw->now) &&
	    report(sw->io, a->id, "alive"))
		a->reported = 1;
}

/*
 * The pool (re)connected.  It may have missed reports sent to the previous
 * connection: tell it again which agents are back, and let the sweep
 * report those still gone.
 */
void
agent_report_all(struct io *io)
{
	struct sweep sw = { io, now_us(), NULL };

	smap_each(&io->agents, recheck_one, &sw);
	agent_sweep(io);
}
