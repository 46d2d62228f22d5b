#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "opt.h"
#include "banned.h"

int
opt_is_completion_helper(int argc, char *const argv[])
{
	return argc > 1 && !strcmp(argv[1], OPT_COMPLETION_HELPER);
}

static int
accepted(const struct option *o, const int *only)
{
	if (!only || !strcmp(o->name, "help"))
		return 1;
	for (; *only; only++)
		if (*only == o->val)
			return 1;
	return 0;
}

static void
print_longopts(const struct option *longopts, const int *only)
{
	const struct option *o;

	for (o = longopts; o && o->name; o++)
		if (accepted(o, only))
			printf("--%s%s\n", o->name,
			    o->has_arg == required_argument ? "=" : "");
}

void
opt_print_longopts(const struct option *longopts)
{
	print_longopts(longopts, NULL);
}

int
opt_getopt_only(int argc, char *const argv[], const char *shortopts,
    const struct option *longopts, const int *only)
{
	if (opt_is_completion_helper(argc, argv)) {
		print_longopts(longopts, only);
		exit(log_close_stdout());
	}
	return getopt_long(argc, argv, shortopts, longopts, NULL);
}

int
opt_getopt(int argc, char *const argv[], const char *shortopts,
    const struct option *longopts)
{
	return opt_getopt_only(argc, argv, shortopts, longopts, NULL);
}
