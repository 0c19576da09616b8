/* Timers on one clock in milliseconds: a min-heap of callbacks. The same heap runs in
 * virtual time (tests, benchmarks: time jumps to the next timer) or in real time (one
 * libuv timer armed at the earliest deadline, see rollout.c). No cancel: owners check a
 * token of their own when the callback runs. */
#ifndef FU_TIMERS_H
#define FU_TIMERS_H

#include <stddef.h>
#include <stdint.h>

typedef void (*fu_timer_cb)(void *ud, uint32_t arg, uint32_t token);

typedef struct {
    uint64_t when, seq;
    fu_timer_cb cb;
    void *ud;
    uint32_t arg, token;
} fu_timer_t;

typedef struct {
    uint64_t now;
    fu_timer_t *heap;
    size_t n, cap;
    uint64_t seq; /* ties fire in the order they were added */
} fu_timers_t;

void fu_timers_init(fu_timers_t *t);
void fu_timers_free(fu_timers_t *t);
void fu_timers_add(fu_timers_t *t, uint64_t delay, fu_timer_cb cb, void *ud, uint32_t arg,
                   uint32_t token);
/* Earliest deadline, or UINT64_MAX. */
uint64_t fu_timers_next(const fu_timers_t *t);
/* Runs every timer due at or before now (which becomes the clock's time). */
size_t fu_timers_run(fu_timers_t *t, uint64_t now);

#endif
