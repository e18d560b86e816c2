"""Where the benchmark finds the tools, the contract and the peers, and writes results."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv" / "bin"
CONTRACT_OPS = Path(os.environ.get("BENCH_CONTRACT", ROOT / "contract"))
PEERS = Path(os.environ.get("BENCH_PEERS", HERE / ".deps" / "peers"))
RESULTS = HERE / "results"
# wrk runs on the last CPU, the servers from CPU 0 up.
LAST_CPU = (os.cpu_count() or 2) - 1
