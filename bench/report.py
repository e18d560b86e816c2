"""The results: a Markdown table with notes, and the JSON they are rendered from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.operations import WARM_AFTER_COLD
from bench.paths import LAST_CPU

Row = dict[str, Any]


def write(results: list[Row], meta: dict[str, Any], out: Path) -> str:
    """Write <out>.json and <out>.md; the Markdown text."""
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    text = render(results, meta)
    out.with_suffix(".md").write_text(text)
    return text


def render(results: list[Row], meta: dict[str, Any], wrk_cpu: int = LAST_CPU) -> str:
    """The Markdown table of the results, with the notes that compare rows."""
    ref = {(r["server"], r["operation"]): r for r in results if "rps" in r and "error" not in r}
    floor_sha = {r["operation"]: r.get("data_sha") for r in results if r["server"] == "floor"}
    lines = [
        f"# Wren benchmark ({meta['date']})",
        "",
        f"Dataset `{meta['db']}`: {meta['rows']}. Each server pinned to CPU 0 (N workers: "
        f"CPUs 0..N-1), wrk on CPU {wrk_cpu} (`wrk -t1 -c{meta['connections']} "
        f"-d{meta['duration']}s`, {meta['warmup']} s warm-up); PostgreSQL unpinned. "
        "SQL and round trips per request: 10 sequential requests after warm-up, counted by "
        "pg_stat_statements and by a protocol-counting proxy (Sync + Query messages). "
        "`data = floor`: same data as the floor's answer, cursors aside (opaque per server). "
        "`other CPU %`: unrelated processes on this host meanwhile (noise); `steal %`: the "
        "share of this machine's CPU time its hypervisor gave to other machines meanwhile "
        "(noise no process here shows). "
        "LeaderboardCold: sequential requests, Wren's cache keys deleted before each.",
        "",
        "| server | operation | req/s | x PostGraphile | x naive | p50 ms | p99 ms | p99/p50 "
        "| errors | SQL/req | round trips/req | peak RSS MiB | data = floor | other CPU % "
        "| steal % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|---:|---:|",
    ]
    for r in results:
        if "rps" not in r:
            reason = r.get("skipped") or r.get("error", "n/a")
            lines.append(f"| {r['server']} | {r['operation']} | {reason} |" + " |" * 12)
            continue
        if not r["requests"]:
            lines.append(
                f"| {r['server']} | {r['operation']} | 0 (none completed in "
                f"{meta['duration']} s) |"
                + " |" * 6
                + f" {r.get('sql_per_request', '')} |"
                + " |" * 5
            )
            continue
        op = "Timeline" if r["operation"] == "TimelineDeep" else r["operation"]
        pg, naive = ref.get(("postgraphile", op)), ref.get(("naive_strawberry", op))
        x_pg = f"{r['rps'] / pg['rps']:.2f}" if pg and pg["rps"] and r["operation"] == op else ""
        x_naive = ""
        if naive and naive["rps"] and r["operation"] == op:
            x_naive = f"{r['rps'] / naive['rps']:.1f}"
        same = ""
        if floor_sha.get(r["operation"]) and r["server"] != "postgraphile":
            same = "yes" if r.get("data_sha") == floor_sha[r["operation"]] else "no"
        errors = r["non2xx"] + r["socket_errors"] + r["graphql_errors"]
        lines.append(
            f"| {r['server']} | {r['operation']} | {r['rps']:.1f} | {x_pg} | {x_naive} | "
            f"{r['p50_us'] / 1000:.1f} | {r['p99_us'] / 1000:.1f} | "
            f"{r['p99_us'] / max(r['p50_us'], 1):.1f} | {errors} | "
            f"{r.get('sql_per_request', '')} | {r.get('round_trips_per_request', '')} | "
            f"{r.get('peak_rss_mib', '')} | {same} | {r.get('other_cpu_pct', '')} | "
            f"{r.get('steal_pct', '')} |"
        )
    deep = ref.get(("wren", "TimelineDeep"))
    first = ref.get(("wren", "Timeline"))
    if deep and first:
        lines += [
            "",
            f"Deep page (after item 10,000) vs first page, Wren p50: "
            f"{deep['p50_us'] / first['p50_us']:.2f}x; req/s {deep['rps'] / first['rps']:.2f}x.",
        ]
    warm, cold = ref.get(("wren", "Leaderboard")), ref.get(("wren", "LeaderboardCold"))
    if cold and cold.get("server_p50_ms") and cold.get("pair_ratio_p50"):
        lines += [
            "",
            f"Leaderboard (first: 50), sequential requests, server time p50 (Server-Timing): "
            f"cold cache {cold['server_p50_ms']:.2f} ms, warm cache "
            f"{cold['warm_server_p50_ms']:.2f} ms (the {WARM_AFTER_COLD} requests after each "
            f"cold one): warm is {cold['server_p50_ms'] / cold['warm_server_p50_ms']:.1f}x "
            f"faster; median of the {cold['requests']} pairs' ratios (a cold request / the "
            f"median of the warm ones after it): {cold['pair_ratio_p50']:.1f}x.",
        ]
        if warm and warm.get("server_p50_ms"):
            lines.append(
                f"Warm right after its wrk load: {warm['server_p50_ms']:.2f} ms "
                f"({cold['server_p50_ms'] / warm['server_p50_ms']:.1f}x; client-side p50 "
                f"{warm['sequential_p50_us'] / 1000:.1f} ms vs {cold['p50_us'] / 1000:.1f} ms "
                "cold)."
            )
    for (server, op), row in ref.items():
        ours = ref.get(("wren", op))
        if server == "wren@base" and ours and row["rps"]:
            lines.append(
                f"{op}: this checkout {ours['rps']:.1f} req/s, baseline {row['rps']:.1f} "
                f"({ours['rps'] / row['rps']:.3f}x; p50 {ours['p50_us'] / 1000:.1f} vs "
                f"{row['p50_us'] / 1000:.1f} ms)."
            )
    for name, row in ref.items():
        if name[0].startswith("wren-") and name[1] == "Timeline" and first:
            lines.append(
                f"{name[0]} on Timeline: {row['rps'] / first['rps']:.2f}x one worker's req/s."
            )
    if meta.get("soak"):
        s = meta["soak"]
        lines += [
            "",
            f"Soak ({s['seconds']} s of mixed load): RSS {s['rss_after_1_min_mib']} MiB after "
            f"1 min, {s['rss_at_end_mib']} MiB at the end ({s['growth_pct']:+.1f}%).",
        ]
    lines += ["", *meta.get("notes", []), "", "Host: " + meta["host"], ""]
    return "\n".join(lines)
