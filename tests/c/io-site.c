/*
 * io-site: drive lib/site for the tests.
 *
 *   io-site build STATIC_DIR --blueprint TYPE --task FILE [--preview FILE]
 *           [--onboarding FILE] [--extra DIR] [--provider NAME]
 *           [--args JSON] [--share DIR]
 *   io-site page-name FILE
 *
 * Prints errors as "io-site: error: ..." and exits 1 on failure.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "msg.h"
#include "site.h"
#include "banned.h"

static int
build(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "blueprint", required_argument, NULL, 'b' },
		{ "task", required_argument, NULL, 't' },
		{ "preview", required_argument, NULL, 'p' },
		{ "onboarding", required_argument, NULL, 'o' },
		{ "extra", required_argument, NULL, 'e' },
		{ "provider", required_argument, NULL, 'P' },
		{ "args", required_argument, NULL, 'a' },
		{ "share", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct site_settings s = SITE_SETTINGS_INIT;
	cJSON *args = NULL;
	char *err = NULL;
	int c, r;

	s.provider_type = "mock";
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': s.blueprint_type = optarg; break;
		case 't': s.task_source = optarg; break;
		case 'p': s.preview_source = optarg; break;
		case 'o': s.onboarding_source = optarg; break;
		case 'e': s.extra_source_dir = optarg; break;
		case 'P': s.provider_type = optarg; break;
		case 's': s.share_dir = optarg; break;
		case 'a':
			msg_free(args);
			args = msg_parse(optarg, strlen(optarg), 0, &err);
			if (!args)
				die("bad --args: %s", err);
			s.frontend_args = args;
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: io-site build STATIC_DIR ...\n");
		msg_free(args);
		return 2;
	}
	r = site_build(argv[optind], &s, &err);
	msg_free(args);
	if (r) {
		error("%s", err);
		free(err);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	char *name, *err = NULL;

	log_init("io-site");
	if (argc >= 2 && !strcmp(argv[1], "build"))
		return build(argc - 1, argv + 1);
	if (argc == 3 && !strcmp(argv[1], "page-name")) {
		name = site_page_name(argv[2], &err);
		if (!name) {
			error("%s", err);
			free(err);
			return 1;
		}
		printf("%s\n", name);
		free(name);
		return 0;
	}
	fprintf(stderr, "usage: io-site build|page-name ...\n");
	return 2;
}
