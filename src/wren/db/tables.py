"""The storage layout of the public contract (tables.sql), as SQLAlchemy Core tables."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP, UUID

metadata = MetaData()

_NOW = text("now()")
_TZ = TIMESTAMP(timezone=True)

users = Table(
    "users",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("handle", Text, nullable=False, unique=True),
    Column("display_name", Text, nullable=False),
    Column("bio", Text),
    Column("password_hash", Text, nullable=False),
    Column("created_at", _TZ, nullable=False, server_default=_NOW),
    Index("users_created_idx", "created_at", "id"),
    Index("users_handle_lower_key", func.lower(text("handle")), unique=True),
)

posts = Table(
    "posts",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("author_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", _TZ, nullable=False, server_default=_NOW),
    Index("posts_created_idx", text("created_at DESC"), text("id DESC")),
    Index("posts_author_created_idx", "author_id", text("created_at DESC"), text("id DESC")),
)

comments = Table(
    "comments",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("post_id", BigInteger, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("author_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", _TZ, nullable=False, server_default=_NOW),
    Index("comments_post_created_idx", "post_id", "created_at", "id"),
    Index("comments_author_idx", "author_id"),
)

follows = Table(
    "follows",
    metadata,
    Column("follower_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("followee_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", _TZ, nullable=False, server_default=_NOW),
    PrimaryKeyConstraint("follower_id", "followee_id"),
    CheckConstraint("follower_id <> followee_id"),
    Index(
        "follows_followee_created_idx",
        "followee_id",
        text("created_at DESC"),
        text("follower_id DESC"),
    ),
    Index(
        "follows_follower_created_idx",
        "follower_id",
        text("created_at DESC"),
        text("followee_id DESC"),
    ),
)

likes = Table(
    "likes",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("post_id", BigInteger, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", _TZ, nullable=False, server_default=_NOW),
    PrimaryKeyConstraint("user_id", "post_id"),
    Index("likes_post_idx", "post_id"),
)

# Sessions of accounts (not in the contract: Wren's own, migration 0002). A session is one
# log-in on one device; its refresh tokens form one family, each usable once.
sessions = Table(
    "sessions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", _TZ, nullable=False, server_default=_NOW),
    Column("refreshed_at", _TZ, nullable=False, server_default=_NOW),
    Column("ended_at", _TZ),
    Column("end_reason", Text),
    Index("sessions_user_idx", "user_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("digest", LargeBinary, primary_key=True),
    Column(
        "session_id",
        UUID(as_uuid=True),
        ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", _TZ, nullable=False, server_default=_NOW),
    Column("expires_at", _TZ, nullable=False),
    Column("used_at", _TZ),
    Index("refresh_tokens_session_idx", "session_id"),
)
