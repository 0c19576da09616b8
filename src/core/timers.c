/* Binary min-heap on (when, seq). */
#include "core/timers.h"

#include <stdlib.h>

void fu_timers_init(fu_timers_t *t)
{
    t->now = 0;
    t->heap = NULL;
    t->n = t->cap = 0;
    t->seq = 0;
}

void fu_timers_free(fu_timers_t *t)
{
    free(t->heap);
    fu_timers_init(t);
}

static int before(const fu_timer_t *a, const fu_timer_t *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

void fu_timers_add(fu_timers_t *t, uint64_t delay, fu_timer_cb cb, void *ud, uint32_t arg,
                   uint32_t token)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->heap = realloc(t->heap, t->cap * sizeof(*t->heap));
        if (t->heap == NULL)
            abort();
    }
    fu_timer_t e = {t->now + delay, t->seq++, cb, ud, arg, token};
    size_t k = t->n++;
    while (k > 0 && before(&e, &t->heap[(k - 1) / 2])) {
        t->heap[k] = t->heap[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    t->heap[k] = e;
}

uint64_t fu_timers_next(const fu_timers_t *t)
{
    return t->n ? t->heap[0].when : UINT64_MAX;
}

static fu_timer_t pop(fu_timers_t *t)
{
    fu_timer_t top = t->heap[0], last = t->heap[--t->n];
    size_t k = 0;
    for (;;) {
        size_t c = 2 * k + 1;
        if (c >= t->n)
            break;
        if (c + 1 < t->n && before(&t->heap[c + 1], &t->heap[c]))
            c++;
        if (!before(&t->heap[c], &last))
            break;
        t->heap[k] = t->heap[c];
        k = c;
    }
    if (t->n)
        t->heap[k] = last;
    return top;
}

size_t fu_timers_run(fu_timers_t *t, uint64_t now)
{
    size_t ran = 0;
    if (now > t->now)
        t->now = now;
    while (t->n && t->heap[0].when <= t->now) {
        fu_timer_t e = pop(t);
        e.cb(e.ud, e.arg, e.token);
        ran++;
    }
    return ran;
}
