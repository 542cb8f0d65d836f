"""The export's claims in batches: one store call for the records that arrive together,
each record answered with its own claim, in order, and every record of a failed batch
told so."""

from __future__ import annotations

import asyncio

import pytest

from rfi_crawler.export.claims import ClaimBatcher
from rfi_crawler.state import StateStoreError


class FakeStoreThread:
    """Answers ``claim_many`` with each record's id and its position; records the calls."""

    def __init__(self, error: Exception | None = None, poison: str | None = None) -> None:
        self.calls: list[tuple[list[str], str]] = []
        self.error, self.poison = error, poison

    async def call(self, method, claims, run_id):
        assert method == "claim_many"
        ids = [record["id"] for record, _ in claims]
        self.calls.append((ids, run_id))
        await asyncio.sleep(0)  # answered later, as the store's thread does
        if self.error:
            raise self.error
        if self.poison in ids:  # a record the claim cannot handle: the batch rolls back
            raise KeyError(self.poison)
        return [f"{record['id']}@{now}" for record, now in claims]


def run(scenario):
    return asyncio.run(scenario())


def claims_of(batcher, ids, run_id="r1"):
    return [batcher.claim({"id": i}, run_id, f"t{i}") for i in ids]


def test_records_that_arrive_together_are_claimed_in_one_call_in_order():
    store = FakeStoreThread()

    async def scenario():
        return await asyncio.gather(*claims_of(ClaimBatcher(store), "abc"))

    assert run(scenario) == ["a@ta", "b@tb", "c@tc"]
    assert store.calls == [(["a", "b", "c"], "r1")]


def test_a_full_batch_goes_at_once_without_waiting_for_the_linger():
    store = FakeStoreThread()

    async def scenario():
        # A linger no test outlasts: only a full batch can have gone before the wait.
        batcher = ClaimBatcher(store, linger=3600, max_batch=2)
        pending = [asyncio.ensure_future(c) for c in claims_of(batcher, "abcde")]
        await asyncio.sleep(0.01)
        sent = list(store.calls)  # "e" waits for the linger, or for "f" to fill its batch
        pending += [asyncio.ensure_future(c) for c in claims_of(batcher, "f")]
        return sent, await asyncio.gather(*pending)

    sent, answers = run(scenario)
    assert sent == [(["a", "b"], "r1"), (["c", "d"], "r1")]
    assert store.calls[2:] == [(["e", "f"], "r1")]
    assert answers == ["a@ta", "b@tb", "c@tc", "d@td", "e@te", "f@tf"]


def test_a_record_after_the_linger_starts_a_new_batch():
    store = FakeStoreThread()

    async def scenario():
        batcher = ClaimBatcher(store, linger=0.01)
        first = asyncio.ensure_future(claims_of(batcher, "a")[0])
        await asyncio.sleep(0.05)  # a later deadline than the linger's: the batch went
        return [await first, await claims_of(batcher, "b")[0]]

    assert run(scenario) == ["a@ta", "b@tb"]
    assert store.calls == [(["a"], "r1"), (["b"], "r1")]


def test_each_batch_holds_one_runs_records():
    store = FakeStoreThread()

    async def scenario():
        batcher = ClaimBatcher(store)
        return await asyncio.gather(*claims_of(batcher, "ab", "r1"), *claims_of(batcher, "c", "r2"))

    assert run(scenario) == ["a@ta", "b@tb", "c@tc"]
    assert store.calls == [(["a", "b"], "r1"), (["c"], "r2")]


def test_a_store_error_reaches_every_record_of_its_batch():
    store = FakeStoreThread(StateStoreError("state store stayed locked"))

    async def scenario():
        return await asyncio.gather(*claims_of(ClaimBatcher(store), "ab"), return_exceptions=True)

    answers = run(scenario)
    assert [str(a) for a in answers] == ["state store stayed locked"] * 2
    assert all(isinstance(a, StateStoreError) for a in answers)
    assert len(store.calls) == 1  # not tried again: the run stops on a store error


def test_a_record_the_claim_cannot_handle_fails_alone():
    """Another error (a bug, not the store) rolls its batch back: each record is then
    claimed on its own, and only that one fails."""
    store = FakeStoreThread(poison="b")

    async def scenario():
        return await asyncio.gather(*claims_of(ClaimBatcher(store), "abc"), return_exceptions=True)

    a, b, c = run(scenario)
    assert (a, c) == ("a@ta", "c@tc")
    assert isinstance(b, KeyError)
    assert [ids for ids, _ in store.calls] == [["a", "b", "c"], ["a"], ["b"], ["c"]]


def test_a_store_answering_too_many_claims_claims_no_record_twice():
    store = FakeStoreThread()
    call = store.call

    async def one_too_many(method, claims, run_id):
        return [*await call(method, claims, run_id), "extra"]

    store.call = one_too_many

    async def scenario():
        return await asyncio.gather(*claims_of(ClaimBatcher(store), "ab"), return_exceptions=True)

    assert run(scenario) == ["a@ta", "b@tb"]
    assert [ids for ids, _ in store.calls] == [["a", "b"]]


def test_a_record_given_up_on_is_not_claimed_and_the_others_are_answered():
    store = FakeStoreThread()

    async def scenario():
        batcher = ClaimBatcher(store)
        given_up, kept = (asyncio.ensure_future(c) for c in claims_of(batcher, "ab"))
        await asyncio.sleep(0)
        given_up.cancel()
        with pytest.raises(asyncio.CancelledError):
            await given_up
        return await kept

    assert run(scenario) == "b@tb"
    assert store.calls == [(["b"], "r1")]


def test_a_record_given_up_on_leaves_no_timer_behind_on_its_loop():
    """An event loop per record (as the pipeline's tests run it): a record given up on
    within the linger left the batch's timer on its closed loop, and the next record, on
    a new loop, waited for a timer that would never fire."""
    store = FakeStoreThread()
    batcher = ClaimBatcher(store, linger=0.05)

    async def given_up():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(batcher.claim({"id": "a"}, "r1", "ta"), 0.001)

    async def next_record():
        return await asyncio.wait_for(batcher.claim({"id": "b"}, "r1", "tb"), 60)

    run(given_up)
    assert run(next_record) == "b@tb"
    assert store.calls == [(["b"], "r1")]
