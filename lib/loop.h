#ifndef MEPHISTO_LOOP_H
#define MEPHISTO_LOOP_H

#include <stdint.h>

/*
 * A small epoll event loop, in the spirit of redis' ae: file descriptors
 * with a callback each, timers, and signals delivered through signalfd.
 * One loop per thread; nothing here is thread-safe.
 *
 * Callbacks may add and remove fds, timers and signals, and call
 * loop_stop(), from inside other callbacks.  An fd removed (or closed and
 * reused) during a round of dispatch gets no stale events from that round.
 *
 * Functions that can fail return -1 with errno set.
 */

struct loop;

/* Events an fd is watched for, and that its callback is told about. */
enum loop_events {
	LOOP_READ = 1 << 0,	/* readable, or hung up / in error */
	LOOP_WRITE = 1 << 1,	/* writable */
};

/*
 * Called when FD is ready: EVENTS is the LOOP_* mask of what happened.  A
 * hang-up or an error is reported as LOOP_READ (so the callback's read
 * sees end of file or the error), plus LOOP_WRITE if write was wanted.
 */
typedef void loop_fd_fn(struct loop *l, int fd, int events, void *arg);

/*
 * Called when timer ID fires.  Returns the milliseconds until it fires
 * again, or LOOP_NOMORE to delete it.
 */
typedef long loop_timer_fn(struct loop *l, long long id, void *arg);
#define LOOP_NOMORE (-1L)

/* Called, outside signal context, when SIGNO has arrived. */
typedef void loop_signal_fn(struct loop *l, int signo, void *arg);

/* A new loop, or NULL with errno set (epoll_create1 failed). */
struct loop *loop_new(void);

/*
 * Free L: closes its epoll and signal fds (not the fds it watched),
 * deletes its timers and restores the signal mask from before the first
 * loop_add_signal().  NULL is fine.
 */
void loop_free(struct loop *l);

/*
 * Watch FD for EVENTS (LOOP_READ | LOOP_WRITE), calling FN with ARG.
 * Replaces the callback and mask if FD is already watched.  EVENTS 0
 * keeps FD registered but quiet.
 */
int loop_add_fd(struct loop *l, int fd, int events, loop_fd_fn *fn,
    void *arg);

/* Change the events FD is watched for, keeping its callback. */
int loop_set_events(struct loop *l, int fd, int events);

/*
 * Stop watching FD (does not close it).  Unknown fds are ignored.  Call
 * this before closing FD.
 */
void loop_del_fd(struct loop *l, int fd);

/*
 * Call FN with ARG in MS milliseconds (0: on the next round).  Timers due
 * at the same time fire in the order they were added.  Returns the timer
 * id (> 0).  O(log N).
 */
long long loop_add_timer(struct loop *l, long ms, loop_timer_fn *fn,
    void *arg);

/*
 * Cancel timer ID.  Returns 0, or -1 when no such timer is pending (it
 * already fired, or never existed).  Cancelling the timer whose callback
 * is running makes its return value ignored.  The timer's ARG is the
 * caller's to free.  O(N).
 */
int loop_del_timer(struct loop *l, long long id);

/*
 * Deliver SIGNO through the loop: the signal is blocked (in the calling
 * thread, which should be the only one or the first) and read from a
 * signalfd, and FN is called
 * with ARG from loop_run().  Replaces an earlier handler for SIGNO.
 * Children inherit the blocked mask: unblock it before exec (lib/proc does).
 */
int loop_add_signal(struct loop *l, int signo, loop_signal_fn *fn,
    void *arg);

/*
 * Dispatch events until loop_stop() is called.  Returns 0, or -1 with
 * errno when epoll_wait or reading the signalfd fails.
 */
int loop_run(struct loop *l);

/*
 * Run one round: wait at most TIMEOUT_MS (-1: until something happens,
 * capped by the next timer) and dispatch what is ready.
 */
int loop_once(struct loop *l, int timeout_ms);

/* Make loop_run() return after the current callback. */
void loop_stop(struct loop *l);

/* Milliseconds on the monotonic clock. */
int64_t loop_now_ms(void);

#endif
