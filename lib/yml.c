#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "buf.h"
#include "log.h"
#include "xalloc.h"
#include "yml.h"
#include "banned.h"

/*
 * Loading walks libyaml's event stream and builds the tree recursively
 * (depth bounded by YML_MAX_DEPTH).  Saving walks the tree and feeds the
 * libyaml emitter, choosing for each string scalar whether it may be
 * written plain.
 */

struct loader {
	yaml_parser_t parser;
	const char *name;
	const char *text;
	size_t len;
	char *err;
};

static int load_node(struct loader *l, yaml_event_t *ev, int depth,
    struct yml_node **out);

static struct yml_node *
node_new(enum yml_type type)
{
	struct yml_node *n = xcalloc(1, sizeof(*n));

	n->type = type;
	return n;
}

struct yml_node *
yml_new_mapping(void)
{
	return node_new(YML_MAPPING);
}

struct yml_node *
yml_new_sequence(void)
{
	return node_new(YML_SEQUENCE);
}

struct yml_node *
yml_new_scalar(const char *text, enum yml_style style)
{
	struct yml_node *n = node_new(YML_SCALAR);

	n->text = xstrdup(text);
	n->style = style;
	return n;
}

void
yml_free(struct yml_node *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->nr; i++) {
		if (n->type == YML_SEQUENCE)
			yml_free(n->items[i]);
		else if (n->type == YML_MAPPING) {
			yml_free(n->pairs[i].key);
			yml_free(n->pairs[i].value);
		}
	}
	free(n->items);
	free(n->pairs);
	free(n->text);
	free(n);
}

struct yml_node *
yml_dup(const struct yml_node *n)
{
	struct yml_node *d;
	size_t i;

	if (!n)
		return NULL;
	d = node_new(n->type);
	d->line = n->line;
	d->col = n->col;
	d->style = n->style;
	if (n->text)
		d->text = xstrdup(n->text);
	for (i = 0; i < n->nr; i++) {
		if (n->type == YML_SEQUENCE)
			yml_append(d, yml_dup(n->items[i]));
		else {
			ALLOC_GROW(d->pairs, d->nr + 1, d->alloc);
			d->pairs[d->nr].key = yml_dup(n->pairs[i].key);
			d->pairs[d->nr].value = yml_dup(n->pairs[i].value);
			d->nr++;
		}
	}
	d->flow = n->flow;
	return d;
}

/* Errors */

static char *
vformat_at(const char *name, unsigned line, unsigned col, const char *fmt,
    va_list ap)
{
	struct buf b = BUF_INIT;

	if (name && line)
		buf_addf(&b, "%s:%u:%u: ", name, line, col);
	else if (name)
		buf_addf(&b, "%s: ", name);
	else if (line)
		buf_addf(&b, "%u:%u: ", line, col);
	buf_vaddf(&b, fmt, ap);
	return buf_detach(&b, NULL);
}

char *
yml_errorf(const char *name, const struct yml_node *node, const char *fmt,
    ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = vformat_at(name, node ? node->line : 0, node ? node->col : 0,
	    fmt, ap);
	va_end(ap);
	return msg;
}

static int load_error(struct loader *l, const yaml_mark_t *mark,
    const char *fmt, ...) PRINTF_LIKE(3, 4);

/*
 * Record an error at MARK (0-based, as libyaml counts).  Only the first
 * error of a load is kept; later ones are its consequences.
 */
static int
load_error(struct loader *l, const yaml_mark_t *mark, const char *fmt, ...)
{
	va_list ap;

	if (l->err)
		return -1;
	va_start(ap, fmt);
	l->err = vformat_at(l->name, (unsigned)mark->line + 1,
	    (unsigned)mark->column + 1, fmt, ap);
	va_end(ap);
	return -1;
}

/* The mark of byte OFFSET, for reader errors that only give an offset. */
static yaml_mark_t
mark_at(const struct loader *l, size_t offset)
{
	yaml_mark_t m = { offset, 0, 0 };
	size_t i;

	for (i = 0; i < offset && i < l->len; i++) {
		if (l->text[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if (((unsigned char)l->text[i] & 0xc0) != 0x80)
			m.column++;
	}
	return m;
}

static int
parser_error(struct loader *l)
{
	yaml_parser_t *p = &l->parser;
	const char *problem = p->problem ? p->problem : "cannot parse";
	yaml_mark_t m;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		m = mark_at(l, 0);
		return load_error(l, &m, "out of memory");
	case YAML_READER_ERROR:
		m = mark_at(l, p->problem_offset);
		return load_error(l, &m, "%s", problem);
	default:
		if (p->context)
			return load_error(l, &p->problem_mark,
			    "%s (%s started at line %zu, column %zu)", problem,
			    p->context, p->context_mark.line + 1,
			    p->context_mark.column + 1);
		return load_error(l, &p->problem_mark, "%s", problem);
	}
}

static int
next_event(struct loader *l, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&l->parser, ev))
		return parser_error(l);
	return 0;
}

/* Load */

static int
check_anchor(struct loader *l, const yaml_event_t *ev, const yaml_char_t *a)
{
	if (ev->type == YAML_ALIAS_EVENT)
		return load_error(l, &ev->start_mark,
		    "aliases (*%s) are not supported", (const char *)a);
	if (a)
		return load_error(l, &ev->start_mark,
		    "anchors (&%s) are not supported", (const char *)a);
	return 0;
}

static int
is_tag(const yaml_char_t *tag, const char *want)
{
	return tag && !strcmp((const char *)tag, want);
}

static enum yml_style
style_of(yaml_scalar_style_t s)
{
	switch (s) {
	case YAML_SINGLE_QUOTED_SCALAR_STYLE:
		return YML_SINGLE_QUOTED;
	case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
		return YML_DOUBLE_QUOTED;
	case YAML_LITERAL_SCALAR_STYLE:
		return YML_LITERAL;
	case YAML_FOLDED_SCALAR_STYLE:
		return YML_FOLDED;
	default:
		return YML_PLAIN;
	}
}

static int
load_scalar(struct loader *l, yaml_event_t *ev, struct yml_node **out)
{
	const yaml_char_t *tag = ev->data.scalar.tag;
	const char *value = (const char *)ev->data.scalar.value;
	enum yml_style style = style_of(ev->data.scalar.style);

	if (strlen(value) != ev->data.scalar.length)
		return load_error(l, &ev->start_mark,
		    "NUL characters in a scalar are not supported");
	if (is_tag(tag, YAML_STR_TAG) || is_tag(tag, "!")) {
		if (style == YML_PLAIN)
			style = YML_SINGLE_QUOTED;
	} else if (is_tag(tag, YAML_INT_TAG) || is_tag(tag, YAML_FLOAT_TAG) ||
	    is_tag(tag, YAML_BOOL_TAG) || is_tag(tag, YAML_NULL_TAG)) {
		style = YML_PLAIN;
	} else if (tag) {
		return load_error(l, &ev->start_mark,
		    "unsupported tag '%s'", (const char *)tag);
	}
	*out = yml_new_scalar(value, style);
	(*out)->line = (unsigned)ev->start_mark.line + 1;
	(*out)->col = (unsigned)ev->start_mark.column + 1;
	return 0;
}

static int
load_sequence(struct loader *l, struct yml_node *seq, int depth)
{
	yaml_event_t ev;
	struct yml_node *item;

	for (;;) {
		if (next_event(l, &ev) < 0)
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (load_node(l, &ev, depth + 1, &item) < 0)
			return -1;
		yml_append(seq, item);
	}
}

static int
load_pair(struct loader *l, struct yml_node *map, yaml_event_t *kev,
    int depth)
{
	struct yml_node *key, *value;
	struct yml_pair *old;
	yaml_event_t ev;

	if (kev->type == YAML_MAPPING_START_EVENT ||
	    kev->type == YAML_SEQUENCE_START_EVENT) {
		load_error(l, &kev->start_mark,
		    "a mapping key must be a scalar, not a %s",
		    kev->type == YAML_MAPPING_START_EVENT ? "mapping" :
		    "sequence");
		yaml_event_delete(kev);
		return -1;
	}
	if (load_node(l, kev, depth + 1, &key) < 0)
		return -1;
	old = yml_pair(map, key->text);
	if (old) {
		yaml_mark_t m = { 0, key->line - 1, key->col - 1 };

		load_error(l, &m,
		    "duplicate key '%s' (first at line %u, column %u)",
		    key->text, old->key->line, old->key->col);
		yml_free(key);
		return -1;
	}
	if (next_event(l, &ev) < 0 ||
	    load_node(l, &ev, depth + 1, &value) < 0) {
		yml_free(key);
		return -1;
	}
	ALLOC_GROW(map->pairs, map->nr + 1, map->alloc);
	map->pairs[map->nr].key = key;
	map->pairs[map->nr].value = value;
	map->nr++;
	return 0;
}

static int
load_mapping(struct loader *l, struct yml_node *map, int depth)
{
	yaml_event_t ev;

	for (;;) {
		if (next_event(l, &ev) < 0)
			return -1;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (load_pair(l, map, &ev, depth) < 0)
			return -1;
	}
}

/*
 * Build the node that starts with event EV (which this function deletes)
 * and store it in *OUT.  Returns 0, or -1 with l->err set.
 */
static int
load_node(struct loader *l, yaml_event_t *ev, int depth, struct yml_node **out)
{
	struct yml_node *n = NULL;
	const yaml_char_t *anchor = NULL, *tag = NULL;
	int ret = -1;

	*out = NULL;
	if (ev->type == YAML_SCALAR_EVENT)
		anchor = ev->data.scalar.anchor;
	else if (ev->type == YAML_SEQUENCE_START_EVENT) {
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
	} else if (ev->type == YAML_MAPPING_START_EVENT) {
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	} else if (ev->type == YAML_ALIAS_EVENT)
		anchor = ev->data.alias.anchor;
	if (check_anchor(l, ev, anchor) < 0)
		goto out;
	if (depth > YML_MAX_DEPTH) {
		load_error(l, &ev->start_mark, "nesting deeper than %d levels",
		    YML_MAX_DEPTH);
		goto out;
	}
	if (tag && !is_tag(tag, YAML_SEQ_TAG) && !is_tag(tag, YAML_MAP_TAG)) {
		load_error(l, &ev->start_mark, "unsupported tag '%s'",
		    (const char *)tag);
		goto out;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		ret = load_scalar(l, ev, &n);
		break;
	case YAML_SEQUENCE_START_EVENT:
		n = node_new(YML_SEQUENCE);
		ret = load_sequence(l, n, depth);
		n->flow = ev->data.sequence_start.style ==
		    YAML_FLOW_SEQUENCE_STYLE;
		break;
	case YAML_MAPPING_START_EVENT:
		n = node_new(YML_MAPPING);
		ret = load_mapping(l, n, depth);
		n->flow = ev->data.mapping_start.style ==
		    YAML_FLOW_MAPPING_STYLE;
		break;
	default:
		load_error(l, &ev->start_mark, "unexpected YAML event %d",
		    (int)ev->type);
		break;
	}
	if (n && !n->line) {
		n->line = (unsigned)ev->start_mark.line + 1;
		n->col = (unsigned)ev->start_mark.column + 1;
	}
out:
	yaml_event_delete(ev);
	if (ret < 0) {
		yml_free(n);
		return -1;
	}
	*out = n;
	return 0;
}

/* Expect an event of TYPE next; anything else is reported with WHAT. */
static int
expect_event(struct loader *l, yaml_event_type_t type, const char *what)
{
	yaml_event_t ev;
	int ret = 0;

	if (next_event(l, &ev) < 0)
		return -1;
	if (ev.type != type)
		ret = load_error(l, &ev.start_mark, "%s", what);
	yaml_event_delete(&ev);
	return ret;
}

static int
load_stream(struct loader *l, struct yml_node **rootp)
{
	yaml_event_t ev;

	if (expect_event(l, YAML_STREAM_START_EVENT, "expected a stream") < 0 ||
	    next_event(l, &ev) < 0)
		return -1;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return 0;
	}
	yaml_event_delete(&ev);
	if (next_event(l, &ev) < 0 || load_node(l, &ev, 0, rootp) < 0)
		return -1;
	if (expect_event(l, YAML_DOCUMENT_END_EVENT, "expected document end") <
	    0 ||
	    expect_event(l, YAML_STREAM_END_EVENT,
	    "only one document is allowed (found a second '---')") < 0) {
		yml_free(*rootp);
		*rootp = NULL;
		return -1;
	}
	return 0;
}

int
yml_load_string(const char *text, size_t len, const char *name,
    struct yml_node **rootp, char **errp)
{
	struct loader l = { .name = name, .text = text, .len = len };
	int ret;

	*rootp = NULL;
	if (!yaml_parser_initialize(&l.parser)) {
		if (errp)
			*errp = xasprintf("%s: out of memory", name);
		return -1;
	}
	yaml_parser_set_input_string(&l.parser, (const unsigned char *)text,
	    len);
	ret = load_stream(&l, rootp);
	yaml_parser_delete(&l.parser);
	if (ret < 0) {
		if (!l.err)
			l.err = xasprintf("%s: cannot parse", name);
		if (errp)
			*errp = l.err;
		else
			free(l.err);
	}
	return ret;
}

int
yml_load_file(const char *path, struct yml_node **rootp, char **errp)
{
	struct buf b = BUF_INIT;
	int ret;

	*rootp = NULL;
	if (buf_read_file(&b, path, YML_MAX_FILE_SIZE) < 0) {
		int saved = errno;

		if (errp)
			*errp = xasprintf("cannot read '%s': %s", path,
			    saved == EFBIG ? "file larger than 16 MiB" :
			    strerror(saved));
		buf_release(&b);
		errno = saved;
		return -1;
	}
	ret = yml_load_string(b.buf, b.len, path, rootp, errp);
	buf_release(&b);
	errno = 0;
	return ret;
}

/* Look-up and edits */

const char *
yml_text(const struct yml_node *n)
{
	return n && n->type == YML_SCALAR ? n->text : NULL;
}

struct yml_pair *
yml_pair(const struct yml_node *map, const char *key)
{
	size_t i;

	if (!map || map->type != YML_MAPPING)
		return NULL;
	for (i = 0; i < map->nr; i++)
		if (!strcmp(map->pairs[i].key->text, key))
			return &map->pairs[i];
	return NULL;
}

struct yml_node *
yml_get(const struct yml_node *map, const char *key)
{
	struct yml_pair *p = yml_pair(map, key);

	return p ? p->value : NULL;
}

static struct yml_node *
seq_index(const struct yml_node *seq, const char *s)
{
	char *end;
	unsigned long i;

	if (*s < '0' || *s > '9')
		return NULL;
	errno = 0;
	i = strtoul(s, &end, 10);
	if (*end || errno || i >= seq->nr)
		return NULL;
	return seq->items[i];
}

struct yml_node *
yml_lookup(const struct yml_node *root, const char *path)
{
	char *copy = xstrdup(path), *part = copy, *dot;
	const struct yml_node *n = root;

	while (n && part) {
		dot = strchr(part, '.');
		if (dot)
			*dot = '\0';
		if (n->type == YML_MAPPING)
			n = yml_get(n, part);
		else if (n->type == YML_SEQUENCE)
			n = seq_index(n, part);
		else
			n = NULL;
		part = dot ? dot + 1 : NULL;
	}
	free(copy);
	return (struct yml_node *)n;
}

struct yml_node *
yml_set(struct yml_node *map, const char *key, struct yml_node *value)
{
	struct yml_pair *p;

	if (map->type != YML_MAPPING)
		BUG("yml_set on %s", yml_describe(map));
	p = yml_pair(map, key);
	if (p) {
		yml_free(p->value);
		p->value = value;
		return value;
	}
	if (!map->nr)
		map->flow = 0;	/* "{}" grows into a block mapping */
	ALLOC_GROW(map->pairs, map->nr + 1, map->alloc);
	map->pairs[map->nr].key = yml_new_scalar(key,
	    yml_plain_is_string(key) ? YML_PLAIN : YML_SINGLE_QUOTED);
	map->pairs[map->nr].value = value;
	map->nr++;
	return value;
}

struct yml_node *
yml_set_scalar(struct yml_node *map, const char *key, const char *text,
    enum yml_style style)
{
	return yml_set(map, key, yml_new_scalar(text, style));
}

int
yml_delete(struct yml_node *map, const char *key)
{
	struct yml_pair *p = yml_pair(map, key);
	size_t i;

	if (!p)
		return 0;
	i = (size_t)(p - map->pairs);
	yml_free(p->key);
	yml_free(p->value);
	memmove(p, p + 1, (map->nr - i - 1) * sizeof(*p));
	map->nr--;
	return 1;
}

void
yml_append(struct yml_node *seq, struct yml_node *item)
{
	if (seq->type != YML_SEQUENCE)
		BUG("yml_append on %s", yml_describe(seq));
	if (!seq->nr)
		seq->flow = 0;	/* "[]" grows into a block sequence */
	ALLOC_GROW(seq->items, seq->nr + 1, seq->alloc);
	seq->items[seq->nr++] = item;
}

/* Scalar types */

static int
is_one_of(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (!strcmp(s, *words))
			return 1;
	return 0;
}

static const char *const null_words[] = { "", "~", "null", "Null", "NULL",
	NULL };
static const char *const true_words[] = { "true", "True", "TRUE", "yes",
	"Yes", "YES", "on", "On", "ON", NULL };
static const char *const false_words[] = { "false", "False", "FALSE", "no",
	"No", "NO", "off", "Off", "OFF", NULL };

/* Count the leading characters of S that are in SET. */
static size_t
span(const char *s, const char *set)
{
	return strspn(s, set);
}

#define DIGITS "0123456789"
#define HEXDIGITS "0123456789abcdefABCDEF"

static int
is_int(const char *s)
{
	if (!strncmp(s, "0x", 2))
		return s[2] && !s[2 + span(s + 2, HEXDIGITS)];
	if (!strncmp(s, "0o", 2))
		return s[2] && !s[2 + span(s + 2, "01234567")];
	if (*s == '-' || *s == '+')
		s++;
	return *s && !s[span(s, DIGITS)];
}

static int
is_float(const char *s)
{
	size_t n;

	if (*s == '-' || *s == '+')
		s++;
	if (!strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF"))
		return 1;
	n = span(s, DIGITS);
	s += n;
	if (*s == '.') {
		size_t frac = span(s + 1, DIGITS);

		if (!n && !frac)
			return 0;
		s += 1 + frac;
	} else if (!n)
		return 0;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		n = span(s, DIGITS);
		if (!n)
			return 0;
		s += n;
	}
	return !*s;
}

enum yml_kind
yml_plain_kind(const char *s)
{
	if (is_one_of(s, null_words))
		return YML_KIND_NULL;
	if (is_one_of(s, true_words) || is_one_of(s, false_words))
		return YML_KIND_BOOL;
	if (is_int(s))
		return YML_KIND_INT;
	if (is_float(s) || !strcmp(s, ".nan") || !strcmp(s, ".NaN") ||
	    !strcmp(s, ".NAN"))
		return YML_KIND_FLOAT;
	return YML_KIND_STRING;
}

enum yml_kind
yml_scalar_kind(const struct yml_node *n)
{
	if (!n || n->type != YML_SCALAR)
		return YML_KIND_STRING;
	if (n->style != YML_PLAIN)
		return YML_KIND_STRING;
	return yml_plain_kind(n->text);
}

/*
 * Text that a YAML 1.1 reader may take for a number, date or time: it
 * starts (after a sign) with a digit or a dot and holds nothing but the
 * characters those forms use.  This over-matches ("1.2.3"), which only
 * costs a pair of quotes.
 */
static int
looks_numeric_11(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!(*s >= '0' && *s <= '9') && *s != '.')
		return 0;
	return !s[span(s, DIGITS "_.:+- abcdefABCDEFxXoObBtTzZ")];
}

int
yml_plain_is_string(const char *s)
{
	static const char *const words_11[] = { "<<", "=", NULL };

	if (yml_plain_kind(s) != YML_KIND_STRING)
		return 0;
	return !is_one_of(s, words_11) && !looks_numeric_11(s);
}

int
yml_plain_is_canonical(const char *s)
{
	size_t n;

	if (!strcmp(s, "true") || !strcmp(s, "false"))
		return 1;
	if (*s == '-')
		s++;
	n = span(s, DIGITS);
	if (!n || (n > 1 && *s == '0'))
		return 0;
	s += n;
	if (!*s)
		return 1;
	if (*s != '.' || !(n = span(s + 1, DIGITS)))
		return 0;
	s += 1 + n;
	if (!*s)
		return 1;
	if ((*s != 'e' && *s != 'E') || (s[1] != '-' && s[1] != '+'))
		return 0;
	s += 2;
	n = span(s, DIGITS);
	return n && !s[n];
}

int
yml_long(const struct yml_node *node, long *out)
{
	const char *s = yml_text(node), *p;
	int neg = 0, base = 10;
	char *end;
	unsigned long v;

	if (!s || !is_int(s))
		goto invalid;
	p = s;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (!strncmp(p, "0x", 2) || !strncmp(p, "0o", 2)) {
		base = p[1] == 'x' ? 16 : 8;
		p += 2;
	}
	errno = 0;
	v = strtoul(p, &end, base);
	if (*end)
		goto invalid;
	if (errno == ERANGE || v > (unsigned long)LONG_MAX + neg) {
		errno = ERANGE;
		return -1;
	}
	*out = neg ? (long)(0 - v) : (long)v;
	return 0;
invalid:
	errno = EINVAL;
	return -1;
}

int
yml_double(const struct yml_node *node, double *out)
{
	const char *s = yml_text(node), *p;
	long l;
	char *end;
	double d;

	if (!s)
		goto invalid;
	if (!yml_long(node, &l)) {
		*out = (double)l;
		return 0;
	}
	if (errno == ERANGE && s[strspn(s, "+-")] != '0')
		goto parse;	/* a decimal too big for a long */
	if (yml_plain_kind(s) != YML_KIND_FLOAT)
		goto invalid;
	p = s + (*s == '-' || *s == '+');
	if (*p == '.' && (p[1] == 'i' || p[1] == 'I')) {
		*out = *s == '-' ? -HUGE_VAL : HUGE_VAL;
		return 0;
	}
	if (*p == '.' && (p[1] == 'n' || p[1] == 'N')) {
		*out = NAN;
		return 0;
	}
parse:
	errno = 0;
	d = strtod(s, &end);
	if (*end)
		goto invalid;
	if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL))
		return -1;
	*out = d;
	return 0;
invalid:
	errno = EINVAL;
	return -1;
}

int
yml_bool(const struct yml_node *node, int *out)
{
	const char *s = yml_text(node);

	if (s && is_one_of(s, true_words))
		*out = 1;
	else if (s && is_one_of(s, false_words))
		*out = 0;
	else {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

const char *
yml_describe(const struct yml_node *n)
{
	if (!n)
		return "nothing";
	if (n->type == YML_MAPPING)
		return "a mapping";
	if (n->type == YML_SEQUENCE)
		return "a sequence";
	switch (yml_scalar_kind(n)) {
	case YML_KIND_NULL:
		return "null";
	case YML_KIND_BOOL:
		return "a boolean";
	case YML_KIND_INT:
	case YML_KIND_FLOAT:
		return "a number";
	default:
		return "a string";
	}
}

/* Save */

struct saver {
	yaml_emitter_t emitter;
	char *err;
};

static int
write_out(void *data, unsigned char *bytes, size_t size)
{
	buf_add(data, bytes, size);
	return 1;
}

static int
emit(struct saver *s, yaml_event_t *ev, int ok)
{
	if (!ok) {
		if (!s->err)
			s->err = xstrdup("cannot build YAML event");
		return -1;
	}
	if (!yaml_emitter_emit(&s->emitter, ev)) {
		if (!s->err)
			s->err = xasprintf("cannot write YAML: %s",
			    s->emitter.problem ? s->emitter.problem :
			    "emitter error");
		return -1;
	}
	return 0;
}

/*
 * A plain scalar is emitted plain when libyaml allows it.  A string is
 * emitted plain only when that reads back as the same string; otherwise
 * libyaml quotes it, single quotes unless it needs escapes.  Block
 * styles are kept, and other multi-line strings are double-quoted (one
 * line, "\n" escapes) rather than folded over several lines.
 */
static int
emit_scalar(struct saver *s, const struct yml_node *n)
{
	yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
	int plain_implicit = 1;
	yaml_event_t ev;
	size_t len = strlen(n->text);

	if (len > INT_MAX) {
		s->err = xstrdup("scalar too long to write");
		return -1;
	}
	if (n->style == YML_PLAIN)
		style = YAML_PLAIN_SCALAR_STYLE;
	else {
		plain_implicit = yml_plain_is_string(n->text);
		if (n->style == YML_LITERAL)
			style = YAML_LITERAL_SCALAR_STYLE;
		else if (n->style == YML_FOLDED)
			style = YAML_FOLDED_SCALAR_STYLE;
		else if (strchr(n->text, '\n'))
			style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	}
	return emit(s, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL,
	    (yaml_char_t *)n->text, (int)len, plain_implicit, 1, style));
}

static int
emit_node(struct saver *s, const struct yml_node *n)
{
	yaml_event_t ev;
	size_t i;

	switch (n->type) {
	case YML_SCALAR:
		return emit_scalar(s, n);
	case YML_SEQUENCE:
		if (emit(s, &ev, yaml_sequence_start_event_initialize(&ev, NULL,
		    NULL, 1, n->flow ? YAML_FLOW_SEQUENCE_STYLE :
		    YAML_BLOCK_SEQUENCE_STYLE)) < 0)
			return -1;
		for (i = 0; i < n->nr; i++)
			if (emit_node(s, n->items[i]) < 0)
				return -1;
		return emit(s, &ev, yaml_sequence_end_event_initialize(&ev));
	case YML_MAPPING:
		if (emit(s, &ev, yaml_mapping_start_event_initialize(&ev, NULL,
		    NULL, 1, n->flow ? YAML_FLOW_MAPPING_STYLE :
		    YAML_BLOCK_MAPPING_STYLE)) < 0)
			return -1;
		for (i = 0; i < n->nr; i++)
			if (emit_node(s, n->pairs[i].key) < 0 ||
			    emit_node(s, n->pairs[i].value) < 0)
				return -1;
		return emit(s, &ev, yaml_mapping_end_event_initialize(&ev));
	}
	return -1;
}

static int
emit_document(struct saver *s, const struct yml_node *root)
{
	yaml_event_t ev;

	if (emit(s, &ev, yaml_stream_start_event_initialize(&ev,
	    YAML_UTF8_ENCODING)) < 0 ||
	    emit(s, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL,
	    NULL, 1)) < 0 ||
	    emit_node(s, root) < 0 ||
	    emit(s, &ev, yaml_document_end_event_initialize(&ev, 1)) < 0 ||
	    emit(s, &ev, yaml_stream_end_event_initialize(&ev)) < 0)
		return -1;
	if (!yaml_emitter_flush(&s->emitter)) {
		s->err = xstrdup("cannot write YAML: flush failed");
		return -1;
	}
	return 0;
}

int
yml_save(const struct yml_node *root, struct buf *out, char **errp)
{
	struct saver s = { .err = NULL };
	int ret;

	if (!root)
		return 0;
	if (!yaml_emitter_initialize(&s.emitter)) {
		if (errp)
			*errp = xstrdup("cannot write YAML: out of memory");
		return -1;
	}
	yaml_emitter_set_output(&s.emitter, write_out, out);
	yaml_emitter_set_unicode(&s.emitter, 1);
	yaml_emitter_set_width(&s.emitter, -1);
	yaml_emitter_set_indent(&s.emitter, 2);
	yaml_emitter_set_break(&s.emitter, YAML_LN_BREAK);
	ret = emit_document(&s, root);
	yaml_emitter_delete(&s.emitter);
	if (ret < 0) {
		if (errp)
			*errp = s.err;
		else
			free(s.err);
	}
	return ret;
}
