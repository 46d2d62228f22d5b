/*
 * The JSONL data loader (lib/data): any bytes as a task's data_jsonl file.
 * Rows that load are JSON objects; problems are reported, never lost.
 */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "data.h"
#include "fuzz.h"
#include "banned.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct data_set set = DATA_SET_INIT;
	struct problems problems = PROBLEMS_INIT;
	size_t i;
	int r;

	r = data_load(&set, fuzz_file(data, size), DATA_JSONL, "data.jsonl",
	    &problems);
	if (r < 0 || (r == 0) != (problems.nr == 0))
		abort();
	if (problems.nr > DATA_MAX_PROBLEMS + 1)
		abort();
	for (i = 0; i < set.nr; i++)
		if (!cJSON_IsObject(set.row[i]))
			abort();
	data_set_release(&set);
	problems_release(&problems);
	return 0;
}
