#!/usr/bin/env python3
"""Run one command under /usr/bin/time and also record the command's own peak RSS.

    measure.py OUT -- ARGV...

Writes one line to OUT: `wall_s user_s sys_s tree_maxrss_kib own_hwm_kib` and exits with
the command's status. stdin/stdout/stderr are inherited.

- wall: monotonic clock from just before /usr/bin/time is spawned until it is reaped (the
  interpreter's own start-up is not counted; /usr/bin/time's fork+exec, ~1 ms, is);
- user, sys, tree_maxrss: /usr/bin/time's %U %S %M, i.e. the command and every descendant
  it waited for; %M is the largest process of that tree, e.g. a `podman --version` the
  command runs, not necessarily the command itself. (/usr/bin/time, a small C program, is
  the parent so that the interpreter's own memory does not leak into %M through exec.)
- own_hwm: the command's own VmHWM from /proc/PID/status, sampled every 2 ms by a thread
  until it exits (the last sample is at most ~2 ms before the exit; VmHWM only grows). 0
  when the command was too short-lived to be sampled.
"""

import os
import sys
import threading
import time


def read_hwm(pid):
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def child_of(ppid):
    """The pid of a child of `ppid` (scan /proc: CONFIG_PROC_CHILDREN may be off)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and parentheses
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == ppid:
            return int(name)
    return None


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print("usage: measure.py OUT -- ARGV...", file=sys.stderr)
        return 2
    out, argv = sys.argv[1], sys.argv[3:]
    timefile = out + ".time"
    targv = ["/usr/bin/time", "-f", "%U %S %M", "-o", timefile, "--"] + argv
    t0 = time.monotonic()
    tpid = os.posix_spawn(targv[0], targv, os.environ)
    hwm = [0]
    done = threading.Event()

    def poll():
        pid = None
        while not done.is_set():
            if pid is None:
                pid = child_of(tpid)
            if pid is not None:
                h = read_hwm(pid)
                if h is not None and h > hwm[0]:
                    hwm[0] = h
            done.wait(0.002)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    _, status, _ = os.wait4(tpid, 0)  # blocking: the wall time ends when the command does
    wall = time.monotonic() - t0
    done.set()
    poller.join()
    user = sys_ = "0"
    rss = "0"
    try:
        with open(timefile, encoding="utf-8") as f:
            # "Command exited with non-zero status N" comes first on failure
            last = [ln for ln in f.read().splitlines() if ln.strip()][-1].split()
        user, sys_, rss = last[0], last[1], last[2]
    except (OSError, IndexError):
        pass
    try:
        os.unlink(timefile)
    except OSError:
        pass
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"{wall:.6f} {user} {sys_} {rss} {hwm[0]}\n")
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main())
