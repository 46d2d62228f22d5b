/*
 * pool-reserve RUN_ID PROCS PER: PROCS processes each register PER new
 * workers of the mock provider on task run RUN_ID through lib/model, one
 * transaction each (worker, unit reservation, agent), all at once.  Tests
 * check that no unit ever gets two agents.  Exit status 0 when every
 * process ran without a database error.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "db.h"
#include "log.h"
#include "model.h"
#include "provider.h"
#include "xalloc.h"
#include "banned.h"

static int
reserve_one(struct db *db, int64_t run_id, const char *name)
{
	struct model_unit u;
	int64_t worker_id, agent_id;
	char *err = NULL;
	int rc;

	if (db_begin(db) < 0)
		return -1;
	if (provider_worker_create(&provider_mock, db, name, &worker_id,
	    &err) < 0) {
		error("%s", err);
		free(err);
		db_rollback(db);
		return -1;
	}
	rc = model_unit_reserve(db, run_id, worker_id, &u);
	if (rc == 1)
		rc = model_agent_create(db, &u, worker_id, AGENT_IN_TASK,
		    "static_task", "mock", "{}", &agent_id, NULL);
	if (rc < 0) {
		db_rollback(db);
		return -1;
	}
	return db_commit(db);
}

static int
child(int64_t run_id, int proc, int per)
{
	char *err = NULL, *path = conf_db_path(NULL, &err), *name;
	struct db *db;
	int i, rc = 0;

	if (!path)
		die("%s", err);
	db = db_open(path, &err);
	free(path);
	if (!db)
		die("%s", err);
	for (i = 0; i < per && !rc; i++) {
		name = xasprintf("p%d-%d", proc, i);
		rc = reserve_one(db, run_id, name);
		if (rc < 0)
			error("%s: %s", name, db_errmsg(db));
		free(name);
	}
	db_close(db);
	return rc < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	int64_t run_id;
	int procs, per, i, status, failed = 0;
	pid_t pid;

	log_init("pool-reserve");
	if (argc != 4 || db_id_parse(argv[1], &run_id) < 0)
		die("usage: pool-reserve RUN_ID PROCS PER");
	procs = atoi(argv[2]);
	per = atoi(argv[3]);
	for (i = 0; i < procs; i++) {
		pid = fork();
		if (pid < 0)
			die_errno("fork");
		if (pid == 0)
			exit(child(run_id, i, per));
	}
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			failed = 1;
	return failed;
}
