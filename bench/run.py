"""One-command benchmark: Wren (and optionally the reference servers) over the contract.

    .venv/bin/python bench/run.py                       # Wren alone, every operation
    .venv/bin/python bench/run.py --peers               # + PostGraphile, naive, floor
    .venv/bin/python bench/run.py --workers 1,2 --ops Timeline
    .venv/bin/python bench/run.py --soak 300            # RSS after 1 and 5 minutes
    .venv/bin/python bench/run.py --instances 1,2,3     # Timeline behind HAProxy

Creates the demo database (10,000 users: `wren migrate` + `wren seed`) when missing,
preloads pg_stat_statements (once: ALTER SYSTEM + a PostgreSQL restart), then per server:

1. counting pass: the server talks to PostgreSQL through a counting proxy
   (bench/pgproxy.py); after a warm-up, 10 sequential requests per operation give SQL
   statements (pg_stat_statements) and round trips (Sync + Query messages) per request;
2. load pass: the server, pinned to CPU 0 (CPUs 0..N-1 with N workers), talks to
   PostgreSQL directly and wrk (Lua, pinned to the last CPU) loads each operation.

Results: bench/results/<label>.md and .json; wrk output and logs in bench/results/raw/.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:
    # Run as `bench/run.py`: Python put bench/ on the path; the package needs its parent.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.suite import main

if __name__ == "__main__":
    sys.exit(main(description=__doc__))
