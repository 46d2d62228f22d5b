#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "io.h"
#include "log.h"
#include "metrics.h"
#include "path.h"
#include "xalloc.h"
#include "banned.h"

/*
 * io's Prometheus metrics (facts section 9 names, plus mephisto_io_*),
 * served with the pool's on a separate listener bound to loopback
 * (--metrics-port), which answers GET /metrics and nothing else.
 */

static const char *const kinds[IO_NR_KINDS] = {
	"register_agent", "submit_onboarding", "submit_unit",
	"submit_metadata", "log_error", "mephisto_bound_live_update",
	"return_statuses",
};

static const char *const stages[IO_NR_STAGES] = {
	"client_to_router", "router_processing", "router_to_server",
	"server_processing", "e2e_time",
};

/* The answers counted by status; the last slot counts the others. */
static const int codes[IO_NR_CODES] = {
	200, 400, 403, 404, 405, 408, 413, 500, 503, 0,
};

int
metrics_kind(const char *packet_type)
{
	int i;

	for (i = 0; packet_type && i < IO_NR_KINDS; i++)
		if (!strcmp(kinds[i], packet_type))
			return i;
	return -1;
}

static double
nonneg(double v)
{
	return v > 0 ? v : 0;
}

void
metrics_request_done(struct io *io, const struct pending *r,
    const struct msg_packet *reply)
{
	struct io_metrics *m = &io->metrics;
	double now = msg_now(), in, client, server;

	if (r->kind < 0)
		return;
	/* Missing stamps fall back to the next one, as the original does. */
	in = r->t_in > 0 ? r->t_in : r->t_out;
	client = r->t_client > 0 ? r->t_client : in;
	server = reply->server_timestamp > 0 ? reply->server_timestamp :
	    r->t_out;
	histogram_observe(&m->handler[r->kind], nonneg(now - in));
	histogram_observe(&m->e2e[r->kind][0], nonneg(in - client));
	histogram_observe(&m->e2e[r->kind][1], nonneg(r->t_out - in));
	histogram_observe(&m->e2e[r->kind][2], nonneg(server - r->t_out));
	histogram_observe(&m->e2e[r->kind][3], nonneg(now - server));
	histogram_observe(&m->e2e[r->kind][4], nonneg(now - client));
}

void
metrics_response(struct io *io, int status)
{
	int i;

	for (i = 0; i < IO_NR_CODES - 1 && codes[i] != status; i++)
		;
	io->metrics.responses[i]++;
}

static void
histograms(struct buf *b, const struct io_metrics *m)
{
	struct buf l = BUF_INIT;
	int k, s;

	metrics_header(b, "client_io_handler_latency_seconds", "histogram",
	    "Time from a request reaching io to its answer, by packet type.");
	for (k = 0; k < IO_NR_KINDS; k++) {
		buf_reset(&l);
		buf_addf(&l, "packet_type=\"%s\"", kinds[k]);
		metrics_histogram(b, "client_io_handler_latency_seconds",
		    l.buf, &m->handler[k]);
	}
	metrics_header(b, "e2e_packet_latency", "histogram",
	    "Stages of a request from the browser to the pool and back.");
	for (k = 0; k < IO_NR_KINDS; k++)
		for (s = 0; s < IO_NR_STAGES; s++) {
			buf_reset(&l);
			buf_addf(&l, "packet_type=\"%s\",stage=\"%s\"",
			    kinds[k], stages[s]);
			metrics_histogram(b, "e2e_packet_latency", l.buf,
			    &m->e2e[k][s]);
		}
	buf_release(&l);
}

void
metrics_io_text(struct io *io, struct buf *b)
{
	const struct io_metrics *m = &io->metrics;
	char l[32];
	int i;

	histograms(b, m);
	metrics_header(b, "mephisto_io_responses_total", "counter",
	    "Answers to the task API (static files aside), by status.");
	for (i = 0; i < IO_NR_CODES; i++) {
		if (codes[i])
			snprintf(l, sizeof(l), "code=\"%d\"", codes[i]);
		else
			snprintf(l, sizeof(l), "code=\"other\"");
		metrics_sample(b, "mephisto_io_responses_total", l,
		    (double)m->responses[i]);
	}
	metrics_header(b, "mephisto_io_websockets", "gauge",
	    "Open worker WebSocket connections.");
	metrics_sample(b, "mephisto_io_websockets", "", (double)m->websockets);
	metrics_header(b, "mephisto_io_agents", "gauge",
	    "Agents io keeps state for.");
	metrics_sample(b, "mephisto_io_agents", "", (double)io->agents.count);
	metrics_header(b, "mephisto_io_pool_pending", "gauge",
	    "Requests waiting for the pool's answer.");
	metrics_sample(b, "mephisto_io_pool_pending", "",
	    (double)io->pool.pending.count);
	metrics_header(b, "mephisto_io_pool_up", "gauge",
	    "Whether io is connected to the pool.");
	metrics_sample(b, "mephisto_io_pool_up", "", pool_is_ready(io));
}

int
metrics_write_port(struct io *io)
{
	char *path = path_join(io->run_dir, "metrics.port");
	char line[32];
	int n = snprintf(line, sizeof(line), "%d\n", io->metrics_port);

	if (path_write_atomic(path, line, (size_t)n, 0644)) {
		error_errno("cannot write '%s'", path);
		free(path);
		return -1;
	}
	free(path);
	return 0;
}
