#ifndef MEPHISTO_MSG_H
#define MEPHISTO_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"

/*
 * JSON messages on cJSON, and the packet envelope of lib/proto.h.
 *
 * Parsing (msg_parse) is strict about what arrives from other processes:
 * a size limit, valid UTF-8, no NUL bytes (raw or as \u0000, which cJSON
 * would silently turn into a truncated string), at most MSG_MAX_DEPTH
 * nested arrays and objects (checked before cJSON sees the text, so its
 * own CJSON_NESTING_LIMIT of 1000 never matters), one JSON value with only
 * white space after it.
 *
 * Ownership: a tree returned by msg_parse(), msg_new_object(),
 * msg_new_array() or msg_dup() belongs to the caller, who frees it with
 * msg_free().  Getters hand out borrowed pointers into a tree; they stay
 * valid while the tree lives and is not modified at that key.  The
 * msg_set_*() builders replace any member with the same key, and
 * msg_set() and msg_push() take ownership of the item they are given.
 * Builders never fail: like xmalloc, they die on out-of-memory.
 *
 * Errors: functions that can fail return -1 and, when ERRP is not NULL,
 * store in *ERRP a malloc'd one-line message that names the field, e.g.
 * "field 'agent_id' is missing" or "field 'data' must be an object, not a
 * string".  The caller frees it.  errno is EINVAL for a bad message and
 * EMSGSIZE for one over the size limit.
 */

/* Deepest nesting of arrays and objects that msg_parse() accepts. */
#define MSG_MAX_DEPTH 64

/*
 * Parse LEN bytes of TEXT (need not be NUL-terminated) as one JSON value.
 * MAX is the largest accepted LEN (0: no limit).  Returns a new tree, or
 * NULL with *errp set.
 */
cJSON *msg_parse(const char *text, size_t len, size_t max, char **errp);

/* Free a tree; NULL is fine. */
void msg_free(cJSON *v);

/* A deep copy of V (NULL for NULL). */
cJSON *msg_dup(const cJSON *v);

/*
 * Append V as unformatted JSON (no newline) to OUT.  Unformatted JSON
 * never contains a raw newline: newlines in strings are escaped.
 */
void msg_print(const cJSON *v, struct buf *out);

/* msg_print() plus a trailing newline: one line of the wire protocol. */
void msg_write_line(const cJSON *v, struct buf *out);

/*
 * Append S as a JSON string (null for NULL), or D as a JSON number, to
 * OUT, exactly as msg_print() would print them inside a tree: for writing
 * JSON straight from other data, without building a tree.
 */
void msg_print_str(const char *s, struct buf *out);
void msg_print_number(double d, struct buf *out);
/* An id as msg_set_id() writes it (decimal digits in a string); 0 as null. */
void msg_print_id(int64_t id, struct buf *out);

/*
 * Typed getters.  OBJ must be an object; KEY is looked up case-sensitively.
 * Each returns 0 and stores the value, or -1 with *errp naming KEY when
 * the member is missing, null, or of the wrong type.
 *
 * msg_get_int: an integral number within +-2^53 (where doubles, and so
 * cJSON, are still exact).
 * msg_get_id: an id, given as a string of decimal digits (up to
 * INT64_MAX) or as a non-negative integral number up to 2^53.
 * msg_get_bool: true or false (stored as 1 or 0).
 */
int msg_get_str(const cJSON *obj, const char *key, const char **out,
    char **errp);
int msg_get_int(const cJSON *obj, const char *key, int64_t *out,
    char **errp);
int msg_get_id(const cJSON *obj, const char *key, int64_t *out,
    char **errp);
int msg_get_double(const cJSON *obj, const char *key, double *out,
    char **errp);
int msg_get_bool(const cJSON *obj, const char *key, int *out, char **errp);
int msg_get_obj(const cJSON *obj, const char *key, const cJSON **out,
    char **errp);
int msg_get_arr(const cJSON *obj, const char *key, const cJSON **out,
    char **errp);

/*
 * Optional members: as the getters, but a missing or null member stores
 * DEF (NULL for objects and arrays) and returns 0.  A member of the wrong
 * type is still an error.
 */
int msg_opt_str(const cJSON *obj, const char *key, const char *def,
    const char **out, char **errp);
int msg_opt_int(const cJSON *obj, const char *key, int64_t def,
    int64_t *out, char **errp);
int msg_opt_id(const cJSON *obj, const char *key, int64_t def, int64_t *out,
    char **errp);
int msg_opt_double(const cJSON *obj, const char *key, double def,
    double *out, char **errp);
int msg_opt_bool(const cJSON *obj, const char *key, int def, int *out,
    char **errp);
int msg_opt_obj(const cJSON *obj, const char *key, const cJSON **out,
    char **errp);
int msg_opt_arr(const cJSON *obj, const char *key, const cJSON **out,
    char **errp);

/*
 * The same checks on a value already in hand (an array element, say);
 * NAME is what error messages call it ("files[2]").  A NULL V counts as
 * missing.
 */
int msg_val_str(const cJSON *v, const char *name, const char **out,
    char **errp);
int msg_val_int(const cJSON *v, const char *name, int64_t *out, char **errp);
int msg_val_id(const cJSON *v, const char *name, int64_t *out, char **errp);
int msg_val_double(const cJSON *v, const char *name, double *out,
    char **errp);
int msg_val_bool(const cJSON *v, const char *name, int *out, char **errp);
int msg_val_obj(const cJSON *v, const char *name, char **errp);
int msg_val_arr(const cJSON *v, const char *name, char **errp);

/* The member KEY of OBJ, whatever its type, or NULL (borrowed). */
const cJSON *msg_get(const cJSON *obj, const char *key);
/* Whether OBJ has a member KEY that is not null. */
int msg_has(const cJSON *obj, const char *key);
/* The key of a member met while iterating an object with msg_foreach. */
const char *msg_key(const cJSON *member);
/* Number of elements of an array or members of an object; 0 otherwise. */
size_t msg_len(const cJSON *v);
/* Iterate the elements of an array or the members of an object. */
#define msg_foreach(item, container) cJSON_ArrayForEach(item, container)

/* Builders.  Each msg_set_*() replaces a member of the same name. */
cJSON *msg_new_object(void);
cJSON *msg_new_array(void);
/* VAL NULL sets null. */
void msg_set_str(cJSON *obj, const char *key, const char *val);
void msg_set_int(cJSON *obj, const char *key, int64_t val);
/* An id, written as a decimal string (ids are strings outside SQL). */
void msg_set_id(cJSON *obj, const char *key, int64_t id);
void msg_set_double(cJSON *obj, const char *key, double val);
/* A float epoch timestamp rounded to the millisecond. */
void msg_set_timestamp(cJSON *obj, const char *key, double t);
void msg_set_bool(cJSON *obj, const char *key, int val);
void msg_set_null(cJSON *obj, const char *key);
/* Set KEY to ITEM, taking ownership of ITEM. */
void msg_set(cJSON *obj, const char *key, cJSON *item);
/* A new empty object or array set as KEY; returns it (borrowed). */
cJSON *msg_set_object(cJSON *obj, const char *key);
cJSON *msg_set_array(cJSON *obj, const char *key);
/* Delete member KEY of OBJ if there is one. */
void msg_remove(cJSON *obj, const char *key);
/* Append ITEM to ARR, taking ownership. */
void msg_push(cJSON *arr, cJSON *item);
void msg_push_str(cJSON *arr, const char *s);

/* The time now as float epoch seconds. */
double msg_now(void);

/* T rounded to the millisecond. */
double msg_timestamp_round(double t);

/* Append T as epoch seconds with exactly three decimals ("1711361472.345"). */
void msg_format_timestamp(struct buf *out, double t);

/*
 * A packet (lib/proto.h): the envelope of every message between the
 * daemons and with browsers.
 *
 * After msg_packet_parse() the struct owns the parsed tree (.root); the
 * string and .data pointers are borrowed from it and live until
 * msg_packet_release().  .data is never NULL after a successful parse: a
 * missing or null "data" becomes an empty object.  Absent timestamps are
 * 0 and an absent request_id is NULL.
 *
 * To send, fill a struct (pointers borrowed from the caller, .root
 * unused) and call msg_packet_write(); .data NULL is sent as {}.
 */
struct msg_packet {
	const char *packet_type;	/* "register_agent", PT_* */
	const char *subject_id;		/* agent id, "mephisto", ... */
	const char *request_id;		/* NULL: not a request or reply */
	cJSON *data;			/* the payload object */
	double client_timestamp;	/* epoch seconds; 0: absent */
	double router_incoming_timestamp;
	double router_outgoing_timestamp;
	double server_timestamp;
	cJSON *root;			/* the parsed tree (owned) */
};

#define MSG_PACKET_INIT { NULL, NULL, NULL, NULL, 0, 0, 0, 0, NULL }

/*
 * Parse one line (without its newline) into P, which must be freshly
 * initialised or released.  Requires string packet_type and subject_id;
 * request_id must be a string when present, data an object, timestamps
 * numbers.  Returns 0, or -1 with *errp set and P left released.
 */
int msg_packet_parse(struct msg_packet *p, const char *line, size_t len,
    size_t max, char **errp);

/* Free what msg_packet_parse() allocated and re-initialise P. */
void msg_packet_release(struct msg_packet *p);

/*
 * Append P as one protocol line (unformatted JSON and a newline) to OUT.
 * Timestamps that are 0 are left out; the others are rounded to the
 * millisecond.  .data is not copied or modified.
 */
void msg_packet_write(const struct msg_packet *p, struct buf *out);

/* P as a new tree (a deep copy of .data), for callers that edit it. */
cJSON *msg_packet_build(const struct msg_packet *p);

/*
 * Whether P is an "error" packet: if so return -1 and store its message
 * (data.error, or a generic text) in *errp, and whether it is retryable
 * in *retryable (may be NULL); else return 0.
 */
int msg_packet_error(const struct msg_packet *p, char **errp,
    int *retryable);

#endif
