#ifndef MEPHISTO_IMAP_H
#define MEPHISTO_IMAP_H

#include <stddef.h>
#include <stdint.h>

/*
 * imap: a hash map from ids (int64_t, as the database's: never 0 or -1) to
 * pointers the caller owns.  Open addressing; initialise with IMAP_INIT.
 */
struct imap_slot {
	int64_t key;		/* 0: empty, -1: removed */
	void *val;
};

struct imap {
	struct imap_slot *slot;
	size_t size;		/* a power of two, or 0 */
	size_t used;		/* keys, removed ones included */
	size_t count;		/* keys present */
};
#define IMAP_INIT { NULL, 0, 0, 0 }

/* The value of KEY, or NULL. */
void *imap_get(const struct imap *m, int64_t key);
/* Set KEY's value to VAL (replacing the old one). */
void imap_put(struct imap *m, int64_t key, void *val);
/* Remove KEY if its value is VAL (any value when VAL is NULL). */
void imap_del(struct imap *m, int64_t key, const void *val);
void imap_release(struct imap *m);

/*
 * The string hash of the project's tables keyed by text (FNV-1a): short
 * keys such as ids and SQL text, none chosen by an adversary.
 */
uint32_t str_hash(const char *s);

#endif
