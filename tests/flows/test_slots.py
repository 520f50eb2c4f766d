"""The flow's job slots start jobs in ticket order, at most n at once."""

from __future__ import annotations

import threading
import time

from flows.retrain import Slots


def test_jobs_start_in_ticket_order_whatever_order_their_threads_arrive():
    slots, started, running, peak = Slots(2), [], [0], [0]
    lock = threading.Lock()

    def job(ticket: int) -> None:
        with slots.hold(ticket):
            with lock:
                started.append(ticket)
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=job, args=(t,)) for t in (4, 3, 2, 1, 0)]  # reversed
    for t in threads:
        t.start()
        time.sleep(0.01)
    for t in threads:
        t.join(timeout=10)
    assert started == [0, 1, 2, 3, 4] and peak[0] == 2
