"""Draw one benchmark chart: ``python _chart.py SPEC.json OUT.png`` (runs in benchmarks/.venv-charts).

SPEC: ``{"title", "kind": "lines"|"bars", "xlabel", "ylabel", "logy": bool, "series": {label: [[x, y], ...]}}``
for lines (x numeric), or ``{"series": {label: value}}`` for bars. Imports matplotlib only, never our package.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main(spec_path: str, out_path: str) -> None:
    with open(spec_path) as handle:
        spec = json.load(handle)
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    if spec.get("kind", "lines") == "lines":
        for label, points in spec["series"].items():
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            axes.plot(xs, ys, marker="o", label=label)
        if spec.get("logx"):
            axes.set_xscale("log")
        if spec.get("logy"):
            axes.set_yscale("log")
        axes.legend(fontsize=8)
    else:
        labels = list(spec["series"])
        values = [spec["series"][label] for label in labels]
        bars = axes.barh(labels, values, color="#4c72b0")
        axes.bar_label(bars, fmt="%.3g", fontsize=8)
        axes.invert_yaxis()
        if spec.get("logx"):
            axes.set_xscale("log")
    axes.set_title(spec["title"], fontsize=10)
    axes.set_xlabel(spec.get("xlabel", ""))
    axes.set_ylabel(spec.get("ylabel", ""))
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(out_path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
