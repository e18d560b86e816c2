"""One test per private Strawberry API that wren._compat wraps: an upgrade breaks here."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from graphql import GraphQLSchema, parse
from strawberry.extensions import SchemaExtension
from strawberry.subscriptions.protocols.graphql_transport_ws import handlers as transport_ws
from strawberry.subscriptions.protocols.graphql_ws import handlers as legacy_ws
from strawberry.types.execution import ExecutionContext
from strawberry.types.field import StrawberryField

from wren import _compat


class Wrapping(SchemaExtension):
    seen: list[str] = []

    def on_operation(self) -> Iterator[None]:
        Wrapping.seen.append("operation")
        yield

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        Wrapping.seen.append(info.field_name)
        return _next(root, info, *args, **kwargs)


class Plain(SchemaExtension):
    def get_results(self) -> dict[str, Any]:
        return {"plain": True}


@strawberry.type
class Query:
    @strawberry.field(description="A greeting.")
    def hello(self) -> str:
        return "hi"


SCHEMA = strawberry.Schema(query=Query, extensions=[Wrapping, Plain])


def test_core_schema_is_graphql_cores() -> None:
    core = _compat.core_schema(SCHEMA)
    assert isinstance(core, GraphQLSchema)
    assert core.query_type is not None
    assert "hello" in core.query_type.fields


def test_field_definition_is_the_strawberry_field() -> None:
    core = _compat.core_schema(SCHEMA)
    assert core.query_type is not None
    definition = _compat.field_definition(core.query_type.fields["hello"])
    assert isinstance(definition, StrawberryField)
    assert definition.python_name == "hello"


def test_implements_resolve() -> None:
    assert _compat.implements_resolve(Wrapping)
    assert _compat.implements_resolve(Wrapping())
    assert not _compat.implements_resolve(Plain)


async def test_extensions_runner_and_middleware_run_the_hooks() -> None:
    from graphql import execute

    Wrapping.seen.clear()
    execution = ExecutionContext(query="{ hello }", schema=SCHEMA, allowed_operations=())
    extensions = SCHEMA.get_extensions()
    for extension in extensions:
        extension.execution_context = execution
    runner = _compat.extensions_runner(execution, extensions)
    async with runner.operation():
        result = execute(
            _compat.core_schema(SCHEMA),
            parse("{ hello }"),
            middleware=_compat.middleware(SCHEMA, extensions),
        )
    assert not inspect.isawaitable(result)
    assert result.data == {"hello": "hi"}
    assert Wrapping.seen == ["operation", "hello"]
    assert await runner.get_extensions_results(execution) == {"plain": True}


async def test_is_awaitable() -> None:
    async def coroutine() -> None:
        return None

    pending = coroutine()
    assert _compat.is_awaitable(pending)
    assert _compat.is_awaitable(asyncio.get_running_loop().create_future())
    assert not _compat.is_awaitable(1)
    await pending


async def test_protocol_schema_hands_over_what_the_handlers_pass() -> None:
    calls: list[dict[str, Any]] = []

    async def stream(query: str, **options: Any) -> AsyncIterator[Any]:
        calls.append({"query": query, **options})
        yield "result"

    schema: Any = _compat.protocol_schema(stream)
    context = object()
    streamed = await schema.stream(
        "q1", variable_values={"a": 1}, context_value=context, root_value=None, operation_name="A"
    )
    subscribed = await schema.subscribe(
        query="q2", variable_values=None, operation_name=None, context_value=context
    )
    assert [item async for item in streamed] == ["result"]
    assert [item async for item in subscribed] == ["result"]
    assert calls == [
        {"query": "q1", "variables": {"a": 1}, "operation_name": "A", "context": context},
        {"query": "q2", "variables": None, "operation_name": None, "context": context},
    ]


def test_the_protocol_handlers_call_the_schema_as_the_stand_in_expects() -> None:
    """Strawberry's handlers call `schema.stream` (graphql-transport-ws) and
    `schema.subscribe` (graphql-ws) with these keywords: the stand-in relies on it."""
    new = inspect.getsource(transport_ws.BaseGraphQLTransportWSHandler.run_operation)
    legacy = inspect.getsource(legacy_ws.BaseGraphQLWSHandler.handle_async_results)
    assert "self.schema.stream(" in new
    assert "self.schema.subscribe(" in legacy
    for source in (new, legacy):
        for keyword in ("variable_values=", "context_value=", "operation_name="):
            assert keyword in source


def test_bind_processors_and_positional_names_of_a_compiled_read() -> None:
    from sqlalchemy import ARRAY, Integer, bindparam, column, select, table
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    users = table("users", column("id", Integer))
    statement = select(users.c.id).where(
        users.c.id == bindparam("one", type_=Integer),
        users.c.id.in_(select(func_unnest(bindparam("ids", type_=ARRAY(Integer))))),
    )
    compiled = statement.compile(dialect=dialect())
    assert _compat.positional_names(compiled) == ("one", "ids")  # type: ignore[arg-type]
    processors = _compat.bind_processors(compiled)  # type: ignore[arg-type]
    assert set(processors) <= {"one", "ids"}
    assert "$1" in compiled.string
    assert "$2" in compiled.string


def func_unnest(value: Any) -> Any:
    from sqlalchemy import func

    return func.unnest(value)


async def test_greenlet_spawn_and_await_only_bridge_to_asyncio() -> None:
    async def later(n: int) -> int:
        await asyncio.sleep(0)
        return n + 1

    def in_greenlet() -> int:
        return _compat.await_only(later(1)) * 10

    assert await _compat.greenlet_spawn(in_greenlet) == 20


def test_supervise_workers_makes_uvicorns_supervisor_start_that_class() -> None:
    import uvicorn
    from uvicorn.supervisors import multiprocess

    from wren.supervisor import Worker

    original = multiprocess.Process
    try:
        _compat.supervise_workers(Worker)
        config = uvicorn.Config("wren.app:create_app", factory=True, workers=2)
        supervisor = multiprocess.Multiprocess(config, sockets=[])
        # What init_processes, keep_subprocess_alive, restart_all and handle_ttin build.
        made = multiprocess.Process(supervisor.config, supervisor.sockets)
        assert type(made) is Worker
        assert made._server is None
        assert type(made.server).__name__ == "GracefulServer"
        assert "Process(self.config, self.sockets)" in inspect.getsource(
            multiprocess.Multiprocess.init_processes
        )
    finally:
        multiprocess.Process = original  # type: ignore[misc]


async def test_queue_pool_builds_and_calls_its_queue_as_queuepool_does() -> None:
    from unittest.mock import MagicMock

    from sqlalchemy import exc as sa_exc
    from sqlalchemy.pool import AsyncAdaptedQueuePool

    built: list[tuple[int, bool]] = []
    calls: list[tuple[str, tuple[Any, ...]]] = []

    class Recording(list[Any]):
        def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
            built.append((maxsize, use_lifo))
            self.maxsize, self.use_lifo = maxsize, use_lifo

        def qsize(self) -> int:
            return len(self)

        def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
            calls.append(("put", (block,)))
            if len(self) >= self.maxsize:
                raise _compat.QueueFull
            self.append(item)

        def get(self, block: bool = True, timeout: float | None = None) -> Any:
            calls.append(("get", (block, timeout)))
            if not self:
                raise _compat.QueueEmpty
            return self.pop()

    cls = _compat.queue_pool(Recording)
    assert issubclass(cls, AsyncAdaptedQueuePool)
    pool = cls(MagicMock, pool_size=1, max_overflow=1, timeout=2.5, use_lifo=True)
    assert _compat.pool_queue(pool) == []
    assert built == [(1, True)]
    first = await _compat.greenlet_spawn(pool.connect)  # empty, room to open: no wait
    second = await _compat.greenlet_spawn(pool.connect)  # the overflow one
    with pytest.raises(sa_exc.TimeoutError):  # full: waits (and the queue says Empty)
        await _compat.greenlet_spawn(pool.connect)
    assert calls == [("get", (False, 2.5)), ("get", (False, 2.5)), ("get", (True, 2.5))]
    await _compat.greenlet_spawn(first.close)
    await _compat.greenlet_spawn(second.close)  # no room: the pool closes it
    assert calls[3:] == [("put", (False,)), ("put", (False,))]
    assert pool.checkedin() == 1
    assert pool.checkedout() == 0
    assert pool.recreate().__class__ is cls
    assert built[-1] == (1, True)
    # It logs as SQLAlchemy's own pool does (its INFO lines as quiet as SQLAlchemy keeps
    # them, echo_pool and sqlalchemy.pool's logging configuration applying to it).
    assert pool.logger.name == "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"


def test_needs_renewal_follows_recycling_and_invalidation() -> None:
    from unittest.mock import MagicMock

    from sqlalchemy.pool import QueuePool

    pool = QueuePool(MagicMock, pool_size=1, recycle=3600)
    fairy = pool.connect()
    assert not _compat.needs_renewal(fairy)
    fairy._connection_record.starttime -= 7200  # type: ignore[attr-defined]
    assert _compat.needs_renewal(fairy)
    fairy._connection_record.starttime += 7200  # type: ignore[attr-defined]
    fairy.invalidate(soft=True)
    assert _compat.needs_renewal(fairy)
    fairy.close()
    assert not _compat.pre_pings(pool)
    assert _compat.pre_pings(QueuePool(MagicMock, pre_ping=True))
