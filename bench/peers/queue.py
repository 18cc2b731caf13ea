"""The asyncio peer of the `queue` workload: one producer and one consumer
task pass n ints through an asyncio.Queue(1024); prints ns_per_op per item
and items_per_s. Run with Debian's /usr/bin/python3, default loop."""
import argparse
import asyncio
import json
import sys
import time


async def producer(q, n):
    for i in range(n):
        await q.put(i)


async def consumer(q, n):
    total = 0
    for _ in range(n):
        total += await q.get()
    return total


async def main(n):
    q = asyncio.Queue(1024)
    t0 = time.perf_counter()
    _, total = await asyncio.gather(asyncio.create_task(producer(q, n)),
                                    asyncio.create_task(consumer(q, n)))
    wall = time.perf_counter() - t0
    if total != n * (n - 1) // 2:
        sys.exit(f"queue-asyncio: sum {total}, want {n * (n - 1) // 2}")
    return wall


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000000)
    n = ap.parse_args().n
    wall = asyncio.run(main(n))
    print(json.dumps({"workload": "queue", "impl": "asyncio",
                      "ns_per_op": round(wall * 1e9 / n, 2),
                      "items_per_s": round(n / wall), "n": n},
                     separators=(",", ":")), flush=True)
