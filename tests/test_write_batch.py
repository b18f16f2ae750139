"""Claims and not-modified writes made together: few transactions, no write held back."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import pytest

from monitor.errors import StorageError
from monitor.runtime import write_to
from monitor.store import Store
from monitor.write_batch import SETTLE_TURNS, WriteBatch
from tests.test_store import LEASE, NOW


def count_transactions(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Write transactions begun from now on (one list element each)."""
    begun: list[int] = []
    real = store._transaction

    def counting(*, read_only: bool) -> Any:
        if not read_only:
            begun.append(1)
        return real(read_only=read_only)

    monkeypatch.setattr(store, "_transaction", counting)
    return begun


def claim(store: Store, name: str) -> partial[Any]:
    return partial(store.claim_source, name, f"https://x.org/{name}", now=NOW, lease=LEASE,
                   due_before=None)  # fmt: skip


async def test_writes_of_one_turn_share_one_transaction(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    batched = WriteBatch(store, partial(write_to, store))
    begun = count_transactions(store, monkeypatch)
    states = await asyncio.gather(*(batched(claim(store, f"s{i}")) for i in range(10)))
    assert [s.name for s in states] == [f"s{i}" for i in range(10)]  # each its own answer
    assert len(begun) == 1
    again = await asyncio.gather(*(batched(claim(store, f"s{i}")) for i in range(10)))
    assert again == [None] * 10  # all claimed, and the claims were committed
    not_modified = [
        batched(partial(store.record_not_modified, f"s{i}", now=NOW, next_poll_at=NOW, etag='"e"'))
        for i in range(10)
    ]
    await asyncio.gather(*not_modified)
    assert len(begun) == 3
    assert all(s.etag == '"e"' for s in store.source_states().values())
    assert all(claim(store, f"s{i}")() is not None for i in range(10))  # released again


async def test_a_failing_write_fails_alone(store: Store) -> None:
    """The batch rolls back; the others are made again one by one, the failure reported."""
    batched = WriteBatch(store, partial(write_to, store))

    def broken() -> None:
        with store._tx() as conn:
            conn.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")

    first, failing, last = await asyncio.gather(
        batched(claim(store, "a")), batched(broken), batched(claim(store, "b")),
        return_exceptions=True,
    )  # fmt: skip
    assert isinstance(failing, StorageError) and "no_such_table" in str(failing)
    assert getattr(first, "name", None) == "a" and getattr(last, "name", None) == "b"
    assert claim(store, "a")() is None and claim(store, "b")() is None  # both still held


async def test_a_cancelled_poll_does_not_stop_the_others(store: Store) -> None:
    batched = WriteBatch(store, partial(write_to, store))
    doomed = asyncio.ensure_future(batched(claim(store, "gone")))
    kept = asyncio.ensure_future(batched(claim(store, "kept")))
    await asyncio.sleep(0)
    doomed.cancel()
    state = await kept
    assert state is not None and state.name == "kept"
    assert doomed.cancelled()


def test_a_batch_is_one_transaction_rolled_back_as_a_whole(store: Store) -> None:
    with pytest.raises(RuntimeError, match="stop"), store.batch():
        claim(store, "a")()
        claim(store, "b")()
        raise RuntimeError("stop")
    assert store.source_states() == {}  # neither claim (nor the sources) was stored
    with store.batch():
        claim(store, "a")()
    assert set(store.source_states()) == {"a"}


def not_modified(store: Store, name: str) -> partial[Any]:
    return partial(store.record_not_modified, name, now=NOW, next_poll_at=NOW, etag='"e"')


async def _later(turns: int, write: Any) -> Any:
    for _ in range(turns):
        await asyncio.sleep(0)
    return await write


async def test_records_wait_a_few_turns_for_company_and_claims_do_not(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record (``urgent=False``) waits up to SETTLE_TURNS turns for more writes; a
    claim, which a poll waits on, goes out on the next turn and takes them along."""
    batched = WriteBatch(store, partial(write_to, store))
    await asyncio.gather(*(batched(claim(store, f"s{i}")) for i in range(4)))
    begun = count_transactions(store, monkeypatch)
    await asyncio.gather(  # records of polls that end two turns apart: one transaction
        batched(not_modified(store, "s0"), urgent=False),
        _later(2, batched(not_modified(store, "s1"), urgent=False)),
    )
    assert len(begun) == 1
    await asyncio.gather(  # more than SETTLE_TURNS apart: two
        batched(not_modified(store, "s2"), urgent=False),
        _later(SETTLE_TURNS + 2, batched(not_modified(store, "s3"), urgent=False)),
    )
    assert len(begun) == 3
    assert all(s.etag == '"e"' for s in store.source_states().values())

    flushed: list[str] = []
    record = asyncio.ensure_future(batched(not_modified(store, "s0"), urgent=False))
    record.add_done_callback(lambda _: flushed.append("record"))
    await asyncio.sleep(0)
    state = await batched(claim(store, "new"))  # urgent: out on the next turn, with the record
    await asyncio.sleep(0)
    assert state is not None and flushed == ["record"] and len(begun) == 4
