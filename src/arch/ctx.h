/* ctx.h - the machine context switch, the one piece of weft in assembly.
 *
 * A context is a saved stack pointer: everything else a suspended context
 * needs (the callee-saved registers, the FP control words, the address to
 * resume at) is stored on its own stack by weft__ctx_switch. The ucontext
 * fallback keeps a ucontext_t instead.
 *
 * Invariant: a context is either running (its registers are live) or
 * saved (ctx->sp is valid); weft__ctx_switch moves one context from the
 * first state to the second and another the other way.
 */
#ifndef WEFT_ARCH_CTX_H
#define WEFT_ARCH_CTX_H

#include <stddef.h>
#include <stdint.h>

#if defined(WEFT_ARCH_UCONTEXT)
#include <ucontext.h>
#endif

typedef struct weft__ctx {
    void *sp;
#if defined(WEFT_ARCH_UCONTEXT)
    void *transfer;
    ucontext_t uc;
#endif
} weft__ctx_t;

/* What a fresh context starts by calling: entry(data, first_value). It
 * must never return. */
typedef void (*weft__ctx_entry_fn)(void *data, void *value);

/* Prepares ctx to run entry(data, value) on the stack [base, base + size)
 * when first switched to; value is the arg of that first switch. */
#if defined(WEFT_ARCH_UCONTEXT)
void weft__ctx_make(weft__ctx_t *ctx, void *base, size_t size, weft__ctx_entry_fn entry,
                    void *data);
#else
void weft__ctx_trampoline(void);

static inline void weft__ctx_make(weft__ctx_t *ctx, void *base, size_t size,
                                  weft__ctx_entry_fn entry, void *data)
{
    uintptr_t top = ((uintptr_t)base + size) & ~(uintptr_t)15;
#if defined(__x86_64__)
    /* the frame weft__ctx_switch loads: control words, r15..r12, rbx, rbp,
     * resume address; r12 = entry and rbx = data for the trampoline */
    uint64_t *f = (uint64_t *)(top - 64);
    f[0] = 0x1F80u | ((uint64_t)0x037Fu << 32); /* MXCSR default, x87 CW default */
    f[1] = f[2] = f[3] = 0;                     /* r15 r14 r13 */
    f[4] = (uint64_t)(uintptr_t)entry;          /* r12 */
    f[5] = (uint64_t)(uintptr_t)data;           /* rbx */
    f[6] = 0;                                   /* rbp */
    f[7] = (uint64_t)(uintptr_t)weft__ctx_trampoline;
    ctx->sp = f;
#elif defined(__aarch64__)
    /* x19 = data, x20 = entry, x29 = 0, x30 = trampoline, d8-d15 = 0 */
    uint64_t *f = (uint64_t *)(top - 160);
    for (int i = 0; i < 20; i++)
        f[i] = 0;
    f[0] = (uint64_t)(uintptr_t)data;
    f[1] = (uint64_t)(uintptr_t)entry;
    f[11] = (uint64_t)(uintptr_t)weft__ctx_trampoline;
    ctx->sp = f;
#else
#error "no hand-written context switch for this processor: build with WEFT_UCONTEXT=ON"
#endif
}
#endif

/* The stack pointer of a saved context: everything a suspended context
 * still needs on its stack lies at or above it (copy-stack mode saves
 * from there to the top). NULL where it cannot be told. */
static inline void *weft__ctx_saved_sp(const weft__ctx_t *ctx)
{
#if !defined(WEFT_ARCH_UCONTEXT)
    return ctx->sp;
#elif defined(__x86_64__)
    return (void *)(uintptr_t)ctx->uc.uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (void *)(uintptr_t)ctx->uc.uc_mcontext.sp;
#else
    (void)ctx;
    return NULL;
#endif
}

/* Saves the running context into `from`, resumes `to`, and hands it `arg`
 * (the return value of the switch that suspended `to`, or the first value
 * of a fresh one). Returns, once something switches back to `from`, the
 * arg of that switch. */
void *weft__ctx_switch(weft__ctx_t *from, weft__ctx_t *to, void *arg);
/* The same switch typed to return an int, so that a C function returning
 * an int can end with it as a tail call: then the resumed side comes back
 * straight to that function's caller, and no `ret` runs against a return
 * stack predictor filled on the other stack. */
int weft__ctx_switch_int(weft__ctx_t *from, weft__ctx_t *to, intptr_t arg);

/* The shape of the switch this process runs (x86_64 has two, chosen by
 * CPU vendor: see switch_x86_64.S); 0 where there is only one. */
enum { WEFT__SWITCH_COMPARE = 1, WEFT__SWITCH_RELOAD = 2 };
#if defined(__x86_64__) && !defined(WEFT_ARCH_UCONTEXT)
/* Picks the shape; must run before the process's first switch. */
void weft__ctx_select(void);
int weft__ctx_shape(void);
/* The reload shape itself, which weft__ctx_switch jumps to once chosen. */
void *weft__ctx_switch_reload(weft__ctx_t *from, weft__ctx_t *to, void *arg);
#else
static inline void weft__ctx_select(void)
{
}
static inline int weft__ctx_shape(void)
{
    return 0;
}
#endif

#endif
