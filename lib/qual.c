#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "msg.h"
#include "qual.h"
#include "xalloc.h"
#include "banned.h"

static const char *const cmp_names[] = {
	[QUAL_GREATER] = "GreaterThan",
	[QUAL_GREATER_EQUAL] = "GreaterThanOrEqualTo",
	[QUAL_LESS] = "LessThan",
	[QUAL_LESS_EQUAL] = "LessThanOrEqualTo",
	[QUAL_EQUAL] = "EqualTo",
	[QUAL_NOT_EQUAL] = "NotEqualTo",
	[QUAL_EXISTS] = "Exists",
	[QUAL_NOT_EXIST] = "DoesNotExist",
	[QUAL_IN_LIST] = "In",
	[QUAL_NOT_IN_LIST] = "NotIn",
};

int
qual_cmp_parse(const char *s, enum qual_cmp *cmp)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cmp_names); i++) {
		if (!strcmp(s, cmp_names[i])) {
			*cmp = (enum qual_cmp)i;
			return 0;
		}
	}
	return -1;
}

const char *
qual_cmp_name(enum qual_cmp cmp)
{
	if ((size_t)cmp >= ARRAY_SIZE(cmp_names))
		return "?";
	return cmp_names[cmp];
}

static int
in_list(const struct qual_req *req, int64_t value)
{
	size_t i;

	for (i = 0; i < req->nr_list; i++)
		if (req->list[i] == value)
			return 1;
	return 0;
}

int
qual_met(const struct qual_req *req, int qual_exists_in_db, int granted,
    int64_t value)
{
	if (!qual_exists_in_db)
		return 0;
	if (req->cmp == QUAL_NOT_EXIST)
		return !granted;
	if (!granted)
		return 0;
	switch (req->cmp) {
	case QUAL_GREATER:
		return value > req->value;
	case QUAL_GREATER_EQUAL:
		return value >= req->value;
	case QUAL_LESS:
		return value < req->value;
	case QUAL_LESS_EQUAL:
		return value <= req->value;
	case QUAL_EQUAL:
		return value == req->value;
	case QUAL_NOT_EQUAL:
		return value != req->value;
	case QUAL_EXISTS:
		return 1;
	case QUAL_IN_LIST:
		return in_list(req, value);
	case QUAL_NOT_IN_LIST:
		return !in_list(req, value);
	case QUAL_NOT_EXIST:
		break;
	}
	return 0;
}

int
qual_applies(const struct qual_req *req, const char *provider_type)
{
	size_t i;

	if (!req->providers)
		return 1;
	for (i = 0; i < req->nr_providers; i++)
		if (!strcmp(req->providers[i], provider_type))
			return 1;
	return 0;
}

void
qual_list_init(struct qual_list *l)
{
	l->reqs = NULL;
	l->nr = l->alloc = 0;
}

static void
req_release(struct qual_req *r)
{
	size_t i;

	free(r->name);
	free(r->list);
	for (i = 0; i < r->nr_providers; i++)
		free(r->providers[i]);
	free(r->providers);
}

void
qual_list_release(struct qual_list *l)
{
	size_t i;

	for (i = 0; i < l->nr; i++)
		req_release(&l->reqs[i]);
	free(l->reqs);
	qual_list_init(l);
}

static int
takes_list(enum qual_cmp cmp)
{
	return cmp == QUAL_IN_LIST || cmp == QUAL_NOT_IN_LIST;
}

static int
takes_nothing(enum qual_cmp cmp)
{
	return cmp == QUAL_EXISTS || cmp == QUAL_NOT_EXIST;
}

int
qual_list_add(struct qual_list *l, const char *name, enum qual_cmp cmp,
    int64_t value, const int64_t *list, size_t nr_list, char **errp)
{
	struct qual_req *r;

	if (!name || !*name) {
		if (errp)
			*errp = xstrdup("qualification_name must not be empty");
		errno = EINVAL;
		return -1;
	}
	ALLOC_GROW(l->reqs, l->nr + 1, l->alloc);
	r = &l->reqs[l->nr++];
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	r->cmp = cmp;
	if (takes_list(cmp)) {
		r->list = xcalloc(nr_list ? nr_list : 1, sizeof(*r->list));
		if (nr_list)
			memcpy(r->list, list, nr_list * sizeof(*list));
		r->nr_list = nr_list;
	} else if (!takes_nothing(cmp)) {
		r->value = value;
	}
	return 0;
}

static int
fail(char **errp, const char *where, const char *fmt, const char *arg)
{
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s: ", where);
	buf_addf(&b, fmt, arg);
	if (errp)
		*errp = buf_detach(&b, NULL);
	else
		buf_release(&b);
	errno = EINVAL;
	return -1;
}

/* An integral JSON number (or a boolean, as 1 or 0). */
static int
json_int(const cJSON *v, int64_t *out)
{
	double d;

	if (cJSON_IsBool(v)) {
		*out = cJSON_IsTrue(v) ? 1 : 0;
		return 0;
	}
	if (!cJSON_IsNumber(v))
		return -1;
	d = v->valuedouble;
	if (d != (double)(int64_t)d || d > 9007199254740992.0 ||
	    d < -9007199254740992.0)
		return -1;
	*out = (int64_t)d;
	return 0;
}

static int
parse_list(const cJSON *v, int64_t **list, size_t *nr)
{
	const cJSON *e;
	size_t n = 0;

	if (!cJSON_IsArray(v))
		return -1;
	*list = xcalloc(msg_len(v) + 1, sizeof(**list));
	msg_foreach(e, v) {
		if (json_int(e, &(*list)[n]) < 0) {
			free(*list);
			*list = NULL;
			return -1;
		}
		n++;
	}
	*nr = n;
	return 0;
}

static int
parse_providers(struct qual_req *r, const cJSON *v)
{
	const cJSON *e;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v))
		return -1;
	r->providers = xcalloc(msg_len(v) + 1, sizeof(*r->providers));
	msg_foreach(e, v) {
		if (!cJSON_IsString(e))
			return -1;
		r->providers[r->nr_providers++] = xstrdup(e->valuestring);
	}
	return 0;
}

static int
parse_value(const cJSON *obj, enum qual_cmp cmp, const char *where,
    int64_t *value, int64_t **list, size_t *nr, char **errp)
{
	const cJSON *v = msg_get(obj, "value");
	int absent = !v || cJSON_IsNull(v);

	if (takes_nothing(cmp)) {
		if (!absent)
			return fail(errp, where, "comparator %s takes no value",
			    qual_cmp_name(cmp));
		return 0;
	}
	if (absent)
		return fail(errp, where, "comparator %s needs a value",
		    qual_cmp_name(cmp));
	if (takes_list(cmp)) {
		if (parse_list(v, list, nr) < 0)
			return fail(errp, where,
			    "comparator %s needs a list of integers",
			    qual_cmp_name(cmp));
		return 0;
	}
	if (json_int(v, value) < 0)
		return fail(errp, where, "comparator %s needs an integer value",
		    qual_cmp_name(cmp));
	return 0;
}

int
qual_list_add_json(struct qual_list *l, const cJSON *obj, const char *where,
    char **errp)
{
	const char *name, *cmpname;
	enum qual_cmp cmp;
	int64_t value = 0, *list = NULL;
	size_t nr = 0;
	char *err = NULL;
	int ret;

	if (!cJSON_IsObject(obj))
		return fail(errp, where, "%s", "a requirement must be an object");
	if (msg_get_str(obj, "qualification_name", &name, &err) < 0 ||
	    msg_get_str(obj, "comparator", &cmpname, &err) < 0) {
		ret = fail(errp, where, "%s", err);
		free(err);
		return ret;
	}
	if (!*name)
		return fail(errp, where, "%s",
		    "qualification_name must not be empty");
	if (qual_cmp_parse(cmpname, &cmp) < 0)
		return fail(errp, where, "comparator '%s' is not one of "
		    "GreaterThan, GreaterThanOrEqualTo, LessThan, "
		    "LessThanOrEqualTo, EqualTo, NotEqualTo, Exists, "
		    "DoesNotExist, In, NotIn", cmpname);
	if (parse_value(obj, cmp, where, &value, &list, &nr, errp) < 0)
		return -1;
	qual_list_add(l, name, cmp, value, list, nr, NULL);
	free(list);
	if (parse_providers(&l->reqs[l->nr - 1],
	    msg_get(obj, "applicable_providers")) < 0) {
		req_release(&l->reqs[--l->nr]);
		return fail(errp, where, "%s",
		    "applicable_providers must be a list of provider names");
	}
	return 0;
}

int
qual_list_add_json_array(struct qual_list *l, const cJSON *arr,
    const char *where, char **errp)
{
	const cJSON *e;
	size_t i = 0;
	int ret = 0;

	if (!arr || cJSON_IsNull(arr))
		return 0;
	if (!cJSON_IsArray(arr))
		return fail(errp, where, "%s", "must be a list of requirements");
	msg_foreach(e, arr) {
		char *w = xasprintf("%s[%zu]", where, i++);

		ret = qual_list_add_json(l, e, w, errp);
		free(w);
		if (ret < 0)
			break;
	}
	return ret;
}

int
qual_list_has(const struct qual_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->nr; i++)
		if (!strcmp(l->reqs[i].name, name))
			return 1;
	return 0;
}
