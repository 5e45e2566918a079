"""A process that keeps file systems full, for the full-disk tests (run as `python -c FILLER ...`).

argv: `lockless` or `-`; the watchdog's log to pad with empty lines to its last byte, or `-`; then the directories
to fill. It appends to <dir>/fill whenever a block is free (down to a single byte), and with `lockless` makes an
empty file in /run/netsafe whenever an inode is free. It prints "full" once, after its first round, and runs until
killed; the caller removes <dir>/fill*. Holding the disk full matters: a file the code under test unlinks frees
blocks that a one-off fill would leave to the next write.
"""
from __future__ import annotations

FILLER = """
import os, sys, time
lockless, log, dirs, n, said = sys.argv[1] == 'lockless', sys.argv[2], sys.argv[3:], 0, False
fds = [os.open(os.path.join(d, 'fill'), os.O_WRONLY | os.O_APPEND | os.O_CREAT) for d in dirs]
log_fd = os.open(log, os.O_WRONLY | os.O_APPEND) if log != '-' else None
while True:
    for d, fd in zip(dirs, fds):
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, bytes(size))
            except OSError:
                pass
        while d == '/run/netsafe' and lockless:
            try:
                os.close(os.open(os.path.join(d, 'fill%d' % n), os.O_WRONLY | os.O_CREAT))
                n += 1
            except OSError:
                break
    try:
        while log_fd is not None:
            os.write(log_fd, b'\\n')
    except OSError:
        pass
    if not said:
        print('full', flush=True)
        said = True
    time.sleep(0.001)
"""
