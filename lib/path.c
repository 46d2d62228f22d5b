#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "path.h"
#include "xalloc.h"
#include "banned.h"

#ifndef MEPHISTO_DATADIR
#define MEPHISTO_DATADIR "/usr/local/share/mephisto"
#endif

char *
path_exe_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return xstrdup(".");
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	return xstrdup(exe);
}

char *
path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (la && a[la - 1] == '/')
		return xasprintf("%s%s", a, b);
	return xasprintf("%s/%s", a, b);
}

static int
has_schema(const char *dir)
{
	char *p = path_join(dir, "schema.sql");
	int ok = access(p, R_OK) == 0;

	free(p);
	return ok;
}

char *
path_share(void)
{
	static const char *const rel[] = {
		"../share/mephisto", "../../share/mephisto",
		"../../../share/mephisto",
	};
	const char *env = getenv("MEPHISTO_SHARE");
	char *exe, *cand;
	size_t i;

	if (env && *env)
		return xstrdup(env);
	exe = path_exe_dir();
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		cand = path_join(exe, rel[i]);
		if (has_schema(cand)) {
			free(exe);
			return cand;
		}
		free(cand);
	}
	free(exe);
	return xstrdup(MEPHISTO_DATADIR);
}

char *
path_home(void)
{
	const char *env = getenv("MEPHISTO_HOME");
	const char *home = getenv("HOME");

	if (env && *env)
		return xstrdup(env);
	if (!home || !*home) {
		errno = ENOENT;
		return NULL;
	}
	return path_join(home, ".mephisto");
}

char *
path_expand_home(const char *path)
{
	const char *home = getenv("HOME");

	if (path[0] == '~' && (path[1] == '/' || !path[1]) && home && *home)
		return xasprintf("%s%s", home, path + 1);
	return xstrdup(path);
}

int
path_mkdir_p(const char *dir, mode_t mode)
{
	char *p = xstrdup(dir), *s;
	struct stat st;
	int ret = 0;

	for (s = p + 1; ; s++) {
		if (*s && *s != '/')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			ret = -1;
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	if (!ret && stat(dir, &st) < 0)
		ret = -1;
	else if (!ret && !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		ret = -1;
	}
	free(p);
	return ret;
}

static int
fsync_dir_of(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	int fd, ret = 0;

	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else {
		free(dir);
		dir = xstrdup(".");
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		ret = fsync(fd);
		close(fd);
	}
	free(dir);
	return ret;
}

int
path_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char *tmp = xasprintf("%s.tmp.XXXXXX", path);
	int fd, saved;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		goto fail;
	if (fchmod(fd, mode) < 0)
		goto fail_fd;
	if (buf_write_fd(fd, data, len) < 0 || fsync(fd) < 0)
		goto fail_fd;
	if (close(fd) < 0) {
		fd = -1;
		goto fail_unlink;
	}
	if (rename(tmp, path) < 0)
		goto fail_unlink;
	free(tmp);
	fsync_dir_of(path);
	return 0;

fail_fd:
	saved = errno;
	close(fd);
	errno = saved;
fail_unlink:
	saved = errno;
	unlink(tmp);
	errno = saved;
fail:
	saved = errno;
	free(tmp);
	errno = saved;
	return -1;
}
