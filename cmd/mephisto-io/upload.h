#ifndef MEPHISTO_IO_UPLOAD_H
#define MEPHISTO_IO_UPLOAD_H

/*
 * Files uploaded with a submission.  While the request body streams in,
 * each file is written to a temporary file in <run dir>/files/.incoming/;
 * once the request is complete and names a valid agent, upload_commit()
 * links the files into <run dir>/files/<agent id>/ under sanitized names
 * (collisions get a "-N" suffix) and syncs them to disk.  upload_discard()
 * removes whatever the set wrote, so a refused request leaves nothing.
 */

#include <stddef.h>

struct cJSON;
struct io;

struct upload_file {
	char *fieldname;
	char *originalname;
	char *mimetype;
	char *tmp_path;		/* while incoming; NULL once committed */
	char *name;		/* final name in the agent's folder */
	char *path;		/* final path */
	size_t size;
	int fd;			/* while being written, else -1 */
};

struct upload_set {
	struct upload_file *v;
	size_t nr, alloc;
	char *dir;		/* the agent's folder once committed */
};

#define UPLOAD_SET_INIT { NULL, 0, 0, NULL }

/*
 * Start a new file.  Returns 0, or an HTTP status (500) when the temporary
 * file cannot be created.
 */
int upload_begin(struct io *io, struct upload_set *set, const char *field,
    const char *filename, const char *mimetype);
/* Append to the current file; 0, or 413 over the size limit, or 500. */
int upload_write(struct io *io, struct upload_set *set, const char *p,
    size_t n);
/* Finish the current file (synced to disk); 0 or 500. */
int upload_end(struct upload_set *set);
/*
 * Move the files into AGENT_ID's folder.  Returns 0, or -1 with *ERR set
 * to a static description (files not moved stay temporary).
 */
int upload_commit(struct io *io, struct upload_set *set, const char *agent_id,
    const char **err);
/* The files as the "files" list of a submission (a new cJSON array). */
struct cJSON *upload_json(const struct upload_set *set);
/* Remove every file of SET (temporary or committed). */
void upload_discard(struct upload_set *set);
/* Free SET's memory (files stay where they are). */
void upload_release(struct upload_set *set);

/*
 * A safe file name for NAME: its last path component, control characters
 * replaced, no leading dot, no "..", at most 200 bytes, never empty.
 * Returns a new string.
 */
char *upload_sanitize(const char *name);

/* Remove temporary files left by an earlier run of io. */
void upload_clean_incoming(struct io *io);

#endif
