#ifndef MEPHISTO_METRICS_H
#define MEPHISTO_METRICS_H

#include <stdint.h>

/*
 * Prometheus metrics in the text exposition format (version 0.0.4):
 * fixed-bucket histograms and the lines that expose them.  The daemons
 * keep their own counters; this module only counts and prints.
 */

struct buf;

/* Upper bounds of the histogram buckets, in seconds (+Inf is implied). */
#define METRICS_NR_BUCKETS 17
extern const double metrics_buckets[METRICS_NR_BUCKETS];

struct histogram {
	uint64_t bucket[METRICS_NR_BUCKETS];	/* not cumulative */
	uint64_t count;
	double sum;
};

void histogram_observe(struct histogram *h, double seconds);

/* "# HELP NAME HELP" and "# TYPE NAME TYPE" (counter, gauge, histogram). */
void metrics_header(struct buf *b, const char *name, const char *type,
    const char *help);

/*
 * One sample "NAME{LABELS} VALUE".  LABELS is the text between the braces
 * (e.g. "status=\"assigned\""), or "" for none; label values must already
 * be escaped (see metrics_label_value()).
 */
void metrics_sample(struct buf *b, const char *name, const char *labels,
    double value);

/* The _bucket, _sum and _count samples of H under NAME{LABELS}. */
void metrics_histogram(struct buf *b, const char *name, const char *labels,
    const struct histogram *h);

/* Append VALUE to B escaped for a label value (\\, \", \n). */
void metrics_label_value(struct buf *b, const char *value);

#endif
