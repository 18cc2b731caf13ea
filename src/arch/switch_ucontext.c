/* switch_ucontext.c - the portable context switch, over glibc's ucontext.
 *
 * Slower than the hand-written switches (swapcontext also saves and
 * restores the signal mask, a system call each way, and we read the mask
 * once more to keep it the thread's) but runs anywhere
 * ucontext does; the whole suite runs on it in CI (make ucontext). The
 * value handed across a switch travels in the target's `transfer` field.
 */
#include "ctx.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>

static void weft__ctx_start(unsigned int data_hi, unsigned int data_lo, unsigned int ctx_hi,
                            unsigned int ctx_lo)
{
    /* makecontext passes int arguments only: pointers arrive in halves */
    uint64_t d = ((uint64_t)data_hi << 32) | (uint64_t)data_lo;
    uint64_t c = ((uint64_t)ctx_hi << 32) | (uint64_t)ctx_lo;
    weft__ctx_t *ctx = (weft__ctx_t *)(uintptr_t)c;
    weft__ctx_entry_fn entry = (weft__ctx_entry_fn)ctx->sp;
    entry((void *)(uintptr_t)d, ctx->transfer);
    abort(); /* entry never returns */
}

void weft__ctx_make(weft__ctx_t *ctx, void *base, size_t size, weft__ctx_entry_fn entry,
                    void *data)
{
    uint64_t d = (uintptr_t)data, c = (uintptr_t)ctx;
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = base;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    /* sp is unused by ucontext: it carries the entry until the first run */
    ctx->sp = (void *)entry;
    ctx->transfer = NULL;
    makecontext(&ctx->uc, (void (*)(void))weft__ctx_start, 4, (unsigned int)(d >> 32),
                (unsigned int)d, (unsigned int)(c >> 32), (unsigned int)c);
}

void *weft__ctx_switch(weft__ctx_t *from, weft__ctx_t *to, void *arg)
{
    to->transfer = arg;
    /* The signal mask belongs to the thread, not to a coroutine (the
     * assembly switches leave it alone): carry the current one across, or
     * swapcontext would bring back the mask the target had when it last
     * ran and undo a pthread_sigmask made since (signal.c blocks signals
     * it reads through its signalfd). */
    pthread_sigmask(SIG_SETMASK, NULL, &to->uc.uc_sigmask);
    swapcontext(&from->uc, &to->uc);
    return from->transfer;
}

int weft__ctx_switch_int(weft__ctx_t *from, weft__ctx_t *to, intptr_t arg)
{
    return (int)(intptr_t)weft__ctx_switch(from, to, (void *)arg);
}
