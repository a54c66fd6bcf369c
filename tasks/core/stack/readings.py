"""One reading of a database server's request counter, as env.status compares them.

Its own module so that the rate logic (status_db.py) and the kept samples (qps_sample.py) share
the type without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

QPS_SAMPLE_S = 1.0  # the shortest window a rate is given for
# A kept sample up to a day old is still compared, its window said ("/sec over 40 min"): a status
# after a break answers at once instead of waiting for a window of its own. Older: sampled afresh.
MAX_AGE_S = 86400.0


@dataclass(frozen=True)
class Reading:
    database: str
    kind: str
    counter: str
    scope: str
    value: int | None
    at: float
    own: int = 0  # requests the reading itself adds to the counter
    error: str = ""
    wall: float = 0.0  # time.time() of the reading, to compare with another process's sample
    server: str = ""  # which server (and database) counted: readings of different ones never compare
