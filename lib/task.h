#ifndef MEPHISTO_TASK_H
#define MEPHISTO_TASK_H

#include <stddef.h>

#include "data.h"

struct cJSON;

/*
 * A task's configuration: the YAML file given to "mephisto launch"
 * (DESIGN.md section 5), typed, validated and with the original's
 * defaults (facts sections 5.1 and 7).
 *
 *   task:       task_name (default: the blueprint type), task_title,
 *               task_description, task_reward, task_tags (required),
 *               task_lifetime_in_seconds 2678400,
 *               assignment_duration_in_seconds 1800, allowed_concurrent 0,
 *               maximum_units_per_worker 0, max_num_concurrent_units 0,
 *               submission_timeout 600, no_submission_patience 43200,
 *               resume_incomplete_run false, post_install_script "",
 *               force_rebuild false, qualifications []
 *   blueprint:  _blueprint_type (required), task_source (required),
 *               preview_source, onboarding_source,
 *               onboarding_qualification, onboarding_answers,
 *               onboarding_validator, onboarding_validator_timeout 10
 *               (seconds), onboarding_data (the onboarding page's
 *               ${key} values), block_qualification,
 *               exactly one of data_csv / data_json / data_jsonl,
 *               units_per_assignment 1, extra_source_dir;
 *               live_task only: runner (required: a shell command run
 *               once per assignment, see cmd/mephisto-pool/runner.c),
 *               runner_dir (where it runs; default the YAML's folder),
 *               runner_timeout_seconds 30, quorum_timeout_seconds 300,
 *               shared_runner false (one runner for the whole run);
 *               screening (facts 4.4): use_screening_task false,
 *               passed_qualification_name, max_screening_units 0
 *               (unlimited), screening_data (the screening unit's data),
 *               screening_answers or screening_validator (a shell
 *               command, as onboarding_validator), screening_validator_
 *               timeout 10 (seconds); gold:
 *               use_golds false, gold_qualification_base,
 *               max_gold_units 0, min_golds 1, max_incorrect_golds 0,
 *               gold_units ({name: {data: {...}, answers: {...}}})
 *   provider:   _provider_type (required), requester_name (default
 *               MOCK_REQUESTER for mock, INHOUSE_REQUESTER for inhouse),
 *               prolific_workspace_name "My Workspace",
 *               prolific_project_name "Project",
 *               prolific_estimated_completion_time_in_minutes 5
 *   architect:  _architect_type local, hostname localhost, port 3000
 *               (0: any free port), bind (the address io listens on;
 *               default: loopback when hostname is localhost or a
 *               loopback address, else every interface), public_url
 *               (the task URL as workers reach it, e.g. through a
 *               reverse proxy; default http://hostname:port/),
 *               metrics_port 0 (Prometheus metrics on 127.0.0.1; 0: off)
 *
 * Paths in the file are relative to the file's folder; paths given as
 * overrides are relative to the current folder.  After loading every path
 * is absolute.
 *
 * Overrides are "section.key=value" with the value read as a YAML scalar
 * (or a flow collection for qualifications and onboarding_answers), so
 * "task.task_reward=0.5" is a number and "task.task_name='5'" a string.
 *
 * The resolved configuration, as JSON ({"task": {...}, "blueprint":
 * {...}, "provider": {...}, "architect": {...}}, every key present, unset
 * optional strings null), is what task_runs.init_params stores; every
 * program reads a run's settings back with task_config_from_json().
 *
 * Ownership: strings and JSON values in struct task_config belong to it;
 * task_config_release() frees them.
 */

struct task_qualification {
	char *name;			/* qualification_name */
	char *comparator;		/* GreaterThan, Exists, In, ... */
	struct cJSON *value;		/* number, list, or NULL */
	struct cJSON *providers;	/* applicable_providers list or NULL */
};

struct task_config {
	/* task */
	char *task_name;
	char *task_title;
	char *task_description;
	double task_reward;
	char *task_tags;		/* comma separated */
	long task_lifetime_in_seconds;
	long assignment_duration_in_seconds;
	long allowed_concurrent;	/* 0: unlimited */
	long maximum_units_per_worker;	/* 0: unlimited */
	long max_num_concurrent_units;	/* 0: unlimited */
	long submission_timeout;
	long no_submission_patience;
	int resume_incomplete_run;
	char *post_install_script;	/* kept for compatibility; unused */
	int force_rebuild;		/* kept for compatibility; unused */
	struct task_qualification *qualifications;
	size_t nr_qualifications;

	/* blueprint */
	char *blueprint_type;
	char *task_source;		/* absolute path */
	char *preview_source;		/* absolute path or NULL */
	char *onboarding_source;	/* absolute path or NULL */
	char *onboarding_qualification;	/* NULL: no onboarding */
	struct cJSON *onboarding_answers; /* object or NULL */
	char *onboarding_validator;	/* shell command or NULL */
	double onboarding_validator_timeout; /* seconds */
	struct cJSON *onboarding_data;	/* the onboarding page's data */
	char *block_qualification;	/* NULL: none */
	char *data_csv;			/* absolute path or NULL */
	char *data_json;
	char *data_jsonl;
	long units_per_assignment;
	char *extra_source_dir;		/* absolute path or NULL */
	char *runner;			/* live_task: shell command */
	char *runner_dir;		/* where it runs (the YAML's folder) */
	double runner_timeout_seconds;	/* a silent runner is stopped */
	double quorum_timeout_seconds;	/* a lone waiter is released */
	int shared_runner;		/* one runner for the run */
	int use_screening_task;
	char *passed_qualification_name;
	long max_screening_units;	/* 0: unlimited */
	struct cJSON *screening_data;	/* a screening unit's shared data */
	struct cJSON *screening_answers; /* field -> expected value */
	char *screening_validator;	/* shell command or NULL */
	double screening_validator_timeout; /* seconds */
	int use_golds;
	char *gold_qualification_base;
	long max_gold_units;		/* 0: unlimited */
	long min_golds;
	long max_incorrect_golds;
	struct cJSON *gold_units;	/* name -> {data, answers} */

	/* provider */
	char *provider_type;
	char *requester_name;
	char *prolific_workspace_name;	/* found or created by title */
	char *prolific_project_name;
	long prolific_estimated_completion_time_in_minutes;

	/* architect */
	char *architect_type;
	char *hostname;			/* the name in worker URLs */
	char *bind;			/* listen address or NULL */
	char *public_url;		/* the URL workers use, or NULL */
	int metrics_port;		/* 0: no metrics listener */
	int port;

	/* Where it came from, for messages about the data file. */
	char *file;			/* the YAML file as named, or NULL */
	unsigned data_line;		/* line of the data_* key, or 0 */
};

#define TASK_CONFIG_INIT { 0 }

/*
 * Load the task YAML at PATH, apply OVERRIDES[0..n), fill defaults and
 * check everything: syntax, unknown sections and keys, types, required
 * keys, type names (lib/registry), qualification entries, and that the
 * named files and folders exist.  Every problem is added to PROBLEMS as
 * "FILE:LINE: problem" ("command line: ..." for overrides).
 *
 * Returns 0, or -1 when there was any problem.  Either way CFG holds
 * what could be read (so that the data file can still be checked) and the
 * caller releases it.  The data file is not read: see task_load_data().
 */
int task_config_load(struct task_config *cfg, const char *path,
    const char *const *overrides, size_t n, struct problems *problems);

/*
 * Read the data file CFG names into SET, adding its problems to PROBLEMS
 * (a file that cannot be read is reported at the line of its key).
 * Returns 0 on success, -1 when problems were added.
 */
int task_load_data(const struct task_config *cfg, struct data_set *set,
    struct problems *problems);

/* The data file CFG names and its format; NULL when there is none. */
const char *task_data_path(const struct task_config *cfg,
    enum data_format *fmt);

/*
 * The resolved configuration as JSON text (caller frees): the form kept
 * in task_runs.init_params.
 */
char *task_config_to_json(const struct task_config *cfg);

/* The same as a new cJSON tree (caller frees with cJSON_Delete). */
struct cJSON *task_config_to_tree(const struct task_config *cfg);

/*
 * Fill CFG from JSON written by task_config_to_json() (keys missing from
 * it take their defaults; unknown keys are ignored, so older programs read
 * newer configurations).  Files are not checked.  Returns 0, or -1 with
 * *errp set (CFG released).
 */
int task_config_from_json(struct task_config *cfg, const char *json,
    char **errp);

/*
 * Apply OVERRIDES[0..n) to CFG (loaded from JSON, e.g. for resume) and
 * check the result as task_config_load() does.  Returns 0, or -1 with
 * problems added; CFG may then hold some of the overrides.
 */
int task_config_override(struct task_config *cfg,
    const char *const *overrides, size_t n, struct problems *problems);

void task_config_release(struct task_config *cfg);

/*
 * Whether COMPARATOR is one of the qualification comparators (facts
 * section 6).
 */
int task_comparator_valid(const char *comparator);

#endif
