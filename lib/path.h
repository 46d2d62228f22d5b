#ifndef MEPHISTO_PATH_H
#define MEPHISTO_PATH_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Where things live (DESIGN.md section 3), and file-system helpers that
 * every program shares.  Returned char * strings belong to the caller.
 */

/* Directory holding the running executable (from /proc/self/exe). */
char *path_exe_dir(void);

/*
 * The share folder ($(DATADIR)/mephisto): $MEPHISTO_SHARE if set, else
 * "<exe dir>/../share/mephisto", "<exe dir>/../../share/mephisto" or
 * "<exe dir>/../../../share/mephisto" when
 * that folder holds schema.sql (a build tree or a relocated install), else
 * the compiled-in MEPHISTO_DATADIR.
 */
char *path_share(void);

/*
 * The mephisto home folder: $MEPHISTO_HOME, else "$HOME/.mephisto".
 * Returns NULL with errno ENOENT when neither is set.
 */
char *path_home(void);

/* Expand a leading "~/" with $HOME.  Always returns a new string. */
char *path_expand_home(const char *path);

/* Join A and B with one '/'. */
char *path_join(const char *a, const char *b);

/*
 * Create DIR and its missing parents with MODE (like mkdir -p).
 * Returns 0, or -1 with errno set.
 */
int path_mkdir_p(const char *dir, mode_t mode);

/*
 * Replace PATH with LEN bytes of DATA atomically: write a temporary file
 * in the same folder, fsync it, rename it over PATH, fsync the folder.  A
 * reader sees either the old file or the new one, never a mix; a crash
 * leaves at worst a stray temporary file.  Returns 0, or -1 with errno set
 * (PATH untouched).
 */
int path_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode);

#endif
