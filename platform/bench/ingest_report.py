"""Goals, tables and the chart of ``eventlake bench ingest`` (see ``eventlake.bench.ingest``)."""

from __future__ import annotations

from typing import Any

from eventlake.bench.common import finish_chart, goal_status, new_chart, print_goal_table, print_skipped, results_table

MB = 1_000_000


def _fmt_rate(value: float | None) -> str:
    """Three significant digits at least: 1,869 / 42,473 / 527k / 1.40M."""
    if value is None:
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e5:
        return f"{value / 1e3:.0f}k"
    return f"{value:,.0f}"


def _rate(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{_fmt_rate(value)} {unit}"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value / MB:.0f} MB"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _ok(section: dict[str, Any] | None) -> dict[str, Any]:
    """The section's results, or {} when it did not run or failed."""
    return section if section and "error" not in section else {}


def goals(results: dict[str, dict[str, Any]], targets: dict[str, float]) -> list[dict[str, Any]]:
    """The product's targets, each measured in this run: PASS, MISS or N/A (section not run)."""
    out: list[dict[str, Any]] = []

    def add(goal: str, section: str, measured: float | None, target: float, higher_is_better: bool, shown: str,
            note: str = "", status: str | None = None) -> None:  # fmt: skip
        if status is None:
            status = goal_status(measured, target, higher_is_better)
        out.append({"goal": goal, "section": section, "measured": measured, "target": target, "shown": shown,
                    "status": status, "note": note})  # fmt: skip

    post = _ok(results.get("post"))
    api, bare = post.get("api", {}), post.get("bare", {})
    rps = api.get("requests_per_s")
    add(f"single-event POSTs >= {targets['post_requests_per_s']:,.0f}/s", "post", rps, targets["post_requests_per_s"], True,
        _rate(rps, "req/s"))  # fmt: skip
    p99 = api.get("latency_ms", {}).get("p99")
    add(f"single-event p99 <= {targets['post_p99_ms']:g} ms", "post", p99, targets["post_p99_ms"], False, _ms(p99),
        f"p50 {_ms(api.get('latency_ms', {}).get('p50'))}" if api else "")  # fmt: skip
    errors = api.get("errors")
    add("single-event POSTs: 0 errors", "post", errors, 0, False, "-" if errors is None else f"{errors} of {api['requests']:,}",
        _codes(api))  # fmt: skip
    share = post.get("api_share_of_bare")
    add(f"single-event POSTs >= {targets['post_share_of_bare']:g}x the bare FastAPI endpoint", "post", share,
        targets["post_share_of_bare"], True, _x(share),
        f"bare endpoint: {_rate(bare.get('requests_per_s'), 'req/s')}" if bare else "")  # fmt: skip

    batched = _ok(results.get("batched"))
    eps = batched.get("events_per_s")
    add(f"batched NDJSON >= {_fmt_rate(targets['batched_events_per_s'])} events/s", "batched", eps,
        targets["batched_events_per_s"], True, _rate(eps, "events/s"),
        f"{batched['batch_events']:,}-event bodies, {batched['clients']} clients, {batched['errors']} errors" if batched else "")  # fmt: skip

    drain = _ok(results.get("drain"))
    best = drain.get("best") or {}
    eps = best.get("events_per_s")
    add(f"drain into Iceberg >= {_fmt_rate(targets['drain_events_per_s'])} events/s, commits included", "drain", eps,
        targets["drain_events_per_s"], True, _rate(eps, "events/s"),
        f"best of {','.join(str(r['consumers']) for r in drain['runs'])} consumers: {best.get('consumers')}" if best else "")  # fmt: skip
    share = best.get("share_of_process")
    alone = (drain.get("process_alone") or {}).get("events_per_s")
    add(f"drain >= {targets['drain_share_of_process']:g}x process() alone", "drain", share, targets["drain_share_of_process"],
        True, _x(share), f"process() alone: {_rate(alone, 'events/s')}" if alone else "")  # fmt: skip

    fresh = _ok(results.get("freshness"))
    p95 = fresh.get("p95_s")
    status = None
    shown = _s(p95)
    if fresh and p95 is None:  # more jobs than 5% never completed within the wait
        status, shown = "MISS", f"> {fresh.get('wait_after_sending_s', 0):.0f} s (jobs not completed)"
    note = ""
    if fresh:
        note = (f"p50 {_s(fresh.get('p50_s'))} at {_rate(fresh.get('achieved_events_per_s'), 'events/s')}, "
                f"{fresh['errors']} POST errors, {fresh['jobs_not_completed']} jobs not completed")  # fmt: skip
    add(f"freshness POST -> Iceberg p95 <= {targets['freshness_p95_s']:g} s", "freshness", p95, targets["freshness_p95_s"],
        False, shown, note, status)  # fmt: skip

    soak = _ok(results.get("soak"))
    errors = soak.get("errors")
    add("soak: 0 errors", "soak", errors, 0, False, "-" if errors is None else f"{errors} of {soak['requests']:,}", _codes(soak))
    end, limit = soak.get("rss_bytes_end"), soak.get("rss_bytes_limit")
    add("soak: flat memory (end RSS <= start x 1.1 + 20 MB)", "soak", end, limit or 0, False,
        f"{_mb(soak.get('rss_bytes_start'))} -> {_mb(end)}" if soak else "-",
        f"limit {_mb(limit)}" if limit else "", None if limit or not soak else "N/A")  # fmt: skip
    share = soak.get("achieved_share_of_target")
    add(f"soak held its rate (>= {targets['soak_rate_share']:.0%} of the requests/s asked)", "soak", share,
        targets["soak_rate_share"], True,
        f"{_rate(soak.get('requests_per_s'), 'req/s')} of {soak['target_requests_per_s']:,}" if soak else "-",
        "a soak below its rate did not test what it was asked to" if soak and share is not None and share < targets["soak_rate_share"] else "")  # fmt: skip
    return out


def _codes(result: dict[str, Any]) -> str:
    if not result:
        return ""
    bad = {k: v for k, v in result.get("status_codes", {}).items() if k != "202"}
    socket = {k: v for k, v in result.get("socket_errors", {}).items() if v}
    parts = [f"HTTP {k}: {v}" for k, v in bad.items()] + [f"{k}: {v}" for k, v in socket.items()]
    return ", ".join(parts)


# -- console ------------------------------------------------------------------------------
def print_results(console, summary: dict[str, Any]) -> None:
    machine = summary["machine"]
    sections = summary["sections"]
    client = summary["client"]
    table = results_table(
        f"eventlake bench ingest: {machine['cores']} cores ({machine['cpu_model']}), load by {client['version']}",
        "req/s and events/s over each phase's wall time; latency from the request written to the answer read; "
        "ratios: API / bare endpoint, drain / process() alone, N consumers / 1 consumer",
        ["section", "measured", ("result", "right"), ("latency / detail", "right"), ("ratio", "right")],
    )

    def failed(name: str) -> bool:
        section = sections.get(name)
        if section is None:
            return True
        if "error" in section:
            table.add_row(name, "[red]FAILED[/]", "", section["error"][:80], "")
            table.add_section()
            return True
        return False

    if not failed("post"):
        post = sections["post"]
        for key, label in (("api", "eventlake api, single-event POSTs"), ("bare", "bare FastAPI endpoint (ceiling)")):
            r = post[key]
            lat = r["latency_ms"]
            table.add_row(
                "post" if key == "api" else "",
                f"{label}, {post['connections']} conns",
                _rate(r["requests_per_s"], "req/s"),
                f"p50 {_ms(lat['p50'])}, p99 {_ms(lat['p99'])}, {r['errors']} errors",
                f"{_x(post['api_share_of_bare'])} of bare" if key == "api" else "",
            )
        table.add_section()
    if not failed("batched"):
        b = sections["batched"]
        table.add_row("batched", f"NDJSON, {b['bodies']} bodies of <= {b['batch_events']:,} events, {b['clients']} clients",
                      _rate(b["events_per_s"], "events/s"), f"{b['mb_per_s']:.0f} MB/s, {b['errors']} errors", "")  # fmt: skip
        table.add_section()
    if not failed("drain"):
        d = sections["drain"]
        alone = d["process_alone"]
        table.add_row("drain", f"process() alone, {alone['chunks']} chunks", _rate(alone["events_per_s"], "events/s"),
                      f"{_s(alone['seconds'])} for {alone['events']:,} events", "1.00x")  # fmt: skip
        for r in d["runs"]:
            check = "rows match" if r["rows_match"] else f"[red]{r['rows_in_iceberg']:,} rows != {r['events']:,}[/]"
            ratio = f"{_x(r['share_of_process'])} of process()"
            if r["consumers"] != 1 and r.get("vs_one_consumer"):
                ratio += f", {_x(r['vs_one_consumer'])} of 1"
            table.add_row(
                "",
                f"{r['consumers']} consumer(s) -> Iceberg",
                _rate(r["events_per_s"], "events/s"),
                f"{_s(r['seconds'])} (+{_s(r['startup_seconds'])} start), {check}",
                ratio,
            )
        table.add_section()
    if not failed("freshness"):
        f = sections["freshness"]
        table.add_row("freshness", f"POST -> COMPLETED, {f['requests']} POSTs of {f['batch_events']} events",
                      f"p50 {_s(f['p50_s'])}, p95 {_s(f['p95_s'])}",
                      f"at {_rate(f['achieved_events_per_s'], 'events/s')}; POST answered p50 {_s(f['post_p50_s'])}, "
                      f"p95 {_s(f.get('post_p95_s'))}; {f['errors']} errors, {f['jobs_not_completed']} not completed", "")  # fmt: skip
        table.add_section()
    if not failed("soak"):
        s = sections["soak"]
        lat = s["latency_ms"]
        table.add_row("soak", f"{s['target_requests_per_s']:,} req/s asked for {s['asked_seconds']:g} s",
                      _rate(s["requests_per_s"], "req/s"),
                      f"{s['errors']} errors, p99 {_ms(lat['p99'])}, RSS {_mb(s['rss_bytes_start'])} -> {_mb(s['rss_bytes_end'])}",
                      _x(s["achieved_share_of_target"]) + " of asked" if s["achieved_share_of_target"] else "")  # fmt: skip
    console.print(table)
    print_skipped(console, summary)
    if client.get("note"):
        console.print(f"  [yellow]{client['note']}[/]", highlight=False)


def print_goals(console, goal_rows: list[dict[str, Any]]) -> None:
    print_goal_table(console, goal_rows, "section")


# -- chart --------------------------------------------------------------------------------
def chart(summary: dict[str, Any], path) -> None:
    sections = summary["sections"]
    machine = summary["machine"]
    fig, axes = new_chart(
        f"eventlake bench ingest, {summary['started_at'][:19]} UTC: {machine['cores']} cores ({machine['cpu_model']}), "
        f"load by {summary['client']['version']}"
    )
    from matplotlib.ticker import FuncFormatter

    rate_fmt = FuncFormatter(lambda v, _: _fmt_rate(v) if v else "0")

    def not_run(ax, name: str) -> bool:
        section = sections.get(name)
        if section is not None and "error" not in section:
            return False
        why = summary["skipped"].get(name) or (section or {}).get("error", "did not run")
        ax.text(0.5, 0.5, f"{name}: not measured\n({why[:70]})", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return True

    # 1: single-event requests/s
    ax = axes[0][0]
    if not not_run(ax, "post"):
        post = sections["post"]
        names = ["eventlake api", "bare FastAPI"]
        values = [post["api"]["requests_per_s"] or 0, post["bare"]["requests_per_s"] or 0]
        bars = ax.bar(names, values, color=["#c0392b", "#7f8c8d"])
        for bar, key in zip(bars, ("api", "bare")):
            r = post[key]
            ax.annotate(f"{r['requests_per_s']:,.0f}/s\np99 {_ms(r['latency_ms']['p99'])}\n{r['errors']} errors",
                        (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8)  # fmt: skip
        goal = next(g["target"] for g in summary["goals"] if g["section"] == "post")
        ax.axhline(goal, color="black", linestyle="--", linewidth=0.8, label=f"goal {goal:,.0f}/s")
        ax.set_ylim(0, max([*values, goal]) * 1.3)
        ax.yaxis.set_major_formatter(rate_fmt)
        ax.set_ylabel("requests/s")
        ax.set_title(f"single-event POSTs, {post['connections']} connections ({_x(post['api_share_of_bare'])} of bare)")
        ax.legend(fontsize=8, loc="upper right")

    # 2: latency percentiles
    ax = axes[0][1]
    if not not_run(ax, "post"):
        post = sections["post"]
        points = ("p50", "p90", "p99", "p999")
        for i, (key, colour) in enumerate((("api", "#c0392b"), ("bare", "#7f8c8d"))):
            lat = post[key]["latency_ms"]
            xs = [j + (i - 0.5) * 0.38 for j in range(len(points))]
            ax.bar(xs, [lat[p] or 0 for p in points], width=0.38, color=colour, label="eventlake api" if key == "api" else "bare FastAPI")
        ax.axhline(50, color="black", linestyle="--", linewidth=0.8, label="goal p99 50 ms")
        ax.set_xticks(range(len(points)))
        ax.set_xticklabels(points)
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
        ax.set_ylabel("latency, ms (log scale)")
        ax.set_title("single-event POST latency")
        ax.legend(fontsize=8)
        ax.grid(axis="y", which="both", alpha=0.3)

    # 3: events/s: batched, process() alone, drain per consumer count
    ax = axes[0][2]
    labels: list[str] = []
    values: list[float] = []
    colours: list[str] = []
    batched, drain = sections.get("batched"), sections.get("drain")
    if batched and "error" not in batched:
        labels.append(f"batched POST\n{batched['clients']} clients")
        values.append(batched["events_per_s"] or 0)
        colours.append("#2980b9")
    if drain and "error" not in drain:
        labels.append("process()\nalone")
        values.append(drain["process_alone"]["events_per_s"] or 0)
        colours.append("#7f8c8d")
        for r in drain["runs"]:
            labels.append(f"drain\n{r['consumers']} consumer{'s' if r['consumers'] > 1 else ''}")
            values.append(r["events_per_s"] or 0)
            colours.append("#c0392b")
    if values:
        bars = ax.bar(labels, values, color=colours)
        for bar, v in zip(bars, values):
            ax.annotate(_fmt_rate(v), (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
        if batched and "error" not in batched:
            ax.axhline(500_000, color="#2980b9", linestyle="--", linewidth=0.8, label="goal batched 500k/s")
        if drain and "error" not in drain:
            ax.axhline(200_000, color="#c0392b", linestyle="--", linewidth=0.8, label="goal drain 200k/s")
        ax.set_yscale("log")
        low = min([v for v in values if v] + [200_000])
        ax.set_ylim(low / 3, max([*values, 500_000]) * 4)  # room for the legend above the bars
        ax.yaxis.set_major_formatter(rate_fmt)
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.set_ylabel("events/s (log scale)")
        ax.set_title("batched NDJSON and draining the backlog into Iceberg")
        ax.legend(fontsize=8, loc="upper right")
        ax.tick_params(axis="x", labelsize=8)
    else:
        not_run(ax, "drain" if "drain" not in summary["skipped"] else "batched")

    # 4: freshness CDF
    ax = axes[1][0]
    if not not_run(ax, "freshness"):
        f = sections["freshness"]
        samples = f["samples_s"]
        if samples:
            n = f["requests_accepted"] or len(samples)
            ax.plot(samples, [(i + 1) / n for i in range(len(samples))], color="#c0392b")
            for key, style in (("p50_s", ":"), ("p95_s", "-.")):
                if f[key] is not None:
                    ax.axvline(f[key], color="#c0392b", linestyle=style, linewidth=0.8, label=f"{key[:3]} {f[key]:.2f} s")
        ax.axvline(2.0, color="black", linestyle="--", linewidth=0.8, label="goal p95 2 s")
        ax.set_xlabel("seconds from POST to job COMPLETED")
        ax.set_ylabel("share of POSTs")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"freshness at {_rate(f['achieved_events_per_s'], 'events/s')} ({f['batch_events']} events per POST)")
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(alpha=0.3)

    # 5: soak RSS over time
    ax = axes[1][1]
    if not not_run(ax, "soak"):
        s = sections["soak"]
        points = ([(0.0, s["rss_bytes_start"])] if s["rss_bytes_start"] else []) + [tuple(p) for p in s["rss_samples"]]
        if points:
            ts, rss = zip(*points)
            ax.plot(ts, [v / MB for v in rss], color="#c0392b", label="API RSS")
        if s["rss_bytes_limit"]:
            ax.axhline(s["rss_bytes_limit"] / MB, color="black", linestyle="--", linewidth=0.8, label="flat-memory limit")
        if s["rss_bytes_start"]:
            ax.axhline(s["rss_bytes_start"] / MB, color="#7f8c8d", linestyle=":", linewidth=0.8, label="RSS at start")
        ax.set_xlabel("seconds into the soak")
        ax.set_ylabel("RSS, MB")
        ax.set_ylim(bottom=0)
        ax.set_title(f"soak: {_rate(s['requests_per_s'], 'req/s')} of {s['target_requests_per_s']:,} asked, {s['errors']} errors")
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(alpha=0.3)

    # 6: goals
    finish_chart(fig, axes[1][2], summary["goals"], path)
