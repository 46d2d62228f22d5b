#ifndef MEPHISTO_REGISTRY_H
#define MEPHISTO_REGISTRY_H

#include <stddef.h>

/*
 * The kinds of blueprint, crowd provider and architect a task may name
 * (blueprint._blueprint_type, provider._provider_type,
 * architect._architect_type), with a line about each for
 * "mephisto launch --list".  Blueprints and architects are a static
 * table here; providers are listed from lib/provider (provider_all()), so
 * adding a provider is adding its function table there.
 */

enum registry_kind {
	REGISTRY_BLUEPRINT,
	REGISTRY_PROVIDER,
	REGISTRY_ARCHITECT,
};

struct registry_entry {
	enum registry_kind kind;
	const char *name;	/* the type name used in task YAML */
	const char *summary;	/* one line for --list */
	int sandbox;		/* providers: runs count as sandbox runs */
	const char *requester;	/* providers: default requester_name */
};

/* The entry of KIND called NAME, or NULL. */
const struct registry_entry *registry_find(enum registry_kind kind,
    const char *name);

/* All entries, grouped by kind in enum order; *N gets their count. */
const struct registry_entry *registry_all(size_t *n);

/* "blueprint", "provider" or "architect". */
const char *registry_kind_name(enum registry_kind kind);

/*
 * The names of KIND joined with ", " (for "expected one of ..."
 * messages).  The caller frees the string.
 */
char *registry_names(enum registry_kind kind);

#endif
