"""The `unshare` isolation: a trusted first stage that puts the harness in fresh Linux namespaces, without bwrap.

Stdlib only; its source runs as `python -I -c SOURCE SPEC_JSON -- PYTHON -I -c HARNESS JOB_FD RESULT_FD`. It
unshares the network, mount, pid, ipc and uts namespaces (through a new user namespace when it is not root, so
an ordinary user needs no privilege), forks the namespace's pid 1, builds a fresh root on a tmpfs that holds
only read-only binds of the system directories and the interpreter, the run's work directory as `/sandbox`, a
private `/tmp`, a few device nodes and a new `/proc`, pivots into it, detaches the host's tree, drops to the
run's uid (root) or keeps the caller's uid (then `execve` clears the namespace's capabilities), sets
no_new_privs and execs the harness. The network namespace holds only a loopback that is down, so every socket
but a socketpair fails; when pid 1 exits, the kernel kills whatever else runs in the namespace.
Any failure exits with status 125 before the candidate's code ever runs: the caller's probe then finds this
isolation unusable and fails closed.
"""

import contextlib
import ctypes
import json
import os
import platform
import signal
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 0x400, 0x800, 0x200000
# statvfs f_flag bits a read-only remount must keep (the kernel refuses to clear them in a user namespace)
ST_KEPT = {
    0x2: MS_NOSUID,
    0x4: MS_NODEV,
    0x8: MS_NOEXEC,
    0x400: MS_NOATIME,
    0x800: MS_NODIRATIME,
    0x1000: MS_RELATIME,
}
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
DEVICES = ("null", "zero", "full", "random", "urandom")
SETUP_FAILED = 125

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source, target, fstype, flags, data=None):
    _check(
        _libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)), f"mount {target}"
    )


def _b(text):
    return None if text is None else os.fsencode(text)


def _write(path, text):
    with open(path, "w") as file:
        file.write(text)


def _enter_namespaces(uid):
    """Unshare everything but the user namespace as root (then drop to `uid` later), or with it otherwise."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if os.geteuid() == 0:
        if _libc.unshare(flags) == 0:
            return True
        _drop_to(uid)  # root without CAP_SYS_ADMIN here (a container): try as the unprivileged uid
        _check(
            _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl DUMPABLE"
        )  # else /proc/self/*_map stay root's
    outer_uid, outer_gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(flags | CLONE_NEWUSER), "unshare")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{outer_uid} {outer_uid} 1")
    _write("/proc/self/gid_map", f"{outer_gid} {outer_gid} 1")
    return False


def _drop_to(uid):
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def _bind(source, target, read_only):
    _mount(source, target, None, MS_BIND)
    if read_only:
        kept = 0
        flags = os.statvfs(target).f_flag
        for bit, ms in ST_KEPT.items():
            if flags & bit:
                kept |= ms
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)


def _build_root(root, spec):
    """A fresh tree on a tmpfs at `root`: what the interpreter needs, read-only, plus the writable work dir."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount propagates back to the host
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for top in spec["tops"]:
        path = root + top
        if os.path.islink(top):
            os.symlink(os.readlink(top), path)
        elif os.path.isdir(top):
            os.makedirs(path, exist_ok=True)
            _bind(top, path, True)
    for extra in spec["ro_paths"]:  # an interpreter tree outside /usr, /etc/ld.so.cache
        if not os.path.exists(extra) or os.path.exists(root + extra):
            continue
        os.makedirs(os.path.dirname(root + extra), exist_ok=True)
        if os.path.isdir(extra):
            os.makedirs(root + extra, exist_ok=True)
        else:
            open(root + extra, "w").close()
        _bind(extra, root + extra, True)
    os.makedirs(root + "/dev", exist_ok=True)
    for name in DEVICES:
        open(f"{root}/dev/{name}", "w").close()
        _bind(f"/dev/{name}", f"{root}/dev/{name}", False)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, f"{root}/dev/{name}")
    for scratch in ("/tmp", "/dev/shm"):
        os.makedirs(root + scratch, exist_ok=True)
        _mount("tmpfs", root + scratch, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={spec['tmp_mb']}m")
    os.makedirs(root + "/sandbox")
    _bind(spec["workdir"], root + "/sandbox", False)
    os.makedirs(root + "/proc")
    with contextlib.suppress(
        OSError
    ):  # a masked host /proc (some containers) forbids it; python runs without
        _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _pivot(root):
    """Make `root` the root and detach the host's tree from this mount namespace."""
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(0, f"pivot_root: unknown syscall number on {platform.machine()}")
    os.chdir(root)
    _check(_libc.syscall(ctypes.c_long(number), b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _child(spec, target, as_root):
    """Pid 1 of the new pid namespace: build the root, drop privileges, exec the harness."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl PDEATHSIG")
    _libc.sethostname(b"sandbox", 7)
    _build_root(spec["root"], spec)
    _pivot(spec["root"])
    if as_root:
        _drop_to(spec["uid"])
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl NO_NEW_PRIVS")
    os.chdir("/sandbox")
    os.execve(target[0], target, spec["env"])


def main():
    spec = json.loads(sys.argv[1])
    target = sys.argv[3:]  # after "--"
    try:
        as_root = _enter_namespaces(spec["uid"])
        pid = os.fork()
    except OSError as exc:
        os.write(2, f"layerverl sandbox (unshare): {exc}\n".encode())
        os._exit(SETUP_FAILED)
    if pid == 0:
        try:
            _child(spec, target, as_root)
        except BaseException as exc:  # noqa: BLE001  nothing untrusted has run yet
            os.write(2, f"layerverl sandbox (unshare): {exc}\n".encode())
        os._exit(SETUP_FAILED)
    for fd in range(3, 256):  # the job and result pipes belong to the harness alone
        with contextlib.suppress(OSError):
            os.close(fd)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


main()
