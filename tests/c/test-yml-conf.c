/*
 * Drive the parts of lib/conf that programs use, for
 * tests/100-config-file.bats.
 *
 *   test-yml-conf data-dir     print conf_data_dir()
 *   test-yml-conf db-path      print conf_db_path()
 *   test-yml-conf log-level    print core.log_level, or "unset"
 *   test-yml-conf check        load and check the whole file, print "ok"
 *
 * Each reads the default config file ($MEPHISTO_CONFIG ...).  Errors go
 * to stderr and exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "banned.h"

static int
print_owned(char *s, char *err)
{
	if (!s) {
		error("%s", err);
		free(err);
		return 1;
	}
	printf("%s\n", s);
	free(s);
	return 0;
}

int
main(int argc, char **argv)
{
	struct conf c = CONF_INIT;
	const char *level;
	char *err = NULL;
	int ret = 0;

	log_init(argv[0]);
	if (argc != 2)
		die("usage: test-yml-conf data-dir|db-path|log-level|check");
	if (!strcmp(argv[1], "data-dir"))
		ret = print_owned(conf_data_dir(NULL, &err), err);
	else if (!strcmp(argv[1], "db-path"))
		ret = print_owned(conf_db_path(NULL, &err), err);
	else if (!strcmp(argv[1], "log-level") || !strcmp(argv[1], "check")) {
		if (conf_load(&c, NULL, &err) < 0 ||
		    (!strcmp(argv[1], "check") ? conf_check(&c, &err) :
		    conf_log_level(&c, &level, &err)) < 0) {
			error("%s", err);
			free(err);
			ret = 1;
		} else if (!strcmp(argv[1], "check"))
			printf("ok\n");
		else
			printf("%s\n", level ? level : "unset");
		conf_release(&c);
	} else
		die("unknown command '%s'", argv[1]);
	if (ret)
		return ret;
	return log_close_stdout();
}
