"""Warm notebook runs: one process imports the stack once, every step and kernel is forked from it.

Owns the fork server that ``make`` runs the notebook steps through, its small client (the
Makefile's ``RUN_NB``) and the kernel manager that asks it for kernels. Must not decide what
runs, in which order, nor what a step does: make and :mod:`analysis.running.pipeline` do,
exactly as without it; without a server every step runs as before.

Why: a notebook step used to spend about 3.5 CPU seconds before its first cell did any work
— Python starting twice (the papermill driver and the kernel), papermill, ipykernel, pandas,
geopandas, matplotlib, SciPy and the package imported twice — for 28 notebooks in a cold
``make report``. Under the pipeline lock (:func:`analysis.running.pipeline.locked`) a server
imports all of it once; then

- the Makefile's ``RUN_NB`` (``python -m analysis.running.forkserver run NAME CITY``) is a
  client that imports nothing heavy: it hands the server its standard output and error
  (``SCM_RIGHTS``) and its environment, and waits for the exit code;
- the server forks a *driver* for it, which runs :func:`analysis.running.pipeline.run_notebook`
  (papermill, the stamps, the withdrawal on failure: the very same code);
- papermill's kernel manager (:func:`kernel_manager_class`) asks the server for the kernel:
  the server forks it from the same warm state and sends back a ``pidfd``, which the kernel
  manager waits on, signals and kills like a child process.

Each fork starts from the server's state just after its imports, never from another
notebook's: no variable, figure or cached value passes between notebooks. The server only
forks; it never starts an event loop, a thread of its own or a ZeroMQ context, so a fork is
as safe as a fresh start. ``tests/test_forkserver.py`` checks that a step run through the
server writes byte-identical tables, figures and stamps to a plain papermill run.

The client falls back to a plain run (``python -m analysis.running.pipeline run``) when no
server is announced for this tree, or when the server is gone before it answered.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

from analysis.config import find_root

#: Where the server listens, announced to make's children by :func:`started`.
SERVER_ENV = "IMPPULSE_FORKSERVER"
#: The project root the server serves (a client of another tree must not use it).
ROOT_ENV = "IMPPULSE_FORKSERVER_ROOT"
#: Set to 0 to run every step as a plain papermill run (the server is not started).
ENABLE_ENV = "IMPPULSE_WARM"
#: The pid of the lock holder that announced the server: the server ends when it does.
OWNER_ENV = "IMPPULSE_FORKSERVER_OWNER"
#: When set, the server appends a line to this file when it starts ("start") and per fork
#: ("run NAME CITY" or "kernel").
LOG_ENV = "IMPPULSE_FORKSERVER_LOG"
#: What the server imports before it forks anything: the notebooks' imports (every
#: template's), papermill for the drivers, ipykernel for the kernels. matplotlib's inline
#: backend is *not* imported: it configures the IPython shell at import, which must happen
#: in each kernel (pyplot resolves its backend lazily, at the first figure).
PRELOAD = (
    "papermill", "nbclient", "nbformat", "jupyter_client.manager",
    "ipykernel.kernelapp", "ipykernel.ipkernel", "IPython", "IPython.display",
    "numpy", "pandas", "scipy.stats", "matplotlib", "matplotlib.pyplot", "geopandas",
    "analysis.running.pipeline", "analysis.running.steps", "analysis.running.nbtools",
    "analysis.sdc", "analysis.statistics.synthesis",
)
#: The kernel command the server can fork (the project kernel spec's); anything else starts
#: the usual way.
_LAUNCHER = ("-m", "ipykernel_launcher")
_MAX_MSG = 1 << 20


# ------------------------------------------------------------------ messages
def _send(sock: socket.socket, message: dict, fds: list[int] = ()) -> None:
    data = (json.dumps(message) + "\n").encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.sendall(data)


def _recv(sock: socket.socket, max_fds: int = 0) -> tuple[dict | None, list[int]]:
    """One JSON line (and up to ``max_fds`` descriptors sent with its first bytes); None at EOF."""
    buf, fds = b"", []
    while not buf.endswith(b"\n"):
        if max_fds and not fds:
            chunk, got, _flags, _addr = socket.recv_fds(sock, 65536, max_fds)
            fds.extend(got)
        else:
            chunk = sock.recv(65536)
        if not chunk:
            for fd in fds:
                os.close(fd)
            return None, []
        buf += chunk
        if len(buf) > _MAX_MSG:
            raise ValueError("fork server: message too long")
    return json.loads(buf), fds


# ------------------------------------------------------------------ the server
def _reset_child(fds: list[int], env: dict, cwd: str, listener: socket.socket) -> None:
    """In a freshly forked child: default signals, the client's environment, directory and streams."""
    listener.close()
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for target, fd in zip((1, 2), fds):
        os.dup2(fd, target)
        os.close(fd)


def _driver(conn: socket.socket, request: dict) -> int:
    """A forked driver: run the step exactly as ``pipeline run NAME CITY`` does."""
    # the pipeline module is imported by the server's preload; named here, not imported at
    # the top, because the pipeline module imports this one
    pipeline = importlib.import_module("analysis.running.pipeline")
    try:
        ok = pipeline.run_notebook(request["name"], request["city"])
        rc = 0 if ok else 1
    except BaseException:  # noqa: BLE001 - the client must get an exit code, whatever happened
        traceback.print_exc()
        rc = 1
    sys.stdout.flush()
    sys.stderr.flush()
    with contextlib.suppress(OSError):
        _send(conn, {"rc": rc})
    return rc


def _kernel(request: dict) -> None:
    """A forked kernel: ipykernel's launcher, with the argument list the kernel manager gave."""
    os.setsid()  # its own process group, signalled as a whole like a launched kernel
    # pandas chose its column limit when the server imported it, outside a kernel (0: "as
    # wide as the terminal"); a kernel importing pandas gets 20, and so must this one
    importlib.import_module("pandas").set_option("display.max_columns", 20)
    kernelapp = importlib.import_module("ipykernel.kernelapp")
    # the parent ipykernel watches: the server (a launched kernel reads JPY_PARENT_PID when
    # ipykernel is imported, which here was before the driver existed); the kernel ends if
    # the server ends, and is quiet about its connection file, as a managed kernel is
    argv = [*request["argv"], f"--IPKernelApp.parent_handle={os.getppid()}"]
    sys.argv = [sys.executable, *argv]
    kernelapp.launch_new_instance(argv=argv)


def _handle(conn: socket.socket, listener: socket.socket, children: dict[int, str]) -> None:
    """Read one request and fork for it (the server itself never waits on a step)."""
    conn.settimeout(30)
    request, fds = _recv(conn, max_fds=2)
    if request is None:
        return
    op = request.get("op")
    if op not in ("run", "kernel") or len(fds) != 2 or request.get("root") != os.environ.get(ROOT_ENV):
        for fd in fds:
            os.close(fd)
        _send(conn, {"error": "refused"})
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            _reset_child(fds, request["env"], request["cwd"], listener)
            if op == "run":
                _send(conn, {"pid": os.getpid()})
                code = _driver(conn, request)
            else:
                conn.close()
                _kernel(request)
                code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    for fd in fds:
        os.close(fd)
    children[pid] = op
    if os.environ.get(LOG_ENV):
        with open(os.environ[LOG_ENV], "a", encoding="utf-8") as log:
            log.write(f"run {request.get('name')} {request.get('city')}\n" if op == "run" else "kernel\n")
    if op == "kernel":
        # a pidfd, opened before the kernel can be reaped (children are reaped only below)
        pidfd = os.pidfd_open(pid)
        try:
            _send(conn, {"pid": pid}, [pidfd])
        finally:
            os.close(pidfd)


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs: the server is not our child, so once ended it stays a
    zombie until whoever adopted it reaps it; that counts as ended."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _reap(children: dict[int, str]) -> None:
    while children:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        children.pop(pid, None)


def serve(path: str) -> int:
    """Listen on ``path``, import the stack, then fork a driver or a kernel per request."""
    stop = {"now": False}

    def _stop(_sig, _frame):
        stop["now"] = True

    owner = int(os.environ.get(OWNER_ENV) or os.getppid())  # the lock holder: the server ends with it
    # OpenBLAS starts its thread pool when NumPy is imported, and Python 3.12+ warns at every
    # fork of a process with threads; OpenBLAS re-creates its pool in the child (pthread_atfork),
    # the same as under multiprocessing's fork
    warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks", category=DeprecationWarning)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)  # clients may connect now; they wait while the stack is imported
    # ipykernel sets this in each kernel too; set before matplotlib is imported, so that
    # pyplot's rcParams say "inline" in the kernels as in a fresh kernel
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    if os.environ.get(LOG_ENV):
        with open(os.environ[LOG_ENV], "a", encoding="utf-8") as log:
            log.write("start\n")
    for name in PRELOAD:
        importlib.import_module(name)
    # until now a stop signal ends the server at once (a run with nothing to do does not wait
    # for the imports); from now on it has children to end first
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    children: dict[int, str] = {}
    listener.settimeout(0.1)  # how soon a stop request is seen
    try:
        while not stop["now"] and _running(owner):
            _reap(children)
            try:
                conn, _ = listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except InterruptedError:
                continue
            try:
                with conn:
                    _handle(conn, listener, children)
            except (OSError, ValueError):
                traceback.print_exc()
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        # a kernel outlives its driver only when the driver was killed: end it with the run
        for pid, op in children.items():
            with contextlib.suppress(OSError):
                if op == "kernel":
                    os.killpg(pid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGTERM)
        _reap(children)
    return 0


@contextlib.contextmanager
def started(root: Path):
    """Announce a server for the project at ``root`` to child processes; stop it at the end.

    The server is started by the first step that asks for it (:func:`_connect`), so a run with
    nothing to do, or only the report to build, never pays for its imports. Yields the
    socket path (None when warm runs are switched off with ``IMPPULSE_WARM=0`` or the platform
    has no ``pidfd``). When the block ends the server is stopped, with any kernel a killed
    driver left behind.
    """
    if os.environ.get(ENABLE_ENV, "1") == "0" or not hasattr(os, "pidfd_open") \
            or not hasattr(socket, "send_fds"):
        yield None
        return
    tmp = tempfile.mkdtemp(prefix="imppulse-fork-")
    if len(tmp) > 80:  # a socket path has at most 107 bytes: a long TMPDIR cannot hold it
        os.rmdir(tmp)
        tmp = tempfile.mkdtemp(prefix="imppulse-fork-", dir="/tmp")
    path = os.path.join(tmp, "server.sock")
    announced = {SERVER_ENV: path, ROOT_ENV: str(Path(root).resolve()), OWNER_ENV: str(os.getpid())}
    saved = {k: os.environ.get(k) for k in announced}
    os.environ.update(announced)
    try:
        yield path
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _stop_server(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def _stop_server(folder: str) -> None:
    """End the server whose pid file is in ``folder`` (if one was started), waiting for it."""
    try:
        pid = int(Path(folder, "server.pid").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not _running(pid):
            return
        time.sleep(0.02)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def _server_may_come(path: str) -> bool:
    """False once the started server has ended without listening (its imports failed, say):
    the steps then run without it at once, instead of waiting for it."""
    try:
        pid = int(Path(os.path.dirname(path), "server.pid").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True  # not started (yet)
    return _running(pid)


def _start_server(path: str) -> None:
    """Start the announced server unless another step already did (under a lock file)."""
    import fcntl

    folder = os.path.dirname(path)
    with open(os.path.join(folder, "start.lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(folder, "server.pid")):
            return
        proc = subprocess.Popen([sys.executable, "-m", "analysis.running.forkserver", "serve", path],
                                stdin=subprocess.DEVNULL, start_new_session=True)
        Path(folder, "server.pid").write_text(str(proc.pid), encoding="utf-8")


# ------------------------------------------------------------------ clients
def _connect(timeout: float = 120.0, *, start: bool = True) -> socket.socket | None:
    """A connection to this tree's server (started if need be), or None: no server announced,
    another tree's, or it could not be reached."""
    path = os.environ.get(SERVER_ENV)
    if not path or os.environ.get(ROOT_ENV) != _root() or not os.path.isdir(os.path.dirname(path)):
        return None
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if start:
                _start_server(path)
                start = False
            if time.monotonic() > deadline or not _server_may_come(path):
                return None
            time.sleep(0.02)  # the server has not bound its socket yet
        except OSError:
            sock.close()
            return None


def _root() -> str:
    """The project root, as the pipeline finds it (:func:`analysis.config.find_root`)."""
    return str(find_root())


def _request(sock: socket.socket, message: dict) -> dict | None:
    message = {**message, "root": os.environ.get(ROOT_ENV), "env": dict(os.environ), "cwd": os.getcwd()}
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        _send(sock, message, [1, 2])
        reply, _ = _recv(sock)
    except (OSError, ValueError):
        return None
    if reply is None or "error" in reply:
        return None
    return reply


def run_client(name: str, city: str) -> int:
    """``run NAME CITY``: the step through the server, or a plain run when there is none."""
    sock = _connect()
    if sock is not None:
        with sock:
            started_reply = _request(sock, {"op": "run", "name": name, "city": city})
            if started_reply is not None:
                driver = started_reply["pid"]

                def _forward(sig, _frame):
                    with contextlib.suppress(OSError):
                        os.kill(driver, sig)

                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    signal.signal(sig, _forward)
                try:
                    done, _ = _recv(sock)
                except (OSError, ValueError):
                    done = None
                if done is not None and "rc" in done:
                    return int(done["rc"])
                print(f"[warn] {name} {city}: the fork server stopped before the step ended; "
                      "running it again without it", file=sys.stderr, flush=True)
    args = [sys.executable, "-m", "analysis.running.pipeline", "run", name, city]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, args)
    return 1  # not reached


class _PidfdProcess:
    """The part of ``subprocess.Popen`` jupyter_client's local provisioner uses, over a pidfd.

    The kernel is the server's child, not ours: its exit is seen on the pidfd (readable once
    it has exited); its exit status belongs to the server, so an ended kernel reports 0.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int, pidfd: int):
        self.pid, self._fd, self.returncode = pid, pidfd, None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._fd], [], [], 0)[0]:
            self.returncode = 0
            os.close(self._fd)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self._fd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            self.poll()
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            signal.pidfd_send_signal(self._fd, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def _fork_kernel(kernel_cmd: list[str], env: dict | None, cwd) -> tuple[int, int] | None:
    """Ask the server for a kernel; (pid, pidfd), or None to start it the usual way."""
    cmd = list(kernel_cmd)
    # interpreter options (ipykernel's spec adds -Xfrozen_modules=off for its debugger) were
    # set once for the server; what follows ``-m ipykernel_launcher`` is the kernel's
    while len(cmd) > 1 and cmd[1].startswith("-X"):
        del cmd[1]
    if len(cmd) < 3 or tuple(cmd[1:3]) != _LAUNCHER \
            or os.path.realpath(cmd[0]) != os.path.realpath(sys.executable):
        return None
    sock = _connect(timeout=0, start=False)
    if sock is None:
        return None
    with sock:
        message = {"op": "kernel", "argv": cmd[3:], "root": os.environ.get(ROOT_ENV),
                   "env": dict(env if env is not None else os.environ), "cwd": str(cwd or os.getcwd())}
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            _send(sock, message, [1, 2])
            reply, fds = _recv(sock, max_fds=1)
        except (OSError, ValueError):
            return None
    if reply is None or "pid" not in reply or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        return None
    return int(reply["pid"]), fds[0]


def kernel_manager_class():
    """jupyter_client's ``AsyncKernelManager``, launching its kernel through the server when
    there is one for this tree (the usual launch otherwise); for papermill's
    ``kernel_manager_class``."""
    from jupyter_client.manager import AsyncKernelManager

    class WarmKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            # jupyter_client's documented place to launch the kernel process differently
            forked = _fork_kernel(kernel_cmd, kw.get("env"), kw.get("cwd"))
            if forked is None:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            pid, pidfd = forked
            provisioner = self.provisioner
            provisioner.process = _PidfdProcess(pid, pidfd)
            provisioner.pid = provisioner.pgid = pid
            provisioner.cwd = kw.get("cwd")
            self._reconcile_connection_info(provisioner.connection_info)

    return WarmKernelManager


def active() -> bool:
    """Whether a server for this tree is announced (steps then take their kernels from it)."""
    return bool(os.environ.get(SERVER_ENV)) and os.environ.get(ROOT_ENV) == _root()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "serve":
        return serve(argv[1])
    if len(argv) == 3 and argv[0] == "run":
        return run_client(argv[1], argv[2])
    print("usage: python -m analysis.running.forkserver run NAME CITY | serve SOCKET", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
