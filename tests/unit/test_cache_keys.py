"""Every Redis name (cache keys, persisted documents, event channels) and the cache's values."""

from __future__ import annotations

from datetime import UTC, datetime

from wren.cache.codec import RecommendationsCodec, StatsCodec
from wren.cache.keys import (
    VERSION,
    Channels,
    DocumentKeys,
    Keys,
    Kind,
    channels_prefix,
    documents_prefix,
)
from wren.db.loaders import Recommendations, UserStatsRow


def test_key_layout() -> None:
    keys = Keys("wren")
    assert keys.epoch == f"wren:v{VERSION}:epoch"
    assert keys.generation(Kind.STATS, 7) == f"wren:v{VERSION}:gen:stats:7"
    assert keys.generation(Kind.STATS, 7).startswith(keys.generations_prefix(Kind.STATS))
    assert keys.value(Kind.RECOMMENDATIONS, 7, "e.g") == f"wren:v{VERSION}:recs:7:e.g"
    assert keys.value(Kind.STATS, 7, "e.g").startswith(keys.values_prefix(Kind.STATS))
    assert keys.lock(Kind.STATS, 7, "e.g") == f"wren:v{VERSION}:lock:stats:7:e.g"


def test_persisted_documents_layout() -> None:
    # Deployed documents are found under these exact keys: they must not move.
    assert documents_prefix("acme") == "acme:pq:"
    documents = DocumentKeys("acme:pq:")
    assert documents.apq("ab12") == "acme:pq:apq:ab12"
    assert documents.trusted("ab12") == "acme:pq:trusted:ab12"


def test_channels_live_under_the_prefix() -> None:
    assert channels_prefix("acme") == "acme:events:"
    channels = Channels("acme:events:")
    assert channels.post_created == "acme:events:postCreated"
    assert channels.comment_added(7) == "acme:events:commentAdded:7"


def test_values_are_compact_and_round_trip() -> None:
    stats = UserStatsRow(3, 1, 2, 2, 4, 4)
    assert StatsCodec().encode(stats) == b"[3,1,2,2,4,4]"
    assert StatsCodec().decode(b"[3,1,2,2,4,4]") == stats
    assert RecommendationsCodec().encode(Recommendations([], [])) == b"[[],[]]"


def test_recommendations_keep_the_first_users_rows() -> None:
    at = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    carol = {"id": 4, "handle": "carol", "display_name": "Carol", "bio": None, "created_at": at}
    entry = Recommendations([4, 2, 9], [carol])
    back = RecommendationsCodec().decode(RecommendationsCodec().encode(entry))
    assert back.ids == entry.ids
    assert back.rows(1) == [carol]
    assert back.rows(0) == []
    assert back.rows(2) is None  # the second user's row is not in the entry
    assert entry.rows(1) == [carol]
    assert entry.rows(2) is None
    # A list shorter than the profiled part is whole: every `first` is served.
    assert Recommendations([4], [carol]).rows(5) == [carol]
