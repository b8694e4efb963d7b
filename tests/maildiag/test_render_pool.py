"""The sink's render workers (processes that read untrusted mail for the pages) end when the
server that started them is killed with SIGKILL, instead of staying behind for good."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVER = """
import os, sys, time
from maildiag.web.sink_render import MessageViews
views = MessageViews(workers=2)
pool = views._pool(False)
futures = [pool.submit(time.sleep, 0.2) for _ in range(4)]  # both workers start
for future in futures:
    future.result()
print(" ".join(str(pid) for pid in pool._processes), flush=True)
time.sleep(120)
"""


def _gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie nobody reaped counts as exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return any(line.startswith("State:") and "Z" in line for line in status.splitlines())


def test_render_workers_end_when_their_server_is_killed() -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    workers: list[int] = []
    try:
        assert server.stdout is not None
        workers += [int(pid) for pid in server.stdout.readline().split()]
        assert len(workers) == 2
        assert not any(_gone(pid) for pid in workers)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 15
        while not all(_gone(pid) for pid in workers):
            assert time.monotonic() < deadline, "a render worker outlived its server"
            time.sleep(0.1)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()
        for pid in workers:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)


ORPHAN = """
import os, sys, time
from maildiag.web.sink_render import exit_with_parent
if os.fork():  # the server: gone before its worker has started
    os._exit(0)
print(os.getpid(), flush=True)
while os.getppid() == {server}:  # the worker: wait until it has been re-parented
    time.sleep(0.01)
exit_with_parent({server})  # then start, as a worker that was still starting up would
time.sleep(120)
"""


def test_a_worker_that_starts_after_its_server_ended_ends_too() -> None:
    """The server's PID is passed to the worker: one that reads its parent only once started
    would take its new parent for the server and wait for it for good."""
    # The launcher is the "server": it prints its PID, forks the worker and ends at once; the
    # worker prints its own PID, waits to be re-parented, and only then starts watching.
    launcher = subprocess.Popen(
        [sys.executable, "-c", "import os; print(os.getpid(), flush=True); " + _run(ORPHAN)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    worker = 0
    try:
        assert launcher.stdout is not None
        launcher.stdout.readline()  # the server's PID (the launcher itself)
        worker = int(launcher.stdout.readline())
        deadline = time.monotonic() + 15
        while not _gone(worker):
            assert time.monotonic() < deadline, "a worker outlived a server gone before it began"
            time.sleep(0.1)
    finally:
        if launcher.poll() is None:
            launcher.kill()
        launcher.wait()
        if launcher.stdout is not None:
            launcher.stdout.close()
        if worker and not _gone(worker):
            os.kill(worker, signal.SIGKILL)


def _run(source: str) -> str:
    """``source`` as a statement run with the launcher's PID as ``{server}``."""
    return f"exec({source!r}.replace('{{server}}', str(os.getpid())))"
