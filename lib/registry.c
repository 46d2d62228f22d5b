#include <string.h>

#include "buf.h"
#include "registry.h"
#include "xalloc.h"
#include "banned.h"

static const struct registry_entry entries[] = {
	{ REGISTRY_BLUEPRINT, "static_task",
	  "an HTML page with ${field} placeholders and a form, one unit per "
	  "data row", 0, NULL },
	{ REGISTRY_BLUEPRINT, "static_react_task",
	  "a prebuilt JavaScript bundle using the mephisto-task browser "
	  "library, one unit per data row", 0, NULL },
	{ REGISTRY_PROVIDER, "mock",
	  "local workers named in the task URL (?worker_id=NAME); a sandbox",
	  1, "MOCK_REQUESTER" },
	{ REGISTRY_PROVIDER, "inhouse",
	  "your own workers named in the task URL (?worker_id=NAME)",
	  0, "INHOUSE_REQUESTER" },
	{ REGISTRY_ARCHITECT, "local",
	  "serve the task from this machine (architect.hostname and port)",
	  0, NULL },
};

const struct registry_entry *
registry_find(enum registry_kind kind, const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < ARRAY_SIZE(entries); i++)
		if (entries[i].kind == kind && !strcmp(entries[i].name, name))
			return &entries[i];
	return NULL;
}

const struct registry_entry *
registry_all(size_t *n)
{
	*n = ARRAY_SIZE(entries);
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

	for (i = 0; i < ARRAY_SIZE(entries); i++) {
		if (entries[i].kind != kind)
			continue;
		if (b.len)
			buf_addstr(&b, ", ");
		buf_addstr(&b, entries[i].name);
	}
	return buf_detach(&b, NULL);
}
