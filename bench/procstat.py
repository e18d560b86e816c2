"""What /proc says about the server's process group: CPU ticks, memory, idleness."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

# pid -> (command, process group, CPU ticks)
ProcStats = dict[int, tuple[str, int, int]]


def proc_stats() -> ProcStats:
    """pid -> (command, process group, CPU ticks) for every process."""
    snap = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        comm = text[text.index("(") + 1 : text.rindex(")")]
        snap[int(stat.parent.name)] = (comm, int(fields[2]), int(fields[11]) + int(fields[12]))
    return snap


def cpu_times() -> tuple[int, int]:
    """(steal, total) ticks of all CPUs since boot, from /proc/stat's first line."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice: guest time is
    # already counted in user and nice.
    return fields[7], sum(fields[:8])


def steal_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    """% of this machine's CPU time the hypervisor gave to others meanwhile (noise no
    process here shows: a shared host's load)."""
    total = after[1] - before[1]
    return 100.0 * (after[0] - before[0]) / total if total else 0.0


def other_cpu(before: ProcStats, after: ProcStats, pgid: int, seconds: float) -> float:
    """CPU % used meanwhile by processes other than the server, wrk and PostgreSQL."""
    ticks = 0
    for pid, (comm, group, t) in after.items():
        if group == pgid or comm in ("wrk", "postgres") or pid == os.getpid() or pid not in before:
            continue
        ticks += t - before[pid][2]
    return 100.0 * ticks / os.sysconf("SC_CLK_TCK") / seconds


def group_memory(pgid: int) -> tuple[int, int]:
    """(sum of VmRSS, max VmHWM) in KiB over the processes of a group."""
    rss = hwm = 0
    for pid, (_, group, _) in proc_stats().items():
        if group != pgid:
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        values = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+)", status, re.M))
        rss += int(values.get("VmRSS", 0))
        hwm = max(hwm, int(values.get("VmHWM", 0)))
    return rss, hwm


def wait_idle(pgid: int, limit: float = 60) -> None:
    """Wait until the server stops using CPU (requests abandoned by wrk drain)."""

    def ticks() -> int:
        return sum(t for _, group, t in proc_stats().values() if group == pgid)

    end, last = time.monotonic() + limit, ticks()
    while time.monotonic() < end:
        time.sleep(0.5)
        now = ticks()
        if now - last <= 2:
            return
        last = now
