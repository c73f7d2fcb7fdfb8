"""A process paused inside a state-database write cannot block the others for good (issue 6, defect 4).

On PostgreSQL (production) the server ends a transaction left idle past
``IDLE_IN_TRANSACTION_MS``, so a consumer stopped with SIGSTOP while it holds
the lease row's lock loses it, and another consumer takes the lease over.
(SQLite locks the whole file for the length of a write: there a paused writer
blocks every writer until it resumes; the embedded default is meant for one
machine, and every write transaction is a few milliseconds long.)
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

from eventlake.leases import Lease
from eventlake.state.ingestion_jobs import IDLE_IN_TRANSACTION_MS, IngestionJobStore
from tests.conftest import postgres_database

HOLD_AND_PAUSE = r"""
import os, signal, sys
import sqlalchemy as sa
from eventlake.leases import Lease, leases_table
from eventlake.state.ingestion_jobs import IngestionJobStore
store = IngestionJobStore(sys.argv[1])
lease = Lease(store.engine, "stream:x:shard-0", 0.5)
assert lease.acquire()
with store.engine.begin() as conn:
    conn.execute(sa.update(leases_table).where(leases_table.c.name == lease.name).values(owner=lease.owner))
    print("locked", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)  # paused while holding the row lock, transaction open
"""


def test_a_writer_paused_inside_a_transaction_does_not_block_the_lease_for_good():
    with postgres_database("el_pause") as url:
        IngestionJobStore(url).close()
        paused = subprocess.Popen([sys.executable, "-c", HOLD_AND_PAUSE, url], stdout=subprocess.PIPE, text=True)
        try:
            assert paused.stdout.readline().strip() == "locked"
            time.sleep(0.6)  # the lease period passes while the writer is stopped
            store = IngestionJobStore(url)
            successor = Lease(store.engine, "stream:x:shard-0", 0.5)
            taken: list[bool] = []
            taker = threading.Thread(target=lambda: taken.append(successor.acquire()), daemon=True)
            taker.start()
            # liveness, not speed: without the server's timeout the taker waits until SIGCONT, forever
            taker.join(timeout=IDLE_IN_TRANSACTION_MS / 1000 + 60)
            assert taken == [True], "the lease should be taken once the paused transaction is ended"
            assert successor.epoch == 2
            store.close()
        finally:
            paused.send_signal(signal.SIGCONT)
            paused.wait(timeout=30)
        assert paused.returncode != 0, "the paused process's transaction must have been ended by the server"
