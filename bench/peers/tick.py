"""The asyncio peer of the `tick` workload: a 1 kHz loop that awaits
asyncio.sleep until each absolute deadline for the given seconds; with
--load busy a task beside it computes for 50 us and awaits sleep(0), over
and over. Prints ticks and the lateness after each deadline (p50_us,
p99_us, max_us). Debian's /usr/bin/python3, default loop."""
import argparse
import asyncio
import json
import time


async def neighbour(stop):
    x = 1
    while not stop[0]:
        until = time.perf_counter() + 50e-6
        while time.perf_counter() < until:
            x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        await asyncio.sleep(0)


async def main(seconds, load):
    loop = asyncio.get_running_loop()
    stop = [False]
    nb = asyncio.create_task(neighbour(stop)) if load == "busy" else None
    period = 0.001
    start = loop.time()
    end = start + seconds
    late = []
    k = 1
    while True:
        deadline = start + k * period
        if deadline > end:
            break
        await asyncio.sleep(deadline - loop.time())
        late.append(loop.time() - deadline)
        k += 1
    stop[0] = True
    if nb:
        await nb
    return late


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--load", default="idle")
    a = ap.parse_args()
    late = sorted(asyncio.run(main(a.seconds, a.load)))
    n = len(late)
    print(json.dumps({"workload": "tick", "impl": "asyncio", "load": a.load, "ticks": n,
                      "p50_us": round(late[n // 2] * 1e6, 1),
                      "p99_us": round(late[n * 99 // 100] * 1e6, 1),
                      "max_us": round(late[n - 1] * 1e6, 1)},
                     separators=(",", ":")), flush=True)
