#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "banned.h"

static const char *log_name = "mephisto";
static int log_daemon;
static int log_fd = 2;
static enum log_level log_level = LOG_INFO;
static int log_die_status = 1;

/* The level word in colour, used only on a terminal and never with NO_COLOR. */
static const char *const level_colors[] = {
	[LOG_DEBUG] = "\033[2m",
	[LOG_INFO] = "\033[36m",
	[LOG_WARN] = "\033[33m",
	[LOG_ERROR] = "\033[1;31m",
};

static const char *const level_names[] = {
	[LOG_DEBUG] = "debug",
	[LOG_INFO] = "info",
	[LOG_WARN] = "warning",
	[LOG_ERROR] = "error",
};

void
log_init(const char *prog)
{
	const char *slash = strrchr(prog, '/');

	log_name = slash ? slash + 1 : prog;
}

const char *
log_prog(void)
{
	return log_name;
}

void
log_set_daemon(int on)
{
	log_daemon = on;
}

int
log_open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	if (log_fd > 2)
		close(log_fd);
	log_fd = fd;
	return 0;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_parse_level(const char *name, enum log_level *level)
{
	if (!strcasecmp(name, "debug"))
		*level = LOG_DEBUG;
	else if (!strcasecmp(name, "info"))
		*level = LOG_INFO;
	else if (!strcasecmp(name, "warn") || !strcasecmp(name, "warning"))
		*level = LOG_WARN;
	else if (!strcasecmp(name, "error"))
		*level = LOG_ERROR;
	else
		return -1;
	return 0;
}

void
log_level_from_env(const char *configured)
{
	const char *env = getenv("MEPHISTO_LOG_LEVEL");
	enum log_level level;

	if (env && *env) {
		if (!log_parse_level(env, &level)) {
			log_level = level;
			return;
		}
		warn("ignoring MEPHISTO_LOG_LEVEL '%s': not one of debug, "
		    "info, warn, error", env);
	}
	if (configured && !log_parse_level(configured, &level))
		log_level = level;
}

void
log_set_die_status(int status)
{
	log_die_status = status;
}

int
log_color(void)
{
	static int color = -1;
	const char *term = getenv("TERM");
	const char *no = getenv("NO_COLOR");

	if (color < 0)
		color = log_fd == 2 && isatty(2) && !(no && *no) && term &&
		    strcmp(term, "dumb");
	return color;
}

/*
 * Format one line into a stack buffer and write it with a single write(2),
 * so lines from concurrent processes sharing a log file do not interleave.
 * Control characters in the message are escaped.
 */
static void
emit(enum log_level level, const char *fmt, va_list ap, int errnum)
{
	char msg[2048], line[4096];
	size_t n = 0, i;
	int len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_daemon) {
		struct timeval tv;
		struct tm tm;

		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		len = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s[%ld] %s: ",
		    (long)(tv.tv_usec / 1000), log_name, (long)getpid(),
		    level_names[level]);
	} else if (log_color()) {
		len = snprintf(line, sizeof(line), "%s: %s%s\033[m: ",
		    log_name, level_colors[level], level_names[level]);
	} else {
		len = snprintf(line, sizeof(line), "%s: %s: ", log_name,
		    level_names[level]);
	}
	if (len > 0)
		n += (size_t)len;
	for (i = 0; msg[i] && n < sizeof(line) - 8; i++) {
		unsigned char c = (unsigned char)msg[i];

		if (c < 0x20 && c != '\t') {
			n += (size_t)snprintf(line + n, sizeof(line) - n,
			    "\\x%02x", c);
			continue;
		}
		line[n++] = (char)c;
	}
	if (errnum) {
		len = snprintf(line + n, sizeof(line) - n, ": %s",
		    strerror(errnum));
		if (len > 0)
			n += (size_t)len;
		if (n > sizeof(line) - 2)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	while (write(log_fd, line, n) < 0 && errno == EINTR)
		;
}

void
vlog_msg(enum log_level level, const char *fmt, va_list ap)
{
	if (level < log_level && level != LOG_ERROR)
		return;
	emit(level, fmt, ap, 0);
}

#define LOG_FN(name, level, with_errno)				\
void									\
name(const char *fmt, ...)						\
{									\
	int saved = errno;						\
	va_list ap;							\
									\
	if (level < log_level && level != LOG_ERROR)			\
		return;							\
	va_start(ap, fmt);						\
	emit(level, fmt, ap, with_errno ? saved : 0);			\
	va_end(ap);							\
	errno = saved;							\
}

LOG_FN(log_debug, LOG_DEBUG, 0)
LOG_FN(log_info, LOG_INFO, 0)
LOG_FN(warn, LOG_WARN, 0)
LOG_FN(warn_errno, LOG_WARN, 1)

int
error(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	emit(LOG_ERROR, fmt, ap, 0);
	va_end(ap);
	errno = saved;
	return -1;
}

int
error_errno(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	emit(LOG_ERROR, fmt, ap, saved);
	va_end(ap);
	errno = saved;
	return -1;
}

int
error_setf(char **errp, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (errp) {
		va_start(ap, fmt);
		if (vasprintf(errp, fmt, ap) < 0)
			die("out of memory (formatting an error message)");
		va_end(ap);
	}
	errno = errnum;
	return -1;
}

void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(LOG_ERROR, fmt, ap, 0);
	va_end(ap);
	exit(log_die_status);
}

void
die_errno(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	emit(LOG_ERROR, fmt, ap, saved);
	va_end(ap);
	exit(log_die_status);
}

void
bug_at(const char *file, int line, const char *fmt, ...)
{
	char where[512];
	va_list ap;

	snprintf(where, sizeof(where), "BUG %s:%d: %s", file, line, fmt);
	va_start(ap, fmt);
	/* The format is built from a literal plus the caller's literal. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	emit(LOG_ERROR, where, ap, 0);
#pragma GCC diagnostic pop
	va_end(ap);
	abort();
}

void
log_stdout_bulk(void)
{
	static char buf[64 * 1024];

	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, buf, _IOFBF, sizeof(buf));
}

int
log_close_stdout(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	if (errno == EPIPE)
		return 0;
	die_errno("write failure on standard output");
}
