#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "csv.h"
#include "banned.h"

void
csv_field(struct buf *b, const char *s)
{
	const char *p;

	if (!strpbrk(s, ",\"\r\n")) {
		buf_addstr(b, s);
		return;
	}
	buf_addch(b, '"');
	for (p = s; *p; p++) {
		if (*p == '"')
			buf_addch(b, '"');
		buf_addch(b, *p);
	}
	buf_addch(b, '"');
}

void
csv_value(struct buf *b, const cJSON *v)
{
	char *s;

	if (!v || cJSON_IsNull(v))
		return;
	if (cJSON_IsString(v)) {
		csv_field(b, v->valuestring);
		return;
	}
	s = cJSON_PrintUnformatted(v);
	if (s)
		csv_field(b, s);
	cJSON_free(s);
}

void
csv_collect_keys(const cJSON *rows, const char *field, cJSON *keys)
{
	const cJSON *row, *k, *have;
	int found;

	cJSON_ArrayForEach(row, rows) {
		cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(row,
		    field)) {
			found = 0;
			cJSON_ArrayForEach(have, keys)
				if (!strcmp(have->valuestring, k->string))
					found = 1;
			if (!found)
				cJSON_AddItemToArray(keys,
				    cJSON_CreateString(k->string));
		}
	}
}
