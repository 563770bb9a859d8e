"""Notebook kernels for the book's build that start with torch, numpy and matplotlib already imported.

Every page of the book runs in a fresh kernel, and before its first cell does anything a kernel
spends about 2 s starting and importing torch, numpy and matplotlib: 10 pages, 20 s of the 60 s of
CPU that a clean build of both editions takes. Here one process (the *server*) imports them once,
and each kernel is a ``fork`` of it: a new process whose memory is a copy of the server's, so
the kernel starts with those modules loaded and nothing else done. No cell has run in the server
and no thread has started there (``serve`` checks), so a page's outputs are those of a kernel
started from scratch (tests/test_build_tooling.py runs a page both ways and compares every output).

How a kernel is started:

* ``tools/build_book.py`` runs the server next to the editions' builds (``server`` below), with
  the environment the kernels get, and gives the builds a kernelspec named ``python3`` (the name
  the pages ask for) whose command is ``launch``;
* ``python tools/warm_kernels.py launch SOCKET SERVER_PID CONNECTION_FILE [OPTION ...]`` is the
  process that Jupyter starts and watches as the kernel: it asks the server for a kernel,
  forwards SIGINT and SIGTERM to it, and exits with the kernel's exit status;
* the server forks; the child takes the launcher's working directory and environment, starts a
  session of its own and runs ipykernel on the connection file, as ``python -m
  ipykernel_launcher -f CONNECTION_FILE [OPTION ...]`` would;
* a kernel whose launcher is gone (killed by Jupyter) is killed by the server, and the server,
  when the build ends, kills the kernels still running.

Off Linux the build uses ordinary kernels; where the server has died, ``launch`` becomes one
(``exec`` of ``python -m ipykernel_launcher``), only slower.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# What the server imports before it forks; each is imported again by the pages' first cells.
PRELOAD = ("numpy", "torch", "matplotlib.pyplot", "IPython.display", "klcourse", "ipykernel.kernelapp")
# ipykernel sets this backend before a kernel's first cell; matplotlib reads it when imported, so
# the server, which imports matplotlib before any kernel exists, sets it first.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
# How long ``launch`` waits for the server's socket (the server needs about 2 s to import PRELOAD).
CONNECT_WAIT = 60.0


def serve(path: str) -> None:
    """Import PRELOAD, then fork one kernel per launcher that connects to the Unix socket ``path``."""
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    # ipykernel reads this when imported, and a kernel whose parent is not that process exits at
    # once: a forked kernel's parent is the server (which watches the launcher in its place)
    os.environ.pop("JPY_PARENT_PID", None)
    for name in PRELOAD:
        __import__(name)
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:  # a fork copies only the thread that calls it: a lock held by another stays held
        raise SystemExit(f"warm_kernels: the server has {threads} threads after its imports; it must have one to fork")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".new")
    os.rename(path + ".new", path)  # the socket appears only once it is ready
    listener.listen(16)
    kernels: dict[socket.socket, int] = {}  # a launcher's connection -> its kernel's pid
    chooser = selectors.DefaultSelector()
    chooser.register(listener, selectors.EVENT_READ)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            for key, _ in chooser.select(timeout=0.05):
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    request = _read_line(conn)
                    if not request:  # a launcher that left before asking
                        conn.close()
                        continue
                    request = json.loads(request)
                    pid = os.fork()
                    if pid == 0:
                        chooser.close()
                        listener.close()
                        for other in kernels:
                            other.close()
                        conn.close()
                        _run_kernel(request)  # never returns
                    kernels[conn] = pid
                    chooser.register(conn, selectors.EVENT_READ)
                    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                else:  # a launcher forwards a signal, or is gone
                    conn, lines = key.fileobj, _read_line(key.fileobj)
                    if lines:
                        for line in lines.splitlines():
                            _signal(kernels[conn], json.loads(line)["signal"])
                    else:
                        _signal(kernels[conn], signal.SIGKILL)
                        chooser.unregister(conn)
            for conn, pid in list(kernels.items()):  # kernels that have exited
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    try:
                        conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
                    except OSError:
                        pass
                    if conn in chooser.get_map():
                        chooser.unregister(conn)
                    conn.close()
                    del kernels[conn]
    finally:
        for pid in kernels.values():
            _signal(pid, signal.SIGKILL)
        os.unlink(path)


def _read_line(conn: socket.socket) -> str:
    """The next newline-ended message from ``conn`` (or several, one per line), or "" where the other end has closed it."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            return ""
        data += chunk
    return data.decode()


def _signal(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


def _run_kernel(request: dict) -> None:
    """In the forked child: become the launcher's kernel (its directory, environment and connection file)."""
    code = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # a session of its own, as Jupyter starts kernels: ipykernel signals its whole process group
        # when it shuts down, which must not reach the server or the build
        os.setsid()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.pop("JPY_PARENT_PID", None)  # see serve
        # as `python -m ipykernel_launcher`: no script folder on the path (the kernel adds its own)
        if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
            del sys.path[0]
        sys.argv = ["ipykernel_launcher", "-f", request["connection_file"], *request["arguments"]]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 0 if done.code is None else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def launch(path: str, server_pid: int, connection_file: str, arguments: list[str]) -> None:
    """The kernel process that Jupyter sees: a kernel forked by the server (process ``server_pid``), or an ordinary one.

    ``arguments`` are the kernel's further options (nbclient adds ``--HistoryManager.hist_file=:memory:``).
    """
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deadline = time.monotonic() + CONNECT_WAIT
    while True:
        try:
            conn.connect(path)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline or not _alive(server_pid):  # no server: an ordinary kernel
                os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file, *arguments])
            time.sleep(0.05)
    request = {"cwd": os.getcwd(), "env": dict(os.environ), "connection_file": os.path.abspath(connection_file),
               "arguments": arguments}
    conn.sendall(json.dumps(request).encode() + b"\n")
    pid = json.loads(_read_line(conn))["pid"]

    def forward(number, _frame):
        conn.sendall(json.dumps({"signal": number}).encode() + b"\n")

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    line = _read_line(conn)  # the kernel's exit status, once it exits
    sys.exit(json.loads(line)["exit"] if line else 1)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a server that has exited is a zombie until the build reaps it: not alive)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def server(env: dict[str, str], log: Path):
    """Run a server for the duration of the block; yield the environment variables under which
    Jupyter's ``python3`` kernel is one of its kernels ({} off Linux: ordinary kernels).

    ``env`` is the environment of the server and so of every kernel (each kernel then takes the
    variables of the process that starts it); the server's messages and those of its kernels go
    to the file ``log``.
    """
    if not sys.platform.startswith("linux"):  # fork is Linux's (macOS forks badly once libraries start threads)
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="klcourse-kernels-") as folder:
        path = os.path.join(folder, "server.sock")
        with open(log, "w", encoding="utf-8") as out:
            proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "serve", path], env=env,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        spec = Path(folder) / "kernels" / "python3"
        spec.mkdir(parents=True)
        argv = [sys.executable, str(Path(__file__).resolve()), "launch", path, str(proc.pid), "{connection_file}"]
        spec.joinpath("kernel.json").write_text(json.dumps(
            {"argv": argv, "display_name": "Python 3 (ipykernel)", "language": "python"}, indent=1), encoding="utf-8")
        try:
            yield {"JUPYTER_PATH": os.pathsep.join(p for p in (folder, env.get("JUPYTER_PATH")) if p)}
        finally:
            proc.terminate()  # the server kills the kernels still running
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"] and len(sys.argv) == 3:
        serve(sys.argv[2])
    elif sys.argv[1:2] == ["launch"] and len(sys.argv) >= 5:
        launch(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:])
    else:
        raise SystemExit("usage: warm_kernels.py serve SOCKET | launch SOCKET SERVER_PID CONNECTION_FILE [KERNEL OPTION ...]; "
                         f"got {sys.argv[1:]}")
