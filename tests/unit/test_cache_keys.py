"""Key layout and value encoding of the cache."""

from __future__ import annotations

from wren.cache.codec import IdsCodec, StatsCodec
from wren.cache.keys import VERSION, Keys, Kind
from wren.db.loaders import UserStatsRow


def test_key_layout() -> None:
    keys = Keys("wren")
    assert keys.epoch == f"wren:v{VERSION}:epoch"
    assert keys.generation(Kind.STATS, 7) == f"wren:v{VERSION}:gen:stats:7"
    assert keys.generation(Kind.STATS, 7).startswith(keys.generations_prefix(Kind.STATS))
    assert keys.value(Kind.RECOMMENDATIONS, 7, "e.g") == f"wren:v{VERSION}:recs:7:e.g"
    assert keys.value(Kind.STATS, 7, "e.g").startswith(keys.values_prefix(Kind.STATS))
    assert keys.lock(Kind.STATS, 7, "e.g") == f"wren:v{VERSION}:lock:stats:7:e.g"


def test_values_are_compact_and_round_trip() -> None:
    stats = UserStatsRow(3, 1, 2, 2, 4, 4)
    assert StatsCodec().encode(stats) == b"[3,1,2,2,4,4]"
    assert StatsCodec().decode(b"[3,1,2,2,4,4]") == stats
    assert IdsCodec().decode(IdsCodec().encode([4, 2])) == [4, 2]
    assert IdsCodec().encode([]) == b"[]"
