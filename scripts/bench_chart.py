#!/usr/bin/env python3
"""Draw weft-bench results as an SVG chart.

Usage: bench_chart.py RESULTS.jsonl OUT.svg

RESULTS.jsonl holds the JSON lines of several weft-bench runs (see BENCH.md).
Lines are grouped by workload, impl and parameters (n, procs, workers,
at_once, parent_mb, conns, load, pipeline, test); each group is drawn as one
horizontal bar at the median of its metric: ns_per_op if present, else
seconds, else the first *_per_s field, else bytes_per_task. One panel per
workload. Lines with "skipped" are listed as text; lines with "late": true
do not count. Python 3 standard library only.
"""
import json
import statistics
import sys
from collections import OrderedDict
from xml.sax.saxutils import escape

PARAMS = ["n", "procs", "workers", "at_once", "parent_mb", "conns", "load", "pipeline", "test"]

WIDTH = 1000
LABEL_W = 330
VALUE_W = 130
BAR_H = 16
GAP = 4
PANEL_PAD = 34
COLORS = {
    "weft": "#1f77b4", "weft-copystack": "#4a9fd8", "ucontext": "#8c8c8c",
    "boost-fcontext": "#9467bd", "go": "#17becf", "asyncio": "#bcbd22",
    "uvloop": "#dbdb8d", "libuv": "#ff7f0e", "nginx": "#2ca02c",
    "redis-server": "#d62728", "c-posix-spawn": "#7f7f7f", "pthread": "#e377c2",
    "fork": "#8c564b",
}


def pick_metric(rows):
    """The metric of a workload: the first of the preferred keys any row has."""
    keys = []
    for r in rows:
        for k, v in r.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in keys:
                keys.append(k)
    if "ns_per_op" in keys:
        return "ns_per_op"
    if "seconds" in keys:
        return "seconds"
    for k in keys:
        if k.endswith("_per_s"):
            return k
    if "bytes_per_task" in keys:
        return "bytes_per_task"
    for k in keys:  # last resort: any number that is not a parameter
        if k not in PARAMS:
            return k
    return None


def higher_is_better(metric):
    return metric.endswith("_per_s") or metric in ("ticks",)


def fmt(v):
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6:
        return "%.3g M" % (v / 1e6)
    if a >= 1e4:
        return "%.0f" % v
    if a >= 100:
        return "%.1f" % v
    return "%.3g" % v


def load(path):
    rows, bad = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(obj, dict) and "workload" in obj:
                rows.append(obj)
            else:
                bad += 1
    if bad:
        print("bench_chart: ignored %d line(s) that are not result objects" % bad, file=sys.stderr)
    return rows


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    rows = load(argv[1])

    workloads = OrderedDict()
    for r in rows:
        workloads.setdefault(str(r["workload"]), []).append(r)

    panels = []
    for wl, wrows in workloads.items():
        skipped = OrderedDict()
        late = 0
        measured = []
        for r in wrows:
            if "skipped" in r:
                skipped.setdefault("%s: %s" % (r.get("impl", "?"), r["skipped"]), None)
            elif r.get("late") is True:
                late += 1
            else:
                measured.append(r)
        metric = pick_metric(measured)
        groups = OrderedDict()
        if metric:
            for r in measured:
                v = r.get(metric)
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    continue
                params = tuple((p, r[p]) for p in PARAMS if p in r)
                groups.setdefault((str(r.get("impl", "?")), params), []).append(float(v))
        bars = []
        for (impl, params), vals in groups.items():
            label = impl + "".join(" %s=%s" % (k, v) for k, v in params)
            bars.append((label, impl, statistics.median(vals), len(vals)))
        notes = list(skipped)
        if late:
            notes.append("%d late run(s) not counted" % late)
        panels.append((wl, metric, bars, notes))

    # Layout.
    y = 40
    parts = []
    for wl, metric, bars, notes in panels:
        title = wl
        if metric:
            title += " — median %s (%s is better)" % (
                metric, "higher" if higher_is_better(metric) else "lower")
        parts.append('<text x="10" y="%d" class="t">%s</text>' % (y + 14, escape(title)))
        y += PANEL_PAD - 10
        vmax = max([b[2] for b in bars] + [0]) or 1.0
        scale = (WIDTH - LABEL_W - VALUE_W - 20) / vmax
        for label, impl, v, count in bars:
            w = max(1.0, v * scale) if v > 0 else 0
            color = COLORS.get(impl, "#999999")
            parts.append('<text x="%d" y="%d" class="l">%s</text>' % (
                LABEL_W - 6, y + BAR_H - 4, escape(label)))
            parts.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s">'
                         '<title>%s: %s (median of %d)</title></rect>' % (
                             LABEL_W, y, w, BAR_H, color, escape(label), v, count))
            parts.append('<text x="%.1f" y="%d" class="v">%s</text>' % (
                LABEL_W + w + 5, y + BAR_H - 4, escape(fmt(v))))
            y += BAR_H + GAP
        for note in notes:
            parts.append('<text x="%d" y="%d" class="s">%s</text>' % (
                LABEL_W, y + 12, escape("skipped " + note if not note[0].isdigit() else note)))
            y += 16
        if not bars and not notes:
            parts.append('<text x="%d" y="%d" class="s">no data</text>' % (LABEL_W, y + 12))
            y += 16
        y += 18

    height = y + 10
    svg = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">'
        % (WIDTH, height, WIDTH, height),
        '<style>text{font-family:sans-serif;font-size:12px}'
        '.t{font-size:14px;font-weight:bold}.l{text-anchor:end}.v{fill:#333}'
        '.s{fill:#888;font-style:italic}</style>',
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="10" y="22" class="t">weft-bench (%d result lines)</text>' % len(rows),
    ] + parts + ["</svg>"]
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(svg) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
