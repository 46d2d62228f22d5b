#include <pthread.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "provider.h"
#include "registry.h"
#include "xalloc.h"
#include "banned.h"

/* Blueprints and architects; providers come from lib/provider. */
static const struct registry_entry fixed[] = {
	{ REGISTRY_BLUEPRINT, "static_task",
	  "an HTML page with ${field} placeholders and a form, one unit per "
	  "data row", 0, NULL },
	{ REGISTRY_BLUEPRINT, "static_react_task",
	  "a prebuilt JavaScript bundle using the mephisto-task browser "
	  "library, one unit per data row", 0, NULL },
	{ REGISTRY_BLUEPRINT, "live_task",
	  "a mephisto-task bundle with live updates; a runner command per "
	  "assignment, units_per_assignment workers together", 0, NULL },
	{ REGISTRY_ARCHITECT, "local",
	  "serve the task from this machine (architect.hostname and port)",
	  0, NULL },
};

#define MAX_ENTRIES 32

static struct registry_entry entries[MAX_ENTRIES];
static size_t nr_entries;
static pthread_once_t entries_once = PTHREAD_ONCE_INIT;

static void
add_entry(const struct registry_entry *e)
{
	if (nr_entries == MAX_ENTRIES)
		die("too many registry entries");
	entries[nr_entries++] = *e;
}

/* The whole table, grouped by kind in enum order. */
static void
entries_init(void)
{
	const struct provider *const *p;
	size_t i, np;

	for (i = 0; i < ARRAY_SIZE(fixed); i++)
		if (fixed[i].kind == REGISTRY_BLUEPRINT)
			add_entry(&fixed[i]);
	p = provider_all(&np);
	for (i = 0; i < np; i++) {
		struct registry_entry e = { REGISTRY_PROVIDER, p[i]->name,
		    p[i]->description, p[i]->sandbox, p[i]->requester_name };
		add_entry(&e);
	}
	for (i = 0; i < ARRAY_SIZE(fixed); i++)
		if (fixed[i].kind == REGISTRY_ARCHITECT)
			add_entry(&fixed[i]);
}

const struct registry_entry *
registry_find(enum registry_kind kind, const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	pthread_once(&entries_once, entries_init);
	for (i = 0; i < nr_entries; i++)
		if (entries[i].kind == kind && !strcmp(entries[i].name, name))
			return &entries[i];
	return NULL;
}

const struct registry_entry *
registry_all(size_t *n)
{
	pthread_once(&entries_once, entries_init);
	*n = nr_entries;
	return entries;
}

const char *
registry_kind_name(enum registry_kind kind)
{
	switch (kind) {
	case REGISTRY_BLUEPRINT:
		return "blueprint";
	case REGISTRY_PROVIDER:
		return "provider";
	case REGISTRY_ARCHITECT:
		return "architect";
	}
	return "?";
}

char *
registry_names(enum registry_kind kind)
{
	struct buf b = BUF_INIT;
	size_t i;

	pthread_once(&entries_once, entries_init);
	for (i = 0; i < nr_entries; i++) {
		if (entries[i].kind != kind)
			continue;
		if (b.len)
			buf_addstr(&b, ", ");
		buf_addstr(&b, entries[i].name);
	}
	return buf_detach(&b, NULL);
}
