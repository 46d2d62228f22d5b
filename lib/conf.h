#ifndef MEPHISTO_CONF_H
#define MEPHISTO_CONF_H

#include <stddef.h>

#include "yml.h"

/*
 * The user's config file, ~/.mephisto/config.yml (DESIGN.md section 3).
 *
 * Where: $MEPHISTO_CONFIG if set, else "<mephisto home>/config.yml" where
 * the home is $MEPHISTO_HOME or ~/.mephisto.
 *
 * Shape: a mapping of sections, each a mapping of keys to values:
 *
 *	core:
 *	  main_data_directory: ~/mephisto-data
 *	  log_level: info
 *
 * A missing file, an empty file (or only comments) and a section written
 * with no value ("core:") mean no settings.  Anything else at the top or
 * as a section is an error naming FILE:LINE:COL.  Sections and keys this
 * program does not know are kept as they are, in their order.
 *
 * Known keys, checked when set and by conf_check():
 *	core.main_data_directory  a path, absolute or starting with "~/"
 *	core.log_level            debug, info, warn, warning or error
 *
 * Keys read by the remote providers (lib/vendor, lib/provider_prolific):
 *	prolific.api_key          the API token (PROLIFIC_API_KEY wins)
 *	prolific.api_url          the API base, for tests and private
 *	                          deployments
 *	prolific.timeout, prolific.retry_ms, prolific.attempts
 *	mturk.access_key_id, mturk.secret_access_key (AWS_ACCESS_KEY_ID and
 *	AWS_SECRET_ACCESS_KEY win), mturk.endpoint, mturk_sandbox.endpoint,
 *	mturk.timeout, mturk.retry_ms, mturk.attempts
 *
 * Writes (conf_set, conf_unset, conf_init_file, conf_replace, conf_update)
 * take an exclusive flock(2) on "<file>.lock" next to the file, re-read
 * the file under the lock, apply their change and replace the file with
 * path_write_atomic(), so concurrent writers never lose each other's
 * changes and a writer killed at any moment leaves the old file or the new
 * one, never a part (at worst a stray "<file>.tmp.XXXXXX", which the next
 * writer removes).  A symlinked
 * config file is written through to its target.  New files are created
 * 0600 in a 0700 folder; an existing file keeps its mode.  Rewriting a
 * file from the tree drops its comments (conf_replace writes text as
 * given, so an edit in an editor keeps them).
 *
 * Test hook: when MEPHISTO_TEST_PAUSE_WRITE names a file, a writer that
 * holds the lock and has the new contents ready (but has not started
 * replacing the file) creates that file and waits, up to 60 s, until it is
 * removed.  Tests use it to kill a writer or race another one at that
 * point.  Not for other use.
 *
 * Library code: nothing here prints or exits; errors come back as -1 and
 * a malloc'd message in *ERRP (callers free it).
 */

struct conf {
	char *path;		/* the file read */
	struct yml_node *root;	/* a mapping, or NULL for no settings */
};

#define CONF_INIT { NULL, NULL }

/*
 * The config file's path: $MEPHISTO_CONFIG, else
 * "<mephisto home>/config.yml".  Returns NULL with *ERRP set when neither
 * MEPHISTO_HOME nor HOME is set.
 */
char *conf_path(char **errp);

/*
 * Read PATH (NULL: conf_path()) into C.  A missing file is no settings.
 * The shape is checked (see above); values are not (see conf_check()).
 * Returns 0, or -1 with *ERRP set and C left empty.
 */
int conf_load(struct conf *c, const char *path, char **errp);

void conf_release(struct conf *c);

/*
 * Split "SECTION.KEY" at its first dot into malloc'd *SECTION and *NAME.
 * Returns 0, or -1 with *ERRP set when either part is empty or there is
 * no dot.
 */
int conf_split_key(const char *key, char **section, char **name,
    char **errp);

/* The value of "SECTION.KEY", or NULL when unset or KEY is malformed. */
const struct yml_node *conf_get(const struct conf *c, const char *key);

/*
 * Check VALUE for KEY when KEY is a known key (see above); unknown keys
 * pass.  NAME (the file, may be NULL) and VALUE's position go in the
 * message.  Returns 0, or -1 with *ERRP set.
 */
int conf_check_value(const char *key, const struct yml_node *value,
    const char *name, char **errp);

/* Check every known key in C.  Returns 0, or -1 with *ERRP set. */
int conf_check(const struct conf *c, char **errp);

/*
 * Change the file at PATH (NULL: conf_path()) under the lock: FN gets the
 * current root (NULL when there are no settings; FN may replace it, and
 * must leave a mapping or NULL) and returns 1 to write the result, 0 to
 * leave the file as it is, or -1 with *ERRP set to fail.  Before writing,
 * the result is checked with conf_check().  Returns FN's result, or -1
 * with *ERRP set.
 */
typedef int conf_update_fn(struct yml_node **rootp, void *data, char **errp);
int conf_update(const char *path, conf_update_fn *fn, void *data,
    char **errp);

/*
 * Set "SECTION.KEY" to TEXT as a scalar of STYLE (YML_PLAIN: typed by its
 * text, e.g. a number; other styles: a string), creating the section if
 * needed.  Known keys are checked first.  Returns 0, or -1 with *ERRP set
 * (file unchanged).
 */
int conf_set(const char *path, const char *key, const char *text,
    enum yml_style style, char **errp);

/*
 * Remove "SECTION.KEY"; a section left empty is removed too.  Returns 1
 * when the key was there, 0 when it was not (file unchanged), -1 with
 * *ERRP set on failure.
 */
int conf_unset(const char *path, const char *key, char **errp);

/*
 * Create the file with "core: {}" (and its folder) if it does not exist.
 * Returns 1 when created, 0 when it was there already, -1 with *ERRP set.
 */
int conf_init_file(const char *path, char **errp);

/*
 * Replace the whole file with LEN bytes of TEXT, byte for byte, after
 * checking that TEXT is a valid config (NAME is used in its messages).
 * When EXPECT is not NULL the file must still hold exactly EXPECT_LEN
 * bytes of EXPECT (or be missing when EXPECT_LEN is (size_t)-1), else
 * nothing is written and the call fails: someone changed it meanwhile.
 * Returns 0, or -1 with *ERRP set.
 */
int conf_replace(const char *path, const char *text, size_t len,
    const char *name, const char *expect, size_t expect_len, char **errp);

/*
 * The data folder: core.main_data_directory with "~/" expanded, else
 * "<mephisto home>/data".  Never prompts.  C may be NULL to read the
 * default config file.  Returns a malloc'd path, or NULL with *ERRP set.
 */
char *conf_data_dir(const struct conf *c, char **errp);

/*
 * The database: $MEPHISTO_DB if set, else "<data folder>/database.db".
 * C may be NULL as for conf_data_dir().
 */
char *conf_db_path(const struct conf *c, char **errp);

/*
 * core.log_level: *NAME is set to the configured name (borrowed from C),
 * or NULL when unset.  Returns 0, or -1 with *ERRP set when the value is
 * not a level.  Programs pass *NAME to log_level_from_env().
 */
int conf_log_level(const struct conf *c, const char **name, char **errp);

#endif
