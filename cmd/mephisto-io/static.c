/*
 * The run's static files, kept in memory.  The first request for a path
 * resolves it inside the static folder (realpath, so a symbolic link
 * cannot lead out of it) and reads the file; later requests are answered
 * from memory without a system call.  Every tick each kept file is
 * checked against the disk (device, inode, size, modification time), so a
 * rebuilt or edited site is served fresh within a second.  Files larger
 * than STATIC_FILE_MAX, or beyond STATIC_TOTAL_MAX in all, are remembered
 * by their resolved path only and streamed from disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "xalloc.h"
#include "banned.h"

#define STATIC_FILE_MAX (1024 * 1024)
#define STATIC_TOTAL_MAX (64 * 1024 * 1024)

static const struct {
	const char *ext;
	const char *type;
} mime_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".htm", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".map", "application/json" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".csv", "text/csv; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".jpg", "image/jpeg" },
	{ ".jpeg", "image/jpeg" },
	{ ".gif", "image/gif" },
	{ ".webp", "image/webp" },
	{ ".ico", "image/x-icon" },
	{ ".wav", "audio/wav" },
	{ ".mp3", "audio/mpeg" },
	{ ".ogg", "audio/ogg" },
	{ ".mp4", "video/mp4" },
	{ ".webm", "video/webm" },
	{ ".pdf", "application/pdf" },
	{ ".wasm", "application/wasm" },
	{ ".woff", "font/woff" },
	{ ".woff2", "font/woff2" },
	{ ".ttf", "font/ttf" },
};

static const char *
mime_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	size_t i;

	if (dot && !strchr(dot, '/'))
		for (i = 0; i < ARRAY_SIZE(mime_types); i++)
			if (!strcasecmp(dot, mime_types[i].ext))
				return mime_types[i].type;
	return "application/octet-stream";
}

/*
 * Is PATH (as decoded by libwebsockets, which has already resolved "."
 * and ".." segments) a name io may serve?  No hidden or dot segments, no
 * backslashes, no control characters.
 */
static int
path_ok(const char *path)
{
	const char *p;

	if (path[0] != '/')
		return 0;
	for (p = path; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			return 0;
		if (*p == '/' && p[1] == '.')
			return 0;
	}
	return 1;
}

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Read the regular file REAL of stat ST into a frame, or NULL. */
static struct frame *
read_file(const char *real, const struct stat *st)
{
	struct frame *f;
	struct stat now;
	size_t got = 0;
	ssize_t n;
	int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &now) || !same_file(&now, st)) {
		close(fd);
		return NULL;
	}
	f = xmalloc(sizeof(*f) + LWS_PRE + (size_t)st->st_size);
	f->next = NULL;
	f->len = (size_t)st->st_size;
	while (got < f->len) {
		n = read(fd, f->data + LWS_PRE + got, f->len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != f->len) {
		free(f);
		return NULL;
	}
	return f;
}

static void
drop(struct io *io, struct static_file *sf)
{
	smap_remove(&io->statics, &sf->ent);
	if (sf->body)
		io->statics_bytes -= sf->body->len;
	free(sf->body);
	free(sf->path);
	free(sf->real);
	free(sf);
}

const struct static_file *
static_find(struct io *io, const char *path)
{
	char real[PATH_MAX];
	struct static_file *sf;
	struct stat st;
	char *full;
	size_t n = strlen(io->static_real);
	int inside;

	if (!path_ok(path))
		return NULL;
	sf = (struct static_file *)smap_get(&io->statics, path);
	if (sf)
		return sf;
	full = xasprintf("%s%s", io->static_real, path);
	inside = realpath(full, real) && !strncmp(real, io->static_real, n) &&
	    real[n] == '/';
	free(full);
	if (!inside || stat(real, &st) || !S_ISREG(st.st_mode))
		return NULL;
	sf = xcalloc(1, sizeof(*sf));
	sf->path = xstrdup(path);
	sf->real = xstrdup(real);
	sf->mime = mime_type(real);
	sf->st = st;
	if (st.st_size <= STATIC_FILE_MAX &&
	    io->statics_bytes + (size_t)st.st_size <= STATIC_TOTAL_MAX)
		sf->body = read_file(real, &st);
	if (sf->body)
		io->statics_bytes += sf->body->len;
	sf->ent.key = sf->path;
	smap_put(&io->statics, &sf->ent);
	return sf;
}

static void
check_one(struct smap_entry *e, void *arg)
{
	struct static_file *sf = (struct static_file *)e;
	struct stat st;

	if (stat(sf->real, &st) || !same_file(&st, &sf->st))
		drop(arg, sf);
}

void
static_sweep(struct io *io)
{
	smap_each(&io->statics, check_one, io);
}

static void
drop_one(struct smap_entry *e, void *arg)
{
	drop(arg, (struct static_file *)e);
}

void
static_release(struct io *io)
{
	smap_each(&io->statics, drop_one, io);
	smap_release(&io->statics);
}
