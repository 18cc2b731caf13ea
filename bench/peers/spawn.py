"""The asyncio peer of the `spawn` workload: create_task n coroutines that
return at once and asyncio.gather them; prints ns_per_op per task and
peak_rss_mb (VmHWM). Run with Debian's /usr/bin/python3, default loop."""
import argparse
import asyncio
import json
import time


def status_kb(field):
    """A field of /proc/self/status in kB, or -1."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


async def nop():
    pass


async def main(n):
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(nop()) for _ in range(n)]
    await asyncio.gather(*tasks)
    return time.perf_counter() - t0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000000)
    n = ap.parse_args().n
    wall = asyncio.run(main(n))
    print(json.dumps({"workload": "spawn", "impl": "asyncio",
                      "ns_per_op": round(wall * 1e9 / n, 2), "n": n,
                      "peak_rss_mb": round(status_kb("VmHWM") / 1024, 1)},
                     separators=(",", ":")), flush=True)
