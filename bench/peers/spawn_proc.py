"""The asyncio peer of the `spawn_proc` workload: n runs of /bin/true
through asyncio.create_subprocess_exec and proc.wait(), at-once tasks
taking them in turn; prints procs_per_s. Debian's /usr/bin/python3,
default loop."""
import argparse
import asyncio
import json
import time


async def worker(state, n):
    while state["next"] < n:
        state["next"] += 1
        proc = await asyncio.create_subprocess_exec("/bin/true")
        if await proc.wait() != 0:
            raise SystemExit("child failed")
        state["done"] += 1


async def main(n, at_once):
    state = {"next": 0, "done": 0}
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(state, n) for _ in range(at_once)))
    return state["done"], time.perf_counter() - t0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--at-once", type=int, default=1)
    a = ap.parse_args()
    done, s = asyncio.run(main(a.n, a.at_once))
    print(json.dumps({"workload": "spawn_proc", "impl": "asyncio", "at_once": a.at_once,
                      "parent_mb": 0, "procs_per_s": round(done / s, 1), "n": a.n},
                     separators=(",", ":")), flush=True)
