#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "launch.h"
#include "log.h"
#include "proto.h"
#include "xalloc.h"
#include "opt.h"
#include "banned.h"

/*
 * "mephisto launch work URL": scripted workers.  Each of N threads acts
 * as a mock (or inhouse) worker in a browser would, over real HTTP:
 * POST /request_agent, answer onboarding with POST /submit_onboarding
 * when sent there, and submit every unit it gets with POST /submit_task,
 * until the server has no work left and goes away (or the process is
 * stopped).  The supervisor starts it for --auto-workers.
 */

static const char work_usage[] =
"usage: mephisto launch work [options] URL\n"
"\n"
"Act as scripted workers on the task served at URL: each worker asks for\n"
"a unit, passes onboarding when sent there, submits the unit, and asks\n"
"again, until the server stops answering.\n"
"\n"
"  --workers N          how many workers at once (default 1)\n"
"  --name PREFIX        worker names are PREFIX-1, PREFIX-2, ... (auto)\n"
"  --answers JSON       the object submitted for each unit\n"
"                       (default {\"rating\": \"good\", ...})\n"
"  --onboarding JSON    the object submitted for onboarding\n"
"  --provider TYPE      mock (default) or inhouse\n"
"  --max-units N        each worker stops after N units (0: no limit)\n"
"  --delay MS           time each worker spends on a unit (default 0)\n"
"  -h, --help           show this help\n";

#define DEFAULT_ANSWERS \
	"{\"rating\": \"good\", \"comment\": \"submitted by a scripted worker\"}"
#define HTTP_TIMEOUT_S 30
#define GONE_AFTER 20		/* failed connections in a row */

struct work {
	char *host, *port;
	const char *name;
	const char *answers;
	const char *onboarding;
	const char *provider;
	long max_units;
	long delay_ms;		/* time spent on each unit */
};

struct worker {
	const struct work *w;
	int index;
	long done;
	char *agent;		/* the agent at work, or NULL */
	pthread_t thread;
};

/* --- HTTP --- */

static int
parse_url(struct work *w, const char *url)
{
	const char *p = url, *slash, *colon;

	if (!strncmp(p, "http://", 7))
		p += 7;
	else if (strstr(p, "://"))
		return -1;
	slash = strchr(p, '/');
	if (!slash)
		slash = p + strlen(p);
	colon = memchr(p, ':', (size_t)(slash - p));
	if (colon) {
		w->host = xstrndup(p, (size_t)(colon - p));
		w->port = xstrndup(colon + 1, (size_t)(slash - colon - 1));
	} else {
		w->host = xstrndup(p, (size_t)(slash - p));
		w->port = xstrdup("80");
	}
	return *w->host ? 0 : -1;
}

static int
http_connect(const struct work *w)
{
	struct addrinfo hints, *res, *ai;
	struct timeval tv = { HTTP_TIMEOUT_S, 0 };
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(w->host, w->port, &hints, &res))
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t r;

	while (n) {
		r = send(fd, p, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Undo chunked transfer coding of BODY in place. */
static void
dechunk(struct buf *body)
{
	struct buf out = BUF_INIT;
	const char *p = body->buf, *end = body->buf + body->len;
	char *next;
	unsigned long n;

	while (p < end) {
		n = strtoul(p, &next, 16);
		p = strstr(next, "\r\n");
		if (!p || !n)
			break;
		p += 2;
		if ((size_t)(end - p) < n)
			n = (unsigned long)(end - p);
		buf_add(&out, p, n);
		p += n + 2;
	}
	buf_release(body);
	*body = out;
}

/*
 * POST the JSON text BODY to PATH.  Returns the parsed JSON reply (NULL
 * when the reply is not JSON), with *STATUS set; NULL with *STATUS 0 when
 * the server could not be reached.
 */
static cJSON *
http_post(const struct work *w, const char *path, const char *body,
    int *status)
{
	struct buf req = BUF_INIT, resp = BUF_INIT;
	char chunk[4096], *hdr_end;
	cJSON *v = NULL;
	ssize_t n;
	int fd;

	*status = 0;
	fd = http_connect(w);
	if (fd < 0)
		return NULL;
	buf_addf(&req, "POST %s HTTP/1.1\r\nHost: %s:%s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", path, w->host, w->port,
	    strlen(body), body);
	if (write_all(fd, req.buf, req.len) < 0)
		goto out;
	while ((n = recv(fd, chunk, sizeof(chunk), 0)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		buf_add(&resp, chunk, (size_t)n);
	}
	hdr_end = strstr(resp.buf, "\r\n\r\n");
	if (strncmp(resp.buf, "HTTP/1.", 7) || !hdr_end)
		goto out;
	*status = atoi(resp.buf + 9);
	*hdr_end = '\0';
	if (strcasestr(resp.buf, "transfer-encoding: chunked")) {
		struct buf b = BUF_INIT;

		buf_addstr(&b, hdr_end + 4);
		dechunk(&b);
		v = cJSON_Parse(b.buf);
		buf_release(&b);
	} else {
		v = cJSON_Parse(hdr_end + 4);
	}
out:
	close(fd);
	buf_release(&req);
	buf_release(&resp);
	return v;
}

/* --- one worker --- */

static double
now_epoch(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static const char *
data_str(const cJSON *reply, const char *key)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(reply, "data");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *
request_agent(struct worker *k, const char *name, long attempt, int *status)
{
	cJSON *req = cJSON_CreateObject(), *pd, *reply;
	char *body, *assignment, *reg;

	assignment = xasprintf("auto-%ld-%d-%ld", (long)getpid(), k->index,
	    attempt);
	reg = xasprintf("%s-%s", assignment, name);
	pd = cJSON_AddObjectToObject(req, "provider_data");
	cJSON_AddStringToObject(pd, "worker_name", name);
	cJSON_AddStringToObject(pd, "agent_registration_id", reg);
	cJSON_AddStringToObject(pd, "assignment_id", assignment);
	cJSON_AddStringToObject(pd, "provider_type", k->w->provider);
	cJSON_AddNumberToObject(req, "client_timestamp", now_epoch());
	body = cJSON_PrintUnformatted(req);
	reply = http_post(k->w, "/request_agent", body, status);
	cJSON_free(body);
	cJSON_Delete(req);
	free(assignment);
	free(reg);
	return reply;
}

static cJSON *
submit_onboarding(struct worker *k, const char *agent_id, int *status)
{
	cJSON *req = cJSON_CreateObject(), *pd, *reply;
	cJSON *answers = cJSON_Parse(k->w->onboarding ? k->w->onboarding :
	    "{}");
	char *body;

	pd = cJSON_AddObjectToObject(req, "provider_data");
	cJSON_AddStringToObject(pd, "USED_AGENT_ID", agent_id);
	cJSON_AddItemToObject(pd, "onboarding_data", answers ? answers :
	    cJSON_CreateObject());
	cJSON_AddNumberToObject(req, "client_timestamp", now_epoch());
	body = cJSON_PrintUnformatted(req);
	reply = http_post(k->w, "/submit_onboarding", body, status);
	cJSON_free(body);
	cJSON_Delete(req);
	return reply;
}

static int
submit_task(struct worker *k, const char *agent_id)
{
	cJSON *req = cJSON_CreateObject(), *reply;
	cJSON *answers = cJSON_Parse(k->w->answers);
	char *body;
	int status;

	cJSON_AddStringToObject(req, "USED_AGENT_ID", agent_id);
	cJSON_AddItemToObject(req, "final_data", answers ? answers :
	    cJSON_CreateObject());
	cJSON_AddNumberToObject(req, "client_timestamp", now_epoch());
	body = cJSON_PrintUnformatted(req);
	reply = http_post(k->w, "/submit_task", body, &status);
	cJSON_free(body);
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return status >= 200 && status < 300 ? 0 : -1;
}

/*
 * Get a unit: request an agent, passing onboarding on the way.  Returns
 * the agent id (caller frees), or NULL with *WHY: 0 server gone, 1 no work
 * now, 2 not qualified.
 */
static char *
get_unit(struct worker *k, const char *name, long attempt, int *why)
{
	cJSON *reply;
	const char *agent;
	char *id = NULL;
	int status, rounds;

	reply = request_agent(k, name, attempt, &status);
	for (rounds = 0; rounds < 3; rounds++) {
		if (!status) {
			*why = 0;
			break;
		}
		agent = data_str(reply, "agent_id");
		if (!agent) {
			const char *reason = data_str(reply, "failure_reason");

			*why = reason && !strcmp(reason,
			    REASON_NOT_QUALIFIED) ? 2 : 1;
			break;
		}
		if (strncmp(agent, PROTO_ONBOARDING_PREFIX,
		    strlen(PROTO_ONBOARDING_PREFIX))) {
			id = xstrdup(agent);
			break;
		}
		log_debug("%s: onboarding as %s", name, agent);
		id = xstrdup(agent);
		cJSON_Delete(reply);
		reply = submit_onboarding(k, id, &status);
		free(id);
		id = NULL;
	}
	cJSON_Delete(reply);
	return id;
}

static void *
worker_main(void *arg)
{
	struct worker *k = arg;
	char *name = xasprintf("%s-%d", k->w->name, k->index + 1);
	long attempt = 0, wait_ms = 50;
	int gone = 0, why = 0;

	while (!k->w->max_units || k->done < k->w->max_units) {
		/* Kept in K, so a worker stopped by a signal holds no leak. */
		k->agent = get_unit(k, name, attempt++, &why);
		if (k->agent) {
			gone = 0;
			wait_ms = 50;
			if (k->w->delay_ms)
				pause_ms(k->w->delay_ms);
			if (submit_task(k, k->agent) == 0) {
				k->done++;
				log_info("%s: submitted %s", name, k->agent);
			}
			free(k->agent);
			k->agent = NULL;
			continue;
		}
		if (why == 2) {
			log_info("%s: not qualified; stopping", name);
			break;
		}
		if (why == 0 && ++gone >= GONE_AFTER) {
			log_info("%s: the server is gone; stopping", name);
			break;
		}
		if (why == 1)
			gone = 0;
		pause_ms(wait_ms);
		if (wait_ms < 500)
			wait_ms *= 2;
	}
	free(name);
	return NULL;
}

int
cmd_work(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "workers", required_argument, NULL, 'n' },
		{ "name", required_argument, NULL, 'N' },
		{ "answers", required_argument, NULL, 'a' },
		{ "onboarding", required_argument, NULL, 'o' },
		{ "provider", required_argument, NULL, 'p' },
		{ "max-units", required_argument, NULL, 'm' },
		{ "delay", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct work w = { NULL, NULL, "auto", DEFAULT_ANSWERS, NULL, "mock",
	    0, 0 };
	struct worker *k;
	long n = 1, i, total = 0;
	cJSON *check;
	int c;

	while ((c = opt_getopt(argc, argv, "h", opts)) != -1) {
		switch (c) {
		case 'n':
			n = atol(optarg);
			break;
		case 'N':
			w.name = optarg;
			break;
		case 'a':
			w.answers = optarg;
			break;
		case 'o':
			w.onboarding = optarg;
			break;
		case 'p':
			w.provider = optarg;
			break;
		case 'm':
			w.max_units = atol(optarg);
			break;
		case 'd':
			w.delay_ms = atol(optarg);
			break;
		case 'h':
			fputs(work_usage, stdout);
			return EXIT_OK;
		default:
			launch_usage_error(work_usage, NULL);
		}
	}
	if (optind != argc - 1)
		launch_usage_error(work_usage, "one task URL is needed");
	if (n < 1 || n > 1000)
		launch_usage_error(work_usage, "--workers must be 1 to 1000");
	check = cJSON_Parse(w.answers);
	if (!cJSON_IsObject(check))
		launch_usage_error(work_usage, "--answers must be a JSON "
		    "object");
	cJSON_Delete(check);
	if (parse_url(&w, argv[optind]) < 0)
		launch_usage_error(work_usage, "cannot use URL '%s' (http "
		    "only)", argv[optind]);
	/* Started by a supervisor: do not outlive it. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	k = xcalloc((size_t)n, sizeof(*k));
	for (i = 0; i < n; i++) {
		k[i].w = &w;
		k[i].index = (int)i;
		if (pthread_create(&k[i].thread, NULL, worker_main, &k[i]))
			die("cannot start a worker thread");
	}
	for (i = 0; i < n; i++) {
		pthread_join(k[i].thread, NULL);
		total += k[i].done;
	}
	log_info("%ld unit%s submitted", total, total == 1 ? "" : "s");
	free(k);
	free(w.host);
	free(w.port);
	return EXIT_OK;
}
