"""Every Redis name (cache keys, persisted documents, event channels) and the cache's values."""

from __future__ import annotations

from datetime import UTC, datetime

from redis.crc import key_slot

from wren.cache.codec import RecommendationsCodec, StatsCodec
from wren.cache.keys import (
    SLOT_GROUPS,
    VERSION,
    Channels,
    DocumentKeys,
    Keys,
    Kind,
    channels_prefix,
    documents_prefix,
    slot_group,
)
from wren.db.loaders import Recommendations, UserStatsRow


def test_key_layout() -> None:
    keys = Keys("wren")
    assert keys.epoch(7) == f"wren:v{VERSION}:{{g7}}:epoch"
    assert keys.generation(Kind.STATS, 7) == f"wren:v{VERSION}:{{g7}}:gen:stats:7"
    assert keys.generation(Kind.STATS, 7).startswith(keys.generations_prefix(Kind.STATS, 7))
    assert keys.value(Kind.RECOMMENDATIONS, 7, "e.g") == f"wren:v{VERSION}:{{g7}}:recs:7:e.g"
    assert keys.value(Kind.STATS, 7, "e.g").startswith(keys.values_prefix(Kind.STATS, 7))
    assert keys.lock(Kind.STATS, 7, "e.g") == f"wren:v{VERSION}:{{g7}}:lock:stats:7:e.g"
    assert keys.epochs == [keys.epoch(group) for group in range(SLOT_GROUPS)]


def test_a_users_keys_share_one_cluster_slot() -> None:
    keys = Keys("wren")
    for user_id in (1, 16, 23, 10_007):
        group = slot_group(user_id)
        named = [
            keys.epoch(group),
            keys.generation(Kind.STATS, user_id),
            keys.generation(Kind.RECOMMENDATIONS, user_id),
            keys.value(Kind.STATS, user_id, "a.b"),
            keys.lock(Kind.RECOMMENDATIONS, user_id, "a.b"),
        ]
        assert {key_slot(key.encode()) for key in named} == {key_slot(f"g{group}".encode())}
    # The groups' slots spread over the default slot ranges of three masters.
    slots = [key_slot(keys.epoch(group).encode()) for group in range(SLOT_GROUPS)]
    ranges = [(0, 5460), (5461, 10922), (10923, 16383)]  # what redis-cli --cluster create gives
    per_master = [sum(low <= slot <= high for slot in slots) for low, high in ranges]
    assert sorted(per_master) == [5, 5, 6]


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
