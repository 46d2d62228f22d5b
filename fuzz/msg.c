/*
 * The packet parser (lib/msg): msg_parse() on any bytes, then
 * msg_packet_parse() on the same line.  Whatever parses must print and
 * parse again to the same text.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "msg.h"
#include "fuzz.h"
#include "banned.h"

static void
round_trip(const cJSON *v)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	cJSON *again;

	msg_print(v, &a);
	if (memchr(a.buf, '\n', a.len))
		abort();
	again = msg_parse(a.buf, a.len, 0, NULL);
	if (!again)
		abort();
	msg_print(again, &b);
	if (a.len != b.len || memcmp(a.buf, b.buf, a.len))
		abort();
	msg_free(again);
	buf_release(&a);
	buf_release(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_packet p = MSG_PACKET_INIT;
	char *err = NULL;
	cJSON *v;

	v = msg_parse((const char *)data, size, 0, &err);
	if (v) {
		round_trip(v);
		msg_free(v);
	} else if (!err) {
		abort();
	}
	free(err);
	err = NULL;

	if (!msg_packet_parse(&p, (const char *)data, size, 1 << 20, &err)) {
		struct buf line = BUF_INIT;
		char *perr = NULL;
		int retryable;

		if (!p.packet_type || !p.subject_id || !p.data)
			abort();
		msg_packet_error(&p, &perr, &retryable);
		free(perr);
		msg_packet_write(&p, &line);
		msg_packet_release(&p);
		if (!line.len || line.buf[line.len - 1] != '\n')
			abort();
		if (msg_packet_parse(&p, line.buf, line.len - 1, 0, NULL))
			abort();
		msg_packet_release(&p);
		buf_release(&line);
	} else if (!err) {
		abort();
	}
	free(err);
	return 0;
}
