/*
 * The task YAML loader (lib/task on lib/yml): any bytes as the task file
 * given to "mephisto launch".  A config that loads must survive the round
 * trip through the JSON form that task_runs.init_params keeps.
 */
#include <stdlib.h>

#include "data.h"
#include "task.h"
#include "fuzz.h"
#include "banned.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct task_config cfg = TASK_CONFIG_INIT;
	struct problems problems = PROBLEMS_INIT;
	const char *path = fuzz_file(data, size);

	if (!task_config_load(&cfg, path, NULL, 0, &problems)) {
		struct task_config back = TASK_CONFIG_INIT;
		char *json = task_config_to_json(&cfg);
		char *err = NULL;

		if (problems.nr)
			abort();
		if (task_config_from_json(&back, json, &err))
			abort();
		task_config_release(&back);
		free(json);
	} else if (!problems.nr) {
		abort();
	}
	task_config_release(&cfg);
	problems_release(&problems);
	return 0;
}
