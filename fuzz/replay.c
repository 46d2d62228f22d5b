/*
 * Run a fuzz harness without libFuzzer: feed it each FILE given, or every
 * regular file in each DIRECTORY given, once.  "make check" uses this to
 * replay the seed corpus and the inputs of crashes that were fixed.
 *
 *   NAME-replay FILE|DIRECTORY...
 *
 * Prints "N inputs" to stderr; a crash in the harness is the failure.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "log.h"
#include "fuzz.h"
#include "xalloc.h"
#include "banned.h"

static unsigned long count;

static void
run_file(const char *path)
{
	struct buf b = BUF_INIT;
	uint8_t *copy;

	if (buf_read_file(&b, path, 0) < 0)
		die_errno("cannot read '%s'", path);
	/* an exact-size copy, so ASan sees reads past the end */
	copy = xmalloc(b.len ? b.len : 1);
	memcpy(copy, b.buf, b.len);
	LLVMFuzzerTestOneInput(copy, b.len);
	free(copy);
	buf_release(&b);
	count++;
}

static void
run_path(const char *path)
{
	struct stat st;
	struct dirent *de;
	DIR *d;

	if (stat(path, &st))
		die_errno("cannot stat '%s'", path);
	if (!S_ISDIR(st.st_mode)) {
		run_file(path);
		return;
	}
	if (!(d = opendir(path)))
		die_errno("cannot open '%s'", path);
	while ((de = readdir(d))) {
		char *p;

		if (de->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", path, de->d_name);
		if (!stat(p, &st) && S_ISREG(st.st_mode))
			run_file(p);
		free(p);
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIRECTORY...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++)
		run_path(argv[i]);
	fprintf(stderr, "%lu inputs\n", count);
	return 0;
}
