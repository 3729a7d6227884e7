"""The trusted side of a sandboxed run: it executes inside the sandbox, before and around the candidate code.

Stdlib only; its source is passed to the sandbox interpreter with `-c JOB_FD RESULT_FD MODE`. It reads its job
(JSON) from the job pipe, closes it, lowers its own resource limits (hard limits too, so the candidate cannot
raise them), then runs the candidate in one of three modes and reports on the result pipe:

- `program`: run the code as `__main__` with the test input on stdin; the caller compares stdout.
- `call`: call `fn_name` on each argument list and report each return value as JSON; the caller compares
  them with expected outputs that never enter the sandbox. A value that is not plain data (None, bool, int,
  float, str, and lists, tuples and str-keyed dicts of them, by exact type) is reported as an error.
- `check`: asserts that hold their expected values (HumanEval's `check(candidate)`, MBPP's assert lists).
  The candidate runs in a second process, forked before the job is read, which then receives only the code;
  the tests run here, in a process the candidate cannot read (not dumpable) and whose memory it never shared,
  so no frame, bytecode or `gc` walk can find the expected values. Every name a test uses that the trusted
  prompt and setup code do not define is a proxy: calling it sends the arguments over a pipe and brings back
  the return value as plain data, rebuilt here, so a custom `__eq__` never reaches an assert. A value that is
  not plain data comes back as an opaque handle that may be passed back to the candidate or called, but any
  comparison, truth test or hash of it raises, so the test fails. Only when every test ran to its end does
  it write the job's random nonce, so an early exit or a swallowed assertion cannot produce a pass.
"""

import builtins
import ctypes
import json
import os
import resource
import sys

PR_SET_DUMPABLE = 4
PLAIN_SCALARS = (type(None), bool, int, float, str)
PLAIN_TAGS = ("tuple", "list", "set", "frozenset", "dict", "bytes")


def _set_limits(limits):
    """Lower soft and hard limits alike; an unprivileged process can never raise a hard limit again."""
    for name, value in limits.items():
        kind = getattr(resource, name)
        soft = hard = value
        if name == "RLIMIT_CPU":  # SIGXCPU at the soft limit, SIGKILL one second later
            hard = value + 1
        resource.setrlimit(kind, (soft, hard))


def _is_json_plain(value, depth=0):
    """True for JSON-able builtins by exact type (subclasses, which can override `==`, are not plain)."""
    kind = type(value)
    if kind in PLAIN_SCALARS:
        return True
    if depth > 100:
        return False
    if kind in (list, tuple):
        return all(_is_json_plain(item, depth + 1) for item in value)
    if kind is dict:
        return all(type(key) is str and _is_json_plain(item, depth + 1) for key, item in value.items())
    return False


# -- the wire between the test side and the candidate side: tagged JSON of plain data -----------------------
class _NotPlain(TypeError):
    """A value that cannot cross as plain data."""


def _encode(value, depth=0, other=None):
    """Plain data (exact builtin types, containers rebuilt) as tagged JSON-able values; anything else goes to
    `other` (which returns a reference tag) or raises `_NotPlain`."""
    kind = type(value)
    if kind in PLAIN_SCALARS:
        return value
    if depth > 100:
        raise _NotPlain("nested too deep")
    if kind in (list, tuple, set, frozenset):
        return {kind.__name__: [_encode(item, depth + 1, other) for item in value]}
    if kind is dict:
        return {
            "dict": [
                [_encode(key, depth + 1, other), _encode(item, depth + 1, other)]
                for key, item in value.items()
            ]
        }
    if kind is bytes:
        return {"bytes": value.hex()}
    if other is not None:
        return other(value)
    raise _NotPlain(kind.__name__)


def _decode(value, depth=0, ref=None):
    """Rebuild plain data from the wire; a {"handle": n} or {"name": s} tag becomes `ref(tag, body)`; anything
    else is a TypeError."""
    kind = type(value)
    if kind in PLAIN_SCALARS:
        return value
    if depth > 100 or kind is not dict or len(value) != 1:
        raise TypeError("not plain data")
    ((tag, body),) = value.items()
    if ref is not None and (tag == "handle" and type(body) is int or tag == "name" and type(body) is str):
        return ref(tag, body)
    if tag == "bytes" and type(body) is str:
        return bytes.fromhex(body)
    if type(body) is not list or tag not in PLAIN_TAGS:
        raise TypeError("not plain data")
    if tag == "dict":
        return {_decode(k, depth + 1, ref): _decode(v, depth + 1, ref) for k, v in (_pair(p) for p in body)}
    items = [_decode(item, depth + 1, ref) for item in body]
    return {"tuple": tuple, "list": list, "set": set, "frozenset": frozenset}[tag](items)


def _pair(pair):
    if type(pair) is not list or len(pair) != 2:
        raise TypeError("not plain data")
    return pair


# -- modes ------------------------------------------------------------------------------------------------
def _report(write, line):
    write(RESULT_FD, (line + "\n").encode())


def _run_program(job, write):
    namespace = {"__name__": "__main__"}
    try:
        exec(compile(job["code"], "solution.py", "exec"), namespace)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise
    sys.stdout.flush()
    _report(write, "done")


def _run_call(job, write):
    namespace = {"__name__": "solution"}
    exec(compile(job["code"], "solution.py", "exec"), namespace)
    fn_name = job["fn_name"]
    fn = namespace.get(fn_name)
    if fn is None and "Solution" in namespace:  # LeetCode-style `class Solution` with the method
        fn = getattr(namespace["Solution"](), fn_name)
    dumps, is_plain = json.dumps, _is_json_plain  # bound before the candidate's first call can patch them
    for index, args in enumerate(job["inputs"]):
        try:
            value = fn(*args)
            out = dumps(value) if is_plain(value) else dumps({"__error__": "not plain data"})
        except BaseException as exc:  # one failing case must not hide the others
            out = dumps({"__error__": type(exc).__name__})
        _report(write, dumps({"case": index, "out": out}))


class _CandidateGone(Exception):
    """The candidate process died or answered something that is not the protocol."""


class _Link:
    """The test side's end of the pipe pair to the candidate process."""

    def __init__(self, to_candidate, from_candidate):
        self.out = os.fdopen(to_candidate, "w", encoding="utf-8")
        self.inp = os.fdopen(from_candidate, "r", encoding="utf-8")

    def ask(self, request):
        try:
            self.out.write(json.dumps(request) + "\n")
            self.out.flush()
            line = self.inp.readline()
            answer = json.loads(line)
        except (OSError, ValueError, RecursionError) as exc:
            raise _CandidateGone(str(exc)) from None
        if type(answer) is not dict:
            raise _CandidateGone("bad answer")
        if "error" in answer:
            name = answer["error"]
            error = getattr(builtins, name, None) if type(name) is str else None
            if isinstance(error, type) and issubclass(error, Exception):
                raise error("raised by the candidate")
            raise RuntimeError(f"the candidate raised {name!r}")
        try:
            return _decode(answer.get("ok"), ref=lambda tag, body: _Remote(self, {tag: body}))
        except RecursionError:
            raise TypeError("not plain data") from None


def _not_plain(*args, **kwargs):
    raise TypeError("the candidate returned something that is not plain data")


class _Remote:
    """A name or object that lives in the candidate process: it can be called or have attributes read;
    comparing, hashing or testing it raises, so only plain return values ever meet an assert."""

    __slots__ = ("_link", "_ref")
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __len__ = __iter__ = _not_plain
    __contains__ = __index__ = __int__ = __float__ = __hash__ = _not_plain

    def __init__(self, link, ref):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_ref", ref)

    def __call__(self, *args, **kwargs):
        wire_args = [_to_wire(arg) for arg in args]
        wire_kwargs = {key: _to_wire(value) for key, value in kwargs.items()}
        return self._link.ask({"op": "call", "target": self._ref, "args": wire_args, "kwargs": wire_kwargs})

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._link.ask({"op": "getattr", "target": self._ref, "attr": name})

    def __repr__(self):
        return f"<candidate object {self._ref}>"


def _to_wire(value):
    """An argument for the candidate: plain data, holding any handles or names the candidate gave us."""
    return _encode(value, other=_reference)


def _reference(value):
    if type(value) is _Remote:
        return dict(value._ref)
    raise _NotPlain(f"a {type(value).__name__} cannot be passed to the candidate")


class _TestGlobals(dict):
    """Globals of the tests: names the trusted code does not define resolve to the candidate's."""

    def __init__(self, link):
        super().__init__(__name__="tests", __builtins__=builtins)
        self._link = link

    def __missing__(self, name):
        if hasattr(builtins, name):
            raise KeyError(name)  # the builtin is found next
        return _Remote(self._link, {"name": name})


def _fork_candidate():
    """The candidate's process, forked before the job is read: its memory never held the tests or the nonce,
    and this one turns undumpable first, so the candidate (same uid) cannot read ours through /proc or ptrace."""
    if ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise SystemExit("cannot make the test process undumpable")
    to_read, to_write = os.pipe()
    back_read, back_write = os.pipe()
    if os.fork() == 0:
        for fd in (JOB_FD, RESULT_FD, to_write, back_read):
            os.close(fd)
        _serve(to_read, back_write)
    os.close(to_read)
    os.close(back_write)
    return _Link(to_write, back_read)


def _run_check(job, write, nonce, link, limits):
    link.out.write(json.dumps({"code": job["code"], "limits": limits}) + "\n")
    link.out.flush()
    try:
        ready = link.ask({"op": "ready"})
    except Exception:  # noqa: BLE001  the code did not even load: every test fails
        ready = False
    namespace = _TestGlobals(link)
    passed = 0
    tests = job["tests"]
    try:  # the dataset's own code: helpers the tests call (HumanEval's prompt defines e.g. `poly`)
        for trusted in (job.get("setup") or "", job.get("prompt") or ""):
            exec(compile(trusted, "trusted.py", "exec"), namespace)
    except Exception:  # noqa: BLE001  a broken dataset row: nothing can pass
        ready = False
    if ready is True:
        if job.get("entry_point"):  # the prompt's stub must not stand in for the candidate
            namespace[job["entry_point"]] = _Remote(link, {"name": job["entry_point"]})
        for test in tests:
            try:
                exec(compile(test, "test.py", "exec"), namespace)
                passed += 1
            except BaseException:
                pass
    _report(write, f"{nonce} {passed} {len(tests)}")


# -- the candidate's side of `check` -----------------------------------------------------------------------
def _serve(in_fd, out_fd):
    """Load the candidate's code, then answer call/getattr requests with plain data or handles."""
    inp = os.fdopen(in_fd, "r", encoding="utf-8")
    out = os.fdopen(out_fd, "w", encoding="utf-8")
    dumps, loads = json.dumps, json.loads
    namespace = {"__name__": "solution"}
    handles = []

    def send(answer):
        out.write(dumps(answer) + "\n")
        out.flush()

    def store(value):
        handles.append(value)
        return {"handle": len(handles) - 1}

    def wire(value):
        return _encode(value, other=store)

    def resolve(ref):
        if "handle" in ref:
            return handles[ref["handle"]]
        return namespace[ref["name"]]

    def unwire(value):
        return _decode(value, ref=lambda tag, body: resolve({tag: body}))

    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    try:
        load = loads(inp.readline())
        _set_limits(load["limits"])
        exec(compile(load["code"], "solution.py", "exec"), namespace)
        loaded = True
    except BaseException as exc:  # noqa: BLE001  reported to the test side, which fails every test
        loaded = type(exc).__name__
    for line in inp:
        try:
            request = loads(line)
            if request["op"] == "ready":
                answer = {"ok": True} if loaded is True else {"error": loaded}
            elif request["op"] == "call":
                args = [unwire(a) for a in request["args"]]
                kwargs = {k: unwire(v) for k, v in request["kwargs"].items()}
                answer = {"ok": wire(resolve(request["target"])(*args, **kwargs))}
            else:
                answer = {"ok": wire(getattr(resolve(request["target"]), request["attr"]))}
        except BaseException as exc:  # noqa: BLE001  the test side decides what an error means
            answer = {"error": type(exc).__name__}
        send(answer)
    os._exit(0)


def main():
    link = _fork_candidate() if MODE == "check" else None
    with os.fdopen(JOB_FD, "rb") as job_file:
        job = json.loads(job_file.read())
    nonce = job.pop("nonce", "")
    write = os.write  # bound now, before the candidate can patch os
    limits = job.pop("limits")
    _set_limits(limits)
    if job["mode"] != "program":  # only a stdin/stdout program gets input
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    mode = job["mode"]
    if mode == "program":
        _run_program(job, write)
    elif mode == "call":
        _run_call(job, write)
    else:
        _run_check(job, write, nonce, link, limits)
    sys.stdout.flush()
    os._exit(0)  # skip atexit handlers and finalizers the candidate may have registered


JOB_FD, RESULT_FD, MODE = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
main()
