#include <stdlib.h>

#include "imap.h"
#include "log.h"
#include "xalloc.h"
#include "banned.h"

#define EMPTY 0
#define REMOVED (-1)

static size_t
hash_id(int64_t key)
{
	uint64_t h = (uint64_t)key;

	/* splitmix64's finaliser: random ids and sequential ones alike */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return (size_t)h;
}

static struct imap_slot *
find(const struct imap *m, int64_t key)
{
	size_t i;

	if (!m->size)
		return NULL;
	for (i = hash_id(key) & (m->size - 1);; i = (i + 1) & (m->size - 1)) {
		if (m->slot[i].key == key)
			return &m->slot[i];
		if (m->slot[i].key == EMPTY)
			return NULL;
	}
}

void *
imap_get(const struct imap *m, int64_t key)
{
	struct imap_slot *s = find(m, key);

	return s ? s->val : NULL;
}

static void
rehash(struct imap *m, size_t size)
{
	struct imap_slot *old = m->slot;
	size_t n = m->size, i;

	m->slot = xcalloc(size, sizeof(*m->slot));
	m->size = size;
	m->used = m->count = 0;
	for (i = 0; i < n; i++)
		if (old[i].key != EMPTY && old[i].key != REMOVED)
			imap_put(m, old[i].key, old[i].val);
	free(old);
}

void
imap_put(struct imap *m, int64_t key, void *val)
{
	struct imap_slot *s = find(m, key);
	size_t i;

	if (key == EMPTY || key == REMOVED)
		BUG("imap key %lld", (long long)key);
	if (s) {
		s->val = val;
		return;
	}
	/* Over 3/4 used: grow, or only sweep out removed keys. */
	if (!m->size)
		rehash(m, 16);
	else if ((m->used + 1) * 4 > m->size * 3)
		rehash(m, (m->count + 1) * 2 > m->size ? m->size * 2 : m->size);
	for (i = hash_id(key) & (m->size - 1);
	    m->slot[i].key != EMPTY && m->slot[i].key != REMOVED;
	    i = (i + 1) & (m->size - 1))
		;
	if (m->slot[i].key == EMPTY)
		m->used++;
	m->slot[i].key = key;
	m->slot[i].val = val;
	m->count++;
}

void
imap_del(struct imap *m, int64_t key, const void *val)
{
	struct imap_slot *s = find(m, key);

	if (!s || (val && s->val != val))
		return;
	s->key = REMOVED;
	s->val = NULL;
	m->count--;
}

void
imap_release(struct imap *m)
{
	free(m->slot);
	m->slot = NULL;
	m->size = m->used = m->count = 0;
}

uint32_t
str_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}
