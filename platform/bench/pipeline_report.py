"""Goals, tables and the chart of ``eventlake bench pipeline`` (see ``eventlake.bench.pipeline``)."""

from __future__ import annotations

from typing import Any

from eventlake.bench.common import finish_chart, goal_status, new_chart, print_skipped, results_table
from eventlake.bench.ingest_report import _mb, _rate, _s, _x
from eventlake.bench.ingest_report import print_goals as print_goals  # the same goals table

MB = 1_000_000


def _sizes(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return summary["phases"].get("sizes") or []


def _h(n: int | None) -> str:
    """History sizes: 20,000 / 300k / 1.0M / 10M."""
    if n is None:
        return "-"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M" if n % 1_000_000 else f"{n // 1_000_000}M"
    if n >= 100_000:
        return f"{n / 1e3:.0f}k"
    return f"{n:,}"


def goals(summary: dict[str, Any], targets: dict[str, float]) -> list[dict[str, Any]]:
    """The product's targets, each measured in this run: PASS, MISS or N/A (phase not run)."""
    out: list[dict[str, Any]] = []
    sizes = _sizes(summary)
    goal_history = int(targets["goal_history"])

    def add(goal: str, section: str, measured: float | None, target: float, shown: str, note: str = "",
            status: str | None = None) -> None:  # fmt: skip
        if status is None:
            status = goal_status(measured, target, higher_is_better=False)
        out.append({"goal": goal, "section": section, "measured": measured, "target": target, "shown": shown,
                    "status": status, "note": note})  # fmt: skip

    def at(entry: dict[str, Any] | None) -> str:
        if not entry:
            return ""
        n = entry.get("history_events") or entry["size"]
        return f"at {_h(n)} events" + ("" if n >= goal_history else f" (the goal is at {_h(goal_history)})")

    with_inc = [e for e in sizes if e.get("incremental")]
    with_full = [e for e in sizes if e.get("full")]
    last_inc = with_inc[-1] if with_inc else None
    inc = last_inc["incremental"] if last_inc else {}
    p50 = (inc.get("run_wall_s") or {}).get("p50")
    add(f"incremental transform of {inc.get('events_per_run', 10_000):,} events <= {targets['incremental_wall_s']:g} s",
        "incremental", p50, targets["incremental_wall_s"], _s(p50),
        f"p50 {at(last_inc)}; max {_s((inc.get('run_wall_s') or {}).get('max'))}, with process start p50 "
        f"{_s((inc.get('process_wall_s') or {}).get('p50'))}" if inc else "")  # fmt: skip

    runs = [r for e in sizes for r in ([e["full"]] if e.get("full") else []) + ((e.get("incremental") or {}).get("runs") or [])]
    runs += (summary["phases"].get("freshness") or {}).get("runs") or []
    peaks = [r["peak_rss_bytes"] for r in runs if r.get("peak_rss_bytes")]
    worst = max(runs, key=lambda r: r.get("peak_rss_bytes") or 0) if peaks else None
    add(f"peak RSS of a transform <= {_mb(targets['peak_rss_bytes'])}", "all", max(peaks) if peaks else None,
        targets["peak_rss_bytes"], _mb(max(peaks) if peaks else None),
        f"{worst['tag']}: " + ", ".join(f"{k} {_mb(v)}" for k, v in sorted((worst.get("peak_rss_by_process") or {}).items(),
                                                                       key=lambda kv: -kv[1])[:3]) if worst else "")  # fmt: skip

    ratio, shown, note, status = None, "-", "", None
    if len(with_inc) >= 2:
        first, last = with_inc[0]["incremental"]["peak_rss_bytes"], last_inc["incremental"]["peak_rss_bytes"]
        ratio = last / first if first and last else None
        shown = f"{_x(ratio)} ({_mb(first)} -> {_mb(last)})"
        note = f"incremental runs, {_h(with_inc[0]['history_events'])} -> {_h(last_inc['history_events'])} events"
        fulls = [e["full"]["peak_rss_bytes"] for e in with_full if e["full"].get("peak_rss_bytes")]
        if len(fulls) >= 2:
            note += f"; full: {_mb(fulls[0])} -> {_mb(fulls[-1])}"
    elif with_inc:
        note, status = "needs two --sizes", "N/A"
    add(f"peak RSS flat against history size (<= {targets['rss_flat_ratio']:g}x)", "incremental", ratio,
        targets["rss_flat_ratio"], shown, note, status)  # fmt: skip

    last_full = with_full[-1] if with_full else None
    full_s = last_full["full"].get("run_wall_s") if last_full else None
    add(f"full transform <= {targets['full_wall_s'] / 60:g} min", "full", full_s, targets["full_wall_s"], _s(full_s),
        f"{at(last_full)}; peak RSS {_mb(last_full['full'].get('peak_rss_bytes'))}" if last_full else "")  # fmt: skip

    fresh = summary["phases"].get("freshness") or {}
    p95 = (fresh.get("fact_events") or {}).get("p95_s")
    shown, status, note = _s(p95), None, ""
    if fresh:
        if p95 is None:
            status, shown = "MISS", "never (POSTs not in fact_events)"
        rate = fresh.get("achieved_events_per_s") or 0
        note = (f"p50 {_s(fresh['fact_events'].get('p50_s'))} at {_rate(rate, 'events/s')}, {fresh['transform_runs']} "
                f"runs (p50 {_s(fresh['transform_run_wall_s']['p50'])}); POST -> Iceberg p95 {_s(fresh['iceberg'].get('p95_s'))}")  # fmt: skip
        if rate < 0.95 * targets["freshness_rate"]:
            status = status or "MISS"
            note += f"; below the {targets['freshness_rate']:,.0f} events/s the goal is at"
    add(f"freshness POST -> fact_events p95 <= {targets['freshness_p95_s']:g} s at {targets['freshness_rate']:,.0f} events/s",
        "freshness", p95, targets["freshness_p95_s"], shown, note, status)  # fmt: skip

    ratio, shown, note, status = None, "-", "", None
    if len(with_inc) >= 2:
        first, last = with_inc[0]["incremental"]["run_wall_s"]["p50"], inc["run_wall_s"]["p50"]
        ratio = last / first if first and last else None
        shown = f"{_x(ratio)} ({_s(first)} -> {_s(last)})"
        note = f"p50 of the incremental runs, {_h(with_inc[0]['history_events'])} -> {_h(last_inc['history_events'])} events"
    elif with_inc:
        note, status = "needs two --sizes", "N/A"
    add(f"incremental cost flat against history size (<= {targets['incremental_flat_ratio']:g}x)", "incremental", ratio,
        targets["incremental_flat_ratio"], shown, note, status)  # fmt: skip
    return out


def _representative(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The median-wall incremental run of a size."""
    runs = [r for r in (entry.get("incremental") or {}).get("runs") or [] if r.get("run_wall_s") is not None]
    return sorted(runs, key=lambda r: r["run_wall_s"])[len(runs) // 2] if runs else None


def where_the_time_went(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Top steps of the runs behind each goal (the largest size's full run and median incremental run,
    the slowest freshness run), flagged when a goal they stand for was missed."""
    missed = {g["section"] for g in summary.get("goals", []) if g["status"] == "MISS"}
    sizes = _sizes(summary)
    out = []
    if sizes:
        last = sizes[-1]
        if last.get("incremental"):
            run = _representative(last)
            if run:
                out.append({"run": run["tag"], "why": "median incremental run at the largest size",
                            "missed_goal": bool(missed & {"incremental", "all"}), "run_wall_s": run["run_wall_s"],
                            "top_steps": run["top_steps"]})  # fmt: skip
        if last.get("full"):
            run = last["full"]
            out.append({"run": run["tag"], "why": "full transform at the largest size", "missed_goal": bool(missed & {"full", "all"}),
                        "run_wall_s": run.get("run_wall_s"), "top_steps": run["top_steps"]})  # fmt: skip
    fresh = summary["phases"].get("freshness") or {}
    if fresh.get("runs"):
        run = max(fresh["runs"], key=lambda r: r.get("run_wall_s") or 0)
        out.append({"run": run["tag"], "why": "slowest transform run during the freshness phase",
                    "missed_goal": "freshness" in missed, "run_wall_s": run.get("run_wall_s"), "top_steps": run["top_steps"]})  # fmt: skip
    return out


# -- console ----------------------------------------------------------------------------------
def print_results(console, summary: dict[str, Any]) -> None:
    machine = summary["machine"]
    phases = summary["phases"]
    table = results_table(
        f"eventlake bench pipeline: {machine['cores']} cores ({machine['cpu_model']})",
        "wall = the Dagster run (RUN_START -> RUN_SUCCESS); 'with start' adds the child process start, imports and "
        "build_definitions; peak RSS = summed RSS of the run's process tree (Dagster + dbt), sampled every 100 ms",
        ["phase", "history", ("wall", "right"), ("peak RSS", "right"), "detail"],
    )
    history = phases.get("history")
    if history:
        for b in history["build"]:
            table.add_row("history", f"-> {_h(b['to_events'])}", _s(b["seconds"]), "",
                          f"+{b['events_added']:,} events: publish {_s(b['publish_seconds'])}, drain {_s(b['drain_seconds'])} "
                          f"({_rate(b['drain_events_per_s'], 'events/s')})")  # fmt: skip
        table.add_section()
    for entry in _sizes(summary):
        full = entry.get("full")
        if full:
            check = "rows match" if full.get("rows_match") else f"[red]{full.get('fact_events_rows')} rows != {full.get('expected_rows')}[/]"
            table.add_row("full", _h(full.get("history_events")), _s(full.get("run_wall_s")), _mb(full.get("peak_rss_bytes")),
                          f"with start {_s(full.get('process_wall_s'))}; fact_events {check}")  # fmt: skip
        inc = entry.get("incremental")
        if inc:
            ok = "rows match" if inc["rows_match"] else "[red]rows do not match[/]"
            table.add_row("incremental", f"{_h(entry['history_events'])} + {len(inc['runs'])} x {inc['events_per_run']:,}",
                          f"p50 {_s(inc['run_wall_s']['p50'])}, max {_s(inc['run_wall_s']['max'])}", _mb(inc["peak_rss_bytes"]),
                          f"with start p50 {_s(inc['process_wall_s']['p50'])}; fact_events {ok}")  # fmt: skip
        if full or inc:
            table.add_section()
    fresh = phases.get("freshness")
    if fresh:
        table.add_row("freshness", _h(fresh["history_events_at_start"]),
                      f"{fresh['transform_runs']} runs, p50 {_s(fresh['transform_run_wall_s']['p50'])}",
                      _mb(fresh["transform_peak_rss_bytes"]),
                      f"{fresh['requests_accepted']} POSTs of {fresh['batch_events']} at {_rate(fresh['achieved_events_per_s'], 'events/s')}, "
                      f"{fresh['errors']} errors")  # fmt: skip
        for key, label in (("iceberg", "POST -> Iceberg"), ("fact_events", "POST -> fact_events")):
            f = fresh[key]
            table.add_row("", label, f"p50 {_s(f['p50_s'])}, p95 {_s(f['p95_s'])}", "",
                          f"max {_s(f['max_s'])}, {f['posts']} of {fresh['requests_accepted']} POSTs")  # fmt: skip
    console.print(table)
    print_skipped(console, summary)


def print_where(console, where: list[dict[str, Any]]) -> None:
    from rich.table import Table

    for item in where:
        if not item["top_steps"]:
            continue
        flag = "[red]goal missed[/]: " if item["missed_goal"] else ""
        table = Table(title=f"where the time went: {flag}{item['why']} ({item['run']}, run {_s(item['run_wall_s'])})",
                      title_justify="left")  # fmt: skip
        table.add_column("step")
        table.add_column("seconds", justify="right")
        table.add_column("status")
        for step in item["top_steps"]:
            table.add_row(step["what"], f"{step['seconds']:.2f}", str(step["status"] or ""))
        console.print(table)


# -- chart ------------------------------------------------------------------------------------
def chart(summary: dict[str, Any], path) -> None:
    machine = summary["machine"]
    sizes = _sizes(summary)
    fig, axes = new_chart(f"eventlake bench pipeline, {summary['started_at'][:19]} UTC: {machine['cores']} cores "
                          f"({machine['cpu_model']}); transform cost against history size")  # fmt: skip
    from matplotlib.ticker import FuncFormatter

    size_fmt = FuncFormatter(lambda v, _: _h(int(v)) if v >= 0 else "")
    inc = [e for e in sizes if e.get("incremental")]
    full = [e for e in sizes if e.get("full")]

    def empty(ax, text: str) -> None:
        ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()

    def size_axis(ax) -> None:
        ax.xaxis.set_major_formatter(size_fmt)
        ax.set_xlabel("events in the history")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")

    def goal_and_axes(ax, goal: float, goal_label: str, title: str, ylabel: str) -> None:
        ax.axhline(goal, color="black", linestyle="--", linewidth=0.8, label=goal_label)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        size_axis(ax)

    # 1: incremental wall time against history size
    ax = axes[0][0]
    if inc:
        xs = [e["history_events"] for e in inc]
        ax.plot(xs, [e["incremental"]["run_wall_s"]["p50"] for e in inc], "o-", color="#c0392b", label="p50 (Dagster run)")
        ax.plot(xs, [e["incremental"]["run_wall_s"]["max"] for e in inc], "^--", color="#c0392b", alpha=0.6, label="max")
        ax.plot(xs, [e["incremental"]["process_wall_s"]["p50"] for e in inc], "s:", color="#7f8c8d", label="p50 with process start")
        n = inc[-1]["incremental"]["events_per_run"]
        goal_and_axes(ax, 15, "goal 15 s", f"incremental transform of {n:,} new events", "wall time, s")
    else:
        empty(ax, "incremental: not measured")

    # 2: peak RSS against history size
    ax = axes[0][1]
    if inc or full:
        if inc:
            ax.plot([e["history_events"] for e in inc], [(e["incremental"]["peak_rss_bytes"] or 0) / MB for e in inc], "o-",
                    color="#c0392b", label="incremental (max of runs)")  # fmt: skip
        if full:
            ax.plot([e["full"]["history_events"] for e in full], [(e["full"]["peak_rss_bytes"] or 0) / MB for e in full],
                    "s-", color="#2980b9", label="full")  # fmt: skip
        goal_and_axes(ax, 1500, "goal 1.5 GB", "peak RSS of a transform (Dagster + dbt processes)", "MB")
    else:
        empty(ax, "no transform measured")

    # 3: full transform against history size
    ax = axes[0][2]
    if full:
        ax.plot([e["full"]["history_events"] for e in full], [e["full"]["run_wall_s"] or 0 for e in full], "s-", color="#2980b9",
                label="full (empty DuckDB file)")  # fmt: skip
        goal_and_axes(ax, 300, "goal 5 min at 10M", "full transform", "wall time, s")
    else:
        empty(ax, "full: not measured")

    # 4: freshness CDFs
    ax = axes[1][0]
    fresh = summary["phases"].get("freshness")
    if fresh:
        n = fresh["requests_accepted"] or 1
        for key, colour, label in (("iceberg", "#2980b9", "POST -> Iceberg"), ("fact_events", "#c0392b", "POST -> fact_events")):
            samples = fresh[key]["samples_s"]
            if samples:
                ax.plot(samples, [(i + 1) / n for i in range(len(samples))], color=colour,
                        label=f"{label}: p50 {_s(fresh[key]['p50_s'])}, p95 {_s(fresh[key]['p95_s'])}")  # fmt: skip
        ax.axvline(30, color="black", linestyle="--", linewidth=0.8, label="goal p95 30 s (fact_events)")
        ax.set_xlabel("seconds from POST")
        ax.set_ylabel("share of POSTs")
        ax.set_ylim(0, 1.02)
        ax.set_xlim(left=0)
        ax.set_title(f"freshness at {_rate(fresh['achieved_events_per_s'], 'events/s')} on {_h(fresh['history_events_at_start'])} events")
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(alpha=0.3)
    else:
        empty(ax, "freshness: not measured")

    # 5: top steps of the representative runs
    ax = axes[1][1]
    where = [w for w in summary.get("where_the_time_went", []) if w["top_steps"]]
    if where:
        item = where[0]
        steps = list(reversed(item["top_steps"]))
        ax.barh([s["what"] if len(s["what"]) <= 56 else s["what"][:55] + "…" for s in steps], [s["seconds"] for s in steps], color="#c0392b" if item["missed_goal"] else "#7f8c8d")
        ax.set_xlabel("seconds")
        ax.set_title(f"where the time went: {item['run']}", fontsize=10)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    else:
        empty(ax, "no run details")

    # 6: goals
    finish_chart(fig, axes[1][2], summary.get("goals", []), path, two_lines=True)


__all__ = ["chart", "goals", "print_goals", "print_results", "print_where", "where_the_time_went"]
