"""The benchmark report: rows rendered from a results dict, and `--report` rewriting one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import report, suite

META: dict[str, Any] = {
    "date": "2025-01-01 00:00 UTC",
    "db": "wren_bench",
    "rows": "10 users, 20 posts, 0 comments, 0 follows, 0 likes",
    "connections": 8,
    "duration": 2,
    "warmup": 1,
    "host": "2 CPUs, Linux test, PostgreSQL 15",
    "raw": "results/raw/x",
}


def loaded(server: str, operation: str, rps: float, p50_ms: float, **extra: Any) -> dict[str, Any]:
    """A row as the load pass leaves it."""
    return {
        "server": server,
        "operation": operation,
        "rps": rps,
        "requests": int(rps * 2),
        "p50_us": p50_ms * 1000,
        "p99_us": p50_ms * 1500,
        "non2xx": 0,
        "socket_errors": 0,
        "graphql_errors": 0,
        **extra,
    }


def results() -> list[dict[str, Any]]:
    return [
        loaded("wren", "Timeline", 200, 10, data_sha="aaa", sql_per_request=4, graphql_errors=1),
        loaded("wren", "TimelineDeep", 100, 20, data_sha="bbb"),
        {"server": "wren", "operation": "Feed", "skipped": "no logIn mutation yet"},
        loaded("postgraphile", "Timeline", 80, 5, data_sha="zzz"),
        loaded("naive_strawberry", "Timeline", 16, 50, data_sha="ccc"),
        {**loaded("naive_strawberry", "Directory", 0, 1), "requests": 0, "sql_per_request": 9},
        loaded("floor", "Timeline", 400, 2, data_sha="aaa"),
    ]


def table_rows(text: str) -> dict[tuple[str, str], list[str]]:
    """(server, operation) -> the cells of its table row."""
    out = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| server"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            out[(cells[0], cells[1])] = cells
    return out


def test_every_row_has_every_column() -> None:
    text = report.render(results(), META)
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = lines[0].count("|")
    assert len(lines) == 2 + len(results())
    assert [line.count("|") for line in lines] == [header] * len(lines)


def test_ratios_errors_and_floor_comparison() -> None:
    rows = table_rows(report.render(results(), META))
    wren = rows[("wren", "Timeline")]
    assert wren[2:5] == ["200.0", f"{200 / 80:.2f}", f"{200 / 16:.1f}"]
    assert wren[5:8] == ["10.0", "15.0", "1.5"]
    assert wren[8] == "1"  # the one GraphQL error
    assert wren[9] == "4"
    assert wren[12] == "yes"
    # The naive server answered differently from the floor; PostGraphile is never compared.
    assert rows[("naive_strawberry", "Timeline")][12] == "no"
    assert rows[("postgraphile", "Timeline")][12] == ""
    # The deep page is compared with no peer: its ratios stay empty.
    assert rows[("wren", "TimelineDeep")][3:5] == ["", ""]


def test_skipped_and_empty_rows_say_why() -> None:
    rows = table_rows(report.render(results(), META))
    assert rows[("wren", "Feed")][2] == "no logIn mutation yet"
    empty = rows[("naive_strawberry", "Directory")]
    assert empty[2] == "0 (none completed in 2 s)"
    assert empty[9] == "9"


def test_notes_compare_deep_page_and_soak() -> None:
    meta = {
        **META,
        "soak": {
            "seconds": 60,
            "rss_after_1_min_mib": 100.0,
            "rss_at_end_mib": 110.0,
            "growth_pct": 10.0,
        },
    }
    text = report.render(results(), meta, wrk_cpu=7)
    assert "wrk on CPU 7 (`wrk -t1 -c8 -d2s`, 1 s warm-up)" in text
    assert "Wren p50: 2.00x; req/s 0.50x." in text
    assert "RSS 100.0 MiB after 1 min, 110.0 MiB at the end (+10.0%)." in text
    assert text.endswith("Host: 2 CPUs, Linux test, PostgreSQL 15\n")


def test_report_flag_rewrites_markdown_from_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps({"meta": META, "results": results()}))
    assert suite.main(["--report", str(saved)]) == 0
    markdown = (tmp_path / "run.md").read_text()
    assert markdown == report.render(results(), META)
    assert capsys.readouterr().out == markdown + "\n"
    assert json.loads(saved.read_text()) == {"meta": META, "results": results()}
