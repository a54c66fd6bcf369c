"""A warm clikd for the everyday commands: a resident process that has already imported clikd.

Most of a no-op ``env.start`` or an ``env.status`` is Python loading clikd, Invoke and Rich (some
0.15 s of 0.25 s on the test machine). The server (:mod:`.daemon`) loads them once and then, for each
command, forks a child that runs the command exactly as the ``clikd`` program would, with the
caller's arguments, environment, working directory, umask and its standard input, output and error
(the file descriptors themselves, passed over a Unix socket), so a terminal stays a terminal. The
caller (:mod:`.client`) forwards its signals to that child and exits with the child's exit status.

Each command runs in a new fork, so nothing of one command is left for the next one. The server
answers only while the files of every module it loaded are unchanged (an edit, an upgrade: it
steps down and the command runs in-process), and exits after some idle time.
"""
