#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "msg.h"
#include "path.h"
#include "proto.h"
#include "provider.h"
#include "site.h"
#include "xalloc.h"
#include "banned.h"

#define MAX_DEPTH 32

/* Names the site writes itself; task files may not take them. */
static const char *const reserved[] = {
	"index.html", "mephisto-static.js", "wrap_crowd_source.js",
	"task_config.json", "preview.html", "onboarding.html", "bundle.js",
};

static int PRINTF_LIKE(2, 3)
fail(char **errp, const char *fmt, ...)
{
	va_list ap;
	struct buf b = BUF_INIT;
	int e = errno;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (errp)
		*errp = buf_detach(&b, NULL);
	else
		buf_release(&b);
	errno = e;
	return -1;
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Can io serve a file of this name?  (See static_path_ok in io.) */
static int
servable(const char *name)
{
	const char *p;

	if (!*name || *name == '.')
		return 0;
	for (p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			return 0;
	return 1;
}

static int
is_reserved(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(reserved); i++)
		if (!strcmp(name, reserved[i]))
			return 1;
	return 0;
}

char *
site_page_name(const char *task_source, char **errp)
{
	const char *name = base_name(task_source);

	if (!servable(name)) {
		fail(errp, "cannot serve the task file '%s': its name is hidden "
		    "or has control characters or backslashes", task_source);
		return NULL;
	}
	if (is_reserved(name)) {
		fail(errp, "cannot serve the task file '%s': the name '%s' is "
		    "taken by a file the site makes itself; rename it",
		    task_source, name);
		return NULL;
	}
	return xstrdup(name);
}

/* Copy the regular file SRC to the new file DST. */
static int
copy_file(const char *src, const char *dst, char **errp)
{
	char chunk[65536];
	struct stat st;
	int in, out, r = 0;
	ssize_t n;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return fail(errp, "cannot open '%s': %s", src, strerror(errno));
	if (fstat(in, &st) || !S_ISREG(st.st_mode)) {
		close(in);
		errno = EINVAL;
		return fail(errp, "cannot copy '%s': not a regular file", src);
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		r = fail(errp, "cannot create '%s': %s", dst, strerror(errno));
		close(in);
		return r;
	}
	while ((n = read(in, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = fail(errp, "cannot read '%s': %s", src,
			    strerror(errno));
			break;
		}
		if (buf_write_fd(out, chunk, (size_t)n)) {
			r = fail(errp, "cannot write '%s': %s", dst,
			    strerror(errno));
			break;
		}
	}
	close(in);
	if (close(out) && !r)
		r = fail(errp, "cannot write '%s': %s", dst, strerror(errno));
	return r;
}

/* Copy SRC to DIR/NAME. */
static int
copy_as(const char *src, const char *dir, const char *name, char **errp)
{
	char *dst = path_join(dir, name);
	int r = copy_file(src, dst, errp);

	free(dst);
	return r;
}

static int
write_text(const char *dir, const char *name, const char *text, size_t len,
    char **errp)
{
	char *path = path_join(dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	int r = 0;

	if (fd < 0 || buf_write_fd(fd, text, len))
		r = fail(errp, "cannot write '%s': %s", path, strerror(errno));
	if (fd >= 0 && close(fd) && !r)
		r = fail(errp, "cannot write '%s': %s", path, strerror(errno));
	free(path);
	return r;
}

/*
 * Copy the tree SRC into DST (an existing folder), following symbolic
 * links to regular files and folders and leaving hidden files out.  At
 * the top (DEPTH 0) a name the site uses itself is an error.
 */
static int
copy_tree(const char *src, const char *dst, int depth, char **errp)
{
	DIR *d;
	struct dirent *e;
	int r = 0;

	if (depth > MAX_DEPTH) {
		errno = ELOOP;
		return fail(errp, "cannot copy '%s': nested too deep", src);
	}
	d = opendir(src);
	if (!d)
		return fail(errp, "cannot open folder '%s': %s", src,
		    strerror(errno));
	while (!r && (e = readdir(d))) {
		char *from, *to;
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		from = path_join(src, e->d_name);
		to = path_join(dst, e->d_name);
		if (!servable(e->d_name)) {
			errno = EINVAL;
			r = fail(errp, "cannot serve '%s': its name has control "
			    "characters or backslashes", from);
		} else if (!depth && is_reserved(e->d_name)) {
			errno = EEXIST;
			r = fail(errp, "cannot copy '%s': the name '%s' is taken "
			    "by a file the site makes itself", from,
			    e->d_name);
		} else if (stat(from, &st)) {
			r = fail(errp, "cannot read '%s': %s", from,
			    strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			if (mkdir(to, 0755))
				r = fail(errp, "cannot create '%s': %s", to,
				    strerror(errno));
			else
				r = copy_tree(from, to, depth + 1, errp);
		} else if (S_ISREG(st.st_mode)) {
			r = copy_file(from, to, errp);
		}
		free(from);
		free(to);
	}
	closedir(d);
	return r;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void
rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
write_task_config(const char *dir, const struct site_settings *s,
    char **errp)
{
	struct buf b = BUF_INIT;
	cJSON *o;
	int r;

	if (s->frontend_args && !cJSON_IsObject(s->frontend_args)) {
		errno = EINVAL;
		return fail(errp, "the frontend arguments must be an object");
	}
	o = s->frontend_args ? msg_dup(s->frontend_args) : msg_new_object();
	msg_set_str(o, "mephisto_task_version", MEPHISTO_TASK_VERSION);
	msg_print(o, &b);
	buf_addch(&b, '\n');
	msg_free(o);
	r = write_text(dir, "task_config.json", b.buf, b.len, errp);
	buf_release(&b);
	return r;
}

#define SCRIPT_MAX (1024 * 1024)

/* Append the share file web/providers/NAME.js to B. */
static int
add_script(struct buf *b, const char *share, const char *name, char **errp)
{
	char *src = xasprintf("%s/web/providers/%s.js", share, name);
	int r = 0;

	if (buf_read_file(b, src, SCRIPT_MAX) < 0)
		r = fail(errp, "cannot read '%s': %s", src, strerror(errno));
	free(src);
	return r;
}

/*
 * The provider's wrap_crowd_source.js: its type, the part every provider
 * shares (common.js), then its family's script (struct provider).
 */
static int
write_provider(const char *dir, const char *share,
    const struct site_settings *s, char **errp)
{
	const struct provider *p = provider_find(s->provider_type);
	struct buf b = BUF_INIT;
	int r;

	if (!p || !p->web_script) {
		errno = ENOENT;
		return fail(errp, "no browser script for provider '%s'",
		    s->provider_type ? s->provider_type : "");
	}
	buf_addf(&b, "var MEPHISTO_PROVIDER_TYPE = \"%s\";\n", p->name);
	r = add_script(&b, share, "common", errp);
	if (!r)
		r = add_script(&b, share, p->web_script, errp);
	if (!r)
		r = write_text(dir, "wrap_crowd_source.js", b.buf, b.len, errp);
	buf_release(&b);
	return r;
}

static int
build_static(const char *dir, const char *share,
    const struct site_settings *s, char **errp)
{
	char *client = path_join(share, "web/static"), *page;
	int r;

	page = site_page_name(s->task_source, errp);
	if (!page) {
		free(client);
		errno = EINVAL;
		return -1;
	}
	r = copy_tree(client, dir, 1, errp);
	if (!r)
		r = copy_as(s->task_source, dir, page, errp);
	if (!r)
		r = copy_as(s->preview_source ? s->preview_source :
		    s->task_source, dir, "preview.html", errp);
	if (!r && s->onboarding_source)
		r = copy_as(s->onboarding_source, dir, "onboarding.html",
		    errp);
	free(client);
	free(page);
	return r;
}

static int
build_react(const char *dir, const char *share,
    const struct site_settings *s, char **errp)
{
	char *index = path_join(share, "web/react/index.html");
	int r = copy_as(index, dir, "index.html", errp);

	if (!r)
		r = copy_as(s->task_source, dir, "bundle.js", errp);
	free(index);
	return r;
}

/* Put the folder TMP in the place of DIR (exchanging them if DIR exists). */
static int
swap_in(const char *tmp, const char *dir, char **errp)
{
	if (!renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE)) {
		rm_rf(tmp);	/* now the old folder */
		return 0;
	}
	if (errno == ENOENT && !rename(tmp, dir))
		return 0;
	return fail(errp, "cannot replace '%s': %s", dir, strerror(errno));
}

int
site_build(const char *static_dir, const struct site_settings *s,
    char **errp)
{
	static unsigned serial;
	char *share, *tmp;
	int r, react;

	if (!s->blueprint_type || (strcmp(s->blueprint_type, "static_task") &&
	    strcmp(s->blueprint_type, "static_react_task") &&
	    strcmp(s->blueprint_type, "live_task"))) {
		errno = EINVAL;
		return fail(errp, "cannot build a site for blueprint '%s'",
		    s->blueprint_type ? s->blueprint_type : "");
	}
	if (!s->task_source) {
		errno = EINVAL;
		return fail(errp, "no task_source");
	}
	react = !strcmp(s->blueprint_type, "static_react_task") ||
	    !strcmp(s->blueprint_type, "live_task");
	share = s->share_dir ? xstrdup(s->share_dir) : path_share();
	tmp = xasprintf("%s.new-%ld-%u", static_dir, (long)getpid(), serial++);
	rm_rf(tmp);
	if (mkdir(tmp, 0755)) {
		r = fail(errp, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	r = react ? build_react(tmp, share, s, errp) :
	    build_static(tmp, share, s, errp);
	if (!r)
		r = write_provider(tmp, share, s, errp);
	if (!r && s->extra_source_dir)
		r = copy_tree(s->extra_source_dir, tmp, 0, errp);
	if (!r)
		r = write_task_config(tmp, s, errp);
	if (!r)
		r = swap_in(tmp, static_dir, errp);
	if (r)
		rm_rf(tmp);
out:
	free(share);
	free(tmp);
	return r;
}
