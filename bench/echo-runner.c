/*
 * echo-runner: the live-task runner of `make bench` (mephisto-pool(1),
 * LIVE TASKS).  It answers every live_update with a send of the same data
 * to the same agent and every ping with a pong, for one assignment or a
 * whole run (shared_runner).  Its answers to everything one read of its
 * input brought are written together, as a runner that keeps up under
 * load would: the figures then measure io and the pool, not the runner.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "msg.h"
#include "banned.h"

static void
answer(const char *line, size_t len, struct buf *out)
{
	cJSON *e = msg_parse(line, len, 0, NULL), *c;
	const char *event;

	if (!e || msg_get_str(e, "event", &event, NULL) < 0) {
		msg_free(e);
		return;
	}
	if (!strcmp(event, "ping")) {
		buf_addstr(out, "{\"command\":\"pong\"}\n");
	} else if (!strcmp(event, "live_update")) {
		c = msg_new_object();
		msg_set_str(c, "command", "send");
		msg_set(c, "agent_id", msg_dup(msg_get(e, "agent_id")));
		msg_set(c, "data", msg_dup(msg_get(e, "data")));
		msg_write_line(c, out);
		msg_free(c);
	}
	msg_free(e);
}

int
main(void)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	char chunk[65536], *nl;
	size_t at;
	ssize_t n;

	for (;;) {
		n = read(0, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_add(&in, chunk, (size_t)n);
		for (at = 0; (nl = memchr(in.buf + at, '\n', in.len - at));
		    at = (size_t)(nl - in.buf) + 1)
			answer(in.buf + at, (size_t)(nl - in.buf) - at, &out);
		buf_remove_front(&in, at);
		if (out.len && buf_write_fd(1, out.buf, out.len) < 0)
			return 1;
		buf_reset(&out);
	}
	buf_release(&in);
	buf_release(&out);
	return 0;
}
