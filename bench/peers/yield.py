"""The asyncio peer of the `yield` workload: two tasks each await
asyncio.sleep(0) n times; prints ns_per_op per switch = wall / (2n). Run
with Debian's /usr/bin/python3, default loop."""
import argparse
import asyncio
import json
import time


async def yielder(n):
    for _ in range(n):
        await asyncio.sleep(0)


async def main(n):
    t0 = time.perf_counter()
    await asyncio.gather(asyncio.create_task(yielder(n)),
                         asyncio.create_task(yielder(n)))
    return time.perf_counter() - t0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000000)
    n = ap.parse_args().n
    wall = asyncio.run(main(n))
    print(json.dumps({"workload": "yield", "impl": "asyncio",
                      "ns_per_op": round(wall * 1e9 / (2 * n), 2), "n": n},
                     separators=(",", ":")), flush=True)
