/*
 * application/x-www-form-urlencoded request bodies.
 */
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "msg.h"
#include "xalloc.h"
#include "banned.h"

/* Decode %XX and '+' in place; returns the new length. */
static size_t
url_decode(char *s, size_t n)
{
	static const char hex[] = "0123456789abcdefABCDEF";
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '+') {
			s[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < n && s[i + 1] && s[i + 2] &&
		    strchr(hex, s[i + 1]) && strchr(hex, s[i + 2])) {
			char h[3] = { s[i + 1], s[i + 2], 0 };

			s[o++] = (char)strtol(h, NULL, 16);
			i += 2;
		} else {
			s[o++] = s[i];
		}
	}
	return o;
}

cJSON *
form_parse_urlencoded(char *text, size_t len)
{
	cJSON *o = msg_new_object();
	char *p = text, *end = text + len;

	while (p < end) {
		char *amp = memchr(p, '&', (size_t)(end - p));
		char *eq, *key, *val;
		size_t klen, vlen;

		if (!amp)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		klen = url_decode(p, (size_t)((eq ? eq : amp) - p));
		key = xstrndup(p, klen);
		vlen = eq ? url_decode(eq + 1, (size_t)(amp - eq - 1)) : 0;
		val = xstrndup(eq ? eq + 1 : "", vlen);
		/* keys and values with NUL bytes are dropped */
		if (*key && strlen(key) == klen && strlen(val) == vlen)
			msg_set_str(o, key, val);
		free(key);
		free(val);
		p = amp + 1;
	}
	return o;
}
