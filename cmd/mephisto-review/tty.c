#include "review.h"
#include "banned.h"
int review_interactive(struct db *db, const int64_t *ids, size_t nr, const struct review_tty_opts *o) { return 1; }
