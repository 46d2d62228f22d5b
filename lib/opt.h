#ifndef MEPHISTO_OPT_H
#define MEPHISTO_OPT_H

#include <getopt.h>

/*
 * Command-line options, and the completion helper behind the shell
 * completions in completions/.  A completion script runs
 *
 *     PROGRAM [COMMAND] --completion-helper
 *
 * and offers the words it prints, one per line: the long options of that
 * program or command ("--name", or "--name=" when it takes a value) and,
 * for a program with commands, the command names.  So completions follow
 * the programs' own option tables instead of copies of them.
 */

#define OPT_COMPLETION_HELPER "--completion-helper"

/*
 * getopt_long(ARGC, ARGV, SHORTOPTS, LONGOPTS, NULL), except that when
 * ARGV[1] is OPT_COMPLETION_HELPER it prints LONGOPTS and exits 0.
 */
int opt_getopt(int argc, char *const argv[], const char *shortopts,
    const struct option *longopts);

/*
 * The same for a command that accepts only some of a shared table: the
 * helper prints the options whose val is in ONLY (zero-terminated), and
 * --help.  The command still rejects the others itself.
 */
int opt_getopt_only(int argc, char *const argv[], const char *shortopts,
    const struct option *longopts, const int *only);

/* Whether ARGV[1] is OPT_COMPLETION_HELPER. */
int opt_is_completion_helper(int argc, char *const argv[]);

/* Print LONGOPTS (may be NULL) as the helper does. */
void opt_print_longopts(const struct option *longopts);

#endif
