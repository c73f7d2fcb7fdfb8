"""Turn the runs into medians, ratios, goals, tables, a results JSON and a chart."""

from __future__ import annotations

from typing import Any

from benchmarks.contenders import STAGES
from eventlake.bench.common import goal_status, median, print_goal_table

MB = 1_000_000
WHOLE = "whole job"
PEERS = ("polars", "duckdb", "pyarrow")


def _rates(seconds: float | None, events: int, input_bytes: int) -> dict[str, float | None]:
    if not seconds:
        return {"events_per_s": None, "mb_per_s": None}
    return {"events_per_s": events / seconds, "mb_per_s": input_bytes / MB / seconds}


def aggregate(runs: list[dict[str, Any]], fmt: str, events: int, input_bytes: int, modules: dict[str, Any]) -> dict[str, Any]:
    """Medians per contender and stage for one format, and rust's ratios against the rest."""
    out: dict[str, Any] = {"events": events, "input_bytes": input_bytes, "contenders": {}, "ratios": {}}
    for name, module in modules.items():
        mine = [r for r in runs if r["contender"] == name and r["format"] == fmt]
        ok = [r for r in mine if r.get("status") == "ok"]
        staged = [r for r in ok if r["mode"] == "staged"]
        fused = [r for r in ok if r["mode"] == "whole"]
        entry: dict[str, Any] = {
            "label": module.LABEL,
            "failed_runs": [f"{r['mode']} run {r['run']}: {r.get('error')}" for r in mine if r.get("status") != "ok"],
            "stages": {},
        }
        for stage in STAGES:
            secs = [r["stages"][stage] for r in staged if stage in r["stages"]]
            mid = median(secs)
            peaks = [r["stage_peak_rss_delta"][stage] for r in staged if stage in r["stage_peak_rss_delta"]]
            entry["stages"][stage] = {
                "median_seconds": mid,
                "seconds_per_run": secs,
                **_rates(mid, events, input_bytes),
                "peak_rss_delta_bytes": median(peaks),
            }
        totals = [r["total_seconds"] for r in staged]
        entry["sum_of_stages"] = {"median_seconds": median(totals), "seconds_per_run": totals}
        source = fused if module.WHOLE is not None else staged
        secs = [r["total_seconds"] for r in source]
        mid = median(secs)
        peak = median([r["peak_rss_delta"] for r in source])
        entry["whole"] = {
            "how": getattr(module, "WHOLE_HOW", "its whole-job mode") if module.WHOLE is not None else "the staged pipeline, end to end",
            "median_seconds": mid,
            "seconds_per_run": secs,
            **_rates(mid, events, input_bytes),
            "peak_rss_delta_bytes": peak,
            "peak_rss_delta_over_input": peak / input_bytes if peak is not None else None,
        }
        out["contenders"][name] = entry
    rust = out["contenders"].get("rust")
    if rust:
        for name, entry in out["contenders"].items():
            if name == "rust":
                continue
            ratios = {}
            for stage in STAGES:
                ratios[stage] = _ratio(entry["stages"][stage]["median_seconds"], rust["stages"][stage]["median_seconds"])
            ratios[WHOLE] = _ratio(entry["whole"]["median_seconds"], rust["whole"]["median_seconds"])
            out["ratios"][name] = ratios
    return out


def _ratio(other: float | None, rust: float | None) -> float | None:
    if not other or not rust:
        return None
    return other / rust


def goals(per_format: dict[str, dict[str, Any]], batch: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The product's targets, each measured in this run: PASS, MISS or N/A."""
    out: list[dict[str, Any]] = []

    def add(goal: str, fmt: str | None, measured: float | None, target: float, higher_is_better: bool, shown: str, note: str = ""):
        status = goal_status(measured, target, higher_is_better)
        out.append({"goal": goal, "format": fmt, "measured": measured, "target": target, "shown": shown, "status": status, "note": note})

    for fmt, data in per_format.items():
        ratios = data["ratios"]
        py = ratios.get("python", {})
        whole = py.get(WHOLE)
        add("whole pipeline >= 25x pure Python", fmt, whole, 25, True, _x(whole))
        parse = py.get("parse")
        add("parsing >= 20x pure Python", fmt, parse, 20, True, _x(parse))
        peers = {p: ratios[p][WHOLE] for p in PEERS if p in ratios and ratios[p][WHOLE] is not None}
        if peers:
            fastest = min(peers, key=peers.get)
            best = peers[fastest]
            add(
                "faster than the fastest of polars/DuckDB/pyarrow (aim 2x)",
                fmt,
                best,
                1.0,
                True,
                f"{_x(best)} vs {fastest}",
                "aim 2x reached" if best >= 2 else "aim 2x not reached",
            )
        else:
            add("faster than the fastest of polars/DuckDB/pyarrow (aim 2x)", fmt, None, 1.0, True, "n/a")
        rust = data["contenders"].get("rust")
        over = rust["whole"]["peak_rss_delta_over_input"] if rust else None
        add(
            "rust peak memory <= 1.5x input size",
            fmt,
            over,
            1.5,
            False,
            f"{over:.2f}x of {mb_text(data['input_bytes'])}" if over else "n/a",
            # the job holds the input bytes it was given: show what rust adds on top of them
            f"{over - 1:.2f}x on top of the input bytes it holds" if over else "",
        )
    if batch is not None:
        secs = batch.get("median_seconds")
        add(
            f"{batch['events']:,}-event batch through the whole rust pipeline well under 1 s",
            batch["format"],
            secs,
            1.0,
            False,
            f"{secs:.3f} s" if secs else "n/a",
        )
    return out


def _x(value: float | None) -> str:
    return f"{value:.1f}x" if value is not None else "n/a"


# -- console ------------------------------------------------------------------------------
def _ratio_text(ratio: float | None) -> str:
    if not ratio:
        return "-"
    if ratio >= 1:
        return f"{ratio:.1f}x faster"
    return f"[red]{1 / ratio:.1f}x slower[/]"


# Not eventlake.bench.ingest_report's formatters on purpose: the processor tables show k from 1,000 and bare numbers.
def _fmt_s(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _fmt_rate(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}"


def _fmt_mb(value: float | None) -> str:
    return "-" if value is None else f"{value / MB:.0f}"


def mb_text(n_bytes: int) -> str:
    mb = n_bytes / MB
    return f"{mb:.1f} MB" if mb < 10 else f"{mb:.0f} MB"


def print_tables(console, summary: dict[str, Any]) -> None:
    from rich.table import Table

    for fmt, data in summary["formats"].items():
        title = (
            f"{fmt}: {data['events']:,} events, {mb_text(data['input_bytes'])}, "
            f"median of {summary['config']['runs']} run(s), {summary['machine']['cores']} cores"
        )
        caption = (
            "seconds: median per stage (staged runs) and for the whole job (the contender's end-to-end mode); "
            "events/s and MB/s over the whole input; peak MB: RSS above the worker's RSS after imports "
            "(stage: largest 10 ms sample during the stage; whole job: ru_maxrss); "
            "rust is: contender seconds / rust seconds"
        )
        table = Table(title=title, title_justify="left", caption=caption, caption_justify="left", show_lines=False)
        table.add_column("contender")
        table.add_column("stage")
        table.add_column("seconds", justify="right")
        table.add_column("events/s", justify="right")
        table.add_column("MB/s", justify="right")
        table.add_column("peak MB", justify="right")
        table.add_column("rust is", justify="right")
        for name, entry in data["contenders"].items():
            ratios = data["ratios"].get(name, {})
            rows = [(stage, entry["stages"][stage]) for stage in STAGES] + [(WHOLE, entry["whole"])]
            for i, (stage, s) in enumerate(rows):
                ratio = ratios.get(stage)
                table.add_row(
                    name if i == 0 else "",
                    stage if stage != WHOLE else f"[bold]{WHOLE}[/]",
                    _fmt_s(s["median_seconds"]),
                    _fmt_rate(s.get("events_per_s")),
                    _fmt_rate(s.get("mb_per_s")),
                    _fmt_mb(s.get("peak_rss_delta_bytes")),
                    "" if name == "rust" else _ratio_text(ratio),
                )
            if entry["failed_runs"]:
                table.add_row("", "[red]failed[/]", "", "", "", "", "")
            table.add_section()
        console.print(table)
        for name, entry in data["contenders"].items():
            console.print(f"  [dim]{name} whole job: {entry['whole']['how']}[/]", highlight=False)
        for name, entry in data["contenders"].items():
            for failure in entry["failed_runs"][:3]:
                console.print(f"  [red]{name} {failure}[/]")
        checks = data.get("checks", {})
        if checks:
            if checks["ok"]:
                console.print(f"  [green]agreement: every contender wrote the same rows and violations (reference {checks['reference']}), and matched the generator's counts[/]")
            else:
                console.print(f"  [red bold]MISMATCH[/] (reference {checks['reference']}):")
                for who, problems in checks["problems"].items():
                    for p in problems:
                        console.print(f"    [red]{who}[/]: {p}")
        console.print()


def print_batch(console, batch: dict[str, Any] | None) -> None:
    if batch is None:
        return
    console.print(
        f"rust, {batch['events']:,}-event batch (ndjson, {mb_text(batch['input_bytes'])}) through process() + write: "
        f"{_fmt_s(batch['median_seconds'])} s median, peak +{_fmt_mb(batch['peak_rss_delta_bytes'])} MB",
        highlight=False,
    )


def print_notes(console, notes: dict[str, list[str]]) -> None:
    console.print("known quirks worked around:")
    for name, lines in notes.items():
        for note in lines:
            console.print(f"  [dim]{name}: {note}[/]", highlight=False)


def print_goals(console, goal_rows: list[dict[str, Any]]) -> None:
    print_goal_table(console, goal_rows, "format", measured_justify="left")


# -- chart --------------------------------------------------------------------------------
def chart(summary: dict[str, Any], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    formats = list(summary["formats"])
    fig, axes = plt.subplots(len(formats), 2, figsize=(15, 4.8 * len(formats)), squeeze=False, gridspec_kw={"width_ratios": [2.4, 1]})
    colours = {"rust": "#c0392b", "python": "#7f8c8d", "polars": "#2980b9", "duckdb": "#f1c40f", "pyarrow": "#27ae60"}
    for row, fmt in enumerate(formats):
        data = summary["formats"][fmt]
        names = list(data["contenders"])
        groups = [*STAGES, WHOLE]
        ax = axes[row][0]
        width = 0.8 / max(1, len(names))
        for i, name in enumerate(names):
            entry = data["contenders"][name]
            values = [entry["stages"][s]["median_seconds"] for s in STAGES] + [entry["whole"]["median_seconds"]]
            xs = [g + (i - (len(names) - 1) / 2) * width for g in range(len(groups))]
            ax.bar(
                [x for x, v in zip(xs, values) if v],
                [v for v in values if v],
                width=width,
                label=name,
                color=colours.get(name),
            )
        ax.set_yscale("log")
        low, high = ax.get_ylim()
        ax.set_ylim(low, high * 6)  # room for the legend above the bars
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups)
        ax.set_ylabel("median seconds (log scale)")
        ax.set_title(
            f"{fmt}: {data['events']:,} events, {mb_text(data['input_bytes'])}, "
            f"median of {summary['config']['runs']} run(s), {summary['machine']['cores']} cores"
        )
        ax.legend(fontsize=8, ncol=len(names), loc="upper center")
        ax.grid(axis="y", which="both", alpha=0.3)

        ax = axes[row][1]
        ratios = data["ratios"]
        if ratios:
            others = [n for n in names if n in ratios and ratios[n][WHOLE]]
            values = [ratios[n][WHOLE] for n in others]
            bars = ax.bar(others, values, color=[colours.get(n) for n in others])
            for bar, v in zip(bars, values):
                ax.annotate(f"{v:.1f}x", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=9)
            ax.axhline(1, color="black", linewidth=0.8)
            ax.set_yscale("log")
            times = FuncFormatter(lambda v, _: f"{v:g}x")
            ax.yaxis.set_major_formatter(times)
            ax.yaxis.set_minor_formatter(times)
            ax.set_ylabel("contender seconds / rust seconds")
            ax.set_title("whole job: how many times faster rust is")
        else:
            ax.text(0.5, 0.5, "rust did not run:\nno ratios", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
