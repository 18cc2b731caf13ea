/* switch_x86_64.S - context switch for x86_64, System V ABI.
 *
 * The System V ABI makes rbx, rbp, r12-r15 callee-saved, and the x87
 * control word and the MXCSR control bits "callee-saved" too; rsp is the
 * context itself. Everything is stored on the suspending stack, so a
 * context is one pointer. Frame on a suspended stack, from ctx->sp up:
 *
 *     +0   MXCSR (4 bytes), x87 control word (2 bytes), padding
 *     +8   r15
 *     +16  r14
 *     +24  r13
 *     +32  r12
 *     +40  rbx
 *     +48  rbp
 *     +56  resume address
 *
 * The frame is made with one stack-pointer adjustment and plain moves
 * (as Boost.Context's jump_fcontext does) rather than six pushes and pops,
 * and the control words are stored after the registers, just before the
 * stack swap, and loaded just after it (the order that measured fastest).
 *
 * Two shapes of the switch share that frame; select_x86_64.c picks one
 * per process, by CPU vendor, before the first switch runs. The figures
 * behind each are in docs/design.md, "The context switch".
 *
 * - weft__ctx_switch ("compare"; Intel and every vendor not named below)
 *   loads a control word only when it differs from the suspending side's:
 *   on Intel ldmxcsr and fldcw are microcoded and slow, and an ldmxcsr
 *   that changes MXCSR slower still. Restoring a value that is already in
 *   place does nothing, so skipping it changes no result. MXCSR's six low
 *   bits are sticky exception flags, which the ABI does not preserve
 *   across calls: they are left out of the compare (any inexact operation
 *   sets one, so with them in, a context that had computed and one that
 *   had not would differ at every switch).
 *
 * - weft__ctx_switch_reload ("reload"; AMD and Hygon) loads both words
 *   every time, as jump_fcontext does. On AMD, reading back what stmxcsr
 *   has just stored stalls, so the compare costs more than the loads it
 *   saves, and an ldmxcsr that changes MXCSR costs no more than one that
 *   does not. The selector makes weft__ctx_switch jump here by overwriting
 *   its first instruction: callers keep their direct calls, and the
 *   compare shape's bytes stay as they are everywhere else.
 *
 * Resuming loads the address and jumps to it (indirect jmp) rather than
 * `ret`: the return-stack predictor cannot know where a switch returns,
 * so a `ret` mispredicts every time, a jmp through the BTB does not.
 */
    .text
    .globl  weft__ctx_switch
    .hidden weft__ctx_switch
    .type   weft__ctx_switch, @function
    .globl  weft__ctx_switch_int
    .hidden weft__ctx_switch_int
    .type   weft__ctx_switch_int, @function
    .p2align 4
/* void *weft__ctx_switch(weft__ctx_t *from rdi, weft__ctx_t *to rsi, void *arg rdx)
 * int weft__ctx_switch_int(...): the same code, typed for tail calls */
weft__ctx_switch:
weft__ctx_switch_int:
    .cfi_startproc
    leaq    -56(%rsp), %rsp     /* the frame, under the resume address */
    .cfi_adjust_cfa_offset 56
    movq    %r15, 8(%rsp)
    .cfi_rel_offset r15, 8
    movq    %r14, 16(%rsp)
    .cfi_rel_offset r14, 16
    movq    %r13, 24(%rsp)
    .cfi_rel_offset r13, 24
    movq    %r12, 32(%rsp)
    .cfi_rel_offset r12, 32
    movq    %rbx, 40(%rsp)
    .cfi_rel_offset rbx, 40
    movq    %rbp, 48(%rsp)
    .cfi_rel_offset rbp, 48
    stmxcsr (%rsp)              /* MXCSR: SSE rounding and exception masks */
    fnstcw  4(%rsp)             /* x87 control word */
    movq    %rsp, %r8
    movq    %rsp, (%rdi)        /* from->sp: the suspended context */
    movq    (%rsi), %rsp        /* to->sp: now on the other stack, same frame shape */
    movl    (%rsp), %eax        /* load the control words only when they differ: */
    xorl    (%r8), %eax         /* they almost never do, and ldmxcsr and fldcw */
    testl   $0xFFFFFFC0, %eax   /* are microcoded and slow; MXCSR's bits 0-5 are */
    jnz     .Lload_mxcsr        /* sticky status flags, not state the ABI keeps */
.Lmxcsr_done:
    movzwl  4(%rsp), %eax
    cmpw    4(%r8), %ax
    jne     .Lload_fpucw
.Lfpucw_done:
    .cfi_remember_state         /* the cold loads below run in this state */
    movq    8(%rsp), %r15
    .cfi_restore r15
    movq    16(%rsp), %r14
    .cfi_restore r14
    movq    24(%rsp), %r13
    .cfi_restore r13
    movq    32(%rsp), %r12
    .cfi_restore r12
    movq    40(%rsp), %rbx
    .cfi_restore rbx
    movq    48(%rsp), %rbp
    .cfi_restore rbp
    movq    56(%rsp), %rcx      /* resume address */
    .cfi_register rip, rcx
    leaq    64(%rsp), %rsp
    .cfi_adjust_cfa_offset -64
    movq    %rdx, %rax          /* arg becomes the resumed switch's return value */
    jmpq    *%rcx
.Lload_mxcsr:
    .cfi_restore_state
    .cfi_remember_state
    ldmxcsr (%rsp)
    jmp     .Lmxcsr_done
.Lload_fpucw:
    fldcw   4(%rsp)
    jmp     .Lfpucw_done
    .cfi_endproc
    .size   weft__ctx_switch, .-weft__ctx_switch
    .size   weft__ctx_switch_int, .-weft__ctx_switch_int

/* void *weft__ctx_switch_reload(from rdi, to rsi, arg rdx): the switch
 * above, loading both control words unconditionally (see the header).
 * Reached by a jump from weft__ctx_switch's first instruction once the
 * selector has chosen it, or called directly (tests). */
    .globl  weft__ctx_switch_reload
    .hidden weft__ctx_switch_reload
    .type   weft__ctx_switch_reload, @function
    .p2align 4
weft__ctx_switch_reload:
    .cfi_startproc
    leaq    -56(%rsp), %rsp
    .cfi_adjust_cfa_offset 56
    movq    %r15, 8(%rsp)
    .cfi_rel_offset r15, 8
    movq    %r14, 16(%rsp)
    .cfi_rel_offset r14, 16
    movq    %r13, 24(%rsp)
    .cfi_rel_offset r13, 24
    movq    %r12, 32(%rsp)
    .cfi_rel_offset r12, 32
    movq    %rbx, 40(%rsp)
    .cfi_rel_offset rbx, 40
    movq    %rbp, 48(%rsp)
    .cfi_rel_offset rbp, 48
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    (%rsi), %rsp
    ldmxcsr (%rsp)              /* no compare: nothing reads back the stores above */
    fldcw   4(%rsp)
    movq    8(%rsp), %r15
    .cfi_restore r15
    movq    16(%rsp), %r14
    .cfi_restore r14
    movq    24(%rsp), %r13
    .cfi_restore r13
    movq    32(%rsp), %r12
    .cfi_restore r12
    movq    40(%rsp), %rbx
    .cfi_restore rbx
    movq    48(%rsp), %rbp
    .cfi_restore rbp
    movq    56(%rsp), %rcx
    .cfi_register rip, rcx
    leaq    64(%rsp), %rsp
    .cfi_adjust_cfa_offset -64
    movq    %rdx, %rax
    jmpq    *%rcx
    .cfi_endproc
    .size   weft__ctx_switch_reload, .-weft__ctx_switch_reload

/* First code a fresh context runs. weft__ctx_make leaves the entry
 * function in r12 and its data in rbx; the first switch's arg is in rax.
 * rsp is 16-byte aligned here, so the call below enters with the ABI's
 * alignment. The return address is marked undefined so debuggers stop
 * unwinding here: this is the bottom of the coroutine's stack. */
    .globl  weft__ctx_trampoline
    .hidden weft__ctx_trampoline
    .type   weft__ctx_trampoline, @function
    .p2align 4
weft__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    xorl    %ebp, %ebp          /* frame-pointer walkers stop here too */
    movq    %rbx, %rdi          /* data */
    movq    %rax, %rsi          /* first value */
    callq   *%r12
    ud2                         /* entry never returns */
    .cfi_endproc
    .size   weft__ctx_trampoline, .-weft__ctx_trampoline

    .section .note.GNU-stack,"",@progbits
