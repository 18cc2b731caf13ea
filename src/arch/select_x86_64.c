/* select_x86_64.c - picks, once per process, which shape of the x86_64
 * switch runs: "compare" (weft__ctx_switch as assembled) or "reload"
 * (weft__ctx_switch_reload). switch_x86_64.S says what each does and
 * docs/design.md ("The context switch") why each CPU gets the one it gets.
 *
 * The choice costs the switch nothing: callers call weft__ctx_switch
 * directly, and choosing "reload" overwrites that function's first
 * instruction (a 5-byte lea) with a 5-byte direct jmp to the reload
 * shape. Nothing is patched for "compare", so there the code runs exactly
 * as assembled.
 *
 * Invariants: weft__ctx_select runs before the process's first switch
 * (weft__thread_init calls it through pthread_once, and no thread
 * switches before its own weft__thread_init), so no thread can be inside
 * the five bytes while they are written. If the bytes are not the
 * expected lea (a debugger's breakpoint, say) or the page cannot be made
 * writable while staying executable (a W^X policy), nothing is patched
 * and the process keeps the compare shape, which is correct everywhere.
 */
#include "ctx.h"

#include <cpuid.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int active = WEFT__SWITCH_COMPARE;

/* leaq -56(%rsp), %rsp: the first instruction of weft__ctx_switch */
static const unsigned char entry_insn[5] = {0x48, 0x8d, 0x64, 0x24, 0xc8};

/* AMD's and Hygon's (AMD-derived) cores: the ones measured to prefer the
 * reload shape. Every other vendor keeps the shape tuned on Intel. */
static bool vendor_prefers_reload(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return false;
    char v[12];
    memcpy(v, &b, 4);
    memcpy(v + 4, &d, 4);
    memcpy(v + 8, &c, 4);
    return memcmp(v, "AuthenticAMD", 12) == 0 || memcmp(v, "HygonGenuine", 12) == 0;
}

static bool patch_entry(void)
{
    unsigned char *p = (unsigned char *)(uintptr_t)weft__ctx_switch;
    uintptr_t target = (uintptr_t)weft__ctx_switch_reload;
    intptr_t rel = (intptr_t)(target - ((uintptr_t)p + 5));
    if (memcmp(p, entry_insn, sizeof entry_insn) != 0 || rel != (int32_t)rel)
        return false;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p & ~(page - 1);
    size_t len = (((uintptr_t)p + 5 + page - 1) & ~(page - 1)) - lo;
    /* executable throughout: other code on the page may be running */
    if (mprotect((void *)lo, len, PROT_READ | PROT_WRITE | PROT_EXEC) != 0)
        return false;
    unsigned char jmp[5] = {0xe9};
    int32_t rel32 = (int32_t)rel;
    memcpy(jmp + 1, &rel32, 4);
    memcpy(p, jmp, sizeof jmp);
    mprotect((void *)lo, len, PROT_READ | PROT_EXEC);
    return true;
}

void weft__ctx_select(void)
{
    /* WEFT_SWITCH=compare or reload overrides the vendor's choice (to
     * measure or test either shape on any machine) */
    const char *env = getenv("WEFT_SWITCH");
    bool reload = vendor_prefers_reload();
    if (env && strcmp(env, "compare") == 0)
        reload = false;
    else if (env && strcmp(env, "reload") == 0)
        reload = true;
    if (reload && patch_entry())
        active = WEFT__SWITCH_RELOAD;
}

int weft__ctx_shape(void)
{
    return active;
}
