#ifndef MEPHISTO_QUAL_H
#define MEPHISTO_QUAL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/*
 * Qualification requirements (facts section 6): dicts of the form
 *
 *   {"qualification_name": NAME, "comparator": CMP, "value": V,
 *    "applicable_providers": [TYPE, ...]}          (the last is optional)
 *
 * with the ten comparators of the original.  The four ordering ones take
 * an integer, In and NotIn a list of integers, EqualTo and NotEqualTo an
 * integer (granted values are integers in the database), Exists and
 * DoesNotExist no value (null or absent).
 *
 * A worker meets a requirement as qual_met() says.  Unlike the original,
 * a requirement whose qualification is missing from the database is NOT
 * met, whatever the comparator (a typo in a name refuses everyone instead
 * of admitting everyone); programs create the qualifications they name
 * (block, onboarding) before checking.
 *
 * Ownership: a struct qual_list owns its requirements and their strings;
 * qual_list_release() frees them.
 */

enum qual_cmp {
	QUAL_GREATER,		/* GreaterThan: value > v */
	QUAL_GREATER_EQUAL,	/* GreaterThanOrEqualTo: value >= v */
	QUAL_LESS,		/* LessThan: value < v */
	QUAL_LESS_EQUAL,	/* LessThanOrEqualTo: value <= v */
	QUAL_EQUAL,		/* EqualTo: value == v */
	QUAL_NOT_EQUAL,		/* NotEqualTo: value != v */
	QUAL_EXISTS,		/* Exists: a grant exists */
	QUAL_NOT_EXIST,		/* DoesNotExist: no grant exists */
	QUAL_IN_LIST,		/* In: value in the list */
	QUAL_NOT_IN_LIST,	/* NotIn: value not in the list */
};

struct qual_req {
	char *name;		/* qualification_name */
	enum qual_cmp cmp;
	int64_t value;		/* the ordering and equality comparators */
	int64_t *list;		/* In, NotIn */
	size_t nr_list;
	char **providers;	/* applicable_providers; NULL: all */
	size_t nr_providers;
};

struct qual_list {
	struct qual_req *reqs;
	size_t nr, alloc;
};

#define QUAL_LIST_INIT { NULL, 0, 0 }

/*
 * The comparator named S ("GreaterThan", ...).  Returns 0 with *cmp set,
 * or -1 when S names none.
 */
int qual_cmp_parse(const char *s, enum qual_cmp *cmp);

/* The name of CMP as written in requirement dicts. */
const char *qual_cmp_name(enum qual_cmp cmp);

/*
 * Whether a worker meets REQ.  QUAL_EXISTS_IN_DB: the qualification row
 * exists; GRANTED: the worker holds a grant, of VALUE.  Returns 1 or 0.
 */
int qual_met(const struct qual_req *req, int qual_exists_in_db, int granted,
    int64_t value);

/*
 * Whether REQ applies to workers of PROVIDER_TYPE (its
 * applicable_providers list is absent or names it).
 */
int qual_applies(const struct qual_req *req, const char *provider_type);

void qual_list_init(struct qual_list *l);
void qual_list_release(struct qual_list *l);

/*
 * Append a requirement checked as make_qualification_dict() does: NAME
 * non-empty; Exists and DoesNotExist take no value.  For the comparators
 * that take one integer pass it as VALUE; for In and NotIn pass LIST of
 * NR_LIST integers (copied).  Returns 0, or -1 with *errp set.
 */
int qual_list_add(struct qual_list *l, const char *name, enum qual_cmp cmp,
    int64_t value, const int64_t *list, size_t nr_list, char **errp);

/*
 * Append the requirement dict OBJ (as described above).  WHERE names it
 * in messages ("task.qualifications[2]").  Returns 0, or -1 with *errp
 * set, e.g. "task.qualifications[2]: comparator 'Bigger' is not one of
 * GreaterThan, ...".
 */
int qual_list_add_json(struct qual_list *l, const cJSON *obj,
    const char *where, char **errp);

/*
 * Append every dict of the JSON array ARR (NULL: none).  WHERE names the
 * array in messages.  Returns 0, or -1 with *errp set (L then holds the
 * requirements before the bad one).
 */
int qual_list_add_json_array(struct qual_list *l, const cJSON *arr,
    const char *where, char **errp);

/* Whether L has a requirement named NAME. */
int qual_list_has(const struct qual_list *l, const char *name);

#endif
