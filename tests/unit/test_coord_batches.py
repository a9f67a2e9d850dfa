"""etcd transactions of durable contacts are cut by count (etcd's 128 operations) and by bytes (its
1.5 MiB request limit), so that contacts with large attached data are written and adopted."""

from __future__ import annotations

from vcc.coord.store import MAX_ADOPT_BATCH, MAX_TXN_BYTES, txn_batches


def test_transactions_are_cut_by_count_and_by_bytes() -> None:
    small = list(range(200))
    assert [len(b) for b in txn_batches(small, lambda _: 100)] == [MAX_ADOPT_BATCH, MAX_ADOPT_BATCH, 4]
    big = MAX_TXN_BYTES // 4 + 1  # four of these pass the limit: three to a transaction
    assert [len(b) for b in txn_batches(list(range(7)), lambda _: big)] == [3, 3, 1]
    assert txn_batches([1], lambda _: 2 * MAX_TXN_BYTES) == [[1]]  # one record over the limit goes alone
    assert txn_batches([], lambda _: 1) == []
