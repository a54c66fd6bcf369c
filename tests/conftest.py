"""Settings for every test session."""

from __future__ import annotations

import signal

# A shell that starts pytest in the background without job control (`nohup ... &` in a script)
# makes it ignore SIGINT, and every clikd a test starts would inherit that: the Ctrl+C tests would
# wait for an interrupt that cannot land. A handled signal is reset to the default at exec, so
# installing Python's own handler here gives the children the behaviour of a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
