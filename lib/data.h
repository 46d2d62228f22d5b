#ifndef MEPHISTO_DATA_H
#define MEPHISTO_DATA_H

#include <stddef.h>

struct cJSON;

/*
 * Assignment data: the rows of a task's data file, one JSON object per
 * assignment (facts section 5.4).
 *
 *   CSV          a header row, then one record per row; every value is a
 *                string (RFC 4180 quoting, CRLF or LF line ends)
 *   JSON         a top-level list of objects
 *   JSON lines   one object per non-blank line
 *
 * Files are UTF-8; a leading byte-order mark is skipped.  Loading checks
 * the whole file and reports every problem it finds (up to
 * DATA_MAX_PROBLEMS per file) into a struct problems as
 * "FILE:LINE: problem", so a requester fixes them all in one go.
 */

enum data_format {
	DATA_CSV,
	DATA_JSON,
	DATA_JSONL,
};

#define DATA_MAX_PROBLEMS 50

/*
 * A list of "FILE:LINE: problem" lines found while validating a task.
 * Initialise with PROBLEMS_INIT; problems_release() frees it.
 */
struct problems {
	char **item;	/* the messages, in the order found */
	size_t nr, alloc;
};
#define PROBLEMS_INIT { NULL, 0, 0 }

/* Add "FILE:LINE: message" (or "FILE: message" when LINE is 0). */
void problems_add(struct problems *p, const char *file, long line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Add a message as it is. */
void problems_addstr(struct problems *p, const char *msg);
void problems_release(struct problems *p);

/*
 * The loaded rows.  Each row is a cJSON object owned by the set; the set
 * keeps the line each row starts on for later messages.
 */
struct data_set {
	struct cJSON **row;
	long *line;
	size_t nr, alloc;
};
#define DATA_SET_INIT { NULL, NULL, 0, 0 }

void data_set_release(struct data_set *set);

/* "csv", "json" or "jsonl". */
const char *data_format_name(enum data_format fmt);

/*
 * Read PATH in format FMT and append its rows to SET.  Problems with the
 * content are added to PROBLEMS, named after SHOWN (the path as the user
 * should see it; PATH when NULL).
 *
 * Returns 0 when the file was read and had no problem; 1 when it was read
 * and problems were added (SET then holds the rows that were valid); -1
 * with errno set when the file cannot be read (nothing added).  An empty
 * data set is a problem.
 */
int data_load(struct data_set *set, const char *path, enum data_format fmt,
    const char *shown, struct problems *problems);

#endif
