#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "xalloc.h"
#include "banned.h"

#define LOOP_MAX_EVENTS 128
#define LOOP_NSIG 65

/* A watched fd; .gen changes whenever the slot is (re)registered. */
struct fd_slot {
	loop_fd_fn *fn;		/* NULL when the slot is free */
	void *arg;
	int events;		/* LOOP_* mask wanted */
	uint32_t gen;		/* matches the epoll data of live events */
};

struct timer {
	long long id;
	int64_t when;		/* loop_now_ms() when due */
	loop_timer_fn *fn;
	void *arg;
};

struct sig_slot {
	loop_signal_fn *fn;
	void *arg;
};

struct loop {
	int epfd;
	struct fd_slot *fds;	/* indexed by fd */
	size_t fds_alloc;
	struct timer **heap;	/* min-heap on (when, id) */
	size_t heap_nr;
	size_t heap_alloc;
	long long last_timer_id;
	long long running_timer;	/* id of the timer being called */
	int running_cancelled;	/* loop_del_timer() hit the running one */
	int sigfd;		/* -1 until the first loop_add_signal() */
	sigset_t sigmask;	/* signals read from .sigfd */
	sigset_t old_mask;	/* the mask before the first signal */
	struct sig_slot sigs[LOOP_NSIG];
	int stop;
};

int64_t
loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct loop *
loop_new(void)
{
	struct loop *l;
	int fd = epoll_create1(EPOLL_CLOEXEC);

	if (fd < 0)
		return NULL;
	l = xcalloc(1, sizeof(*l));
	l->epfd = fd;
	l->sigfd = -1;
	sigemptyset(&l->sigmask);
	return l;
}

/* Consume pending signals so unblocking them does not act on them. */
static void
drain_signals(struct loop *l)
{
	struct signalfd_siginfo si;

	while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
}

void
loop_free(struct loop *l)
{
	size_t i;

	if (!l)
		return;
	if (l->sigfd >= 0) {
		drain_signals(l);
		close(l->sigfd);
		pthread_sigmask(SIG_SETMASK, &l->old_mask, NULL);
	}
	close(l->epfd);
	for (i = 0; i < l->heap_nr; i++)
		free(l->heap[i]);
	free(l->heap);
	free(l->fds);
	free(l);
}

static uint32_t
to_epoll(int events)
{
	uint32_t ev = 0;

	if (events & LOOP_READ)
		ev |= EPOLLIN | EPOLLRDHUP;
	if (events & LOOP_WRITE)
		ev |= EPOLLOUT;
	return ev;
}

static struct fd_slot *
slot_of(struct loop *l, int fd)
{
	size_t old = l->fds_alloc;

	if (fd < 0)
		return NULL;
	if ((size_t)fd >= old) {
		ALLOC_GROW(l->fds, (size_t)fd + 1, l->fds_alloc);
		memset(l->fds + old, 0, (l->fds_alloc - old) * sizeof(*l->fds));
	}
	return &l->fds[fd];
}

static int
epoll_set(struct loop *l, int op, int fd, const struct fd_slot *s)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = to_epoll(s->events);
	ev.data.u64 = (uint64_t)s->gen << 32 | (uint32_t)fd;
	return epoll_ctl(l->epfd, op, fd, &ev);
}

int
loop_add_fd(struct loop *l, int fd, int events, loop_fd_fn *fn, void *arg)
{
	struct fd_slot *s = slot_of(l, fd);
	int op;

	if (!s || !fn) {
		errno = EINVAL;
		return -1;
	}
	op = s->fn ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (!s->fn)
		s->gen++;
	s->events = events;
	if (epoll_set(l, op, fd, s) < 0)
		return -1;
	s->fn = fn;
	s->arg = arg;
	return 0;
}

int
loop_set_events(struct loop *l, int fd, int events)
{
	struct fd_slot *s;

	if (fd < 0 || (size_t)fd >= l->fds_alloc || !l->fds[fd].fn) {
		errno = ENOENT;
		return -1;
	}
	s = &l->fds[fd];
	if (s->events == events)
		return 0;
	s->events = events;
	return epoll_set(l, EPOLL_CTL_MOD, fd, s);
}

void
loop_del_fd(struct loop *l, int fd)
{
	struct fd_slot *s;

	if (fd < 0 || (size_t)fd >= l->fds_alloc || !l->fds[fd].fn)
		return;
	s = &l->fds[fd];
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	s->fn = NULL;
	s->arg = NULL;
	s->events = 0;
	s->gen++;
}

/* Timer heap, ordered by due time, then by id (order of creation). */
static int
timer_before(const struct timer *a, const struct timer *b)
{
	return a->when < b->when || (a->when == b->when && a->id < b->id);
}

static void
heap_swap(struct loop *l, size_t i, size_t j)
{
	struct timer *t = l->heap[i];

	l->heap[i] = l->heap[j];
	l->heap[j] = t;
}

static void
heap_up(struct loop *l, size_t i)
{
	while (i && timer_before(l->heap[i], l->heap[(i - 1) / 2])) {
		heap_swap(l, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t m = i, c = 2 * i + 1;

		if (c < l->heap_nr && timer_before(l->heap[c], l->heap[m]))
			m = c;
		if (c + 1 < l->heap_nr &&
		    timer_before(l->heap[c + 1], l->heap[m]))
			m = c + 1;
		if (m == i)
			return;
		heap_swap(l, i, m);
		i = m;
	}
}

static void
heap_push(struct loop *l, struct timer *t)
{
	ALLOC_GROW(l->heap, l->heap_nr + 1, l->heap_alloc);
	l->heap[l->heap_nr++] = t;
	heap_up(l, l->heap_nr - 1);
}

static struct timer *
heap_remove(struct loop *l, size_t i)
{
	struct timer *t = l->heap[i];

	l->heap[i] = l->heap[--l->heap_nr];
	if (i < l->heap_nr) {
		heap_up(l, i);
		heap_down(l, i);
	}
	return t;
}

long long
loop_add_timer(struct loop *l, long ms, loop_timer_fn *fn, void *arg)
{
	struct timer *t = xmalloc(sizeof(*t));

	t->id = ++l->last_timer_id;
	t->when = loop_now_ms() + (ms > 0 ? ms : 0);
	t->fn = fn;
	t->arg = arg;
	heap_push(l, t);
	return t->id;
}

int
loop_del_timer(struct loop *l, long long id)
{
	size_t i;

	if (id && id == l->running_timer) {
		l->running_cancelled = 1;
		return 0;
	}
	for (i = 0; i < l->heap_nr; i++) {
		if (l->heap[i]->id == id) {
			free(heap_remove(l, i));
			return 0;
		}
	}
	errno = ENOENT;
	return -1;
}

/*
 * Fire the timers due now.  Timers created or re-armed by these callbacks
 * wait for the next round, so a 0 ms timer cannot starve the fds.
 */
static void
run_timers(struct loop *l)
{
	long long max_id = l->last_timer_id;
	int64_t now = loop_now_ms();
	struct timer **again = NULL, *t;
	size_t again_nr = 0, again_alloc = 0, i;
	long next;

	while (l->heap_nr && !l->stop) {
		t = l->heap[0];
		if (t->when > now || t->id > max_id)
			break;
		heap_remove(l, 0);
		l->running_timer = t->id;
		l->running_cancelled = 0;
		next = t->fn(l, t->id, t->arg);
		l->running_timer = 0;
		if (next < 0 || l->running_cancelled) {
			free(t);
			continue;
		}
		t->when = loop_now_ms() + next;
		ALLOC_GROW(again, again_nr + 1, again_alloc);
		again[again_nr++] = t;
	}
	for (i = 0; i < again_nr; i++)
		heap_push(l, again[i]);
	free(again);
}

static void
on_signalfd(struct loop *l, int fd, int events, void *arg)
{
	struct signalfd_siginfo si;
	ssize_t n;

	while ((n = read(fd, &si, sizeof(si))) == (ssize_t)sizeof(si)) {
		int signo = (int)si.ssi_signo;

		if (signo > 0 && signo < LOOP_NSIG && l->sigs[signo].fn)
			l->sigs[signo].fn(l, signo, l->sigs[signo].arg);
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		warn_errno("cannot read signals");
}

int
loop_add_signal(struct loop *l, int signo, loop_signal_fn *fn, void *arg)
{
	sigset_t one;
	int fd, r;

	if (signo <= 0 || signo >= LOOP_NSIG || !fn) {
		errno = EINVAL;
		return -1;
	}
	sigemptyset(&one);
	sigaddset(&one, signo);
	r = pthread_sigmask(SIG_BLOCK, &one,
	    l->sigfd < 0 ? &l->old_mask : NULL);
	if (r) {
		errno = r;
		return -1;
	}
	sigaddset(&l->sigmask, signo);
	fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (l->sigfd < 0) {
		l->sigfd = fd;
		if (loop_add_fd(l, fd, LOOP_READ, on_signalfd, NULL) < 0)
			return -1;
	}
	l->sigs[signo].fn = fn;
	l->sigs[signo].arg = arg;
	return 0;
}

/* Milliseconds epoll_wait may sleep: TIMEOUT_MS capped by the next timer. */
static int
wait_time(struct loop *l, int timeout_ms)
{
	int64_t until;

	if (!l->heap_nr)
		return timeout_ms;
	until = l->heap[0]->when - loop_now_ms();
	if (until < 0)
		until = 0;
	if (timeout_ms >= 0 && timeout_ms < until)
		return timeout_ms;
	return until > 1000000000 ? 1000000000 : (int)until;
}

static int
from_epoll(uint32_t ev, int wanted)
{
	int events = 0;

	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		events |= LOOP_READ;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		events |= LOOP_WRITE;
	if (!(wanted & LOOP_WRITE))
		events &= ~LOOP_WRITE;
	if (!events)
		events = LOOP_READ;
	return events;
}

static void
dispatch(struct loop *l, const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
	struct fd_slot *s;

	if ((size_t)fd >= l->fds_alloc)
		return;
	s = &l->fds[fd];
	if (!s->fn || s->gen != gen)
		return;
	s->fn(l, fd, from_epoll(ev->events, s->events), s->arg);
}

int
loop_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, i;

	l->stop = 0;
	n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, wait_time(l, timeout_ms));
	if (n < 0) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	for (i = 0; i < n && !l->stop; i++)
		dispatch(l, &evs[i]);
	if (!l->stop)
		run_timers(l);
	return 0;
}

int
loop_run(struct loop *l)
{
	do {
		if (loop_once(l, -1) < 0)
			return -1;
	} while (!l->stop);
	return 0;
}

void
loop_stop(struct loop *l)
{
	l->stop = 1;
}

