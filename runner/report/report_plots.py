#!/usr/bin/env python3
"""Plots of `runner report --plot DIR` (runner/report/REPORT.md), drawn with matplotlib.

usage: report_plots.py REPORT.json OUTDIR

REPORT.json is the document `runner report --json` prints (the report writes it to
OUTDIR/report.json and runs this script on it). Writes:
  throughput.png      passages/s against batch size, one line per (tp, dtype) (against the token
                      budget when only that varies; one bar per run when neither varies, e.g. a
                      sweep over dtype); resumed runs (partial throughput) are left out
  time_breakdown.png  per run: load / tokenize / forward / communication / idle seconds, stacked
  load_balance.png    per rank of one complete run: forward, communication and idle seconds (DP
                      groups shaded), the legend inside the axes
Each plot has a figure_<name>(doc) function returning the matplotlib figure (tests inspect them);
main() saves them.
Times per run are means over its ranks: forward and communication are the sums of the per-batch
timings divided by the ranks, idle = evaluate seconds - (forward + communication) / ranks, so a bar
adds up to load + tokenize + evaluate; "other" is what the run's wall time has beyond that.
"""
import json
import math
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
except ImportError as e:  # the report turns a non-zero exit into a clear error
    sys.stderr.write(f"report_plots.py: matplotlib is not available ({e}); install it "
                     "(Debian: apt install python3-matplotlib; or pip install matplotlib) or point "
                     "BLOOM_PYTHON / --python at a Python that has it\n")
    sys.exit(3)

COLORS = {"load": "#7f7f7f", "tokenize": "#9467bd", "forward": "#1f77b4",
          "communication": "#ff7f0e", "idle": "#f4b6b6", "other": "#d9d9d9"}
DPI = 130


def short_model(path):
    return path.rstrip("/").split("/")[-1] or path


def fmt_seconds(s):
    return f"{s:.3g} s" if s < 100 else f"{s:.0f} s"


def save(fig, out_dir, name):
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path}")


def empty_figure(title, message):
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, transform=ax.transAxes)
    return fig


def comparable(runs):
    """Complete runs whose throughput covers the whole run (a resumed run's counts its last attempt)."""
    return [r for r in runs if r["complete"] and r["passages_per_second"] > 0
            and not r.get("throughput_partial", False)]


def varying_keys(runs, keys):
    return [k for k in keys if len({str(r[k]) for r in runs}) > 1]


def figure_throughput_bars(done, title):
    """One bar per run, labelled by what varies between them: a sweep over a categorical key
    (dtype, backend, model) or over the layout alone has no numeric x to draw lines against."""
    keys = varying_keys(done, ["dtype", "backend", "model", "tp", "dp", "file"]) or ["label"]

    def label(r):
        parts = []
        for k in keys:
            v = r[k]
            parts.append(short_model(v) if k == "model" else os.path.basename(v) if k == "file"
                         else f"{k} {v}" if k in ("tp", "dp") else str(v))
        return "\n".join(parts)

    fig, ax = plt.subplots(figsize=(max(6, 1.2 + 1.1 * len(done)), 4.8))
    xs = list(range(len(done)))
    ys = [r["passages_per_second"] for r in done]
    bars = ax.bar(xs, ys, color=COLORS["forward"], width=0.6, zorder=2)
    for b, y in zip(bars, ys):
        ax.text(b.get_x() + b.get_width() / 2, y, f"{y:.3g}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(xs)
    ax.set_xticklabels([label(r) for r in done], fontsize=9)
    ax.set_xlim(-0.6, len(done) - 0.4)
    ax.set_ylim(0, max(ys) * 1.15)
    ax.set_ylabel("passages / second (evaluation)")
    ax.grid(True, axis="y", alpha=0.3, zorder=1)
    r0 = done[0]
    fixed = f"batch {r0['batch_size']}, token budget {r0['max_tokens']}"
    ax.set_title(f"{title} ({', '.join(sorted({short_model(r['model']) for r in done}))}; {fixed})")
    return fig


def figure_throughput(doc):
    runs = doc["runs"]
    done = comparable(runs)
    title = "Throughput against batch size"
    if not done:
        partial = [r for r in runs if r.get("throughput_partial")]
        why = "no complete run" if not partial else "only resumed runs (their throughput is partial)"
        return empty_figure(title, f"{why}: nothing to plot")
    batch_sizes = {r["batch_size"] for r in done}
    budgets = {r["max_tokens"] for r in done}
    if len(batch_sizes) == 1 and len(budgets) == 1:
        return figure_throughput_bars(done, "Throughput per run")
    x_key, x_label = "batch_size", "batch size (passages per batch)"
    if len(batch_sizes) == 1 and len(budgets) > 1:
        x_key, x_label = "max_tokens", "token budget per batch (max_tokens)"
        title = "Throughput against token budget"
    # One line per (tp, dtype), plus whatever else varies between runs (so lines never zigzag).
    extra = [k for k in ("model", "backend", "dp", "max_tokens" if x_key == "batch_size" else "batch_size", "file")
             if len({str(r[k]) for r in done}) > 1]
    lines = {}
    for r in done:
        key = (r["tp"], r["dtype"]) + tuple(str(r[k]) for k in extra)
        lines.setdefault(key, []).append(r)

    def label(key, rs):
        r = rs[0]
        parts = [f"tp {r['tp']}", r["dtype"]]
        if "dp" in extra or len({x["dp"] for x in rs}) > 1:
            parts[0] += " x dp " + "/".join(str(d) for d in sorted({x["dp"] for x in rs}))
        for k in extra:
            if k == "dp":
                continue
            v = r[k]
            parts.append(short_model(v) if k == "model" else os.path.basename(v) if k == "file"
                         else f"{k} {v}")
        return ", ".join(parts)

    fig, ax = plt.subplots(figsize=(8, 4.8))
    markers = "osD^vP*X"
    for i, (key, rs) in enumerate(sorted(lines.items(), key=lambda kv: [str(k) for k in kv[0]])):
        rs = sorted(rs, key=lambda r: r[x_key])
        xs = [r[x_key] for r in rs]
        ys = [r["passages_per_second"] for r in rs]
        ax.plot(xs, ys, marker=markers[i % len(markers)], linewidth=2, markersize=7, label=label(key, rs))
    xs_all = sorted({r[x_key] for r in done})
    if len(xs_all) > 1 and xs_all[0] > 0 and xs_all[-1] / xs_all[0] >= 4:
        ax.set_xscale("log", base=2)
    ax.set_xticks(xs_all)
    ax.set_xticklabels([str(x) for x in xs_all])
    ax.minorticks_off()
    ax.set_xlabel(x_label)
    ax.set_ylabel("passages / second (evaluation)")
    ax.set_ylim(bottom=0, top=max(r["passages_per_second"] for r in done) * 1.15)
    ax.grid(True, alpha=0.3)
    models = sorted({short_model(r["model"]) for r in done})
    ax.set_title(f"{title} ({', '.join(models)})")
    ax.legend(title="layout, dtype", loc="best", fontsize=9)
    return fig


def breakdown(r):
    ranks = max(1, r["ranks"])
    forward = r["forward_seconds"] / ranks
    comm = r["comm_seconds"] / ranks
    idle = max(0.0, r["evaluate_seconds"] - forward - comm)
    parts = {"load": r["load_seconds"], "tokenize": r["tokenize_seconds"], "forward": forward,
             "communication": comm, "idle": idle}
    parts["other"] = max(0.0, r["wall_seconds"] - sum(parts.values()))
    return parts


def figure_breakdown(doc):
    done = [r for r in doc["runs"] if r["complete"]]
    title = "Where the time goes (mean over each run's ranks)"
    if not done:
        return empty_figure(title, "no complete run: nothing to plot")
    names = [f"{r['label']}  (tp {r['tp']} x dp {r['dp']})" for r in done]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.55 * len(done)))
    lefts = [0.0] * len(done)
    data = [breakdown(r) for r in done]
    for part, color in COLORS.items():
        widths = [d[part] for d in data]
        if part == "other" and not any(w > 0 for w in widths):
            continue
        ax.barh(range(len(done)), widths, left=lefts, color=color, edgecolor="white", linewidth=0.5,
                label=part, height=0.7)
        lefts = [l + w for l, w in zip(lefts, widths)]
    longest = max(max(lefts), max(r["wall_seconds"] for r in done))
    for i, r in enumerate(done):
        ax.text(lefts[i] + longest * 0.01, i, f"wall {fmt_seconds(r['wall_seconds'])}", va="center", fontsize=8)
    ax.set_yticks(range(len(done)))
    ax.set_yticklabels(names, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, longest * 1.2)
    ax.set_xlabel("seconds (forward, communication, idle: rank-seconds / ranks)")
    ax.set_title(title, pad=26)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(ncol=6, loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, frameon=False)
    return fig


def legend_inside(fig, ax, handles, top_of_data):
    """A legend inside the axes, above the bars: as many columns as fit the axes' width, then the
    y range raised until the bars (and `top_of_data`) end below it."""
    for ncol in range(len(handles), 0, -1):
        legend = ax.legend(handles=handles, loc="upper left", fontsize=8, ncol=ncol)
        fig.canvas.draw()
        if legend.get_window_extent().width <= ax.get_window_extent().width * 0.98:
            break
    axes_box, legend_box = ax.get_window_extent(), legend.get_window_extent()
    free = 1.0 - (legend_box.height + 12) / axes_box.height  # fraction of the axes below it
    ax.set_ylim(0, top_of_data / max(free, 0.2) * 1.02)
    return legend


def figure_balance(doc):
    runs = doc["runs"]
    i = doc.get("balance_run", -1)
    title = "Busy time per rank"
    if i is None or i < 0 or i >= len(runs):
        return empty_figure(title, "no run")
    r = runs[i]
    if not r["complete"]:
        # Its evaluate seconds are a placeholder (0 until the run finishes): nothing to draw against.
        return empty_figure(f"{title}: run {r['label']}",
                            f"run incomplete ({r['n_done']}/{r['n_examples']} rows): no complete run to plot")
    ranks = r["per_rank"]
    if not ranks or not any(x["batches"] for x in ranks):
        return empty_figure(f"{title}: run {r['label']}", "no timings recorded for this run")
    n = len(ranks)
    fig, ax = plt.subplots(figsize=(max(6, min(16, 1.0 + 0.9 * n)), 4.8))
    xs = list(range(n))
    fwd = [x["forward_seconds"] for x in ranks]
    comm = [x["comm_seconds"] for x in ranks]
    busy = [f + c for f, c in zip(fwd, comm)]
    ev = r["evaluate_seconds"]
    idle = [max(0.0, ev - b) for b in busy]
    # Shade the DP groups (ranks of one TP group are contiguous).
    groups = {}
    for x, rk in zip(xs, ranks):
        groups.setdefault(rk["dp_rank"], []).append(x)
    for g, members in sorted(groups.items()):
        if len(groups) > 1 and g % 2 == 0:
            ax.axvspan(min(members) - 0.5, max(members) + 0.5, color="#eef3fa", zorder=0)
    ax.bar(xs, fwd, color=COLORS["forward"], label="forward", zorder=2)
    ax.bar(xs, comm, bottom=fwd, color=COLORS["communication"], label="communication", zorder=2)
    ax.bar(xs, idle, bottom=busy, color=COLORS["idle"], label="idle (waiting)", zorder=2)
    ax.axhline(ev, color="black", linestyle="--", linewidth=1, zorder=3)
    ax.text(n - 0.5, ev, f" evaluate {fmt_seconds(ev)}", va="bottom", ha="right", fontsize=8)
    labels = []
    for rk in ranks:
        tok = rk["tokens"]
        tok_text = f"{tok / 1000:.1f}k" if tok >= 1000 else str(tok)
        labels.append(f"rank {rk['rank']}\ndp {rk['dp_rank']} tp {rk['tp_rank']}\n"
                      f"{rk['batches']} batches\n{tok_text} tokens")
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, fontsize=7 if n > 8 else 8, rotation=90 if n > 16 else 0)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylabel("seconds")
    mean_busy = sum(busy) / n
    imbalance = max(busy) / mean_busy if mean_busy > 0 else float("nan")
    groups_busy = [max(busy[x] for x in members) for _, members in sorted(groups.items())]
    ax.set_title(f"Busy time per rank: run {r['label']} (tp {r['tp']} x dp {r['dp']}, batch {r['batch_size']})\n"
                 f"slowest rank / mean = {imbalance:.2f}; {len(groups)} DP group(s), busiest group "
                 f"{fmt_seconds(max(groups_busy))}, least busy {fmt_seconds(min(groups_busy))}",
                 fontsize=10)
    handles, _ = ax.get_legend_handles_labels()
    if len(groups) > 1:
        handles.append(Patch(facecolor="#eef3fa", label="even DP groups shaded"))
    ax.grid(True, axis="y", alpha=0.3, zorder=1)
    legend_inside(fig, ax, handles, max(ev, max(busy)) * 1.08)  # room for the evaluate label
    return fig


FIGURES = {"throughput.png": figure_throughput, "time_breakdown.png": figure_breakdown,
           "load_balance.png": figure_balance}


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    out_dir = sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11})
    for name, make in FIGURES.items():
        save(make(doc), out_dir, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
