#ifndef MEPHISTO_IO_FORM_H
#define MEPHISTO_IO_FORM_H

/*
 * An application/x-www-form-urlencoded body (what "curl -d" sends) as a
 * JSON object of strings.  Kept apart from http.c so that it can be
 * driven without a server (fuzz/http_body.c).
 */

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * Parse the LEN bytes of TEXT, which are decoded in place (%XX and '+').
 * Returns a new object (the caller frees it with msg_free()); keys and
 * values with NUL bytes and empty keys are dropped, a later key replaces
 * an earlier one.  Never fails.
 */
cJSON *form_parse_urlencoded(char *text, size_t len);

#endif
