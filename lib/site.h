#ifndef MEPHISTO_SITE_H
#define MEPHISTO_SITE_H

/*
 * A run's static/ folder: the files mephisto-io serves to workers
 * (facts sections 3.3 and 7), built from a task's settings.
 *
 * static_task:
 *   index.html, mephisto-static.js   the project's static-task client
 *                                    (share/mephisto/web/static/)
 *   wrap_crowd_source.js             the provider's: its type, then
 *                                    share/mephisto/web/providers/
 *                                    common.js and <web_script>.js
 *   <page name>                      task_source (see site_page_name())
 *   preview.html                     preview_source, else task_source
 *   onboarding.html                  onboarding_source, if any
 *   task_config.json                 FRONTEND_ARGS plus
 *                                    "mephisto_task_version"
 *   everything in extra_source_dir   (hidden files left out)
 *
 * static_react_task (and live_task, whose bundle also uses the
 * library's live hooks): the same, except that index.html loads
 * wrap_crowd_source.js and then bundle.js (task_source) into <div
 * id="app">, and there is no preview or onboarding page.
 *
 * The folder is built beside the target under a temporary name and then
 * swapped in with one rename, so io never serves a half-built folder and
 * a failed build leaves the old folder as it was.
 *
 * Library code: nothing here prints or exits; errors come back as -1 and
 * a malloc'd one-line message in *ERRP (callers free it) naming the file.
 */

struct cJSON;

struct site_settings {
	const char *blueprint_type;	/* static_task, static_react_task, live_task */
	const char *task_source;	/* the task page (or React bundle) */
	const char *preview_source;	/* NULL: task_source */
	const char *onboarding_source;	/* NULL: no onboarding page */
	const char *extra_source_dir;	/* NULL: none */
	const char *provider_type;	/* mock, inhouse */
	/* Keys for task_config.json (an object), or NULL. */
	const struct cJSON *frontend_args;
	/* Where the web client lives; NULL: path_share(). */
	const char *share_dir;
};

#define SITE_SETTINGS_INIT { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL }

/*
 * The name under which task_source is served: its base name.  This is the
 * value launch puts in every unit's data as "html".  Returns a new string,
 * or NULL with *ERRP set when the name cannot be served (hidden, control
 * characters) or is one of the names the site uses itself.
 */
char *site_page_name(const char *task_source, char **errp);

/*
 * Build (or rebuild) the folder STATIC_DIR from S.  Returns 0, or -1 with
 * *ERRP set and STATIC_DIR untouched.
 */
int site_build(const char *static_dir, const struct site_settings *s,
    char **errp);

#endif
