#include <stdlib.h>
#include <string.h>

#include "imap.h"
#include "io.h"
#include "log.h"
#include "xalloc.h"
#include "banned.h"

static void
grow(struct smap *m)
{
	size_t n = m->nbuckets ? m->nbuckets * 2 : 64;
	struct smap_entry **b = xcalloc(n, sizeof(*b));
	size_t i;

	for (i = 0; i < m->nbuckets; i++) {
		struct smap_entry *e = m->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

struct smap_entry *
smap_get(const struct smap *m, const char *key)
{
	uint32_t h;
	struct smap_entry *e;

	if (!m->nbuckets)
		return NULL;
	h = str_hash(key);
	for (e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->next)
		if (e->hash == h && !strcmp(e->key, key))
			return e;
	return NULL;
}

void
smap_put(struct smap *m, struct smap_entry *e)
{
	size_t i;

	if (m->count + 1 > m->nbuckets / 4 * 3)
		grow(m);
	e->hash = str_hash(e->key);
	i = e->hash & (m->nbuckets - 1);
	e->next = m->buckets[i];
	m->buckets[i] = e;
	m->count++;
}

void
smap_remove(struct smap *m, struct smap_entry *e)
{
	struct smap_entry **pp;

	if (!m->nbuckets)
		return;
	for (pp = &m->buckets[e->hash & (m->nbuckets - 1)]; *pp;
	    pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			e->next = NULL;
			m->count--;
			return;
		}
	}
}

void
smap_release(struct smap *m)
{
	free(m->buckets);
	m->buckets = NULL;
	m->nbuckets = 0;
	m->count = 0;
}

void
smap_each(struct smap *m, void (*fn)(struct smap_entry *, void *), void *arg)
{
	size_t i;

	for (i = 0; i < m->nbuckets; i++) {
		struct smap_entry *e = m->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			fn(e, arg);
		}
	}
}
