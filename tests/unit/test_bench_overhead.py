"""bench/overhead.py: its requests (one keep-alive POST, with Feed's viewer token when given),
its settings, and tracing's cost apart."""

from __future__ import annotations

import json

import pytest

from bench.overhead import CALLGRIND_SCHEDULE_DELAY, apart, request_bytes, variants


def test_a_request_is_one_post_with_its_length() -> None:
    head, _, body = request_bytes(8100, {"query": "{ __typename }"}).partition(b"\r\n\r\n")
    assert head.startswith(b"POST /graphql HTTP/1.1\r\n")
    assert f"Content-Length: {len(body)}".encode() in head.split(b"\r\n")
    assert json.loads(body) == {"query": "{ __typename }"}
    assert b"authorization" not in head.lower()


def test_a_token_is_sent_as_a_bearer() -> None:
    head, _, _ = request_bytes(8100, {"query": "{ viewer { id } }"}, "abc").partition(b"\r\n\r\n")
    assert b"Authorization: Bearer abc" in head.split(b"\r\n")


def test_the_sampled_settings_sample_none_and_every_request() -> None:
    settings = variants("http://127.0.0.1:1", 9000, "0.05")
    assert settings["traced"]["OTEL_TRACES_SAMPLER_ARG"] == "0.05"
    assert settings["sampled-out"]["OTEL_TRACES_SAMPLER_ARG"] == "0"
    assert settings["sampled"]["OTEL_TRACES_SAMPLER_ARG"] == "1"
    assert "OTEL_BSP_SCHEDULE_DELAY" not in settings["sampled"]


def test_under_callgrind_exports_keep_their_full_speed_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_BSP_SCHEDULE_DELAY", raising=False)
    settings = variants("http://127.0.0.1:1", 9000, callgrind=True)
    for label in ("traced", "sampled-out", "sampled"):
        assert settings[label]["OTEL_BSP_SCHEDULE_DELAY"] == CALLGRIND_SCHEDULE_DELAY
    assert "OTEL_BSP_SCHEDULE_DELAY" not in settings["no-exporter"]
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "1000")  # the caller's own wins
    assert "OTEL_BSP_SCHEDULE_DELAY" not in variants("x", 9000, callgrind=True)["sampled"]


def test_apart_adds_the_ratio_of_a_sampled_request(capsys: pytest.CaptureFixture[str]) -> None:
    cpu = {("off", "Op"): [1000.0], ("sampled-out", "Op"): [1020.0], ("sampled", "Op"): [3020.0]}
    loop = {("off", "Op"): [1000.0], ("sampled-out", "Op"): [1020.0], ("sampled", "Op"): [2020.0]}
    apart({"Op": {}}, cpu, loop, 0.01, "instructions")
    row = capsys.readouterr().out.strip().splitlines()[-1]
    # 20 sampled out, 2,000 more when sampled (1,000 of it exporting): 20 + 0.01 * 2,000.
    assert row == "| Op | 20 (2.0%) | 2,000 | 1,000 | 40 instructions (4.0%) |"
