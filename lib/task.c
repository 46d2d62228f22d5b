#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "data.h"
#include "path.h"
#include "registry.h"
#include "task.h"
#include "xalloc.h"
#include "yml.h"
#include "banned.h"

/*
 * The keys of a task configuration, in the order they are written out.
 * Each names its field in struct task_config and how its value is read.
 */

enum key_type {
	K_STR,		/* any scalar, as text */
	K_TYPE,		/* a name from lib/registry */
	K_TAGS,		/* a string, or a list of strings joined with ',' */
	K_INT,
	K_FLOAT,
	K_BOOL,
	K_PORT,		/* 0..65535, as a number or a string of digits */
	K_FILE,		/* a path to a readable file */
	K_DIR,		/* a path to a folder */
	K_OBJECT,	/* a mapping, kept as JSON */
	K_QUALS,	/* a list of qualification entries */
};

enum key_flags {
	KF_REQUIRED = 1 << 0,
	KF_NONNEG = 1 << 1,	/* numbers: >= 0 */
	KF_POSITIVE = 1 << 2,	/* numbers: >= 1 */
};

struct key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t off;
	const char *def;	/* default, as YAML text; NULL: none */
	unsigned flags;
	enum registry_kind reg;	/* K_TYPE */
};

#define F(field) offsetof(struct task_config, field)
#define RB REGISTRY_BLUEPRINT

static const struct key keys[] = {
	{ "task", "task_name", K_STR, F(task_name), NULL, 0, RB },
	{ "task", "task_title", K_STR, F(task_title), NULL, KF_REQUIRED, RB },
	{ "task", "task_description", K_STR, F(task_description), NULL,
	  KF_REQUIRED, RB },
	{ "task", "task_reward", K_FLOAT, F(task_reward), NULL,
	  KF_REQUIRED | KF_NONNEG, RB },
	{ "task", "task_tags", K_TAGS, F(task_tags), NULL, KF_REQUIRED, RB },
	{ "task", "task_lifetime_in_seconds", K_INT,
	  F(task_lifetime_in_seconds), "2678400", KF_POSITIVE, RB },
	{ "task", "assignment_duration_in_seconds", K_INT,
	  F(assignment_duration_in_seconds), "1800", KF_POSITIVE, RB },
	{ "task", "allowed_concurrent", K_INT, F(allowed_concurrent), "0",
	  KF_NONNEG, RB },
	{ "task", "maximum_units_per_worker", K_INT,
	  F(maximum_units_per_worker), "0", KF_NONNEG, RB },
	{ "task", "max_num_concurrent_units", K_INT,
	  F(max_num_concurrent_units), "0", KF_NONNEG, RB },
	{ "task", "submission_timeout", K_INT, F(submission_timeout), "600",
	  KF_NONNEG, RB },
	{ "task", "no_submission_patience", K_INT, F(no_submission_patience),
	  "43200", KF_POSITIVE, RB },
	{ "task", "resume_incomplete_run", K_BOOL, F(resume_incomplete_run),
	  "false", 0, RB },
	{ "task", "post_install_script", K_STR, F(post_install_script), "",
	  0, RB },
	{ "task", "force_rebuild", K_BOOL, F(force_rebuild), "false", 0, RB },
	{ "task", "qualifications", K_QUALS, F(qualifications), NULL, 0, RB },

	{ "blueprint", "_blueprint_type", K_TYPE, F(blueprint_type), NULL,
	  KF_REQUIRED, REGISTRY_BLUEPRINT },
	{ "blueprint", "task_source", K_FILE, F(task_source), NULL,
	  KF_REQUIRED, RB },
	{ "blueprint", "preview_source", K_FILE, F(preview_source), NULL, 0,
	  RB },
	{ "blueprint", "onboarding_source", K_FILE, F(onboarding_source),
	  NULL, 0, RB },
	{ "blueprint", "onboarding_qualification", K_STR,
	  F(onboarding_qualification), NULL, 0, RB },
	{ "blueprint", "onboarding_answers", K_OBJECT, F(onboarding_answers),
	  NULL, 0, RB },
	{ "blueprint", "onboarding_validator", K_STR,
	  F(onboarding_validator), NULL, 0, RB },
	{ "blueprint", "onboarding_validator_timeout", K_FLOAT,
	  F(onboarding_validator_timeout), "10", KF_POSITIVE, RB },
	{ "blueprint", "onboarding_data", K_OBJECT, F(onboarding_data), NULL,
	  0, RB },
	{ "blueprint", "block_qualification", K_STR, F(block_qualification),
	  NULL, 0, RB },
	{ "blueprint", "data_csv", K_FILE, F(data_csv), NULL, 0, RB },
	{ "blueprint", "data_json", K_FILE, F(data_json), NULL, 0, RB },
	{ "blueprint", "data_jsonl", K_FILE, F(data_jsonl), NULL, 0, RB },
	{ "blueprint", "units_per_assignment", K_INT, F(units_per_assignment),
	  "1", KF_POSITIVE, RB },
	{ "blueprint", "extra_source_dir", K_DIR, F(extra_source_dir), NULL,
	  0, RB },
	{ "blueprint", "runner", K_STR, F(runner), NULL, 0, RB },
	{ "blueprint", "runner_dir", K_DIR, F(runner_dir), NULL, 0, RB },
	{ "blueprint", "runner_timeout_seconds", K_FLOAT,
	  F(runner_timeout_seconds), "30", KF_POSITIVE, RB },
	{ "blueprint", "quorum_timeout_seconds", K_FLOAT,
	  F(quorum_timeout_seconds), "300", KF_POSITIVE, RB },
	{ "blueprint", "shared_runner", K_BOOL, F(shared_runner), "false", 0,
	  RB },
	{ "blueprint", "use_screening_task", K_BOOL, F(use_screening_task),
	  "false", 0, RB },
	{ "blueprint", "passed_qualification_name", K_STR,
	  F(passed_qualification_name), NULL, 0, RB },
	{ "blueprint", "max_screening_units", K_INT, F(max_screening_units),
	  "0", KF_NONNEG, RB },
	{ "blueprint", "screening_data", K_OBJECT, F(screening_data), NULL, 0,
	  RB },
	{ "blueprint", "screening_answers", K_OBJECT, F(screening_answers),
	  NULL, 0, RB },
	{ "blueprint", "screening_validator", K_STR, F(screening_validator),
	  NULL, 0, RB },
	{ "blueprint", "screening_validator_timeout", K_FLOAT,
	  F(screening_validator_timeout), "10", KF_POSITIVE, RB },
	{ "blueprint", "use_golds", K_BOOL, F(use_golds), "false", 0, RB },
	{ "blueprint", "gold_qualification_base", K_STR,
	  F(gold_qualification_base), NULL, 0, RB },
	{ "blueprint", "max_gold_units", K_INT, F(max_gold_units), "0",
	  KF_NONNEG, RB },
	{ "blueprint", "min_golds", K_INT, F(min_golds), "1", KF_NONNEG, RB },
	{ "blueprint", "max_incorrect_golds", K_INT, F(max_incorrect_golds),
	  "0", KF_NONNEG, RB },
	{ "blueprint", "gold_units", K_OBJECT, F(gold_units), NULL, 0, RB },

	{ "provider", "_provider_type", K_TYPE, F(provider_type), NULL,
	  KF_REQUIRED, REGISTRY_PROVIDER },
	{ "provider", "requester_name", K_STR, F(requester_name), NULL, 0,
	  RB },
	{ "provider", "prolific_workspace_name", K_STR,
	  F(prolific_workspace_name), "My Workspace", 0, RB },
	{ "provider", "prolific_project_name", K_STR,
	  F(prolific_project_name), "Project", 0, RB },
	{ "provider", "prolific_estimated_completion_time_in_minutes", K_INT,
	  F(prolific_estimated_completion_time_in_minutes), "5", KF_POSITIVE,
	  RB },

	{ "architect", "_architect_type", K_TYPE, F(architect_type), "local",
	  0, REGISTRY_ARCHITECT },
	{ "architect", "hostname", K_STR, F(hostname), "localhost", 0, RB },
	{ "architect", "port", K_PORT, F(port), "3000", 0, RB },
	{ "architect", "bind", K_STR, F(bind), NULL, 0, RB },
	{ "architect", "public_url", K_STR, F(public_url), NULL, 0, RB },
	{ "architect", "metrics_port", K_PORT, F(metrics_port), "0", 0, RB },
};

#define NKEYS ARRAY_SIZE(keys)

static const char *const sections[] = {
	"task", "blueprint", "provider", "architect",
};

static const char *const comparators[] = {
	"GreaterThan", "GreaterThanOrEqualTo", "LessThan",
	"LessThanOrEqualTo", "EqualTo", "NotEqualTo", "Exists",
	"DoesNotExist", "In", "NotIn",
};

/* Provider names a qualification may be limited to (facts 1.3). */
static const char *const provider_types[] = {
	"mock", "mturk", "mturk_sandbox", "prolific", "inhouse",
};

int
task_comparator_valid(const char *comparator)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(comparators); i++)
		if (!strcmp(comparators[i], comparator))
			return 1;
	return 0;
}

/* Where a value came from: a line of the file, or a command-line word. */
struct origin {
	unsigned line;		/* 0: unknown */
	const char *arg;	/* the override, or NULL */
};

struct load {
	struct task_config *cfg;
	const char *file;	/* as named by the user */
	char *dir;		/* absolute folder of the file */
	char *cwd;		/* for paths in overrides */
	struct problems *problems;
	size_t nproblems;	/* problems->nr when loading started */
	int set[NKEYS];		/* the key was given */
	struct origin org[NKEYS];
	unsigned section_line[ARRAY_SIZE(sections)];
};

static void report(struct load *ld, const struct origin *o,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
report(struct load *ld, const struct origin *o, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (o && o->arg)
		problems_add(ld->problems, "command line", 0, "'%s': %s",
		    o->arg, b.buf);
	else
		problems_add(ld->problems, ld->file ? ld->file : "config",
		    o ? o->line : 0, "%s", b.buf);
	buf_release(&b);
}

static void *
field(struct task_config *cfg, const struct key *k)
{
	return (char *)cfg + k->off;
}

static const void *
cfield(const struct task_config *cfg, const struct key *k)
{
	return (const char *)cfg + k->off;
}

static void
free_quals(struct task_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nr_qualifications; i++) {
		free(cfg->qualifications[i].name);
		free(cfg->qualifications[i].comparator);
		cJSON_Delete(cfg->qualifications[i].value);
		cJSON_Delete(cfg->qualifications[i].providers);
	}
	free(cfg->qualifications);
	cfg->qualifications = NULL;
	cfg->nr_qualifications = 0;
}

/* Free the value of K in CFG and reset it to zero. */
static void
clear_key(struct task_config *cfg, const struct key *k)
{
	switch (k->type) {
	case K_STR:
	case K_TYPE:
	case K_TAGS:
	case K_FILE:
	case K_DIR: {
		char **s = field(cfg, k);

		free(*s);
		*s = NULL;
		break;
	}
	case K_OBJECT: {
		cJSON **v = field(cfg, k);

		cJSON_Delete(*v);
		*v = NULL;
		break;
	}
	case K_QUALS:
		free_quals(cfg);
		break;
	case K_INT:
		*(long *)field(cfg, k) = 0;
		break;
	case K_FLOAT:
		*(double *)field(cfg, k) = 0;
		break;
	case K_BOOL:
	case K_PORT:
		*(int *)field(cfg, k) = 0;
		break;
	}
}

void
task_config_release(struct task_config *cfg)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		clear_key(cfg, &keys[i]);
	free(cfg->file);
	memset(cfg, 0, sizeof(*cfg));
}

static const struct key *
find_key(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].section, section) &&
		    !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static int
section_index(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sections); i++)
		if (!strcmp(sections[i], name))
			return (int)i;
	return -1;
}

/* --- YAML values to JSON --- */

static cJSON *
yml_to_json(const struct yml_node *n)
{
	cJSON *v;
	size_t i;
	double d;
	int b;

	if (!n)
		return cJSON_CreateNull();
	switch (n->type) {
	case YML_SCALAR:
		switch (yml_scalar_kind(n)) {
		case YML_KIND_NULL:
			return cJSON_CreateNull();
		case YML_KIND_BOOL:
			yml_bool(n, &b);
			return cJSON_CreateBool(b);
		case YML_KIND_INT:
		case YML_KIND_FLOAT:
			if (!yml_double(n, &d) && isfinite(d))
				return cJSON_CreateNumber(d);
			return cJSON_CreateString(n->text);
		case YML_KIND_STRING:
			return cJSON_CreateString(n->text);
		}
		break;
	case YML_SEQUENCE:
		v = cJSON_CreateArray();
		for (i = 0; i < n->nr; i++)
			cJSON_AddItemToArray(v, yml_to_json(n->items[i]));
		return v;
	case YML_MAPPING:
		v = cJSON_CreateObject();
		for (i = 0; i < n->nr; i++)
			cJSON_AddItemToObject(v, n->pairs[i].key->text,
			    yml_to_json(n->pairs[i].value));
		return v;
	}
	return cJSON_CreateNull();
}

static int
is_null(const struct yml_node *n)
{
	return !n || (n->type == YML_SCALAR &&
	    yml_scalar_kind(n) == YML_KIND_NULL);
}

/* --- reading one value --- */

static char *
resolve_path(struct load *ld, const struct origin *o, const char *p)
{
	char *expanded = path_expand_home(p), *abs;

	if (expanded[0] == '/')
		return expanded;
	abs = path_join(o->arg ? ld->cwd : ld->dir, expanded);
	free(expanded);
	return abs;
}

static int
check_number(struct load *ld, const struct key *k, const struct origin *o,
    double v)
{
	if ((k->flags & KF_POSITIVE) && v < 1) {
		report(ld, o, "%s.%s must be at least 1", k->section, k->name);
		return -1;
	}
	if ((k->flags & KF_NONNEG) && v < 0) {
		report(ld, o, "%s.%s must not be negative", k->section,
		    k->name);
		return -1;
	}
	return 0;
}

static int
wrong_type(struct load *ld, const struct key *k, const struct origin *o,
    const char *want, const struct yml_node *n)
{
	report(ld, o, "%s.%s must be %s, not %s", k->section, k->name, want,
	    yml_describe(n));
	return -1;
}

static int
read_tags(struct load *ld, const struct key *k, const struct origin *o,
    const struct yml_node *n, char **out)
{
	struct buf b = BUF_INIT;
	size_t i;

	if (n->type == YML_SCALAR) {
		*out = xstrdup(n->text);
		return 0;
	}
	if (n->type != YML_SEQUENCE)
		return wrong_type(ld, k, o, "a string or a list of strings", n);
	for (i = 0; i < n->nr; i++) {
		if (n->items[i]->type != YML_SCALAR) {
			buf_release(&b);
			return wrong_type(ld, k, o, "a list of strings",
			    n->items[i]);
		}
		if (i)
			buf_addch(&b, ',');
		buf_addstr(&b, n->items[i]->text);
	}
	*out = buf_detach(&b, NULL);
	return 0;
}

static void
qual_origin_line(const struct yml_node *n, struct origin *o,
    const struct origin *parent)
{
	o->arg = parent->arg;
	o->line = n && n->line ? n->line : parent->line;
}

/* Check the value of a qualification entry against its comparator. */
static int
check_qual_value(struct load *ld, const struct origin *o, size_t idx,
    const char *cmp, const struct yml_node *v)
{
	size_t i;

	if (!strcmp(cmp, "Exists") || !strcmp(cmp, "DoesNotExist")) {
		if (!is_null(v)) {
			report(ld, o, "task.qualifications[%zu]: a %s "
			    "qualification takes no value", idx, cmp);
			return -1;
		}
		return 0;
	}
	if (!strcmp(cmp, "In") || !strcmp(cmp, "NotIn")) {
		if (!v || v->type != YML_SEQUENCE) {
			report(ld, o, "task.qualifications[%zu]: the value of "
			    "a %s qualification must be a list, not %s", idx,
			    cmp, yml_describe(v));
			return -1;
		}
		for (i = 0; i < v->nr; i++)
			if (v->items[i]->type != YML_SCALAR ||
			    yml_scalar_kind(v->items[i]) != YML_KIND_INT) {
				report(ld, o, "task.qualifications[%zu]: the "
				    "values of a %s qualification must be "
				    "integers", idx, cmp);
				return -1;
			}
		return 0;
	}
	if (!v || v->type != YML_SCALAR ||
	    yml_scalar_kind(v) != YML_KIND_INT) {
		report(ld, o, "task.qualifications[%zu]: the value of a %s "
		    "qualification must be an integer, not %s", idx, cmp,
		    yml_describe(v));
		return -1;
	}
	return 0;
}

static int
check_qual_providers(struct load *ld, const struct origin *o, size_t idx,
    const struct yml_node *p)
{
	size_t i, j;

	if (is_null(p))
		return 0;
	if (p->type != YML_SEQUENCE) {
		report(ld, o, "task.qualifications[%zu].applicable_providers "
		    "must be a list, not %s", idx, yml_describe(p));
		return -1;
	}
	for (i = 0; i < p->nr; i++) {
		const char *t = yml_text(p->items[i]);

		for (j = 0; t && j < ARRAY_SIZE(provider_types); j++)
			if (!strcmp(t, provider_types[j]))
				break;
		if (!t || j == ARRAY_SIZE(provider_types)) {
			report(ld, o, "task.qualifications[%zu]: unknown "
			    "provider '%s' in applicable_providers", idx,
			    t ? t : yml_describe(p->items[i]));
			return -1;
		}
	}
	return 0;
}

/* Read one qualification entry; returns 0 and fills Q, or -1. */
static int
read_qual(struct load *ld, const struct origin *parent, size_t idx,
    const struct yml_node *n, struct task_qualification *q)
{
	const struct yml_node *name, *cmp, *val, *prov;
	struct origin o;
	int bad = 0;
	size_t i;

	qual_origin_line(n, &o, parent);
	if (n->type != YML_MAPPING) {
		report(ld, &o, "task.qualifications[%zu] must be a mapping, "
		    "not %s", idx, yml_describe(n));
		return -1;
	}
	for (i = 0; i < n->nr; i++) {
		const char *kname = n->pairs[i].key->text;

		if (strcmp(kname, "qualification_name") &&
		    strcmp(kname, "comparator") && strcmp(kname, "value") &&
		    strcmp(kname, "applicable_providers")) {
			struct origin ko;

			qual_origin_line(n->pairs[i].key, &ko, parent);
			report(ld, &ko, "unknown key 'task.qualifications[%zu]."
			    "%s'", idx, kname);
			bad = 1;
		}
	}
	name = yml_get(n, "qualification_name");
	cmp = yml_get(n, "comparator");
	val = yml_get(n, "value");
	prov = yml_get(n, "applicable_providers");
	if (is_null(name) || name->type != YML_SCALAR || !*name->text) {
		report(ld, &o, "task.qualifications[%zu] needs a "
		    "qualification_name", idx);
		bad = 1;
	}
	if (is_null(cmp) || cmp->type != YML_SCALAR) {
		report(ld, &o, "task.qualifications[%zu] needs a comparator",
		    idx);
		bad = 1;
	} else if (!task_comparator_valid(cmp->text)) {
		qual_origin_line(cmp, &o, parent);
		report(ld, &o, "task.qualifications[%zu]: unknown comparator "
		    "'%s'", idx, cmp->text);
		bad = 1;
	} else if (check_qual_value(ld, &o, idx, cmp->text, val) < 0) {
		bad = 1;
	}
	if (check_qual_providers(ld, &o, idx, prov) < 0)
		bad = 1;
	if (bad)
		return -1;
	q->name = xstrdup(name->text);
	q->comparator = xstrdup(cmp->text);
	q->value = is_null(val) ? NULL : yml_to_json(val);
	q->providers = is_null(prov) ? NULL : yml_to_json(prov);
	return 0;
}

static int
read_quals(struct load *ld, const struct key *k, const struct origin *o,
    const struct yml_node *n)
{
	struct task_config *cfg = ld->cfg;
	struct task_qualification *q;
	size_t i, nr = 0;
	int bad = 0;

	if (n->type != YML_SEQUENCE)
		return wrong_type(ld, k, o, "a list", n);
	q = xcalloc(n->nr ? n->nr : 1, sizeof(*q));
	for (i = 0; i < n->nr; i++) {
		if (read_qual(ld, o, i, n->items[i], &q[nr]) < 0)
			bad = 1;
		else
			nr++;
	}
	free_quals(cfg);
	cfg->qualifications = q;
	cfg->nr_qualifications = nr;
	return bad ? -1 : 0;
}

/*
 * Store node N as the value of K.  A null value unsets the key.  Returns
 * 0, or -1 after reporting the problem (the key then counts as given, so
 * that it is not also reported missing).
 */
static int
set_key(struct load *ld, const struct key *k, const struct origin *o,
    const struct yml_node *n)
{
	struct task_config *cfg = ld->cfg;
	long l;
	double d;
	int b;

	ld->set[k - keys] = 1;
	ld->org[k - keys] = *o;
	clear_key(cfg, k);
	if (is_null(n)) {
		ld->set[k - keys] = 0;
		return 0;
	}
	switch (k->type) {
	case K_STR:
	case K_TYPE:
		if (n->type != YML_SCALAR)
			return wrong_type(ld, k, o, "a string", n);
		*(char **)field(cfg, k) = xstrdup(n->text);
		return 0;
	case K_TAGS:
		return read_tags(ld, k, o, n, field(cfg, k));
	case K_FILE:
	case K_DIR:
		if (n->type != YML_SCALAR)
			return wrong_type(ld, k, o, "a path", n);
		if (!*n->text) {
			report(ld, o, "%s.%s is an empty path", k->section,
			    k->name);
			return -1;
		}
		*(char **)field(cfg, k) = resolve_path(ld, o, n->text);
		return 0;
	case K_INT:
		if (n->type != YML_SCALAR ||
		    yml_scalar_kind(n) != YML_KIND_INT)
			return wrong_type(ld, k, o, "an integer", n);
		if (yml_long(n, &l) < 0) {
			report(ld, o, "%s.%s is out of range", k->section,
			    k->name);
			return -1;
		}
		if (check_number(ld, k, o, (double)l) < 0)
			return -1;
		*(long *)field(cfg, k) = l;
		return 0;
	case K_FLOAT:
		if (n->type != YML_SCALAR ||
		    (yml_scalar_kind(n) != YML_KIND_INT &&
		    yml_scalar_kind(n) != YML_KIND_FLOAT) ||
		    yml_double(n, &d) < 0 || !isfinite(d))
			return wrong_type(ld, k, o, "a number", n);
		if (check_number(ld, k, o, d) < 0)
			return -1;
		*(double *)field(cfg, k) = d;
		return 0;
	case K_BOOL:
		if (n->type != YML_SCALAR ||
		    yml_scalar_kind(n) != YML_KIND_BOOL ||
		    yml_bool(n, &b) < 0)
			return wrong_type(ld, k, o, "true or false", n);
		*(int *)field(cfg, k) = b;
		return 0;
	case K_PORT:
		if (n->type != YML_SCALAR || yml_long(n, &l) < 0 ||
		    strspn(n->text, "0123456789") != strlen(n->text))
			return wrong_type(ld, k, o, "a port number", n);
		if (l > 65535) {
			report(ld, o, "%s.%s must be between 0 and 65535",
			    k->section, k->name);
			return -1;
		}
		*(int *)field(cfg, k) = (int)l;
		return 0;
	case K_OBJECT:
		if (n->type != YML_MAPPING)
			return wrong_type(ld, k, o, "a mapping", n);
		*(cJSON **)field(cfg, k) = yml_to_json(n);
		return 0;
	case K_QUALS:
		return read_quals(ld, k, o, n);
	}
	return 0;
}

/* --- the file --- */

static void
read_section(struct load *ld, const char *section,
    const struct yml_node *map)
{
	const struct key *k;
	struct origin o = { 0, NULL };
	size_t i;

	if (is_null(map))
		return;
	if (map->type != YML_MAPPING) {
		o.line = map->line;
		report(ld, &o, "section '%s' must be a mapping, not %s",
		    section, yml_describe(map));
		return;
	}
	for (i = 0; i < map->nr; i++) {
		const struct yml_pair *p = &map->pairs[i];

		o.line = p->key->line;
		k = find_key(section, p->key->text);
		if (!k) {
			report(ld, &o, "unknown key '%s.%s'", section,
			    p->key->text);
			continue;
		}
		if (p->value && p->value->line)
			o.line = p->value->line;
		set_key(ld, k, &o, p->value);
	}
}

static int
read_file(struct load *ld, const char *path)
{
	struct yml_node *root = NULL;
	struct origin o = { 0, NULL };
	char *err = NULL;
	size_t i;
	int s;

	if (yml_load_file(path, &root, &err) < 0) {
		problems_addstr(ld->problems, err);
		free(err);
		return -1;
	}
	if (!root) {
		report(ld, NULL, "the file is empty");
		return -1;
	}
	if (root->type != YML_MAPPING) {
		o.line = root->line;
		report(ld, &o, "expected a mapping of sections (task, "
		    "blueprint, provider, architect), not %s",
		    yml_describe(root));
		yml_free(root);
		return -1;
	}
	for (i = 0; i < root->nr; i++) {
		const struct yml_pair *p = &root->pairs[i];

		s = section_index(p->key->text);
		if (s < 0) {
			o.line = p->key->line;
			report(ld, &o, "unknown section '%s' (expected task, "
			    "blueprint, provider or architect)",
			    p->key->text);
			continue;
		}
		ld->section_line[s] = p->key->line;
		read_section(ld, sections[s], p->value);
	}
	yml_free(root);
	return 0;
}

/* --- overrides --- */

static void
apply_override(struct load *ld, const char *arg)
{
	struct origin o = { 0, arg };
	const char *eq = strchr(arg, '='), *dot;
	struct yml_node *n = NULL;
	const struct key *k;
	char *section, *name, *err = NULL;

	dot = strchr(arg, '.');
	if (!eq || !dot || dot > eq) {
		report(ld, &o, "expected SECTION.KEY=VALUE");
		return;
	}
	section = xstrndup(arg, (size_t)(dot - arg));
	name = xstrndup(dot + 1, (size_t)(eq - dot - 1));
	k = find_key(section, name);
	if (!k) {
		report(ld, &o, "unknown key '%s.%s'", section, name);
		goto out;
	}
	if (k->type == K_OBJECT || k->type == K_QUALS || k->type == K_TAGS) {
		if (yml_load_string(eq + 1, strlen(eq + 1), "command line", &n,
		    &err) < 0) {
			report(ld, &o, "%s", err);
			goto out;
		}
	} else {
		n = yml_new_scalar(eq + 1, YML_PLAIN);
	}
	set_key(ld, k, &o, n);
out:
	yml_free(n);
	free(err);
	free(section);
	free(name);
}

/* --- defaults and checks across keys --- */

static void
set_default(struct load *ld, const struct key *k)
{
	struct yml_node *n = yml_new_scalar(k->def, k->type == K_STR ?
	    YML_DOUBLE_QUOTED : YML_PLAIN);
	struct origin o = { 0, NULL };
	int set = ld->set[k - keys];

	set_key(ld, k, &o, n);
	ld->set[k - keys] = set;
	yml_free(n);
}

/* The origin of a missing key: the line of its section, if any. */
static struct origin
section_origin(struct load *ld, const char *section)
{
	struct origin o = { 0, NULL };
	int s = section_index(section);

	if (s >= 0)
		o.line = ld->section_line[s];
	return o;
}

static void
fill_defaults(struct load *ld)
{
	struct task_config *cfg = ld->cfg;
	const struct registry_entry *e;
	struct origin o;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];

		if (ld->set[i])
			continue;
		if (k->def) {
			set_default(ld, k);
		} else if (k->flags & KF_REQUIRED) {
			o = section_origin(ld, k->section);
			report(ld, &o, "missing required key '%s.%s'",
			    k->section, k->name);
		}
	}
	if (!cfg->task_name && cfg->blueprint_type)
		cfg->task_name = xstrdup(cfg->blueprint_type);
	e = registry_find(REGISTRY_PROVIDER, cfg->provider_type);
	if (!cfg->requester_name && e && e->requester)
		cfg->requester_name = xstrdup(e->requester);
	if (!cfg->preview_source && cfg->task_source)
		cfg->preview_source = xstrdup(cfg->task_source);
}

static const struct origin *
origin_of(struct load *ld, const char *section, const char *name)
{
	const struct key *k = find_key(section, name);

	return &ld->org[k - keys];
}

static void
check_types(struct load *ld)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		const char *v;
		char *names;

		if (k->type != K_TYPE)
			continue;
		v = *(char *const *)cfield(ld->cfg, k);
		if (!v || registry_find(k->reg, v))
			continue;
		names = registry_names(k->reg);
		report(ld, &ld->org[i], "unknown %s type '%s' (known: %s)",
		    registry_kind_name(k->reg), v, names);
		free(names);
	}
}

static void
check_paths(struct load *ld)
{
	struct stat st;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		const char *p;

		if ((k->type != K_FILE && k->type != K_DIR) || !ld->set[i])
			continue;
		p = *(char *const *)cfield(ld->cfg, k);
		if (!p)
			continue;
		if (stat(p, &st) < 0 || access(p, R_OK) < 0)
			report(ld, &ld->org[i], "%s.%s: cannot read '%s': %s",
			    k->section, k->name, p, strerror(errno));
		else if (k->type == K_FILE && S_ISDIR(st.st_mode))
			report(ld, &ld->org[i], "%s.%s: '%s' is a folder, "
			    "not a file", k->section, k->name, p);
		else if (k->type == K_DIR && !S_ISDIR(st.st_mode))
			report(ld, &ld->org[i], "%s.%s: '%s' is not a folder",
			    k->section, k->name, p);
	}
}

static void
check_data_keys(struct load *ld)
{
	struct task_config *cfg = ld->cfg;
	static const char *const names[] = {
		"data_csv", "data_json", "data_jsonl",
	};
	const char *vals[3];
	const char *first = NULL;
	struct origin o;
	size_t i;

	vals[0] = cfg->data_csv;
	vals[1] = cfg->data_json;
	vals[2] = cfg->data_jsonl;
	for (i = 0; i < 3; i++) {
		if (!vals[i])
			continue;
		if (first)
			report(ld, origin_of(ld, "blueprint", names[i]),
			    "blueprint.%s: only one data source may be given "
			    "(blueprint.%s is set too)", names[i], first);
		else
			first = names[i];
	}
	if (!first && cfg->blueprint_type) {
		o = section_origin(ld, "blueprint");
		report(ld, &o, "missing data: set one of blueprint.data_csv, "
		    "blueprint.data_json or blueprint.data_jsonl");
	}
}

static void
check_onboarding(struct load *ld)
{
	struct task_config *cfg = ld->cfg;

	if (!cfg->onboarding_qualification) {
		if (cfg->onboarding_source)
			report(ld, origin_of(ld, "blueprint",
			    "onboarding_source"), "blueprint.onboarding_source "
			    "needs blueprint.onboarding_qualification");
		return;
	}
	if (!cfg->onboarding_source)
		report(ld, origin_of(ld, "blueprint",
		    "onboarding_qualification"), "onboarding needs "
		    "blueprint.onboarding_source");
	if (!cfg->onboarding_answers && !cfg->onboarding_validator)
		report(ld, origin_of(ld, "blueprint",
		    "onboarding_qualification"), "onboarding needs "
		    "blueprint.onboarding_answers or "
		    "blueprint.onboarding_validator");
	if (cfg->onboarding_answers && cfg->onboarding_validator)
		report(ld, origin_of(ld, "blueprint", "onboarding_validator"),
		    "give blueprint.onboarding_answers or "
		    "blueprint.onboarding_validator, not both");
}

/* live_task needs its runner; screening and gold need their keys. */
static void
check_live_and_screening(struct load *ld)
{
	struct task_config *cfg = ld->cfg;
	int live = cfg->blueprint_type &&
	    !strcmp(cfg->blueprint_type, "live_task");

	if (live && (!cfg->runner || !*cfg->runner))
		report(ld, origin_of(ld, "blueprint", "_blueprint_type"),
		    "live_task needs blueprint.runner");
	if (live && cfg->runner && !cfg->runner_dir && ld->dir)
		cfg->runner_dir = xstrdup(ld->dir);
	if (!live && cfg->runner)
		report(ld, origin_of(ld, "blueprint", "runner"),
		    "blueprint.runner is only for live_task");
	if (!live && cfg->shared_runner)
		report(ld, origin_of(ld, "blueprint", "shared_runner"),
		    "blueprint.shared_runner is only for live_task");
	if (cfg->use_screening_task) {
		if (!cfg->passed_qualification_name)
			report(ld, origin_of(ld, "blueprint",
			    "use_screening_task"), "screening needs "
			    "blueprint.passed_qualification_name");
		if (!cfg->block_qualification)
			report(ld, origin_of(ld, "blueprint",
			    "use_screening_task"), "screening needs "
			    "blueprint.block_qualification");
		if (!cfg->screening_answers && !cfg->screening_validator)
			report(ld, origin_of(ld, "blueprint",
			    "use_screening_task"), "screening needs "
			    "blueprint.screening_answers or "
			    "blueprint.screening_validator");
		if (cfg->screening_answers && cfg->screening_validator)
			report(ld, origin_of(ld, "blueprint",
			    "screening_validator"), "give "
			    "blueprint.screening_answers or "
			    "blueprint.screening_validator, not both");
		if (cfg->allowed_concurrent != 1)
			report(ld, origin_of(ld, "blueprint",
			    "use_screening_task"), "screening needs "
			    "task.allowed_concurrent: 1");
		if (cfg->use_golds)
			report(ld, origin_of(ld, "blueprint", "use_golds"),
			    "use_golds and use_screening_task exclude each "
			    "other");
	}
	if (cfg->use_golds) {
		if (!cfg->gold_qualification_base)
			report(ld, origin_of(ld, "blueprint", "use_golds"),
			    "golds need blueprint.gold_qualification_base");
		if (!cfg->gold_units || !cJSON_GetArraySize(cfg->gold_units))
			report(ld, origin_of(ld, "blueprint", "use_golds"),
			    "golds need blueprint.gold_units");
		if (cfg->allowed_concurrent != 1)
			report(ld, origin_of(ld, "blueprint", "use_golds"),
			    "golds need task.allowed_concurrent: 1");
	}
}

static void
check_all(struct load *ld)
{
	static const char *const data_keys[] = {
		"data_csv", "data_json", "data_jsonl",
	};
	struct task_config *cfg = ld->cfg;
	size_t i;

	fill_defaults(ld);
	check_types(ld);
	check_paths(ld);
	check_data_keys(ld);
	check_onboarding(ld);
	check_live_and_screening(ld);
	if (cfg->task_name && !*cfg->task_name)
		report(ld, origin_of(ld, "task", "task_name"),
		    "task.task_name is empty");
	if (cfg->requester_name && !*cfg->requester_name)
		report(ld, origin_of(ld, "provider", "requester_name"),
		    "provider.requester_name is empty");
	if (cfg->hostname && !*cfg->hostname)
		report(ld, origin_of(ld, "architect", "hostname"),
		    "architect.hostname is empty");
	if (cfg->public_url && strncmp(cfg->public_url, "http://", 7) &&
	    strncmp(cfg->public_url, "https://", 8))
		report(ld, origin_of(ld, "architect", "public_url"),
		    "architect.public_url must start with http:// or https://");
	for (i = 0; i < ARRAY_SIZE(data_keys); i++) {
		const struct origin *o = origin_of(ld, "blueprint", data_keys[i]);

		if (*(char *const *)cfield(cfg, find_key("blueprint",
		    data_keys[i]))) {
			cfg->data_line = o->arg ? 0 : o->line;
			break;
		}
	}
}

static char *
folder_of(const char *path)
{
	char *cwd, *abs, *slash;

	if (path[0] == '/') {
		abs = xstrdup(path);
	} else {
		cwd = getcwd(NULL, 0);
		abs = path_join(cwd ? cwd : ".", path);
		free(cwd);
	}
	slash = strrchr(abs, '/');
	if (slash == abs)
		slash[1] = '\0';
	else
		*slash = '\0';
	return abs;
}

static void
load_init(struct load *ld, struct task_config *cfg, const char *file,
    struct problems *problems)
{
	char *cwd = getcwd(NULL, 0);

	memset(ld, 0, sizeof(*ld));
	ld->cfg = cfg;
	ld->file = file;
	ld->problems = problems;
	ld->nproblems = problems->nr;
	ld->cwd = cwd ? cwd : xstrdup(".");
	ld->dir = file ? folder_of(file) : xstrdup(ld->cwd);
}

static int
load_finish(struct load *ld)
{
	int bad = ld->problems->nr > ld->nproblems;

	free(ld->dir);
	free(ld->cwd);
	return bad ? -1 : 0;
}

int
task_config_load(struct task_config *cfg, const char *path,
    const char *const *overrides, size_t n, struct problems *problems)
{
	struct load ld;
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->file = xstrdup(path);
	load_init(&ld, cfg, cfg->file, problems);
	if (read_file(&ld, path) < 0) {
		load_finish(&ld);
		return -1;
	}
	for (i = 0; i < n; i++)
		apply_override(&ld, overrides[i]);
	check_all(&ld);
	return load_finish(&ld);
}

int
task_config_override(struct task_config *cfg,
    const char *const *overrides, size_t n, struct problems *problems)
{
	struct load ld;
	size_t i;

	load_init(&ld, cfg, NULL, problems);
	/* Everything already in CFG counts as given. */
	for (i = 0; i < NKEYS; i++)
		ld.set[i] = 1;
	for (i = 0; i < n; i++)
		apply_override(&ld, overrides[i]);
	for (i = 0; i < NKEYS; i++)
		if (!ld.set[i] && keys[i].def)
			set_default(&ld, &keys[i]);
	check_types(&ld);
	check_paths(&ld);
	check_data_keys(&ld);
	check_onboarding(&ld);
	return load_finish(&ld);
}

/* --- the data file --- */

const char *
task_data_path(const struct task_config *cfg, enum data_format *fmt)
{
	if (cfg->data_csv) {
		*fmt = DATA_CSV;
		return cfg->data_csv;
	}
	if (cfg->data_json) {
		*fmt = DATA_JSON;
		return cfg->data_json;
	}
	if (cfg->data_jsonl) {
		*fmt = DATA_JSONL;
		return cfg->data_jsonl;
	}
	return NULL;
}

int
task_load_data(const struct task_config *cfg, struct data_set *set,
    struct problems *problems)
{
	enum data_format fmt;
	const char *path = task_data_path(cfg, &fmt);
	int r;

	if (!path)
		return -1;
	r = data_load(set, path, fmt, path, problems);
	if (r < 0) {
		problems_add(problems, cfg->file ? cfg->file : "config",
		    cfg->data_line, "blueprint.data_%s: cannot read '%s': %s",
		    data_format_name(fmt), path, strerror(errno));
		return -1;
	}
	return r ? -1 : 0;
}

/* --- JSON --- */

static cJSON *
key_to_json(const struct task_config *cfg, const struct key *k)
{
	const struct task_qualification *q;
	cJSON *arr, *o;
	size_t i;

	switch (k->type) {
	case K_STR:
	case K_TYPE:
	case K_TAGS:
	case K_FILE:
	case K_DIR: {
		const char *s = *(char *const *)cfield(cfg, k);

		return s ? cJSON_CreateString(s) : cJSON_CreateNull();
	}
	case K_INT:
		return cJSON_CreateNumber((double)*(const long *)cfield(cfg, k));
	case K_FLOAT:
		return cJSON_CreateNumber(*(const double *)cfield(cfg, k));
	case K_BOOL:
		return cJSON_CreateBool(*(const int *)cfield(cfg, k));
	case K_PORT:
		return cJSON_CreateNumber(*(const int *)cfield(cfg, k));
	case K_OBJECT: {
		const cJSON *v = *(cJSON *const *)cfield(cfg, k);

		return v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
	}
	case K_QUALS:
		arr = cJSON_CreateArray();
		for (i = 0; i < cfg->nr_qualifications; i++) {
			q = &cfg->qualifications[i];
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "qualification_name",
			    q->name);
			cJSON_AddStringToObject(o, "comparator",
			    q->comparator);
			cJSON_AddItemToObject(o, "value", q->value ?
			    cJSON_Duplicate(q->value, 1) : cJSON_CreateNull());
			cJSON_AddItemToObject(o, "applicable_providers",
			    q->providers ? cJSON_Duplicate(q->providers, 1) :
			    cJSON_CreateNull());
			cJSON_AddItemToArray(arr, o);
		}
		return arr;
	}
	return cJSON_CreateNull();
}

cJSON *
task_config_to_tree(const struct task_config *cfg)
{
	cJSON *root = cJSON_CreateObject(), *sec;
	size_t i, s;

	for (s = 0; s < ARRAY_SIZE(sections); s++) {
		sec = cJSON_AddObjectToObject(root, sections[s]);
		for (i = 0; i < NKEYS; i++)
			if (!strcmp(keys[i].section, sections[s]))
				cJSON_AddItemToObject(sec, keys[i].name,
				    key_to_json(cfg, &keys[i]));
	}
	return root;
}

char *
task_config_to_json(const struct task_config *cfg)
{
	cJSON *root = task_config_to_tree(cfg);
	char *s = cJSON_PrintUnformatted(root), *r;

	cJSON_Delete(root);
	if (!s)
		return NULL;
	r = xstrdup(s);
	cJSON_free(s);
	return r;
}

/* JSON values back to YAML nodes, so that set_key() checks them alike. */
static struct yml_node *
json_to_yml(const cJSON *v)
{
	struct yml_node *n;
	const cJSON *c;
	char num[64];

	if (cJSON_IsArray(v)) {
		n = yml_new_sequence();
		cJSON_ArrayForEach(c, v)
			yml_append(n, json_to_yml(c));
		return n;
	}
	if (cJSON_IsObject(v)) {
		n = yml_new_mapping();
		cJSON_ArrayForEach(c, v)
			yml_set(n, c->string, json_to_yml(c));
		return n;
	}
	if (cJSON_IsString(v))
		return yml_new_scalar(v->valuestring, YML_DOUBLE_QUOTED);
	if (cJSON_IsBool(v))
		return yml_new_scalar(cJSON_IsTrue(v) ? "true" : "false",
		    YML_PLAIN);
	if (cJSON_IsNumber(v)) {
		if (v->valuedouble == (double)(long)v->valuedouble &&
		    fabs(v->valuedouble) < 1e15)
			snprintf(num, sizeof(num), "%ld",
			    (long)v->valuedouble);
		else
			snprintf(num, sizeof(num), "%.17g", v->valuedouble);
		return yml_new_scalar(num, YML_PLAIN);
	}
	return yml_new_scalar("null", YML_PLAIN);
}

int
task_config_from_json(struct task_config *cfg, const char *json,
    char **errp)
{
	struct problems problems = PROBLEMS_INIT;
	struct origin o = { 0, NULL };
	struct yml_node *n;
	const cJSON *sec, *v;
	struct load ld;
	cJSON *root;
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	root = cJSON_Parse(json);
	if (!root || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		*errp = xstrdup("the stored configuration is not a JSON "
		    "object");
		return -1;
	}
	load_init(&ld, cfg, "init_params", &problems);
	for (i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];

		sec = cJSON_GetObjectItemCaseSensitive(root, k->section);
		v = cJSON_GetObjectItemCaseSensitive(sec, k->name);
		if (!v || cJSON_IsNull(v)) {
			if (k->def)
				set_default(&ld, k);
			continue;
		}
		n = json_to_yml(v);
		/* Stored paths are absolute already. */
		set_key(&ld, k, &o, n);
		yml_free(n);
	}
	cJSON_Delete(root);
	if (load_finish(&ld) < 0) {
		*errp = xstrdup(problems.item[0]);
		problems_release(&problems);
		task_config_release(cfg);
		return -1;
	}
	problems_release(&problems);
	return 0;
}
