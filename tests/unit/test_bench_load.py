"""The wrk script (bench/wrk.lua) rendered and run in Lua, and the answers compared."""

from __future__ import annotations

import base64
import json
from string import Template
from typing import Any

from lupa import LuaRuntime

from bench.client import percentile
from bench.load import WRK_LUA, bench_json, render_lua
from bench.operations import SOAK_OPS, concrete, data_sha, payload_for
from bench.paths import CONTRACT_OPS

OPS = CONTRACT_OPS / "operations"


class Wrk:
    """The rendered script loaded in Lua with a stand-in `wrk` table."""

    def __init__(self, script: str) -> None:
        self.lua = LuaRuntime(unpack_returned_tuples=True)
        self.lua.execute(
            "wrk = {headers = {}, format = function(m, p, h, body) return body end}\n"
            "written = {}\n"
            "io.write = function(s) table.insert(written, s) end"
        )
        self.lua.execute(script)
        self.g = self.lua.globals()

    def bodies(self, n: int) -> list[dict[str, Any]]:
        return [json.loads(self.g.request()) for _ in range(n)]


def test_script_file_is_found_and_fully_rendered() -> None:
    assert WRK_LUA.is_file()
    template = Template(WRK_LUA.read_text())
    assert set(template.get_identifiers()) == {"headers", "bodies", "prefix", "suffix", "cycle"}
    payload = payload_for("Timeline", OPS, "cursor")
    assert payload is not None
    script = render_lua([payload], 10, {"X-Test": "1"})
    assert 'wrk.headers["X-Test"] = "1"\n' in script
    assert "local prefix, suffix, cycle = " in script
    assert ", 0\n" in script  # no $HANDLE: the one body is sent as it is


def test_one_payload_with_a_handle_cycles_over_users() -> None:
    payload = payload_for("UserByHandle", OPS, "cursor")
    assert payload is not None
    wrk = Wrk(render_lua([payload], 3, {"Authorization": 'Bearer a"b'}))
    sent = wrk.bodies(4)
    assert [b["variables"]["handle"] for b in sent] == ["user1", "user2", "user3", "user1"]
    assert sent[0] == concrete(payload, 1)
    assert wrk.g.wrk.method == "POST"
    assert wrk.g.wrk.headers["Authorization"] == 'Bearer a"b'
    assert wrk.g.wrk.headers["Content-Type"] == "application/json"


def test_several_payloads_are_sent_in_turn() -> None:
    payloads = [p for op in SOAK_OPS if (p := payload_for(op, OPS, "deep-cursor"))]
    assert len(payloads) == len(SOAK_OPS)
    wrk = Wrk(render_lua(payloads, 10, {}))
    sent = wrk.bodies(len(payloads) + 1)
    assert [b["operationName"] for b in sent] == [
        *(p["operationName"] for p in payloads),
        payloads[0]["operationName"],
    ]
    deep = sent[SOAK_OPS.index("TimelineDeep")]
    assert deep["variables"]["after"] == "deep-cursor"
    assert sent[SOAK_OPS.index("Profile")]["variables"]["handle"] == "user1"


def test_errors_counted_and_reported_as_bench_json() -> None:
    payload = payload_for("Directory", OPS, "cursor")
    assert payload is not None
    wrk = Wrk(render_lua([payload], 10, {}))
    for status, body in [(200, '{"data":{}}'), (500, "{}"), (200, '{"errors":[]}')]:
        wrk.g.response(status, None, body)
    wrk.lua.execute("function thread_get(self, name) return bad end")
    thread = wrk.lua.eval("setmetatable({}, {__index = {get = thread_get}})")
    wrk.g.setup(thread)
    summary = wrk.lua.eval(
        "{requests = 30, duration = 2000000, "
        "errors = {status = 1, connect = 0, read = 1, write = 0, timeout = 2}}"
    )
    latency = wrk.lua.eval(
        "setmetatable({max = 900}, {__index = {percentile = function(self, p) return p end}})"
    )
    wrk.g.done(summary, latency, None)
    result = bench_json("".join(wrk.g.written.values()))
    assert result == {
        "requests": 30,
        "duration_us": 2000000,
        "p50_us": 50,
        "p90_us": 90,
        "p99_us": 99,
        "max_us": 900,
        "non2xx": 1,
        "socket_errors": 3,
        "graphql_errors": 2,
    }


def test_answers_compare_equal_across_id_encodings() -> None:
    raw = b"User:41>?"  # encodes to '+' and '/' in standard base64
    urlsafe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    standard = base64.b64encode(raw).decode()
    assert urlsafe != standard
    ours = {"users": {"nodes": [{"id": urlsafe}], "pageInfo": {"endCursor": "a"}}}
    theirs = {"users": {"nodes": [{"id": standard}], "pageInfo": {"endCursor": "b"}}}
    assert data_sha(ours) == data_sha(theirs)
    assert data_sha(ours) != data_sha({"users": {"nodes": [{"id": "other"}]}})


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [percentile(values, p) for p in (1, 50, 99, 100)] == [1.0, 50.0, 99.0, 100.0]
    assert percentile([3.0], 99) == 3.0
