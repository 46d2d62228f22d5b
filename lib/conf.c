#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "path.h"
#include "xalloc.h"
#include "yml.h"
#include "banned.h"

/* Hand MSG (malloc'd) to the caller through ERRP and return -1. */
static int
fail(char **errp, char *msg)
{
	if (errp)
		*errp = msg;
	else
		free(msg);
	return -1;
}

char *
conf_path(char **errp)
{
	const char *env = getenv("MEPHISTO_CONFIG");
	char *home, *path;

	if (env && *env)
		return path_expand_home(env);
	home = path_home();
	if (!home) {
		fail(errp, xstrdup("cannot find the config file: neither "
		    "MEPHISTO_CONFIG, MEPHISTO_HOME nor HOME is set"));
		return NULL;
	}
	path = path_join(home, "config.yml");
	free(home);
	return path;
}

/* A scalar that means "nothing here": an empty section or value. */
static int
is_null(const struct yml_node *n)
{
	return n && n->type == YML_SCALAR &&
	    yml_scalar_kind(n) == YML_KIND_NULL;
}

static int
check_shape(const struct yml_node *root, const char *name, char **errp)
{
	size_t i;

	if (!root)
		return 0;
	if (root->type != YML_MAPPING)
		return fail(errp, yml_errorf(name, root,
		    "the config must be a mapping of sections, not %s",
		    yml_describe(root)));
	for (i = 0; i < root->nr; i++) {
		const struct yml_pair *p = &root->pairs[i];

		if (p->value->type != YML_MAPPING && !is_null(p->value))
			return fail(errp, yml_errorf(name, p->value,
			    "section '%s' must be a mapping of keys, not %s",
			    p->key->text, yml_describe(p->value)));
	}
	return 0;
}

void
conf_release(struct conf *c)
{
	free(c->path);
	yml_free(c->root);
	c->path = NULL;
	c->root = NULL;
}

/* Parse TEXT as a config: a mapping of sections, or nothing. */
static int
parse_conf(const char *text, size_t len, const char *name,
    struct yml_node **rootp, char **errp)
{
	if (yml_load_string(text, len, name, rootp, errp) < 0)
		return -1;
	if (is_null(*rootp)) {
		yml_free(*rootp);
		*rootp = NULL;
	}
	if (check_shape(*rootp, name, errp) < 0) {
		yml_free(*rootp);
		*rootp = NULL;
		return -1;
	}
	return 0;
}

/*
 * Read the file at C->path into C->root; a missing file is no settings.
 * When RAW is not NULL the file's bytes are appended to it.
 */
static int
read_conf(struct conf *c, struct buf *raw, char **errp)
{
	struct buf b = BUF_INIT;
	int ret;

	if (buf_read_file(&b, c->path, YML_MAX_FILE_SIZE) < 0) {
		int saved = errno;

		buf_release(&b);
		if (saved == ENOENT)
			return 0;
		return fail(errp, xasprintf("cannot read '%s': %s", c->path,
		    saved == EFBIG ? "file larger than 16 MiB" :
		    strerror(saved)));
	}
	ret = parse_conf(b.buf, b.len, c->path, &c->root, errp);
	if (raw)
		buf_add(raw, b.buf, b.len);
	buf_release(&b);
	return ret;
}

int
conf_load(struct conf *c, const char *path, char **errp)
{
	c->root = NULL;
	c->path = path ? xstrdup(path) : conf_path(errp);
	if (!c->path)
		return -1;
	if (read_conf(c, NULL, errp) < 0) {
		conf_release(c);
		return -1;
	}
	return 0;
}

int
conf_split_key(const char *key, char **section, char **name, char **errp)
{
	const char *dot = strchr(key, '.');

	if (!dot || dot == key || !dot[1])
		return fail(errp, xasprintf("invalid key '%s': expected "
		    "SECTION.KEY, e.g. core.main_data_directory", key));
	*section = xstrndup(key, (size_t)(dot - key));
	*name = xstrdup(dot + 1);
	return 0;
}

const struct yml_node *
conf_get(const struct conf *c, const char *key)
{
	char *section, *name;
	const struct yml_node *v;

	if (conf_split_key(key, &section, &name, NULL) < 0)
		return NULL;
	v = yml_get(yml_get(c->root, section), name);
	free(section);
	free(name);
	return v;
}

/* Known keys */

static int
check_level(const char *key, const struct yml_node *v, const char *name,
    char **errp)
{
	enum log_level level;

	if (!log_parse_level(v->text, &level))
		return 0;
	return fail(errp, yml_errorf(name, v, "invalid %s '%s': expected "
	    "debug, info, warn, warning or error", key, v->text));
}

static int
check_dir(const char *key, const struct yml_node *v, const char *name,
    char **errp)
{
	char *path = path_expand_home(v->text);
	int ok = path[0] == '/';

	free(path);
	if (ok)
		return 0;
	return fail(errp, yml_errorf(name, v, "invalid %s '%s': expected an "
	    "absolute path or one starting with '~/'", key, v->text));
}

static const struct {
	const char *key;
	int (*check)(const char *key, const struct yml_node *v,
	    const char *name, char **errp);
} known_keys[] = {
	{ "core.log_level", check_level },
	{ "core.main_data_directory", check_dir },
};

int
conf_check_value(const char *key, const struct yml_node *v, const char *name,
    char **errp)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(known_keys); i++) {
		if (strcmp(key, known_keys[i].key))
			continue;
		if (!v || is_null(v))
			return 0;
		if (v->type != YML_SCALAR)
			return fail(errp, yml_errorf(name, v, "%s must be a "
			    "string, not %s", key, yml_describe(v)));
		return known_keys[i].check(key, v, name, errp);
	}
	return 0;
}

int
conf_check(const struct conf *c, char **errp)
{
	const struct yml_node *root = c->root, *sec;
	size_t i, j;
	char *key;
	int ret = 0;

	if (check_shape(root, c->path, errp) < 0)
		return -1;
	for (i = 0; root && i < root->nr && !ret; i++) {
		sec = root->pairs[i].value;
		for (j = 0; sec->type == YML_MAPPING && j < sec->nr && !ret;
		    j++) {
			key = xasprintf("%s.%s", root->pairs[i].key->text,
			    sec->pairs[j].key->text);
			ret = conf_check_value(key, sec->pairs[j].value,
			    c->path, errp);
			free(key);
		}
	}
	return ret;
}

/* Locked writes */

/* The file to write: PATH, or the target when PATH is a symlink. */
static char *
write_target(const char *path)
{
	struct stat st;
	char *real;

	if (lstat(path, &st) < 0 || !S_ISLNK(st.st_mode))
		return xstrdup(path);
	real = realpath(path, NULL);
	return real ? real : xstrdup(path);
}

static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/*
 * Open "<FILE>.lock" (creating FILE's folder if needed) and wait for an
 * exclusive lock on it.  The lock goes when the descriptor is closed or
 * the process dies.  Returns the descriptor, or -1 with *ERRP set.
 */
static int
lock_file(const char *file, char **errp)
{
	char *dir = dir_of(file), *lock = xasprintf("%s.lock", file);
	int fd = -1;

	if (path_mkdir_p(dir, 0700) < 0) {
		fail(errp, xasprintf("cannot create '%s': %s", dir,
		    strerror(errno)));
		goto out;
	}
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fail(errp, xasprintf("cannot open '%s': %s", lock,
		    strerror(errno)));
		goto out;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		fail(errp, xasprintf("cannot lock '%s': %s", lock,
		    strerror(errno)));
		close(fd);
		fd = -1;
		break;
	}
out:
	free(dir);
	free(lock);
	return fd;
}

/*
 * Remove "<FILE>.tmp.XXXXXX" files left by writers that died before their
 * rename.  Only writers holding the lock create them, so while we hold it
 * any that exist are stale.
 */
static void
remove_stale_temps(const char *file)
{
	char *dir = dir_of(file), *prefix, *p;
	const char *base = strrchr(file, '/');
	struct dirent *de;
	size_t plen;
	DIR *d;

	base = base ? base + 1 : file;
	prefix = xasprintf("%s.tmp.", base);
	plen = strlen(prefix);
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, prefix, plen) ||
		    strlen(de->d_name) != plen + 6)
			continue;
		p = path_join(dir, de->d_name);
		unlink(p);
		free(p);
	}
	if (d)
		closedir(d);
	free(prefix);
	free(dir);
}

/* See MEPHISTO_TEST_PAUSE_WRITE in conf.h. */
static void
test_pause(void)
{
	const char *flag = getenv("MEPHISTO_TEST_PAUSE_WRITE");
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int fd, i;

	if (!flag || !*flag)
		return;
	fd = open(flag, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	close(fd);
	for (i = 0; i < 6000 && access(flag, F_OK) == 0; i++)
		nanosleep(&ts, NULL);
}

static int
write_file(const char *file, const char *text, size_t len, char **errp)
{
	struct stat st;
	mode_t mode = 0600;

	if (stat(file, &st) == 0)
		mode = st.st_mode & 07777;
	remove_stale_temps(file);
	test_pause();
	if (path_write_atomic(file, text, len, mode) < 0)
		return fail(errp, xasprintf("cannot write '%s': %s", file,
		    strerror(errno)));
	return 0;
}

static char *
resolve_path(const char *path, char **errp)
{
	char *given = path ? xstrdup(path) : conf_path(errp), *target;

	if (!given)
		return NULL;
	target = write_target(given);
	free(given);
	return target;
}

int
conf_update(const char *path, conf_update_fn *fn, void *data, char **errp)
{
	struct conf c = CONF_INIT;
	struct buf out = BUF_INIT;
	int fd, ret = -1;

	c.path = resolve_path(path, errp);
	if (!c.path)
		return -1;
	fd = lock_file(c.path, errp);
	if (fd < 0)
		goto out;
	if (read_conf(&c, NULL, errp) < 0)
		goto out;
	ret = fn(&c.root, data, errp);
	if (ret <= 0)
		goto out;
	ret = -1;
	if (conf_check(&c, errp) < 0 || yml_save(c.root, &out, errp) < 0 ||
	    write_file(c.path, out.buf, out.len, errp) < 0)
		goto out;
	ret = 1;
out:
	if (fd >= 0)
		close(fd);
	buf_release(&out);
	conf_release(&c);
	return ret;
}

struct set_args {
	const char *section, *name;
	const struct yml_node *value;
	int found;
};

static int
set_fn(struct yml_node **rootp, void *data, char **errp)
{
	struct set_args *a = data;
	struct yml_node *sec;

	if (!*rootp)
		*rootp = yml_new_mapping();
	sec = yml_get(*rootp, a->section);
	if (!sec || sec->type != YML_MAPPING)
		sec = yml_set(*rootp, a->section, yml_new_mapping());
	yml_set(sec, a->name, yml_dup(a->value));
	return 1;
}

int
conf_set(const char *path, const char *key, const char *text,
    enum yml_style style, char **errp)
{
	struct set_args a = { NULL, NULL, NULL, 0 };
	char *section, *name;
	struct yml_node *value;
	int ret;

	if (conf_split_key(key, &section, &name, errp) < 0)
		return -1;
	value = yml_new_scalar(text, style);
	a.section = section;
	a.name = name;
	a.value = value;
	ret = conf_check_value(key, value, NULL, errp);
	if (!ret)
		ret = conf_update(path, set_fn, &a, errp) < 0 ? -1 : 0;
	yml_free(value);
	free(section);
	free(name);
	return ret;
}

static int
unset_fn(struct yml_node **rootp, void *data, char **errp)
{
	struct set_args *a = data;
	struct yml_node *sec = yml_get(*rootp, a->section);

	if (!sec || sec->type != YML_MAPPING || !yml_delete(sec, a->name))
		return 0;
	a->found = 1;
	if (!sec->nr)
		yml_delete(*rootp, a->section);
	return 1;
}

int
conf_unset(const char *path, const char *key, char **errp)
{
	struct set_args a = { NULL, NULL, NULL, 0 };
	char *section, *name;
	int ret;

	if (conf_split_key(key, &section, &name, errp) < 0)
		return -1;
	a.section = section;
	a.name = name;
	ret = conf_update(path, unset_fn, &a, errp);
	free(section);
	free(name);
	return ret < 0 ? -1 : a.found;
}

int
conf_init_file(const char *path, char **errp)
{
	static const char initial[] = "core: {}\n";
	char *file = resolve_path(path, errp);
	int fd, ret = -1;

	if (!file)
		return -1;
	fd = lock_file(file, errp);
	if (fd < 0)
		goto out;
	if (access(file, F_OK) == 0)
		ret = 0;
	else if (errno != ENOENT)
		fail(errp, xasprintf("cannot access '%s': %s", file,
		    strerror(errno)));
	else if (write_file(file, initial, sizeof(initial) - 1, errp) == 0)
		ret = 1;
	close(fd);
out:
	free(file);
	return ret;
}

/* Whether the file now holds the bytes EXPECT (missing: EXPECT_LEN -1). */
static int
unchanged(const char *file, const char *expect, size_t expect_len,
    char **errp)
{
	struct buf now = BUF_INIT;
	int same;

	if (buf_read_file(&now, file, YML_MAX_FILE_SIZE) < 0) {
		int saved = errno;

		buf_release(&now);
		if (saved == ENOENT)
			return expect_len == (size_t)-1;
		return fail(errp, xasprintf("cannot read '%s': %s", file,
		    strerror(saved)));
	}
	same = expect_len != (size_t)-1 && now.len == expect_len &&
	    !memcmp(now.buf, expect, expect_len);
	buf_release(&now);
	return same;
}

int
conf_replace(const char *path, const char *text, size_t len,
    const char *name, const char *expect, size_t expect_len, char **errp)
{
	struct conf c = CONF_INIT;
	int fd = -1, ret = -1, same;

	c.path = xstrdup(name);
	if (parse_conf(text, len, name, &c.root, errp) < 0 ||
	    conf_check(&c, errp) < 0)
		goto out;
	free(c.path);
	c.path = resolve_path(path, errp);
	if (!c.path)
		goto out;
	fd = lock_file(c.path, errp);
	if (fd < 0)
		goto out;
	if (expect) {
		same = unchanged(c.path, expect, expect_len, errp);
		if (same < 0)
			goto out;
		if (!same) {
			fail(errp, xasprintf("'%s' was changed by someone "
			    "else meanwhile", c.path));
			goto out;
		}
	}
	ret = write_file(c.path, text, len, errp);
out:
	if (fd >= 0)
		close(fd);
	conf_release(&c);
	return ret;
}

/* Values for programs */

char *
conf_data_dir(const struct conf *c, char **errp)
{
	struct conf own = CONF_INIT;
	const struct yml_node *v;
	char *dir = NULL, *home;

	if (!c) {
		if (conf_load(&own, NULL, errp) < 0)
			return NULL;
		c = &own;
	}
	v = conf_get(c, "core.main_data_directory");
	if (v && !is_null(v)) {
		if (conf_check_value("core.main_data_directory", v, c->path,
		    errp) == 0)
			dir = path_expand_home(v->text);
	} else if ((home = path_home())) {
		dir = path_join(home, "data");
		free(home);
	} else
		fail(errp, xstrdup("cannot find the data folder: neither "
		    "MEPHISTO_HOME nor HOME is set"));
	conf_release(&own);
	return dir;
}

char *
conf_db_path(const struct conf *c, char **errp)
{
	const char *env = getenv("MEPHISTO_DB");
	char *dir, *db;

	if (env && *env)
		return xstrdup(env);
	dir = conf_data_dir(c, errp);
	if (!dir)
		return NULL;
	db = path_join(dir, "database.db");
	free(dir);
	return db;
}

int
conf_log_level(const struct conf *c, const char **name, char **errp)
{
	const struct yml_node *v = conf_get(c, "core.log_level");

	*name = NULL;
	if (!v || is_null(v))
		return 0;
	if (conf_check_value("core.log_level", v, c->path, errp) < 0)
		return -1;
	*name = v->text;
	return 0;
}
