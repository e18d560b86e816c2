"""Log lines: the format (text or one JSON object per line), and the access and slow lines.

`logging_config` is the dictConfig `wren serve` gives uvicorn, which applies it in every
worker process: uvicorn's own loggers and Wren's share one format. The access line
(`wren.access`, WREN_ACCESS_LOG) and the slow-operation line (`wren.slow`, above
WREN_SLOW_OPERATION_MS) carry their fields as `extra={"fields": {...}}`: JSON lines have
them as keys, text lines as `key=value` after the message.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import orjson
from uvicorn.config import LOGGING_CONFIG

from wren.settings import LogFormat, Settings

access_log = logging.getLogger("wren.access")
slow_log = logging.getLogger("wren.slow")

TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has: not extra fields.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "fields" and not key.startswith("_"):
                line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """Wren's text lines, with the extra fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of text."""
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            pairs = " ".join(f"{k}={_text(v)}" for k, v in fields.items() if v is not None)
            text = f"{text} {pairs}"
        return text


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value)) or "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def logging_config(settings: Settings) -> dict[str, Any]:
    """The logging configuration of `wren serve`: uvicorn's loggers, and the root one."""
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    level = settings.log_level.upper()
    if settings.log_format is LogFormat.JSON:
        json_formatter = {"()": f"{__name__}.JsonFormatter"}
        config["formatters"] = {"default": json_formatter, "access": json_formatter}
        config["formatters"]["wren"] = json_formatter
    else:
        config["formatters"]["wren"] = {"()": f"{__name__}.TextFormatter", "fmt": TEXT_FORMAT}
    config["handlers"]["wren"] = {
        "formatter": "wren",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["root"] = {"handlers": ["wren"], "level": level}
    return config


def access(fields: dict[str, Any]) -> None:
    """The access line of one request."""
    access_log.info("request", extra={"fields": fields})


def slow(fields: dict[str, Any], threshold_ms: float) -> None:
    """The line of an operation that took longer than the threshold."""
    slow_log.warning("slow operation (over %g ms)", threshold_ms, extra={"fields": fields})
