"""gateway.memo: answers kept while made from the very same snapshot."""

from gateway.memo import Memo


def _counter():
    made = []
    return lambda: made.append(None) or len(made)


def test_an_answer_holds_while_its_snapshot_is_the_same_object():
    memo, make = Memo(), _counter()
    group, equal_group = {"a": 1}, {"a": 1}
    assert memo.get("k", group, make, False) == 1
    assert memo.get("k", group, make, False) == 1
    assert memo.get("k", group, make, True) == 2  # stale now: made again
    assert memo.get("k", equal_group, make, True) == 3  # equal is not the same
    assert memo.get("other", equal_group, make, True) == 4


def test_a_lagging_snapshot_is_followed_after_the_lag():
    memo, make, now = Memo(), _counter(), [100.0]
    clock = lambda: now[0]  # noqa: E731
    group, leases, renewed = object(), object(), object()
    assert memo.get("k", group, make, lagging=leases, lag=1.0, clock=clock) == 1
    now[0] += 0.5
    assert memo.get("k", group, make, lagging=renewed, lag=1.0, clock=clock) == 1
    now[0] += 0.6
    assert memo.get("k", group, make, lagging=renewed, lag=1.0, clock=clock) == 2
    assert memo.get("k", group, make, lagging=renewed, lag=0.0, clock=clock) == 2


def test_a_full_memo_is_emptied():
    memo, make, group = Memo(limit=2), _counter(), object()
    memo.get(1, group, make)
    memo.get(2, group, make)
    assert len(memo) == 2
    memo.get(3, group, make)
    assert len(memo) == 1 and memo.get(3, group, make) == 3 and memo.get(1, group, make) == 4
