/*
 * The config loader (lib/conf): any bytes as ~/.mephisto/config.yml,
 * then the checks and look-ups every program makes at start.
 */
#include <stdlib.h>

#include "conf.h"
#include "fuzz.h"
#include "banned.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c = CONF_INIT;
	char *err = NULL;
	const char *level;
	char *s;

	if (conf_load(&c, fuzz_file(data, size), &err)) {
		if (!err)
			abort();
		free(err);
		conf_release(&c);
		return 0;
	}
	if (!conf_check(&c, &err)) {
		s = conf_data_dir(&c, &err);
		free(s);
		free(err);
		err = NULL;
		s = conf_db_path(&c, &err);
		free(s);
		free(err);
		err = NULL;
		conf_log_level(&c, &level, &err);
	}
	free(err);
	conf_get(&c, "core.main_data_directory");
	conf_release(&c);
	return 0;
}
