"""service/core/cancel.py: a token stops work at its next checkpoint, in threads too."""

import threading
import time

import pytest

from service.core import cancel, parallel


def test_without_a_token_nothing_is_ever_cancelled():
    assert cancel.current() is None
    cancel.checkpoint()  # no token: no effect


def test_a_cancelled_token_stops_the_work_at_its_next_checkpoint_with_the_reason():
    token = cancel.Token()
    with cancel.running(token):
        cancel.checkpoint()
        token.cancel("the client went away")
        token.cancel("a later reason does not replace the first")
        with pytest.raises(cancel.Cancelled) as stopped:
            cancel.checkpoint()
    assert stopped.value.reason == "the client went away" and not stopped.value.deadline
    assert cancel.current() is None  # the block's token is gone after it


def test_a_token_past_its_deadline_stops_the_work_and_says_so():
    token = cancel.Token(time.monotonic() - 1.0, 2.5)
    assert token.cancelled
    with pytest.raises(cancel.Cancelled) as stopped:
        token.check()
    assert stopped.value.deadline and "2.5 s" in stopped.value.reason
    assert not cancel.Token(time.monotonic() + 60.0, 60.0).cancelled


def test_the_thread_pool_checks_the_callers_token_before_each_part():
    token = cancel.Token()
    ran = []
    lock = threading.Lock()

    def part(bounds):
        with lock:
            ran.append(bounds)
            token.cancel("stop after the first part")

    parts = parallel.ranges(0, 64, 1)
    with cancel.running(token), pytest.raises(cancel.Cancelled):
        parallel.each(part, parts)
    # parts already running when the token was cancelled finish; no part starts after
    assert 1 <= len(ran) <= parallel.THREADS
    assert parallel.each(lambda bounds: bounds, parts[:3]) == parts[:3]  # no token: every part runs
