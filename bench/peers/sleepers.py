"""The asyncio peer of the `sleepers` workload: n tasks, the i-th sleeping
until T0 + wait + i us (asyncio.sleep(deadline - loop.time())). Prints
start_s (until all are asleep), bytes_per_task (VmRSS + VmPTE growth / n),
faults_per_task (minor faults while starting / n), wake_s (from the last
deadline until all have ended) and "late" when not all were asleep by
T0 + wait. Run with Debian's /usr/bin/python3, default loop."""
import argparse
import asyncio
import json
import resource
import sys


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


def rss_pte():
    return (status_kb("VmRSS") + status_kb("VmPTE")) * 1024


def minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


asleep = 0


async def sleeper(loop, deadline):
    global asleep
    asleep += 1
    await asyncio.sleep(deadline - loop.time())


async def main(n, wait):
    loop = asyncio.get_running_loop()
    mem0 = rss_pte()
    faults0 = minor_faults()
    t0 = loop.time()
    tasks = [asyncio.create_task(sleeper(loop, t0 + wait + i * 1e-6))
             for i in range(n)]
    while asleep < n:
        await asyncio.sleep(0)
    t_asleep = loop.time()
    mem1 = rss_pte()
    faults1 = minor_faults()
    print(f"sleepers-asyncio: all asleep after {t_asleep - t0:.3f} s",
          file=sys.stderr, flush=True)

    await asyncio.gather(*tasks)
    t_end = loop.time()
    last = t0 + wait + (n - 1) * 1e-6

    out = {"workload": "sleepers", "impl": "asyncio", "n": n,
           "start_s": round(t_asleep - t0, 4),
           "bytes_per_task": round((mem1 - mem0) / n, 1),
           "faults_per_task": round((faults1 - faults0) / n, 3),
           "wake_s": round(t_end - last, 4)}
    if t_asleep > t0 + wait:
        out["late"] = True
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000000)
    ap.add_argument("-wait-ms", dest="wait_ms", type=int, default=30000)
    args = ap.parse_args()
    out = asyncio.run(main(args.n, args.wait_ms / 1000))
    print(json.dumps(out, separators=(",", ":")), flush=True)
