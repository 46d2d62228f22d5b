/*
 * Drive lib/yml from tests/103-config-yml.bats.
 *
 *   test-yml save FILE             load FILE, write it back to stdout
 *   test-yml tree FILE             one line per node: PATH TYPE LINE:COL TEXT
 *   test-yml get FILE PATH [long|double|bool]
 *   test-yml set FILE PATH VALUE [plain|string]   set, then save to stdout
 *   test-yml delete FILE PATH      delete, then save to stdout
 *   test-yml unit                  built-in checks of the scalar rules
 *
 * FILE "-" reads stdin.  Errors go to stderr; exit 1 on failure.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "xalloc.h"
#include "yml.h"
#include "banned.h"

static struct yml_node *
load(const char *file)
{
	struct yml_node *root;
	char *err = NULL;
	int ret;

	if (!strcmp(file, "-")) {
		struct buf b = BUF_INIT;

		if (buf_read_fd(&b, 0, 0) < 0)
			die_errno("cannot read stdin");
		ret = yml_load_string(b.buf, b.len, "<stdin>", &root, &err);
		buf_release(&b);
	} else
		ret = yml_load_file(file, &root, &err);
	if (ret < 0) {
		error("%s", err);
		free(err);
		exit(1);
	}
	return root;
}

static void
save(struct yml_node *root)
{
	struct buf out = BUF_INIT;
	char *err = NULL;

	if (yml_save(root, &out, &err) < 0) {
		error("%s", err);
		free(err);
		exit(1);
	}
	fwrite(out.buf, 1, out.len, stdout);
	buf_release(&out);
}

static const char *
kind_name(const struct yml_node *n)
{
	static const char *const names[] = {
		[YML_KIND_NULL] = "null", [YML_KIND_BOOL] = "bool",
		[YML_KIND_INT] = "int", [YML_KIND_FLOAT] = "float",
		[YML_KIND_STRING] = "str",
	};

	if (n->type == YML_MAPPING)
		return "map";
	if (n->type == YML_SEQUENCE)
		return "seq";
	return names[yml_scalar_kind(n)];
}

static void
tree(const struct yml_node *n, const char *path)
{
	size_t i;
	char *sub;

	printf("%s %s %u:%u%s%s\n", *path ? path : ".", kind_name(n), n->line,
	    n->col, n->text ? " " : "", n->text ? n->text : "");
	for (i = 0; i < n->nr; i++) {
		if (n->type == YML_SEQUENCE) {
			sub = xasprintf("%s%s%zu", path, *path ? "." : "", i);
			tree(n->items[i], sub);
		} else {
			const struct yml_node *k = n->pairs[i].key;

			sub = xasprintf("%s%s%s", path, *path ? "." : "",
			    k->text);
			printf("%s key %u:%u\n", sub, k->line, k->col);
			tree(n->pairs[i].value, sub);
		}
		free(sub);
	}
}

static int
cmd_get(struct yml_node *root, const char *path, const char *as)
{
	struct yml_node *n = yml_lookup(root, path);
	long l;
	double d;
	int b;

	if (!n)
		return error("'%s' not found", path);
	if (!as) {
		printf("%s %u:%u %s\n", kind_name(n), n->line, n->col,
		    n->text ? n->text : "");
	} else if (!strcmp(as, "long")) {
		if (yml_long(n, &l) < 0)
			return error_errno("'%s' is not a long", path);
		printf("%ld\n", l);
	} else if (!strcmp(as, "double")) {
		if (yml_double(n, &d) < 0)
			return error_errno("'%s' is not a double", path);
		printf("%g\n", d);
	} else if (!strcmp(as, "bool")) {
		if (yml_bool(n, &b) < 0)
			return error_errno("'%s' is not a bool", path);
		printf("%s\n", b ? "true" : "false");
	} else
		return error("unknown type '%s'", as);
	return 0;
}

/* Split PATH into the parent node and the last key. */
static struct yml_node *
parent_of(struct yml_node *root, const char *path, const char **last)
{
	char *copy = xstrdup(path), *dot = strrchr(copy, '.');
	struct yml_node *parent = root;

	*last = path;
	if (dot) {
		*dot = '\0';
		parent = yml_lookup(root, copy);
		*last = path + (dot - copy) + 1;
	}
	free(copy);
	if (!parent || parent->type != YML_MAPPING)
		die("the parent of '%s' is not a mapping", path);
	return parent;
}

static int fails;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		fails++;						\
	}								\
} while (0)

static void
unit_kinds(void)
{
	static const struct {
		const char *text;
		enum yml_kind kind;
		int plain_string, canonical;
	} cases[] = {
		{ "", YML_KIND_NULL, 0, 0 },
		{ "~", YML_KIND_NULL, 0, 0 },
		{ "null", YML_KIND_NULL, 0, 0 },
		{ "true", YML_KIND_BOOL, 0, 1 },
		{ "False", YML_KIND_BOOL, 0, 0 },
		{ "yes", YML_KIND_BOOL, 0, 0 },
		{ "OFF", YML_KIND_BOOL, 0, 0 },
		{ "5", YML_KIND_INT, 0, 1 },
		{ "-12", YML_KIND_INT, 0, 1 },
		{ "007", YML_KIND_INT, 0, 0 },
		{ "+3", YML_KIND_INT, 0, 0 },
		{ "0x1F", YML_KIND_INT, 0, 0 },
		{ "0o17", YML_KIND_INT, 0, 0 },
		{ "1.5", YML_KIND_FLOAT, 0, 1 },
		{ "-0.25", YML_KIND_FLOAT, 0, 1 },
		{ "1e3", YML_KIND_FLOAT, 0, 0 },
		{ "1.5e+3", YML_KIND_FLOAT, 0, 1 },
		{ ".5", YML_KIND_FLOAT, 0, 0 },
		{ "-.inf", YML_KIND_FLOAT, 0, 0 },
		{ ".NaN", YML_KIND_FLOAT, 0, 0 },
		{ "hello", YML_KIND_STRING, 1, 0 },
		{ "/tmp/x", YML_KIND_STRING, 1, 0 },
		{ "1_000", YML_KIND_STRING, 0, 0 },
		{ "0b101", YML_KIND_STRING, 0, 0 },
		{ "1:30", YML_KIND_STRING, 0, 0 },
		{ "2024-01-31", YML_KIND_STRING, 0, 0 },
		{ "y", YML_KIND_STRING, 1, 0 },
		{ "<<", YML_KIND_STRING, 0, 0 },
		{ "1.2.3", YML_KIND_STRING, 0, 0 },
		{ "10 apples", YML_KIND_STRING, 1, 0 },
		{ "yesterday", YML_KIND_STRING, 1, 0 },
		{ "0x", YML_KIND_STRING, 0, 0 },
		{ "e5", YML_KIND_STRING, 1, 0 },
		{ ".", YML_KIND_STRING, 0, 0 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *t = cases[i].text;

		if (yml_plain_kind(t) != cases[i].kind ||
		    yml_plain_is_string(t) != cases[i].plain_string ||
		    yml_plain_is_canonical(t) != cases[i].canonical) {
			fprintf(stderr, "scalar rules wrong for '%s': kind %d "
			    "string %d canonical %d\n", t, yml_plain_kind(t),
			    yml_plain_is_string(t), yml_plain_is_canonical(t));
			fails++;
		}
	}
}

static void
unit_accessors(void)
{
	struct yml_node *n = yml_new_scalar("x", YML_PLAIN);
	long l;
	double d;
	int b;

#define SET(t) do { free(n->text); n->text = xstrdup(t); } while (0)
	SET("-42");
	CHECK(!yml_long(n, &l) && l == -42);
	SET("0x10");
	CHECK(!yml_long(n, &l) && l == 16);
	SET("0o17");
	CHECK(!yml_long(n, &l) && l == 15);
	SET("9223372036854775807");
	CHECK(!yml_long(n, &l) && l == 9223372036854775807L);
	SET("-9223372036854775808");
	CHECK(!yml_long(n, &l) && l == -9223372036854775807L - 1);
	SET("9223372036854775808");
	CHECK(yml_long(n, &l) < 0 && errno == ERANGE);
	CHECK(!yml_double(n, &d) && d > 9.2e18);
	SET("1.5");
	CHECK(yml_long(n, &l) < 0 && errno == EINVAL);
	CHECK(!yml_double(n, &d) && d == 1.5);
	SET("-.inf");
	CHECK(!yml_double(n, &d) && isinf(d) && d < 0);
	SET(".nan");
	CHECK(!yml_double(n, &d) && isnan(d));
	SET("1e400");
	CHECK(yml_double(n, &d) < 0 && errno == ERANGE);
	SET("inf");
	CHECK(yml_double(n, &d) < 0 && errno == EINVAL);
	SET(" 5");
	CHECK(yml_long(n, &l) < 0 && errno == EINVAL);
	SET("On");
	CHECK(!yml_bool(n, &b) && b == 1);
	SET("no");
	CHECK(!yml_bool(n, &b) && b == 0);
	SET("nope");
	CHECK(yml_bool(n, &b) < 0 && errno == EINVAL);
	/* Quoting does not matter to the accessors, only to the kind. */
	n->style = YML_DOUBLE_QUOTED;
	SET("12");
	CHECK(!yml_long(n, &l) && l == 12);
	CHECK(yml_scalar_kind(n) == YML_KIND_STRING);
#undef SET
	yml_free(n);
}

/* Build a tree in code, save it, load it back, compare. */
static void
unit_build(void)
{
	struct yml_node *root = yml_new_mapping(), *sec, *seq, *back = NULL;
	struct buf out = BUF_INIT;
	char *err = NULL;

	sec = yml_set(root, "zeta", yml_new_mapping());
	yml_set_scalar(sec, "n", "5", YML_PLAIN);
	yml_set_scalar(sec, "s", "5", YML_SINGLE_QUOTED);
	yml_set_scalar(sec, "e", "", YML_SINGLE_QUOTED);
	yml_set_scalar(sec, "multi", "line one\nline two\n", YML_LITERAL);
	yml_set_scalar(sec, "colon", "a: b", YML_PLAIN);
	yml_set_scalar(sec, "tab", "a\tb", YML_DOUBLE_QUOTED);
	seq = yml_set(root, "alpha", yml_new_sequence());
	yml_append(seq, yml_new_scalar("yes", YML_SINGLE_QUOTED));
	yml_append(seq, yml_new_scalar("true", YML_PLAIN));
	yml_set(root, "5", yml_new_mapping());
	CHECK(yml_save(root, &out, &err) == 0);
	CHECK(yml_load_string(out.buf, out.len, "built", &back, &err) == 0);
	if (!back) {
		fprintf(stderr, "reload failed: %s\n%s", err, out.buf);
		fails++;
		goto out;
	}
	CHECK(back->pairs[0].key->text[0] == 'z');
	CHECK(yml_scalar_kind(yml_lookup(back, "zeta.n")) == YML_KIND_INT);
	CHECK(yml_scalar_kind(yml_lookup(back, "zeta.s")) == YML_KIND_STRING);
	CHECK(!strcmp(yml_text(yml_lookup(back, "zeta.s")), "5"));
	CHECK(yml_scalar_kind(yml_lookup(back, "zeta.e")) == YML_KIND_STRING);
	CHECK(!strcmp(yml_text(yml_lookup(back, "zeta.multi")),
	    "line one\nline two\n"));
	CHECK(!strcmp(yml_text(yml_lookup(back, "zeta.colon")), "a: b"));
	CHECK(!strcmp(yml_text(yml_lookup(back, "zeta.tab")), "a\tb"));
	CHECK(yml_scalar_kind(yml_lookup(back, "alpha.0")) == YML_KIND_STRING);
	CHECK(yml_scalar_kind(yml_lookup(back, "alpha.1")) == YML_KIND_BOOL);
	CHECK(yml_lookup(back, "alpha.2") == NULL);
	CHECK(yml_get(back, "5") && yml_get(back, "5")->type == YML_MAPPING);
	CHECK(yml_delete(back, "alpha") == 1 && yml_delete(back, "alpha") == 0);
	CHECK(back->nr == 2);
out:
	free(err);
	buf_release(&out);
	yml_free(back);
	yml_free(root);
}

static void
unit_dup(void)
{
	struct yml_node *a = NULL, *b;
	struct buf x = BUF_INIT, y = BUF_INIT;
	const char *text = "a: [1, '2', {b: c}]\nd: |\n  text\n";

	CHECK(yml_load_string(text, strlen(text), "dup", &a, NULL) == 0);
	b = yml_dup(a);
	CHECK(yml_save(a, &x, NULL) == 0 && yml_save(b, &y, NULL) == 0);
	CHECK(!strcmp(x.buf, y.buf));
	CHECK(yml_lookup(b, "a.2.b")->line == 1);
	buf_release(&x);
	buf_release(&y);
	yml_free(a);
	yml_free(b);
}

static int
unit(void)
{
	unit_kinds();
	unit_accessors();
	unit_build();
	unit_dup();
	if (fails)
		return error("%d checks failed", fails);
	printf("ok\n");
	return 0;
}

int
main(int argc, char **argv)
{
	struct yml_node *root, *parent;
	const char *last;
	int ret = 0;

	log_init(argv[0]);
	if (argc == 2 && !strcmp(argv[1], "unit"))
		return unit() ? 1 : log_close_stdout();
	if (argc < 3)
		die("usage: test-yml save|tree|get|set|delete FILE ...");
	root = load(argv[2]);
	if (!strcmp(argv[1], "save") && argc == 3)
		save(root);
	else if (!strcmp(argv[1], "tree") && argc == 3) {
		if (root)
			tree(root, "");
		else
			printf("empty\n");
	} else if (!strcmp(argv[1], "get") && (argc == 4 || argc == 5))
		ret = cmd_get(root, argv[3], argc == 5 ? argv[4] : NULL);
	else if (!strcmp(argv[1], "set") && (argc == 5 || argc == 6)) {
		parent = parent_of(root, argv[3], &last);
		yml_set_scalar(parent, last, argv[4],
		    argc == 6 && !strcmp(argv[5], "string") ?
		    YML_DOUBLE_QUOTED : YML_PLAIN);
		save(root);
	} else if (!strcmp(argv[1], "delete") && argc == 4) {
		parent = parent_of(root, argv[3], &last);
		if (!yml_delete(parent, last))
			ret = error("'%s' not found", argv[3]);
		else
			save(root);
	} else
		die("usage: test-yml save|tree|get|set|delete FILE ...");
	yml_free(root);
	if (ret < 0)
		return 1;
	return log_close_stdout();
}
