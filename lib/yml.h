#ifndef MEPHISTO_YML_H
#define MEPHISTO_YML_H

#include <stddef.h>

struct buf;

/*
 * A YAML document as a tree, loaded and saved with libyaml.
 *
 * The tree keeps what a program that edits a file by hand must not lose:
 * the order of mapping keys, keys and sections nobody asked about, and
 * the position (1-based line and column) where each key and value began,
 * so that errors can name "FILE:LINE:COL".  Comments are not kept: libyaml
 * does not report them, so saving a loaded tree drops them.
 *
 * What is accepted: one document (an empty file is a valid document with
 * no root), block and flow collections, every scalar style, and the
 * standard tags (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq).
 * Anchors, aliases, other tags, complex (non-scalar) mapping keys,
 * duplicate keys, more than one document and nesting deeper than
 * YML_MAX_DEPTH are errors.
 *
 * Scalars are kept as text plus how they were written.  A scalar written
 * quoted (or as a block, or tagged !!str) is a string whatever its text;
 * a plain scalar is typed by its text (see yml_scalar_kind()).  Saving
 * keeps that distinction: a string is written plain when it reads back as
 * the same string, and quoted when a plain "1", "yes", "null" or "" would
 * read back as something else.
 *
 * Ownership: every node belongs to its parent; yml_free() on the root
 * frees the whole tree.  Functions that take a node to insert take
 * ownership of it.  Returned node pointers are borrowed and stay valid
 * until the node is deleted or the tree freed.  Strings returned as char *
 * belong to the caller.
 *
 * Errors: functions that can fail for a reason a user must read return -1
 * and, when ERRP is not NULL, store a malloc'd one-line message in *ERRP,
 * shaped "NAME:LINE:COL: problem" when a position is known.
 */

#define YML_MAX_DEPTH 128
#define YML_MAX_FILE_SIZE (16 * 1024 * 1024)

enum yml_type {
	YML_SCALAR,
	YML_SEQUENCE,
	YML_MAPPING,
};

/* How a scalar was written; decides its type and how it is saved. */
enum yml_style {
	YML_PLAIN,		/* typed by its text */
	YML_SINGLE_QUOTED,
	YML_DOUBLE_QUOTED,
	YML_LITERAL,		/* | block */
	YML_FOLDED,		/* > block */
};

/* What a scalar means. */
enum yml_kind {
	YML_KIND_NULL,		/* plain "", "~", "null" */
	YML_KIND_BOOL,		/* plain true/false/yes/no/on/off */
	YML_KIND_INT,		/* plain 12, -3, 0x1f, 0o17 */
	YML_KIND_FLOAT,		/* plain 1.5, 1e3, .inf, .nan */
	YML_KIND_STRING,	/* anything else, and every quoted scalar */
};

struct yml_pair {
	struct yml_node *key;	/* always a scalar */
	struct yml_node *value;
};

struct yml_node {
	enum yml_type type;
	unsigned line, col;	/* 1-based start; 0 for nodes built in code */
	int flow;		/* collection written as [..] or {..} */

	/* YML_SCALAR */
	char *text;		/* NUL-terminated */
	enum yml_style style;

	/* YML_SEQUENCE: items[0..nr); YML_MAPPING: pairs[0..nr) */
	struct yml_node **items;
	struct yml_pair *pairs;
	size_t nr, alloc;
};

/*
 * Parse LEN bytes of TEXT into *ROOTP.  NAME is the file name used in
 * error messages.  An empty document (no content, or only comments) sets
 * *ROOTP to NULL and succeeds.  Returns 0, or -1 with *ERRP set
 * ("NAME:LINE:COL: problem") and *ROOTP NULL.
 */
int yml_load_string(const char *text, size_t len, const char *name,
    struct yml_node **rootp, char **errp);

/*
 * Read and parse PATH (at most YML_MAX_FILE_SIZE bytes).  Same contract
 * as yml_load_string(); when the file cannot be read, errno is kept (so a
 * caller can test for ENOENT) and *ERRP says "cannot read 'PATH': ...".
 * errno is 0 after a parse error.
 */
int yml_load_file(const char *path, struct yml_node **rootp, char **errp);

/*
 * Append ROOT as a YAML document to OUT (block style unless a collection
 * was loaded in flow style, 2-space indent, no line folding, no "---").  A
 * NULL root appends nothing.  Returns 0, or -1 with *ERRP set (libyaml
 * refused the tree; OUT may hold part of the document).
 */
int yml_save(const struct yml_node *root, struct buf *out, char **errp);

void yml_free(struct yml_node *node);

/* A deep copy (positions included). */
struct yml_node *yml_dup(const struct yml_node *node);

struct yml_node *yml_new_mapping(void);
struct yml_node *yml_new_sequence(void);
/*
 * A scalar holding TEXT.  STYLE YML_PLAIN makes it typed by its text (5
 * is a number); any other style makes it a string whatever the text.
 */
struct yml_node *yml_new_scalar(const char *text, enum yml_style style);

/* The scalar's text, or NULL when NODE is NULL or not a scalar. */
const char *yml_text(const struct yml_node *node);

/* "a mapping", "a sequence", "a string", "a number", "a boolean", "null". */
const char *yml_describe(const struct yml_node *node);

/* The pair whose key's text is KEY in mapping MAP, or NULL. */
struct yml_pair *yml_pair(const struct yml_node *map, const char *key);

/* The value of KEY in MAP, or NULL (also when MAP is not a mapping). */
struct yml_node *yml_get(const struct yml_node *map, const char *key);

/*
 * Follow a dotted PATH ("task.task_name", "blueprint.tags.0") from ROOT:
 * each component is a mapping key, or a decimal index into a sequence.
 * Returns the node, or NULL when any step is missing.
 */
struct yml_node *yml_lookup(const struct yml_node *root, const char *path);

/*
 * Set KEY in mapping MAP to VALUE (ownership taken).  An existing key
 * keeps its place and position and its old value is freed; a new key is
 * appended (an empty "{}" then becomes a block mapping).  Returns VALUE.
 * MAP must be a mapping.
 */
struct yml_node *yml_set(struct yml_node *map, const char *key,
    struct yml_node *value);

/* yml_set() with a new scalar. */
struct yml_node *yml_set_scalar(struct yml_node *map, const char *key,
    const char *text, enum yml_style style);

/* Remove KEY from MAP.  Returns 1 when it was there, 0 otherwise. */
int yml_delete(struct yml_node *map, const char *key);

/* Append ITEM (ownership taken) to sequence SEQ ("[]" becomes a block). */
void yml_append(struct yml_node *seq, struct yml_node *item);

/*
 * What scalar NODE means: quoted and block scalars are strings; a plain
 * one is resolved by yml_plain_kind().
 */
enum yml_kind yml_scalar_kind(const struct yml_node *node);

/*
 * What TEXT means as a plain scalar: the YAML 1.2 core schema, plus the
 * YAML 1.1 booleans yes/no/on/off (any of lower, Title or UPPER case).
 */
enum yml_kind yml_plain_kind(const char *text);

/*
 * Whether TEXT written plain reads back as the same string in both YAML
 * 1.1 and 1.2 readers: false for everything yml_plain_kind() does not
 * call a string, and also for 1.1-only readings (010 as octal, 1_000,
 * 0b101, 1:30, dates, "<<").  The one-letter booleans y and n of the 1.1
 * spec are left plain, as PyYAML and libyaml-based readers take them for
 * strings.  The emitter quotes a string when this is false.
 */
int yml_plain_is_string(const char *text);

/*
 * Whether TEXT, written plain, is a number or boolean that every YAML
 * reader types alike: -12, 0, 3.25, -1.5e+3, true, false.  Programs that
 * take values from the command line store these plain and anything else
 * as a string.
 */
int yml_plain_is_canonical(const char *text);

/*
 * Typed reads of a scalar.  They parse the text whether or not it was
 * quoted, so '5' and 5 both read as 5 (use yml_scalar_kind() to insist on
 * an unquoted number).  Each returns 0 and stores the value, or -1 with
 * errno EINVAL (not a scalar, or text of the wrong form) or ERANGE.
 *   yml_long:   decimal with optional sign, 0x hex, 0o octal
 *   yml_double: any yml_long form, decimals, exponents, .inf, .nan
 *   yml_bool:   true/false/yes/no/on/off in lower, Title or UPPER case
 */
int yml_long(const struct yml_node *node, long *out);
int yml_double(const struct yml_node *node, double *out);
int yml_bool(const struct yml_node *node, int *out);

/*
 * A malloc'd message "NAME:LINE:COL: " followed by the formatted text, for
 * errors about NODE (the position is left out when NODE is NULL or has
 * none).
 */
char *yml_errorf(const char *name, const struct yml_node *node,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
