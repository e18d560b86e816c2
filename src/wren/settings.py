"""Configuration: one validated Settings object read from WREN_* environment variables."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wren.cache.keys import channels_prefix, documents_prefix

# Good enough to sign development tokens, refused in production: anyone can read it here.
DEFAULT_JWT_SECRET = "wren-development-secret-do-not-use-in-production"  # noqa: S105
MIN_JWT_SECRET_LENGTH = 32


def _asyncpg_url(value: str | None) -> str | None:
    """A plain postgresql:// URL pointed at the asyncpg driver; an empty one is unset."""
    if value is None or value == "":
        return None
    for prefix in ("postgresql://", "postgres://"):
        if value.startswith(prefix):
            return "postgresql+asyncpg://" + value.removeprefix(prefix)
    return value


class Environment(StrEnum):
    """Where Wren runs: development shows GraphiQL and details, production hardens."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Pooler(StrEnum):
    """What runs between Wren and PostgreSQL, in PgBouncer's pool_mode terms."""

    # Wren's connections are PostgreSQL sessions of their own: prepared statements are
    # kept per connection (a session-mode pooler is the same to Wren).
    NONE = "none"
    SESSION = "session"
    # A pooler lending a server connection for one transaction at a time: nothing may
    # outlive a transaction, named prepared statements included.
    TRANSACTION = "transaction"


class LogFormat(StrEnum):
    """How log lines are written."""

    TEXT = "text"
    JSON = "json"


class Settings(BaseSettings):
    """Every knob of the service; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="WREN_", env_file=".env", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (postgresql+asyncpg://...). Unset: an embedded PostgreSQL.",
    )
    database_pooler: Pooler = Field(
        default=Pooler.NONE,
        description="What runs between Wren and PostgreSQL: none (or a session-mode pooler),"
        " or a transaction-mode pooler such as PgBouncer's pool_mode=transaction, behind"
        " which no prepared statement is relied on beyond one execution.",
    )
    database_replica_urls: str = Field(
        default="",
        description="Streaming replicas of the primary, comma-separated URLs: queries read"
        " from them, mutations and everything a write depends on read the primary.",
    )
    replica_max_lag: float = Field(
        default=5.0,
        gt=0,
        description="Seconds a replica may be behind the primary and still be read from.",
    )
    redis_url: str | None = Field(
        default=None, description="redis://host:port/db. Unset: an in-process stand-in."
    )
    redis_timeout: float = Field(
        default=0.25, gt=0, description="Seconds a cache call may take before it is skipped."
    )
    # Redis beyond one node: a Redis Cluster, or a master that Redis Sentinel watches.
    redis_cluster: bool = Field(
        default=False,
        description="WREN_REDIS_URL names one node of a Redis Cluster; the others are found"
        " from it.",
    )
    redis_sentinels: str | None = Field(
        default=None,
        description="Comma-separated host:port of Redis Sentinels: the cache uses the master"
        " they name, and follows their failovers.",
    )
    redis_sentinel_master: str = Field(
        default="mymaster",
        min_length=1,
        description="The name the Sentinels monitor the master under.",
    )
    cache_namespace: str = Field(
        default="wren",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="First segment of every cache key: deployments sharing a Redis differ here.",
    )
    cache_ttl: int = Field(
        default=600, ge=1, description="Seconds a cached stats or recommendations entry lives."
    )
    cache_ttl_jitter: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="Each entry's TTL is cache_ttl plus up to this fraction, so expiries spread.",
    )
    cache_lock_ttl: float = Field(
        default=3.0,
        gt=0,
        description="Seconds one process may hold the right to compute a missing entry; "
        "other processes wait for its value at most this long, then compute it themselves.",
    )
    cache_breaker_failures: int = Field(
        default=3, ge=1, description="Consecutive cache failures that stop cache calls."
    )
    cache_breaker_cooldown: float = Field(
        default=5.0,
        gt=0,
        description="Seconds cache calls stay stopped before one probe tries Redis again.",
    )
    cache_report: bool = Field(
        default=False,
        description="Add what the cache did (extensions.cache) to every response; "
        "ignored in production.",
    )
    response_cache: bool = Field(
        default=False,
        description="Keep whole answers of cacheable queries (max-age above 0) in Redis, "
        "invalidated by every mutation; off by default (see the README's 'Response cache').",
    )
    response_cache_max_ttl: int = Field(
        default=60,
        ge=1,
        description="Longest a stored answer is kept, in seconds (its max-age, capped here).",
    )
    response_cache_private: bool = Field(
        default=False,
        description="Also keep PRIVATE answers, one per viewer (otherwise only PUBLIC ones).",
    )
    pool_size: int = Field(default=20, ge=1, description="Connections kept open per process.")
    max_overflow: int = Field(default=0, ge=0, description="Extra connections under bursts.")
    max_connections: int = Field(
        default=80,
        ge=1,
        description="Connections all workers of `wren serve` may open together; keep it under"
        " PostgreSQL's max_connections minus what migrations and admin need.",
    )
    pool_timeout: float = Field(
        default=5.0, gt=0, description="Seconds a request waits for a connection."
    )
    gc_threshold: int = Field(
        default=50_000,
        ge=0,
        description="Allocations between young-generation garbage collections (Python's"
        " default is 700); 0 keeps Python's defaults.",
    )
    pool_recycle: int = Field(default=1800, description="Seconds before a connection is renewed.")
    pool_pre_ping: bool = Field(
        default=False,
        description="Ping a pooled connection before each checkout (a round trip each time;"
        " reads retry once on a dropped connection instead).",
    )
    shutdown_drain: float = Field(
        default=0,
        ge=0,
        description="Seconds after SIGTERM during which /readyz answers 503 while requests are"
        " still served (with Connection: close), so that a load balancer takes the instance"
        " out before it stops listening.",
    )
    shutdown_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds the requests in flight have to finish once the instance stops"
        " accepting; those still running then are cancelled.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    log_level: str = "info"
    embedded_dir: Path = Field(
        # Not a temporary file: /var/tmp survives reboots, and pgserver (run as root) opens
        # every parent of this directory to other users, harmless for /var and /var/tmp.
        default=Path("/var/tmp/wren/embedded"),  # noqa: S108
        description="Data directory of the embedded PostgreSQL (when database_url is unset).",
    )
    demo_users: int = Field(
        default=200, ge=1, description="Users seeded into an empty embedded database."
    )
    jwt_secret: SecretStr = Field(
        default=SecretStr(DEFAULT_JWT_SECRET),
        description="HMAC key signing access tokens (HS256) when neither jwt_keys nor"
        " jwt_keys_dir is set; at least 32 characters in production, where the development"
        " default is refused.",
    )
    jwt_keys: SecretStr | None = Field(
        default=None,
        description="The signing keys as JSON: a JWK Set or an array of private JWKs (oct"
        " HS256, OKP Ed25519, EC P-256), each with a kid; the first that may sign signs.",
    )
    jwt_keys_dir: Path | None = Field(
        default=None,
        description="A directory of *.json private JWKs (kid: the file name); the last by"
        " name that may sign signs.",
    )
    jwt_ttl: int = Field(
        default=900, ge=60, description="Seconds an access token stays valid after it is issued."
    )
    refresh_ttl: int = Field(
        default=30 * 86400,
        ge=60,
        description="Seconds a refresh token stays usable (each use gives a new one).",
    )
    session_check_ttl: float = Field(
        default=5.0,
        ge=0,
        description="Seconds a process trusts that a session it checked is still open; a"
        " session ended elsewhere is refused after at most this long.",
    )
    hash_concurrency: int = Field(
        default=1,
        ge=0,
        description="Password hashes a process computes at once (the rest wait their turn);"
        " 0: the event loop's default thread pool, unbounded by Wren.",
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed log-ins a handle gets before it is locked."
    )
    login_max_failures_per_client: int = Field(
        default=50, ge=1, description="Failed log-ins a client address gets before it is locked."
    )
    login_backoff: float = Field(
        default=1.0, gt=0, description="Seconds of the first lock; each further failure doubles it."
    )
    login_backoff_max: float = Field(default=900.0, gt=0, description="Longest lock, in seconds.")
    login_failure_window: float = Field(
        default=900.0,
        gt=0,
        description="Seconds after its last failure (and lock) that a counter is forgotten.",
    )

    # GraphQL over HTTP: what a request may ask for, and what production hides.
    graphiql: bool | None = Field(
        default=None, description="Serve GraphiQL at GET /graphql. Unset: only in development."
    )
    introspection: bool | None = Field(
        default=None, description="Allow schema introspection. Unset: only in development."
    )
    suggestions: bool | None = Field(
        default=None,
        description="'Did you mean ...?' hints in errors. Unset: only in development.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request body; bigger ones get 413."
    )
    body_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a request body may take to arrive; then 408."
    )
    max_tokens: int = Field(
        default=2000, ge=1, description="Lexical tokens (comments too) a document may have."
    )
    max_depth: int = Field(default=12, ge=1, description="Deepest field nesting of an operation.")
    max_fields: int = Field(
        default=500,
        ge=1,
        description="Fields an operation may expand to, every fragment spread inlined and "
        "leaves included.",
    )
    max_aliases: int = Field(default=15, ge=0, description="Aliases a document may use.")
    max_directives: int = Field(default=10, ge=0, description="Directives a document may use.")
    max_cost: int = Field(
        default=10_000,
        ge=1,
        description="Largest estimated cost: objects fetched, `first` multiplied along nesting.",
    )
    rate_limit_points: int = Field(
        default=0,
        ge=0,
        description="Cost points each viewer (or anonymous client address) may spend per "
        "window, shared by every process through Redis; 0: no rate limit.",
    )
    rate_limit_window: float = Field(
        default=60.0,
        gt=0,
        description="Seconds in which an empty budget refills completely "
        "(restore rate: points / window per second).",
    )
    rate_limit_fail_closed: bool = Field(
        default=False,
        description="With Redis unavailable, refuse requests (503) instead of running "
        "them unlimited.",
    )
    max_batch_size: int = Field(
        default=0, ge=0, description="Operations in one batched (JSON array) request; 0: off."
    )
    execution_timeout: float = Field(
        default=10.0, gt=0, description="Seconds an operation may run; its SQL is cancelled."
    )
    compiled_queries: bool = Field(
        default=True,
        description="Queries run on the compiled fast path where it applies; false runs "
        "every operation on graphql-core.",
    )
    document_cache_size: int = Field(
        default=1000, ge=0, description="Parsed and validated documents kept per process."
    )
    persisted_queries: bool = Field(
        default=True, description="Automatic persisted queries (Apollo's protocol)."
    )
    persisted_query_ttl: int = Field(
        default=24 * 3600, ge=1, description="Seconds an automatic persisted query is kept."
    )
    persisted_prefix: str | None = Field(
        default=None,
        description="Redis key prefix of persisted and trusted documents. Unset: NAMESPACE:pq:.",
    )
    trusted_documents: bool = Field(
        default=False, description="Run only documents registered with `wren persist`."
    )
    csrf_require_preflight: bool = Field(
        default=False,
        description="GET requests need a header a browser cannot send cross-site unasked.",
    )

    # Subscriptions over WebSocket at /graphql.
    events_prefix: str | None = Field(
        default=None,
        description="Redis pub/sub channel prefix of subscription events. "
        "Unset: NAMESPACE:events:.",
    )
    max_subscriptions: int = Field(
        default=20, ge=1, description="Operations one WebSocket connection may run at once."
    )
    ws_init_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a new WebSocket connection has to send connection_init.",
    )
    ws_keepalive: float = Field(
        default=15.0,
        ge=0,
        description="Seconds between keep-alive messages to graphql-ws (legacy) clients; 0: none.",
    )

    # Observability: metrics, logs (traces are configured by the standard OTEL_* variables).
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of the Prometheus /metrics endpoint, apart from the API's. Unset: "
        "no metrics are recorded.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Bind address of the metrics endpoint."
    )
    metrics_operation_names: int = Field(
        default=100,
        ge=0,
        description="Distinct operation names the metrics label by (trusted documents' names"
        " always); later names count as `other`.",
    )
    log_format: LogFormat = Field(
        default=LogFormat.TEXT, description="text, or json: one JSON object per line."
    )
    access_log: bool = Field(
        default=False, description="One log line per request (wren.access), in either format."
    )
    slow_operation_ms: float = Field(
        default=1000.0,
        ge=0,
        description="Operations that take longer are logged (wren.slow) with what they did;"
        " 0: never.",
    )

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        """Accept plain postgresql:// URLs and point them at the asyncpg driver."""
        return _asyncpg_url(value)

    @field_validator("redis_url")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinel_addresses(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        for address in value.split(","):
            host, _, port = address.strip().rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"not a host:port: {address.strip()!r}")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"critical", "error", "warning", "info", "debug"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @field_validator("jwt_keys", "jwt_keys_dir", mode="before")
    @classmethod
    def _blank_keys_are_unset(cls, value: object) -> object:
        return None if value in (None, "") else value

    @model_validator(mode="after")
    def _keys_parse(self) -> Settings:
        """Refuse keys that cannot sign or verify, at start-up rather than at first use."""
        from wren.accounts.keys import Keyring  # PyJWT and cryptography, on use only

        Keyring.from_settings(self)
        return self

    @field_validator("jwt_secret", mode="before")
    @classmethod
    def _blank_secret_is_default(cls, value: object) -> object:
        # An empty WREN_JWT_SECRET (compose's `${WREN_JWT_SECRET:-}`) means "not set".
        return DEFAULT_JWT_SECRET if value in (None, "") else value

    @model_validator(mode="after")
    def _database_options(self) -> Settings:
        """Refuse URL options the driver would choke on, or that contradict the pooler."""
        if self.database_url is not None:
            from wren.db.url import engine_options  # SQLAlchemy's URL parser, on use only

            engine_options(
                self.database_url, transaction_pooler=self.database_pooler is Pooler.TRANSACTION
            )
        if self.replica_urls:
            from wren.db.url import engine_options

            if self.database_url is None:
                raise ValueError("WREN_DATABASE_REPLICA_URLS needs WREN_DATABASE_URL (the primary)")
            for url in self.replica_urls:
                engine_options(url, transaction_pooler=self.database_pooler is Pooler.TRANSACTION)
        return self

    @model_validator(mode="after")
    def _one_redis_topology(self) -> Settings:
        """A cluster is found from one of its nodes; it has no Sentinels."""
        if self.redis_cluster and self.redis_url is None:
            raise ValueError("WREN_REDIS_CLUSTER needs WREN_REDIS_URL: one node of the cluster")
        if self.redis_cluster and self.redis_sentinels is not None:
            raise ValueError("WREN_REDIS_CLUSTER and WREN_REDIS_SENTINELS exclude each other")
        return self

    @model_validator(mode="after")
    def _trusted_documents_need_redis(self) -> Settings:
        """`wren persist` registers documents in Redis: the in-process stand-in never sees them."""
        if self.trusted_documents and not self.redis_configured:
            raise ValueError(
                "WREN_TRUSTED_DOCUMENTS needs WREN_REDIS_URL (or WREN_REDIS_SENTINELS),"
                " where they are kept"
            )
        return self

    @model_validator(mode="after")
    def _response_cache_shared_between_workers(self) -> Settings:
        """Each worker's stand-in would keep answers that other workers' writes never reach."""
        if self.response_cache and self.workers > 1 and not self.redis_configured:
            raise ValueError(
                "WREN_RESPONSE_CACHE with several workers needs WREN_REDIS_URL (or"
                " WREN_REDIS_SENTINELS): every worker must see every write's invalidation"
            )
        return self

    @model_validator(mode="after")
    def _real_secret_in_production(self) -> Settings:
        """Refuse to run in production with the published development secret."""
        if self.production and self.jwt_keys is None and self.jwt_keys_dir is None:
            secret = self.jwt_secret.get_secret_value()
            if secret == DEFAULT_JWT_SECRET:
                raise ValueError("set WREN_JWT_SECRET: the default secret is public")
            if len(secret) < MIN_JWT_SECRET_LENGTH:
                raise ValueError(
                    f"WREN_JWT_SECRET must be at least {MIN_JWT_SECRET_LENGTH} characters"
                )
        return self

    @property
    def replica_urls(self) -> list[str]:
        """The URLs of WREN_DATABASE_REPLICA_URLS, each pointed at the asyncpg driver."""
        urls = (_asyncpg_url(url.strip()) for url in self.database_replica_urls.split(","))
        return [url for url in urls if url]

    @property
    def production(self) -> bool:
        """True when running in production mode."""
        return self.environment is Environment.PRODUCTION

    @property
    def graphiql_enabled(self) -> bool:
        """GraphiQL is served: explicitly enabled, or in development."""
        return not self.production if self.graphiql is None else self.graphiql

    @property
    def introspection_enabled(self) -> bool:
        """Introspection is allowed: explicitly enabled, or in development."""
        return not self.production if self.introspection is None else self.introspection

    @property
    def suggestions_enabled(self) -> bool:
        """Error messages may suggest names: explicitly enabled, or in development."""
        return not self.production if self.suggestions is None else self.suggestions

    @property
    def redis_configured(self) -> bool:
        """A real Redis is configured (one server, a cluster or Sentinels), not the stand-in."""
        return self.redis_url is not None or self.redis_sentinels is not None

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """The Sentinels' hosts and ports (none when WREN_REDIS_SENTINELS is unset)."""
        if self.redis_sentinels is None:
            return []
        found = []
        for address in self.redis_sentinels.split(","):
            host, _, port = address.strip().rpartition(":")
            found.append((host.strip("[]"), int(port)))
        return found

    @property
    def persisted_key_prefix(self) -> str:
        """Prefix of the Redis keys of persisted documents (under the cache namespace)."""
        if self.persisted_prefix is not None:
            return self.persisted_prefix
        return documents_prefix(self.cache_namespace)

    @property
    def events_channel_prefix(self) -> str:
        """Prefix of the pub/sub channels of subscription events (under the cache namespace)."""
        if self.events_prefix is not None:
            return self.events_prefix
        return channels_prefix(self.cache_namespace)
