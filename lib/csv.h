#ifndef MEPHISTO_CSV_H
#define MEPHISTO_CSV_H

#include <cjson/cJSON.h>

#include "buf.h"

/*
 * CSV (RFC 4180) output of JSON records: a field is quoted when it holds
 * a comma, a quote or a line break, with quotes doubled; lines end in
 * CRLF.  Nothing here fails or allocates beyond the caller's buffer.
 */

/* Append S as one CSV field. */
void csv_field(struct buf *b, const char *s);

/*
 * Append V as one CSV field: a string as it is, null or NULL as an empty
 * field, anything else as its JSON text.
 */
void csv_value(struct buf *b, const cJSON *v);

/*
 * Add to the JSON array of strings KEYS, in order of first appearance,
 * every key of the objects ROWS[*].FIELD that it does not hold yet.
 */
void csv_collect_keys(const cJSON *rows, const char *field, cJSON *keys);

#endif
