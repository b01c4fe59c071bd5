#!/usr/bin/env python3
"""A stateful Python interpreter served over HTTP: the workload of Volant's
`python` runtime plugin.

One interpreter (a worker process) keeps its variables, imports and files
between calls. The server in front of it runs code with a timeout, streams
output, interrupts, restarts and installs packages. It uses only the
standard library; numpy, pandas and matplotlib are imported ahead of time
when the image has them, so a template snapshot holds them loaded.

Routes (JSON in and out; the OpenAPI document at /openapi.json says the same):
  GET  /healthz      200 once the interpreter is ready
  POST /run_code     {"code": "...", "timeout_s": 30}
  POST /interrupt    stop the code that runs now
  POST /restart      a fresh interpreter (all state is lost)
  POST /install      {"packages": ["requests"]}: pip install
"""

import ast
import base64
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_CODE = 1 << 20          # bytes of code one call may send
MAX_OUTPUT = 1 << 20        # bytes of stdout (and of stderr) kept per call
DEFAULT_TIMEOUT = 30
MAX_TIMEOUT = 3600
GRACE = 5.0                 # seconds an interrupted run has to stop
PRELOAD = ("numpy", "pandas", "matplotlib", "matplotlib.pyplot")


# ---------------------------------------------------------------- worker --

def worker_main(proto_fd):
    """Runs in the worker process: reads requests on stdin, answers on
    proto_fd. stdout and stderr are the worker's own (the server reads them)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    proto = os.fdopen(proto_fd, "w", buffering=1)
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    loaded = []
    for mod in PRELOAD:
        try:
            __import__(mod)
            loaded.append(mod)
        except Exception:  # the image may not have it
            pass
    # Interrupts come as SIGINT; only code that runs should see them.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    proto.write(json.dumps({"type": "ready", "preloaded": loaded}) + "\n")
    for line in sys.stdin:
        try:
            req = json.loads(line)
        except ValueError:
            continue
        ans = run(req.get("code", ""), ns)
        ans["id"] = req.get("id")
        sys.stdout.flush()
        sys.stderr.flush()
        marker = "\x00volant-end-%s\x00\n" % req.get("id")
        os.write(1, marker.encode())
        os.write(2, marker.encode())
        proto.write(json.dumps(ans) + "\n")


def run(code, ns):
    """Executes code in ns; the value of a last expression is the result."""
    ans = {"type": "result", "result": None, "error": None, "interrupted": False, "images": []}
    try:
        tree = ast.parse(code, "<code>", "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<code>", "exec"), ns)
        if last is not None:
            value = eval(compile(last, "<code>", "eval"), ns)
            if value is not None:
                ns["_"] = value
                ans["result"] = safe_repr(value)
                img = png_of(value)
                if img:
                    ans["images"].append(img)
    except KeyboardInterrupt:
        ans["interrupted"] = True
        ans["error"] = error_of(*sys.exc_info())
    except BaseException:  # SystemExit too: the interpreter stays
        ans["error"] = error_of(*sys.exc_info())
    ans["images"].extend(figures())
    return ans


def safe_repr(value):
    try:
        r = repr(value)
    except Exception as e:  # a broken __repr__
        r = "<repr failed: %s>" % e
    return r[:MAX_OUTPUT]


def error_of(etype, evalue, tb):
    frames = traceback.extract_tb(tb)
    # Drop the interpreter's own frames: the traceback starts in the code.
    frames = [f for f in frames if f.filename != __file__]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(etype, evalue)
    return {"ename": etype.__name__, "evalue": str(evalue), "traceback": "".join(lines)}


def png_of(value):
    """A rich value (an object with _repr_png_) becomes an image."""
    fn = getattr(value, "_repr_png_", None)
    if not callable(fn):
        return None
    try:
        data = fn()
    except Exception:
        return None
    if isinstance(data, (bytes, bytearray)):
        return {"mime_type": "image/png", "data": base64.b64encode(data).decode()}
    return None


def figures():
    """Every open matplotlib figure, as PNG; then they are closed."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    out = []
    try:
        for num in plt.get_fignums():
            buf = io.BytesIO()
            plt.figure(num).savefig(buf, format="png")
            out.append({"mime_type": "image/png", "data": base64.b64encode(buf.getvalue()).decode()})
        plt.close("all")
    except Exception as e:
        sys.stderr.write("capturing figures failed: %s\n" % e)
    return out


# ---------------------------------------------------------------- server --

class Capped:
    """Output of one call, kept up to MAX_OUTPUT bytes."""

    def __init__(self):
        self.parts, self.size, self.truncated = [], 0, False

    def add(self, text):
        room = MAX_OUTPUT - self.size
        if room <= 0:
            self.truncated = True
            return
        if len(text) > room:
            text, self.truncated = text[:room], True
        self.parts.append(text)
        self.size += len(text)

    def text(self):
        return "".join(self.parts)


class Worker:
    """The interpreter process and the pipes to it."""

    def __init__(self):
        r, w = os.pipe()
        env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND=os.environ.get("MPLBACKEND", "Agg"))
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", str(w)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(w,), env=env, start_new_session=True)
        os.close(w)
        self.proto = os.fdopen(r, "r")
        self.listener = None   # called with ("stdout"|"stderr", text)
        self.ended = {}        # stream -> set of ids whose end marker came
        self.cond = threading.Condition()
        for name, pipe in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)):
            self.ended[name] = set()
            threading.Thread(target=self._pump, args=(name, pipe), daemon=True).start()
        hello = self.proto.readline()
        if not hello:
            raise RuntimeError("the interpreter exited while starting: " + self._stderr_tail())
        self.preloaded = json.loads(hello).get("preloaded", [])

    def _stderr_tail(self):
        try:
            return self.proc.stderr.read(4096).decode(errors="replace")
        except Exception:
            return ""

    def _pump(self, name, pipe):
        buf = b""
        while True:
            chunk = pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(65536)
            if not chunk:
                break
            buf += chunk
            while True:
                i = buf.find(b"\x00volant-end-")
                if i < 0:
                    # Keep a possible marker's start for the next chunk.
                    keep = len(buf) - buf.rfind(b"\x00") if b"\x00" in buf[-64:] else 0
                    emit, buf = (buf[:len(buf) - keep], buf[len(buf) - keep:]) if keep else (buf, b"")
                    self._emit(name, emit)
                    break
                j = buf.find(b"\x00\n", i + 1)
                if j < 0:
                    self._emit(name, buf[:i])
                    buf = buf[i:]
                    break
                self._emit(name, buf[:i])
                mid = buf[i + len(b"\x00volant-end-"):j].decode(errors="replace")
                buf = buf[j + 2:]
                with self.cond:
                    self.ended[name].add(mid)
                    self.cond.notify_all()
        self._emit(name, buf)
        with self.cond:
            self.ended[name].add("*eof*")
            self.cond.notify_all()

    def _emit(self, name, data):
        if data and self.listener:
            self.listener(name, data.decode(errors="replace"))

    def alive(self):
        return self.proc.poll() is None

    def interrupt(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGINT)

    def kill(self):
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def wait_ends(self, rid, deadline):
        with self.cond:
            while not all(rid in s or "*eof*" in s for s in self.ended.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.cond.wait(left)


class Kernel:
    """Serialises calls to the worker and restarts it when needed."""

    def __init__(self):
        self.lock = threading.Lock()   # one run at a time
        self.state = threading.Lock()  # guards worker and busy
        self.worker = Worker()
        self.busy = False
        self.seq = 0

    def run_code(self, code, timeout, on_output=None):
        if not self.lock.acquire(timeout=1):
            raise Busy()
        try:
            with self.state:
                if not self.worker.alive():
                    self.worker = Worker()
                w = self.worker
                self.busy = True
                self.seq += 1
                rid = str(self.seq)
            out, err = Capped(), Capped()

            def listener(stream, text):
                (out if stream == "stdout" else err).add(text)
                if on_output:
                    on_output(stream, text)
            w.listener = listener
            started = time.monotonic()
            w.proc.stdin.write((json.dumps({"id": rid, "code": code}) + "\n").encode())
            w.proc.stdin.flush()
            ans, timed_out, restarted = self._await(w, rid, timeout)
            w.wait_ends(rid, time.monotonic() + 2)
            w.listener = None
            if ans is None:
                ans = {"result": None, "images": [], "interrupted": True,
                       "error": {"ename": "KernelRestarted", "evalue": "the interpreter did not stop when interrupted and was restarted; its variables are lost",
                                 "traceback": ""}}
            ans.pop("type", None)
            ans.pop("id", None)
            ans.update(stdout=out.text(), stderr=err.text(), stdout_truncated=out.truncated,
                       stderr_truncated=err.truncated, timed_out=timed_out, restarted=restarted,
                       duration_ms=int((time.monotonic() - started) * 1000))
            return ans
        finally:
            with self.state:
                self.busy = False
            self.lock.release()

    def _await(self, w, rid, timeout):
        """Waits for the answer; interrupts at the timeout and restarts the
        worker if it does not stop within GRACE."""
        result = {}
        done = threading.Event()

        def read():
            line = w.proto.readline()
            if line:
                result["ans"] = json.loads(line)
            done.set()
        threading.Thread(target=read, daemon=True).start()
        if done.wait(timeout):
            return result.get("ans"), False, False
        w.interrupt()
        if done.wait(GRACE):
            return result.get("ans"), True, False
        w.kill()
        with self.state:
            self.worker = Worker()
        return None, True, True

    def interrupt(self):
        with self.state:
            busy, w = self.busy, self.worker
        if busy:
            w.interrupt()
        return busy

    def restart(self):
        with self.state:
            old = self.worker
        old.kill()
        # A run in flight sees its worker die and answers; then we replace it.
        with self.lock:
            with self.state:
                if self.worker is old:
                    self.worker = Worker()
                return self.worker.preloaded


class Busy(Exception):
    pass


def pip_install(packages, index_url=None, timeout=600):
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
           "--break-system-packages", "--timeout", "15", "--retries", "1"]
    if index_url:
        cmd += ["--index-url", index_url]
    cmd += ["--"] + list(packages)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return 503, {"detail": "pip is not installed in this image"}
    except subprocess.TimeoutExpired:
        return 504, {"detail": "pip did not finish in %d s" % timeout}
    if p.returncode == 0:
        return 200, {"installed": list(packages), "output": p.stdout[-MAX_OUTPUT:]}
    text = p.stdout + p.stderr
    unreachable = ("Failed to establish a new connection", "Temporary failure in name resolution",
                   "Name or service not known", "Network is unreachable", "No matching distribution found",
                   "Could not find a version")
    if any(s in text for s in unreachable[:4]):
        return 503, {"detail": "no package index is reachable from this sandbox (pip could not connect); "
                               "give the sandbox a network that reaches your index (and allow it in its egress policy) "
                               "or pass index_url", "output": text[-8192:]}
    return 422, {"detail": "pip install failed (exit %d)" % p.returncode, "output": text[-8192:]}


OPENAPI_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openapi.json")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    kernel = None

    def log_message(self, fmt, *args):
        sys.stderr.write("kernel: " + (fmt % args) + "\n")

    def reply(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def problem(self, status, detail):
        self.reply(status, {"title": "error", "status": status, "detail": detail}, "application/problem+json")

    def body(self, limit=MAX_CODE + 4096):
        n = int(self.headers.get("Content-Length") or 0)
        if n > limit:
            raise ValueError("the request body is larger than %d bytes" % limit)
        raw = self.rfile.read(n) if n else b"{}"
        try:
            doc = json.loads(raw or b"{}")
        except ValueError as e:
            raise ValueError("the body is not JSON: %s" % e)
        if not isinstance(doc, dict):
            raise ValueError("the body must be a JSON object")
        return doc

    def do_GET(self):
        if self.path == "/healthz":
            # KERNEL_REQUIRE names modules the interpreter must have
            # imported before it counts as ready (the plugin's template is
            # taken then, with them loaded).
            loaded = self.kernel.worker.preloaded
            missing = [m for m in os.environ.get("KERNEL_REQUIRE", "").split(",") if m and m not in loaded]
            if missing:
                return self.problem(503, "the interpreter could not import %s" % ", ".join(missing))
            self.reply(200, {"ok": True, "preloaded": loaded})
        elif self.path == "/openapi.json":
            with open(OPENAPI_PATH, "rb") as f:
                self.reply(200, f.read())
        else:
            self.problem(404, "no route %s; see /openapi.json" % self.path)

    def do_POST(self):
        try:
            req = self.body()
        except ValueError as e:
            return self.problem(400, str(e))
        route = self.path.split("?", 1)[0]
        if route == "/run_code":
            return self.run_code(req)
        if route == "/interrupt":
            return self.reply(200, {"interrupted": self.kernel.interrupt()})
        if route == "/restart":
            return self.reply(200, {"restarted": True, "preloaded": self.kernel.restart()})
        if route == "/install":
            pkgs = req.get("packages")
            if not isinstance(pkgs, list) or not pkgs or not all(isinstance(p, str) and p and not p.startswith("-") for p in pkgs):
                return self.problem(400, "packages: give a list of package names, such as [\"requests\"]")
            idx = req.get("index_url")
            status, ans = pip_install(pkgs, idx if isinstance(idx, str) and idx else None)
            return self.reply(status, ans) if status == 200 else self.problem(status, ans["detail"])
        self.problem(404, "no route %s; see /openapi.json" % self.path)

    def run_code(self, req):
        code = req.get("code")
        if not isinstance(code, str):
            return self.problem(400, "code: give the Python code to run as a string")
        timeout = req.get("timeout_s", DEFAULT_TIMEOUT)
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= MAX_TIMEOUT:
            return self.problem(400, "timeout_s: give a number of seconds between 1 and %d" % MAX_TIMEOUT)
        stream = "application/x-ndjson" in (self.headers.get("Accept") or "")
        if not stream:
            try:
                return self.reply(200, self.kernel.run_code(code, timeout))
            except Busy:
                return self.problem(409, "the interpreter is running other code; wait for it or call interrupt")
        # Streaming: one JSON line per output chunk, then the answer.
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        wlock = threading.Lock()

        def send(doc):
            data = (json.dumps(doc) + "\n").encode()
            with wlock:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
        try:
            # Volant's stream format: progress lines, then the result line.
            ans = self.kernel.run_code(code, timeout, lambda s, t: send({"type": "progress", "stream": s, "message": t}))
            ans["type"] = "result"
        except Busy:
            ans = {"type": "error", "status": 409, "detail": "the interpreter is running other code; wait for it or call interrupt"}
        send(ans)
        with wlock:
            self.wfile.write(b"0\r\n\r\n")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        return worker_main(int(sys.argv[2]))
    addr = os.environ.get("KERNEL_ADDR", "127.0.0.1")
    port = int(os.environ.get("KERNEL_PORT", "8888"))
    Handler.kernel = Kernel()
    srv = ThreadingHTTPServer((addr, port), Handler)
    srv.daemon_threads = True
    sys.stderr.write("kernel: serving on %s:%d (preloaded: %s)\n" % (addr, port, ", ".join(Handler.kernel.worker.preloaded) or "nothing"))
    srv.serve_forever()


if __name__ == "__main__":
    main()
