#ifndef MEPHISTO_LOG_H
#define MEPHISTO_LOG_H

#include <stdarg.h>

/*
 * One message format for every program.
 *
 * Command-line use (the default) prints "PROG: LEVEL: message" on stderr,
 * e.g. "mephisto-config: error: cannot open '/x': No such file".
 * Daemons call log_set_daemon(1) and print one line per message in the log
 * format "TIME PROG[PID] LEVEL: message" (TIME is UTC ISO 8601 with
 * milliseconds), to stderr or to the file given to log_open_file().
 *
 * Levels, lowest first: debug, info, warn, error.  Messages below the
 * current level are dropped; error and die always print.  The level comes
 * from log_set_level_name(), which programs feed from --log-level,
 * MEPHISTO_LOG_LEVEL or core.log_level, in that order of precedence.
 *
 * error() and error_errno() return -1 so that "return error(...)" reads
 * naturally.  die() and die_errno() exit with status 1 (or the status set
 * by log_set_die_status()).  BUG() is for programmer errors and aborts.
 */

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define NORETURN __attribute__((noreturn))

/* Set the program name used as prefix.  Call first thing in main(). */
void log_init(const char *prog);

/* The name given to log_init(). */
const char *log_prog(void);

/* Switch between the command-line and the daemon line format. */
void log_set_daemon(int on);

/*
 * Append log lines to PATH (created 0600) instead of stderr.
 * Returns 0, or -1 with errno set.
 */
int log_open_file(const char *path);

/*
 * Whether messages to stderr may use colour: stderr is a terminal, TERM
 * is set and not "dumb", and NO_COLOR is unset or empty
 * (https://no-color.org).  Decided once.
 */
int log_color(void);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/*
 * Parse "debug", "info", "warn"/"warning" or "error" into *level.
 * Returns 0, or -1 when NAME is not a level.
 */
int log_parse_level(const char *name, enum log_level *level);

/*
 * The level to use when no --log-level was given: MEPHISTO_LOG_LEVEL if
 * set and valid, else CONFIGURED (may be NULL), else info.  An invalid
 * environment value is reported with warn() and ignored.
 */
void log_level_from_env(const char *configured);

/* The exit status of die(); default 1. */
void log_set_die_status(int status);

void log_debug(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_info(const char *fmt, ...) PRINTF_LIKE(1, 2);
void warn(const char *fmt, ...) PRINTF_LIKE(1, 2);
void warn_errno(const char *fmt, ...) PRINTF_LIKE(1, 2);
int error(const char *fmt, ...) PRINTF_LIKE(1, 2);
int error_errno(const char *fmt, ...) PRINTF_LIKE(1, 2);
void die(const char *fmt, ...) PRINTF_LIKE(1, 2) NORETURN;
void die_errno(const char *fmt, ...) PRINTF_LIKE(1, 2) NORETURN;
void vlog_msg(enum log_level level, const char *fmt, va_list ap);

/*
 * For library code: store a malloc'd one-line message in *ERRP (when ERRP
 * is not NULL; the caller frees it), set errno to ERRNUM and return -1, so
 * that "return error_setf(errp, EINVAL, ...)" reports and fails at once.
 */
int error_setf(char **errp, int errnum, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

#define BUG(...) bug_at(__FILE__, __LINE__, __VA_ARGS__)
void bug_at(const char *file, int line, const char *fmt, ...)
    PRINTF_LIKE(3, 4) NORETURN;

/*
 * Flush stdout and die if anything written to it was lost (ENOSPC, EIO).
 * Programs call this before returning success.  EPIPE is not an error.
 */
int log_close_stdout(void);

/*
 * Many lines are about to be printed: when stdout is not a terminal, give
 * it a 64 KiB buffer (the lines are complete when log_close_stdout() or an
 * fflush() returns).  Call before the first output.
 */
void log_stdout_bulk(void);

#endif
