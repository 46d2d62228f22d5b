#include <math.h>
#include <stdio.h>

#include "buf.h"
#include "metrics.h"
#include "banned.h"

/* From 50 microseconds (a cached answer) to 10 seconds (a deadline). */
const double metrics_buckets[METRICS_NR_BUCKETS] = {
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

void
histogram_observe(struct histogram *h, double seconds)
{
	int i;

	if (!(seconds >= 0))
		seconds = 0;
	for (i = 0; i < METRICS_NR_BUCKETS; i++)
		if (seconds <= metrics_buckets[i]) {
			h->bucket[i]++;
			break;
		}
	h->count++;
	h->sum += seconds;
}

void
metrics_header(struct buf *b, const char *name, const char *type,
    const char *help)
{
	buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
add_value(struct buf *b, double v)
{
	if (isinf(v))
		buf_addstr(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == (double)(int64_t)v && fabs(v) < 1e15)
		buf_addf(b, "%lld", (long long)v);
	else
		buf_addf(b, "%.9g", v);
}

void
metrics_sample(struct buf *b, const char *name, const char *labels,
    double value)
{
	buf_addstr(b, name);
	if (labels && *labels)
		buf_addf(b, "{%s}", labels);
	buf_addch(b, ' ');
	add_value(b, value);
	buf_addch(b, '\n');
}

void
metrics_histogram(struct buf *b, const char *name, const char *labels,
    const struct histogram *h)
{
	const char *sep = labels && *labels ? "," : "";
	uint64_t cum = 0;
	int i;

	for (i = 0; i < METRICS_NR_BUCKETS; i++) {
		cum += h->bucket[i];
		buf_addf(b, "%s_bucket{%s%sle=\"", name, labels ? labels : "",
		    sep);
		add_value(b, metrics_buckets[i]);
		buf_addf(b, "\"} %llu\n", (unsigned long long)cum);
	}
	buf_addf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name,
	    labels ? labels : "", sep, (unsigned long long)h->count);
	buf_addf(b, "%s_sum", name);
	if (labels && *labels)
		buf_addf(b, "{%s}", labels);
	buf_addch(b, ' ');
	add_value(b, h->sum);
	buf_addf(b, "\n%s_count", name);
	if (labels && *labels)
		buf_addf(b, "{%s}", labels);
	buf_addf(b, " %llu\n", (unsigned long long)h->count);
}

void
metrics_label_value(struct buf *b, const char *value)
{
	for (; *value; value++) {
		if (*value == '\\' || *value == '"')
			buf_addch(b, '\\');
		if (*value == '\n') {
			buf_addstr(b, "\\n");
			continue;
		}
		buf_addch(b, *value);
	}
}
