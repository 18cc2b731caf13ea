# weft-gdb.py - gdb commands for weft: backtraces of suspended coroutines.
#
# Load it in gdb with `source scripts/weft-gdb.py` (or add that line to
# ~/.gdbinit). Then, with the program stopped anywhere:
#
#   weft-bt EXPR [bt options]
#
# prints the stack of the suspended coroutine or generator EXPR (an
# expression of type weft_coro_t * or weft_gen_t *, or anything with a
# `co` member that is a coroutine), e.g. `weft-bt co`, `weft-bt gen full`.
#
# How: a suspended coroutine's registers live on its own stack (see
# src/arch/switch_x86_64.S for the frame; the ucontext build keeps them in
# ctx.uc). The command saves the thread's real registers, loads the
# coroutine's saved ones into the selected thread, runs `bt`, and puts
# the real registers back, so the program is left exactly as it was. It
# needs a live process (gdb cannot write the registers of a core file) and
# libweft built with -g (every build here is).
import gdb

CORO_STATES = {0: "created", 1: "running", 2: "suspended", 3: "dead"}

X86_64_REGS = ["rsp", "rip", "rbp", "rbx", "r12", "r13", "r14", "r15"]
AARCH64_REGS = ["sp", "pc"] + ["x%d" % i for i in range(19, 30)]


def _coro_of(val):
    """The weft_coro value behind a pointer to a coroutine, generator or
    anything whose first-level `co` member is one."""
    t = val.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR:
        val = val.dereference()
        t = val.type.strip_typedefs()
    names = [f.name for f in t.fields()]
    if "ctx" in names and "state" in names:
        return val
    if "co" in names:
        return _coro_of(val["co"])
    raise gdb.GdbError("weft-bt: %s is not a coroutine (no ctx/state, no co member)" % val.type)


def _arch():
    name = gdb.selected_frame().architecture().name()
    if "x86-64" in name:
        return "x86_64"
    if "aarch64" in name:
        return "aarch64"
    raise gdb.GdbError("weft-bt: no support for architecture " + name)


def _saved_regs(co, arch):
    """The registers the suspended coroutine co will resume with."""
    ctx = co["ctx"]
    u64 = gdb.lookup_type("unsigned long").pointer()
    if "uc" in [f.name for f in ctx.type.strip_typedefs().fields()]:
        # ucontext build: swapcontext stored everything in ctx.uc
        if arch != "x86_64":
            raise gdb.GdbError("weft-bt: ucontext builds supported on x86_64 only")
        g = ctx["uc"]["uc_mcontext"]["gregs"]
        idx = {"r12": 4, "r13": 5, "r14": 6, "r15": 7, "rbp": 10, "rbx": 11, "rsp": 15, "rip": 16}
        return {r: int(g[i]) & 0xFFFFFFFFFFFFFFFF for r, i in idx.items()}
    sp = ctx["sp"].cast(u64)
    if arch == "x86_64":
        # +0 MXCSR/x87 CW, +8 r15, r14, r13, r12, rbx, rbp, +56 resume address
        f = [int(sp[i]) for i in range(8)]
        return {"r15": f[1], "r14": f[2], "r13": f[3], "r12": f[4], "rbx": f[5],
                "rbp": f[6], "rip": f[7], "rsp": int(sp) + 64}
    # aarch64: +0 x19..x28, +80 x29, +88 x30 (resume address), 160 bytes
    f = [int(sp[i]) for i in range(12)]
    regs = {"x%d" % (19 + i): f[i] for i in range(11)}
    regs["pc"] = f[11]
    regs["sp"] = int(sp) + 160
    return regs


class WeftBt(gdb.Command):
    """Backtrace of a suspended weft coroutine or generator.
Usage: weft-bt EXPR [full|-N|...]
EXPR is a weft_coro_t *, a weft_gen_t * or a pointer to anything with a
`co` member; the rest is passed on to `bt`."""

    def __init__(self):
        super().__init__("weft-bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        argv = gdb.string_to_argv(arg)
        if not argv:
            raise gdb.GdbError("usage: weft-bt EXPR [bt options]")
        co = _coro_of(gdb.parse_and_eval(argv[0]))
        state = int(co["state"])
        if state != 2:
            what = CORO_STATES.get(state, str(state))
            hint = " (its frames are in the thread's own `bt`)" if state == 1 else ""
            gdb.write("weft-bt: the coroutine is %s, not suspended%s\n" % (what, hint))
            return
        name = co["name"]
        label = name.string() if int(name) != 0 else "(unnamed)"
        gdb.write("suspended coroutine '%s' at %s:\n" % (label, co.address))
        arch = _arch()
        names = X86_64_REGS if arch == "x86_64" else AARCH64_REGS
        regs = _saved_regs(co, arch)
        gdb.execute("frame 0", to_string=True)  # registers are written in frame 0
        real = {r: int(gdb.parse_and_eval("$" + r)) for r in names}
        try:
            for r, v in regs.items():
                gdb.execute("set $%s = %d" % (r, v), to_string=True)
            gdb.execute("bt " + " ".join(argv[1:]), from_tty)
        finally:
            for r, v in real.items():
                gdb.execute("set $%s = %d" % (r, v), to_string=True)
            gdb.execute("frame 0", to_string=True)


WeftBt()
