#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "path.h"
#include "upload.h"
#include "xalloc.h"
#include "banned.h"

#define NAME_MAX_BYTES 200

char *
upload_sanitize(const char *name)
{
	const char *base = name, *p;
	char *s;
	size_t i, n;

	for (p = name; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	n = strlen(base);
	if (n > NAME_MAX_BYTES) {
		n = NAME_MAX_BYTES;
		/* do not cut a UTF-8 sequence */
		while (n && ((unsigned char)base[n] & 0xc0) == 0x80)
			n--;
	}
	if (!n)
		return xstrdup("file");
	s = xstrndup(base, n);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = '_';
	for (i = 0; i < n && s[i] == '.'; i++)
		s[i] = '_';
	for (i = 1; i < n; i++)
		if (s[i] == '.' && s[i - 1] == '.')
			s[i] = '_';
	return s;
}

int
upload_begin(struct io *io, struct upload_set *set, const char *field,
    const char *filename, const char *mimetype)
{
	struct upload_file *f;
	char *tmp;
	int fd;

	if (path_mkdir_p(io->incoming_dir, 0700)) {
		error_errno("cannot create '%s'", io->incoming_dir);
		return 500;
	}
	tmp = xasprintf("%s/up-%ld-%llu", io->incoming_dir, (long)getpid(),
	    (unsigned long long)++io->serial);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		error_errno("cannot create '%s'", tmp);
		free(tmp);
		return 500;
	}
	ALLOC_GROW(set->v, set->nr + 1, set->alloc);
	f = &set->v[set->nr++];
	memset(f, 0, sizeof(*f));
	f->fieldname = xstrdup(field);
	f->originalname = xstrdup(filename);
	f->mimetype = xstrdup(*mimetype ? mimetype :
	    "application/octet-stream");
	f->tmp_path = tmp;
	f->fd = fd;
	return 0;
}

int
upload_write(struct io *io, struct upload_set *set, const char *p, size_t n)
{
	struct upload_file *f = set->nr ? &set->v[set->nr - 1] : NULL;

	if (!f || f->fd < 0)
		return 500;
	if (f->size + n > io->opt.max_upload)
		return 413;
	while (n) {
		ssize_t w = write(f->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			error_errno("cannot write '%s'", f->tmp_path);
			return 500;
		}
		p += w;
		n -= (size_t)w;
		f->size += (size_t)w;
	}
	return 0;
}

int
upload_end(struct upload_set *set)
{
	struct upload_file *f = set->nr ? &set->v[set->nr - 1] : NULL;
	int r = 0;

	if (!f || f->fd < 0)
		return 500;
	if (fsync(f->fd)) {
		error_errno("cannot sync '%s'", f->tmp_path);
		r = 500;
	}
	if (close(f->fd) && !r) {
		error_errno("cannot write '%s'", f->tmp_path);
		r = 500;
	}
	f->fd = -1;
	return r;
}

/* Link TMP into DIR under NAME, or NAME-1, NAME-2, ... if taken. */
static char *
link_unique(const char *tmp, const char *dir, const char *name,
    char **final_name)
{
	const char *dot = strrchr(name, '.');
	size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
	unsigned k;

	for (k = 0; k < 100000; k++) {
		char *cand = k ? xasprintf("%.*s-%u%s", (int)stem, name, k,
		    name + stem) : xstrdup(name);
		char *path = path_join(dir, cand);

		if (!link(tmp, path)) {
			*final_name = cand;
			return path;
		}
		free(cand);
		free(path);
		if (errno != EEXIST)
			return NULL;
	}
	errno = EEXIST;
	return NULL;
}

static void
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int
upload_commit(struct io *io, struct upload_set *set, const char *agent_id,
    const char **err)
{
	size_t i;

	if (!set->nr)
		return 0;
	free(set->dir);
	set->dir = path_join(io->files_dir, agent_id);
	if (path_mkdir_p(set->dir, 0700)) {
		error_errno("cannot create '%s'", set->dir);
		*err = "cannot store the uploaded files";
		return -1;
	}
	for (i = 0; i < set->nr; i++) {
		struct upload_file *f = &set->v[i];
		char *name;

		if (!f->tmp_path)
			continue;
		name = upload_sanitize(f->originalname);
		f->path = link_unique(f->tmp_path, set->dir, name, &f->name);
		free(name);
		if (!f->path) {
			error_errno("cannot store '%s' in '%s'", f->tmp_path,
			    set->dir);
			*err = "cannot store the uploaded files";
			return -1;
		}
		unlink(f->tmp_path);
		free(f->tmp_path);
		f->tmp_path = NULL;
	}
	sync_dir(set->dir);
	return 0;
}

cJSON *
upload_json(const struct upload_set *set)
{
	cJSON *a = msg_new_array();
	size_t i;

	for (i = 0; i < set->nr; i++) {
		const struct upload_file *f = &set->v[i];
		cJSON *o = msg_new_object();

		msg_set_str(o, "fieldname", f->fieldname);
		msg_set_str(o, "originalname", f->originalname);
		msg_set_str(o, "filename", f->name ? f->name : "");
		msg_set_str(o, "path", f->path ? f->path : "");
		msg_set_int(o, "size", (int64_t)f->size);
		msg_set_str(o, "mimetype", f->mimetype);
		msg_push(a, o);
	}
	return a;
}

void
upload_discard(struct upload_set *set)
{
	size_t i;

	for (i = 0; i < set->nr; i++) {
		struct upload_file *f = &set->v[i];

		if (f->fd >= 0) {
			close(f->fd);
			f->fd = -1;
		}
		if (f->tmp_path)
			unlink(f->tmp_path);
		if (f->path)
			unlink(f->path);
	}
	if (set->dir)
		rmdir(set->dir);	/* only if now empty */
}

void
upload_release(struct upload_set *set)
{
	size_t i;

	for (i = 0; i < set->nr; i++) {
		struct upload_file *f = &set->v[i];

		if (f->fd >= 0)
			close(f->fd);
		free(f->fieldname);
		free(f->originalname);
		free(f->mimetype);
		free(f->tmp_path);
		free(f->name);
		free(f->path);
	}
	free(set->v);
	free(set->dir);
	memset(set, 0, sizeof(*set));
}

void
upload_clean_incoming(struct io *io)
{
	DIR *d = opendir(io->incoming_dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strncmp(e->d_name, "up-", 3) &&
		    unlinkat(dirfd(d), e->d_name, 0) == 0)
			log_debug("removed stale upload '%s'", e->d_name);
	}
	closedir(d);
}
