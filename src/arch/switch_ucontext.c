/* switch_ucontext.c - the portable context switch, over glibc's ucontext.
 *
 * Slower than the hand-written switches (swapcontext also saves and
 * restores the signal mask, a system call each way) but runs anywhere
 * ucontext does; the whole suite runs on it in CI (make ucontext). The
 * value handed across a switch travels in the target's `transfer` field.
 */
#include "ctx.h"

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
    swapcontext(&from->uc, &to->uc);
    return from->transfer;
}

int weft__ctx_switch_int(weft__ctx_t *from, weft__ctx_t *to, intptr_t arg)
{
    return (int)(intptr_t)weft__ctx_switch(from, to, (void *)arg);
}
