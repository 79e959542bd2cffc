"""Plots W1 (single-shot SELECT 1) throughput by client count from bench/run's CSV.
usage: plot.py W1_CSV OUT_PNG   (CSV columns: system,clients,rps)"""
import csv
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

rows = list(csv.DictReader(open(sys.argv[1])))
systems = []
for row in rows:
    if row["system"] not in systems:
        systems.append(row["system"])
fig, ax = plt.subplots(figsize=(7, 4.2))
for system in systems:
    points = sorted((int(r["clients"]), float(r["rps"])) for r in rows if r["system"] == system)
    ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=system)
ax.set_xscale("log", base=2)
ax.set_xticks(sorted({int(r["clients"]) for r in rows}))
ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
ax.set_yscale("log")
ax.set_xlabel("concurrent clients")
ax.set_ylabel("SELECT 1 per second (log scale)")
ax.set_title("W1: single-shot SELECT 1 (2 cores, one run)")
ax.grid(True, alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
