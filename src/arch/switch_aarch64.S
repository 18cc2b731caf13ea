/* switch_aarch64.S - context switch for aarch64, AAPCS64.
 *
 * AAPCS64 makes x19-x28, the frame pointer x29, the link register x30 (as
 * the resume address) and the low halves of v8-v15 (d8-d15) callee-saved;
 * sp is the context itself. Frame on a suspended stack, from ctx->sp up:
 *
 *     +0   x19 x20   +16  x21 x22   +32  x23 x24   +48  x25 x26
 *     +64  x27 x28   +80  x29 x30   +96  d8 d9     +112 d10 d11
 *     +128 d12 d13   +144 d14 d15   (160 bytes, keeps sp 16-aligned)
 */
    .text
    .globl  weft__ctx_switch
    .hidden weft__ctx_switch
    .type   weft__ctx_switch, %function
    .globl  weft__ctx_switch_int
    .hidden weft__ctx_switch_int
    .type   weft__ctx_switch_int, %function
    .p2align 4
/* void *weft__ctx_switch(weft__ctx_t *from x0, weft__ctx_t *to x1, void *arg x2)
 * int weft__ctx_switch_int(...): the same code, typed for tail calls */
weft__ctx_switch:
weft__ctx_switch_int:
    .cfi_startproc
    sub     sp, sp, #160
    .cfi_def_cfa_offset 160
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    .cfi_offset x19, -160
    .cfi_offset x20, -152
    .cfi_offset x21, -144
    .cfi_offset x22, -136
    .cfi_offset x23, -128
    .cfi_offset x24, -120
    .cfi_offset x25, -112
    .cfi_offset x26, -104
    .cfi_offset x27, -96
    .cfi_offset x28, -88
    .cfi_offset x29, -80
    .cfi_offset x30, -72
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    .cfi_offset d8, -64
    .cfi_offset d9, -56
    .cfi_offset d10, -48
    .cfi_offset d11, -40
    .cfi_offset d12, -32
    .cfi_offset d13, -24
    .cfi_offset d14, -16
    .cfi_offset d15, -8
    mov     x9, sp
    str     x9, [x0]            /* from->sp */
    ldr     x9, [x1]            /* to->sp: the other stack has the same frame shape */
    mov     sp, x9
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #160
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    mov     x0, x2              /* arg becomes the resumed switch's return value */
    ret     x30
    .cfi_endproc
    .size   weft__ctx_switch, .-weft__ctx_switch
    .size   weft__ctx_switch_int, .-weft__ctx_switch_int

/* First code a fresh context runs: weft__ctx_make leaves data in x19 and
 * the entry function in x20; the first switch's arg arrives in x0. The
 * link register is marked undefined: the bottom of the coroutine's stack. */
    .globl  weft__ctx_trampoline
    .hidden weft__ctx_trampoline
    .type   weft__ctx_trampoline, %function
    .p2align 4
weft__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov     x29, #0
    mov     x1, x0              /* first value */
    mov     x0, x19             /* data */
    blr     x20
    brk     #0                  /* entry never returns */
    .cfi_endproc
    .size   weft__ctx_trampoline, .-weft__ctx_trampoline

    .section .note.GNU-stack,"",%progbits
