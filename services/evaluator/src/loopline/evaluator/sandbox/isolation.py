"""Linux isolation primitives used inside the sandbox supervisor and its call processes.

Thin wrappers over libc (`unshare`, `mount`, `prctl`) that Python 3.11 does not expose, plus the
construction of the read-only root the supervisor chroots into. Nothing here runs in the
evaluator process itself.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import sys
from collections.abc import Iterable

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), f"unshare({flags:#x})")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = os.fsencode
    _check(
        _libc.mount(
            enc(source) if source is not None else None,
            enc(target),
            enc(fstype) if fstype is not None else None,
            ctypes.c_ulong(flags),
            enc(data) if data is not None else None,
        ),
        f"mount {source or fstype} on {target}",
    )


def prctl(option: int, value: int) -> None:
    _check(
        _libc.prctl(
            ctypes.c_int(option),
            ctypes.c_ulong(value),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        ),
        f"prctl({option})",
    )


def namespaces_available() -> bool:
    """True when this process may create namespaces and drop to other uids (it runs as root)."""
    return sys.platform == "linux" and os.geteuid() == 0


def set_limits(
    *,
    cpu_seconds: int,
    cpu_hard_seconds: int,
    memory_bytes: int,
    file_bytes: int,
    max_open_files: int,
    max_processes: int | None,
) -> None:
    """rlimits of a call process; CPU past the soft limit gets SIGXCPU, past the hard one SIGKILL."""
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, max(cpu_hard_seconds, cpu_seconds + 1)))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (max_open_files, max_open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))
    if max_processes is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))


def _pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def memory_by_uid(uids: range) -> dict[int, int]:
    """Memory (bytes) held by the processes of each uid in `uids` that runs more than one process,
    in this pid namespace. Proportional (PSS): a forked process shares its parent's pages, and
    resident sizes would count those once per process."""
    by_uid: dict[int, list[int]] = {}
    pids_of_uids(uids, by_uid)
    return {uid: sum(_pss_bytes(p) for p in pids) for uid, pids in by_uid.items() if len(pids) > 1}


def pids_of_uids(uids: range, by_uid: dict[int, list[int]] | None = None) -> list[int]:
    """Pids in this pid namespace whose real uid is in `uids` (zombies included: they still count
    against RLIMIT_NPROC), also grouped into `by_uid` when given. Reads `status`, as /proc/<pid>
    of a non-dumpable process belongs to root."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Uid:"):
                        uid = int(line.split()[1])
                        if uid in uids:
                            pids.append(int(name))
                            if by_uid is not None:
                                by_uid.setdefault(uid, []).append(int(name))
                        break
        except OSError:
            continue
    return pids


_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}
KEYCTL_JOIN_SESSION_KEYRING = 1


def join_new_session_keyring() -> None:
    """Leave the inherited (root's) session keyring for a new, empty one; best effort."""
    number = _SYS_KEYCTL.get(os.uname().machine)
    if number is not None:
        _libc.syscall(ctypes.c_long(number), ctypes.c_int(KEYCTL_JOIN_SESSION_KEYRING), ctypes.c_void_p(None))


def drop_privileges(uid: int) -> None:
    """Become `uid`/`uid` with no supplementary groups, no capabilities and no way back."""
    join_new_session_keyring()
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_DUMPABLE, 0)


def _mkdirs(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def bind_readonly(source: str, target: str) -> None:
    mount(source, target, None, MS_BIND | MS_REC)
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


#: where the bundles' package environments (`packages.PackageEnvs`) appear in the new root
PACKAGES_INSIDE = "/loopline-packages"
DEVICES = ("null", "zero", "full", "random", "urandom")
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


def python_paths() -> list[str]:
    """The interpreter's own trees: the base installation and the virtualenv's packages."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    return sorted(paths)


def build_root(new_root: str, read_paths: Iterable[str]) -> list[str]:
    """Populate `new_root` (an empty tmpfs) with read-only binds of `read_paths`, a few devices,
    an empty /tmp and a /proc mount point. Returns the paths actually bound."""
    bound: list[str] = []
    for path in sorted(set(read_paths)):
        if not os.path.lexists(path) or any(path == b or path.startswith(b + "/") for b in bound):
            continue
        target = new_root + path
        if os.path.islink(path):
            _mkdirs(os.path.dirname(target))
            if not os.path.lexists(target):
                os.symlink(os.readlink(path), target)
            bound.append(path)
            continue
        _mkdirs(target)
        try:
            bind_readonly(path, target)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.EINVAL):
                raise
            continue
        bound.append(path)
    _mkdirs(new_root + "/dev")
    for name in DEVICES:
        source, target = "/dev/" + name, new_root + "/dev/" + name
        if os.path.exists(source):
            with open(target, "wb"):
                pass
            mount(source, target, None, MS_BIND)
    for name in ("/tmp", "/proc"):
        _mkdirs(new_root + name)
    os.chmod(new_root + "/tmp", 0o1777)
    return bound
