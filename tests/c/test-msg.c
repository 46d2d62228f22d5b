/*
 * Drive lib/msg from the bats tests.  Input JSON comes from stdin.
 *
 *   test-msg parse [MAX]		parse, print unformatted
 *   test-msg nest DEPTH		parse DEPTH nested arrays
 *   test-msg get TYPE KEY		a typed getter on the stdin object
 *   test-msg opt TYPE KEY DEFAULT	an optional getter
 *   test-msg packet			parse a packet line, print its fields
 *					and write it back
 *   test-msg build TYPE SUBJECT [REQUEST_ID [TIMESTAMP]]
 *					build a packet around stdin's data
 *   test-msg timestamp T		print T with millisecond precision
 *   test-msg stamps N [T...]		packets with the timestamps T and N
 *					random ones, written by hand and as
 *					a tree: print those that differ
 *   test-msg set			exercise the builders
 *   test-msg print			each string and number of the stdin
 *					array through msg_print_str() or
 *					msg_print_number(), checked against
 *					msg_print() of the same value; then
 *					NULL, INT64_MAX and 0 (none) as
 *					a string and ids
 *
 * TYPE is one of str, int, id, double, bool, obj, arr.  Errors go to
 * stderr as "test-msg: error: ..." with exit status 1.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "msg.h"
#include "xalloc.h"
#include "banned.h"

static cJSON *
read_stdin(size_t max)
{
	struct buf b = BUF_INIT;
	char *err = NULL;
	cJSON *v;

	if (buf_read_fd(&b, 0, 0) < 0)
		die_errno("cannot read stdin");
	v = msg_parse(b.buf, b.len, max, &err);
	buf_release(&b);
	if (!v)
		die("%s", err);
	return v;
}

static void
print_value(const cJSON *v)
{
	struct buf b = BUF_INIT;

	msg_print(v, &b);
	puts(b.buf);
	buf_release(&b);
}

/* Print the value of KEY read with a getter of TYPE (optional if DEF). */
static int
get(const cJSON *obj, const char *type, const char *key, const char *def)
{
	char *err = NULL;
	const char *s;
	const cJSON *v;
	int64_t i;
	double d;
	int b, r;

	if (!strcmp(type, "str")) {
		r = def ? msg_opt_str(obj, key, def, &s, &err) :
		    msg_get_str(obj, key, &s, &err);
		if (!r)
			printf("%s\n", s);
	} else if (!strcmp(type, "int") || !strcmp(type, "id")) {
		int id = !strcmp(type, "id");
		int64_t dflt = def ? strtoll(def, NULL, 10) : 0;

		if (def)
			r = id ? msg_opt_id(obj, key, dflt, &i, &err) :
			    msg_opt_int(obj, key, dflt, &i, &err);
		else
			r = id ? msg_get_id(obj, key, &i, &err) :
			    msg_get_int(obj, key, &i, &err);
		if (!r)
			printf("%" PRId64 "\n", i);
	} else if (!strcmp(type, "double")) {
		r = def ? msg_opt_double(obj, key, atof(def), &d, &err) :
		    msg_get_double(obj, key, &d, &err);
		if (!r)
			printf("%g\n", d);
	} else if (!strcmp(type, "bool")) {
		r = def ? msg_opt_bool(obj, key, atoi(def), &b, &err) :
		    msg_get_bool(obj, key, &b, &err);
		if (!r)
			printf("%s\n", b ? "true" : "false");
	} else if (!strcmp(type, "obj") || !strcmp(type, "arr")) {
		int arr = !strcmp(type, "arr");

		if (def)
			r = arr ? msg_opt_arr(obj, key, &v, &err) :
			    msg_opt_obj(obj, key, &v, &err);
		else
			r = arr ? msg_get_arr(obj, key, &v, &err) :
			    msg_get_obj(obj, key, &v, &err);
		if (!r && v)
			print_value(v);
		else if (!r)
			printf("(none)\n");
	} else
		die("unknown type '%s'", type);
	if (r < 0)
		die("%s", err);
	return 0;
}

static int
nest(long depth)
{
	struct buf b = BUF_INIT;
	char *err = NULL;
	cJSON *v;
	long i;

	for (i = 0; i < depth; i++)
		buf_addch(&b, '[');
	for (i = 0; i < depth; i++)
		buf_addch(&b, ']');
	v = msg_parse(b.buf, b.len, 0, &err);
	buf_release(&b);
	if (!v)
		die("%s", err);
	msg_free(v);
	printf("parsed %ld levels\n", depth);
	return 0;
}

static int
packet(void)
{
	struct msg_packet p = MSG_PACKET_INIT;
	struct buf in = BUF_INIT, out = BUF_INIT;
	char *err = NULL;

	if (buf_read_fd(&in, 0, 0) < 0)
		die_errno("cannot read stdin");
	if (in.len && in.buf[in.len - 1] == '\n')
		buf_setlen(&in, in.len - 1);
	if (msg_packet_parse(&p, in.buf, in.len, 0, &err) < 0)
		die("%s", err);
	buf_release(&in);
	printf("packet_type=%s\nsubject_id=%s\nrequest_id=%s\n",
	    p.packet_type, p.subject_id, p.request_id ? p.request_id : "-");
	printf("client_timestamp=");
	msg_format_timestamp(&out, p.client_timestamp);
	printf("%s\ndata=", out.buf);
	buf_reset(&out);
	msg_print(p.data, &out);
	printf("%s\n", out.buf);
	buf_reset(&out);
	msg_packet_write(&p, &out);
	fputs(out.buf, stdout);
	buf_release(&out);
	msg_packet_release(&p);
	return 0;
}

static int
build(int argc, char **argv)
{
	struct msg_packet p = MSG_PACKET_INIT;
	struct buf out = BUF_INIT;
	cJSON *data = read_stdin(0), *tree;

	p.packet_type = argv[0];
	p.subject_id = argv[1];
	p.request_id = argc > 2 ? argv[2] : NULL;
	p.server_timestamp = argc > 3 ? atof(argv[3]) : 0;
	p.data = data;
	msg_packet_write(&p, &out);
	fputs(out.buf, stdout);
	buf_reset(&out);
	/* The tree form must print the same. */
	tree = msg_packet_build(&p);
	msg_write_line(tree, &out);
	fputs(out.buf, stdout);
	msg_free(tree);
	msg_free(data);
	buf_release(&out);
	return 0;
}

/* One timestamp of a random kind: epoch-like, small, negative, huge. */
static double
random_stamp(void)
{
	double x = drand48();

	switch (lrand48() % 6) {
	case 0:
		return 1.7e9 + x * 1e8;
	case 1:
		return floor(1.7e9 + x * 1e8);
	case 2:
		return x * 100;
	case 3:
		return -x * 1e6;
	case 4:
		return x * 1e16;
	default:
		return round(x * 1e9) / 1000;
	}
}

static int
stamps(int argc, char **argv)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	struct msg_packet p = MSG_PACKET_INIT;
	long i, n = atol(argv[0]), bad = 0;
	cJSON *tree;

	srand48(1);
	p.packet_type = "heartbeat";
	p.subject_id = "a";
	for (i = 0; i < n + argc - 1; i++) {
		p.client_timestamp = i < argc - 1 ? atof(argv[i + 1]) :
		    random_stamp();
		p.router_incoming_timestamp = random_stamp();
		buf_reset(&a);
		buf_reset(&b);
		msg_packet_write(&p, &a);
		tree = msg_packet_build(&p);
		msg_write_line(tree, &b);
		msg_free(tree);
		if (strcmp(a.buf, b.buf)) {
			printf("%.17g %.17g: %s vs %s", p.client_timestamp,
			    p.router_incoming_timestamp, a.buf, b.buf);
			bad++;
		}
	}
	buf_release(&a);
	buf_release(&b);
	return bad ? 1 : 0;
}

static int
set(void)
{
	cJSON *o = msg_new_object(), *a;

	msg_set_str(o, "s", "one");
	msg_set_str(o, "s", "two");
	msg_set_int(o, "i", 42);
	msg_set_id(o, "id", INT64_MAX);
	msg_set_double(o, "d", 0.5);
	msg_set_timestamp(o, "t", 1711361472.3456789);
	msg_set_bool(o, "b", 1);
	msg_set_null(o, "n");
	msg_set_str(o, "gone", "x");
	msg_remove(o, "gone");
	a = msg_set_array(o, "a");
	msg_push_str(a, "x");
	msg_push(a, msg_new_object());
	msg_set_object(o, "o");
	print_value(o);
	printf("len=%zu a=%zu\n", msg_len(o), msg_len(a));
	msg_free(o);
	return 0;
}

static int
print_direct(void)
{
	struct buf direct = BUF_INIT, tree = BUF_INIT;
	cJSON *v = read_stdin(0), *item;
	int differ = 0;

	msg_foreach(item, v) {
		buf_setlen(&direct, 0);
		buf_setlen(&tree, 0);
		if (cJSON_IsString(item))
			msg_print_str(item->valuestring, &direct);
		else
			msg_print_number(item->valuedouble, &direct);
		msg_print(item, &tree);
		if (strcmp(direct.buf, tree.buf)) {
			printf("differs: %s, not %s\n", direct.buf, tree.buf);
			differ = 1;
		} else {
			printf("%s\n", direct.buf);
		}
	}
	buf_setlen(&direct, 0);
	msg_print_str(NULL, &direct);
	buf_addch(&direct, ' ');
	msg_print_id(INT64_MAX, &direct);
	buf_addch(&direct, ' ');
	msg_print_id(0, &direct);
	printf("%s\n", direct.buf);
	buf_release(&direct);
	buf_release(&tree);
	msg_free(v);
	return differ;
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	struct buf b = BUF_INIT;
	cJSON *v;

	log_init("test-msg");
	if (!strcmp(cmd, "parse")) {
		v = read_stdin(argc > 2 ? (size_t)atol(argv[2]) : 0);
		print_value(v);
		msg_free(v);
	} else if (!strcmp(cmd, "nest") && argc > 2)
		nest(atol(argv[2]));
	else if ((!strcmp(cmd, "get") && argc > 3) ||
	    (!strcmp(cmd, "opt") && argc > 4)) {
		v = read_stdin(0);
		get(v, argv[2], argv[3], argc > 4 ? argv[4] : NULL);
		msg_free(v);
	} else if (!strcmp(cmd, "packet"))
		packet();
	else if (!strcmp(cmd, "build") && argc > 3)
		build(argc - 2, argv + 2);
	else if (!strcmp(cmd, "timestamp") && argc > 2) {
		msg_format_timestamp(&b, atof(argv[2]));
		puts(b.buf);
		buf_release(&b);
	} else if (!strcmp(cmd, "stamps") && argc > 2)
		return stamps(argc - 2, argv + 2) || log_close_stdout();
	else if (!strcmp(cmd, "set"))
		set();
	else if (!strcmp(cmd, "print"))
		return print_direct() || log_close_stdout();
	else {
		fprintf(stderr, "usage: test-msg parse|nest|get|opt|packet|"
		    "build|timestamp|stamps|set|print ...\n");
		return 2;
	}
	return log_close_stdout();
}
