"""Exclusive claims on run directories, so two trainers (processes, hosts, Dask workers) never train the
same run at once: :class:`RunLock`, :class:`RunLocked` and :func:`wait_for_lock`."""
from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

__all__ = ["LOCK_FILE", "RunLock", "RunLocked", "wait_for_lock"]

LOCK_FILE = "lock"


class RunLock:
    """An exclusive claim on one run directory: the file ``<run dir>/lock`` holding ``host pid``.

    Created atomically (``O_CREAT | O_EXCL``), so two trainers (two ``dnn.run`` / ``dnn.table``
    invocations, or two Dask workers) never train the same run at once. A lock is *stale*, and is
    taken over, when its process is dead (same host: ``os.kill(pid, 0)``) or, from another host (a
    cluster with a shared runs folder), when its heartbeat (the file's mtime, touched every
    :attr:`HEARTBEAT_S` seconds while held) is older than :attr:`STALE_S`. A take-over is serialised by a
    second ``O_EXCL`` file, so two processes that find the same stale lock cannot both win.

    Parameters
    ----------
    run_dir : str or Path
        The run directory (created when the lock is taken).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     lock = RunLock(d)
    ...     got, again = lock.try_acquire(), RunLock(d).try_acquire()  # the second claim is refused
    ...     lock.release()
    >>> got, again
    (True, False)
    """

    #: a holder touches its lock this often: a lock whose holder lives but whose file stays untouched much
    #: longer is held by a process that is no sketchbound run (a reused PID), see :func:`wait_for_lock`
    HEARTBEAT_S = 2.0
    STALE_S = 300.0
    _held: set = set()
    _beat: threading.Thread | None = None
    _guard = threading.Lock()

    def __init__(self, run_dir):
        self.dir = Path(run_dir)
        self.path = self.dir / LOCK_FILE
        self.me = f"{socket.gethostname()} {os.getpid()}"

    def holder(self) -> str | None:
        """The ``host pid`` in the lock file, or None when there is none."""
        try:
            return self.path.read_text().strip()
        except OSError:
            return None

    def _stale(self, text: str | None) -> bool:
        try:
            age = time.time() - self.path.stat().st_mtime
        except OSError:
            return False  # gone: the next O_EXCL create decides
        parts = (text or "").split()
        if len(parts) != 2 or not parts[1].isdigit():
            return age > 10.0  # unreadable: a writer that died between create and write
        host, pid = parts[0], int(parts[1])
        if host != socket.gethostname():
            return age > self.STALE_S
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        try:  # a zombie (dead, not reaped yet by its parent) counts as dead
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            return False

    def try_acquire(self) -> bool:
        """Claim the run (True), or leave it to its live holder (False)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                text = self.holder()
                if not self._stale(text):
                    return False
                take = self.dir / (LOCK_FILE + ".takeover")
                try:
                    os.close(os.open(take, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                except FileExistsError:
                    try:  # a take-over whose process died: cleared after a minute
                        if time.time() - take.stat().st_mtime > 60:
                            take.unlink(missing_ok=True)
                    except OSError:
                        pass
                    return False
                try:
                    if self.holder() == text:  # still the same stale lock
                        self.path.unlink(missing_ok=True)
                finally:
                    take.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(self.me + "\n")
            with RunLock._guard:
                RunLock._held.add(self.path)
                if RunLock._beat is None or not RunLock._beat.is_alive():
                    RunLock._beat = threading.Thread(target=RunLock._heartbeat, daemon=True, name="run-lock-heartbeat")
                    RunLock._beat.start()
            return True
        return False

    def wait(self, poll: float = 2.0, timeout: float | None = None) -> bool:
        """Block until this process holds the lock (True) or ``timeout`` seconds pass (False)."""
        t0 = time.time()
        while not self.try_acquire():
            if timeout is not None and time.time() - t0 > timeout:
                return False
            time.sleep(poll)
        return True

    def release(self) -> None:
        with RunLock._guard:
            RunLock._held.discard(self.path)
        if self.holder() == self.me:
            self.path.unlink(missing_ok=True)

    @classmethod
    def _heartbeat(cls) -> None:
        while True:
            time.sleep(cls.HEARTBEAT_S)
            with cls._guard:
                held = list(cls._held)
            for p in held:
                try:
                    os.utime(p)
                except OSError:
                    pass


class RunLocked(RuntimeError):
    """A run another live process holds (its :class:`RunLock`) past the wait a caller allowed.

    Examples
    --------
    >>> issubclass(RunLocked, RuntimeError)
    True
    """


def wait_for_lock(lock: RunLock, name: str, wait_s: float | None, say) -> None:
    """Wait until this process holds ``lock``, saying once (``say``) what it waits for.

    A live sketchbound holder touches its lock every :attr:`RunLock.HEARTBEAT_S` seconds, so the wait goes
    on while it does (another trainer finishing the run). A lock left untouched for ``wait_s`` seconds
    while its PID lives is held by a process that is no sketchbound run (a reused PID) or a hung one:
    :class:`RunLocked`, naming the lock file, the holder and what to do.

    Parameters
    ----------
    lock : RunLock
        The run's lock.
    name : str
        The run's name (said in the message).
    wait_s : float or None
        The longest time without a touch of the lock file before :class:`RunLocked`; ``None``: wait for ever.
    say : callable or None
        Takes the one line said before waiting (``None``: silent).

    Returns
    -------
    None
        Once this process holds ``lock``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     lock = RunLock(d)
    ...     wait_for_lock(lock, "free-run", 1.0, None)  # nobody holds it: taken at once
    ...     lock.release()
    """
    holder = lock.holder() or "an unknown process"
    if say is not None:
        say(f"run {name} is locked by {holder} ({lock.path}); waiting while its holder lives"
            + (f" and touches the lock (at most {wait_s:g} s without a touch)" if wait_s is not None else ""))
    poll = 2.0 if wait_s is None else min(2.0, max(0.05, wait_s / 4))
    seen, since = None, time.time()
    while not lock.try_acquire():
        try:
            mtime = lock.path.stat().st_mtime
        except OSError:
            mtime = None
        if mtime != seen:
            seen, since = mtime, time.time()
        if wait_s is not None and time.time() - since > wait_s:
            holder = lock.holder() or holder
            pid = holder.split()[-1]
            raise RunLocked(f"run {name} is locked by {holder} (lock file {lock.path}), which has not touched the lock "
                            f"for {wait_s:g} s (a sketchbound run does every {RunLock.HEARTBEAT_S:g} s): remove "
                            f"{lock.path} if process {pid} is not a sketchbound run, else wait for it; --lock-wait "
                            f"SECONDS waits longer")
        time.sleep(poll)
