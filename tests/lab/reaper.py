#!/usr/bin/env python3
"""tests/lab/reaper.py - finds the processes an end-to-end suite left running.

tests/run.sh starts every suite with DROVER_TEST_RUN=<marker> in its
environment; processes inherit it, through `ip netns exec` too. Some daemons
overwrite the memory /proc/PID/environ shows (nginx and chromium write their
process titles over it), so the suite also runs under a child subreaper:
whatever it leaves behind is re-parented to the reaper, whatever its
environment says.

  reaper.py run ORPHANS COMMAND...
      Runs COMMAND as a child subreaper and exits with its status. When
      COMMAND has ended, writes "PID STARTTIME" of every process still
      re-parented to the reaper to the file ORPHANS (nothing is killed here).
  reaper.py left MARKER ORPHANS
      Prints "PID<TAB>NOTE<TAB>COMMAND LINE" ("-" for none) for every live process carrying
      DROVER_TEST_RUN=MARKER, listed in ORPHANS (same start time: a recycled
      pid is not taken), or descended from one of those. NOTE says when the
      process sits in a network namespace that is no longer mounted under
      /var/run/netns (deleted by the suite while the process ran on).
"""
import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36
NETNS_DIR = "/var/run/netns"


def stat_of(pid):
    """(state, ppid, starttime) of pid, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ")".
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def run(orphans, command):
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.stderr.write("reaper: cannot become a subreaper: %s\n" % os.strerror(ctypes.get_errno()))
    child = os.fork()
    if child == 0:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)

    def forward(sig, frame):
        try:
            os.kill(child, sig)
        except ProcessLookupError:
            pass

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, forward)
    status = 0
    while True:
        try:
            pid, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == child:
            status = os.waitstatus_to_exitcode(st)
            break
    # Orphans that already died are reaped; the living ones are listed.
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    me = os.getpid()
    with open(orphans, "w") as f:
        for pid in all_pids():
            st = stat_of(pid)
            if st and st[1] == me and st[0] != "Z":
                f.write("%d %d\n" % (pid, st[2]))
    return 128 - status if status < 0 else status


def has_marker(pid, entry):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return entry in f.read().split(b"\0")
    except OSError:
        return False


def netns_note(pid):
    try:
        link = os.readlink("/proc/%d/ns/net" % pid)
        # run.sh's own namespace: the one the suites start from.
        root = os.readlink("/proc/self/ns/net")
    except OSError:
        return ""
    if link == root:
        return ""
    mounted = set()
    try:
        for name in os.listdir(NETNS_DIR):
            try:
                mounted.add(os.stat(os.path.join(NETNS_DIR, name)).st_ino)
            except OSError:
                pass
    except OSError:
        pass
    inode = int(link[link.index("[") + 1:-1])
    return "" if inode in mounted else "in a network namespace no longer mounted"


def fields(pid):
    """The line "left" prints for pid: tab-separated, "-" for no note."""
    return "%d\t%s\t%s" % (pid, netns_note(pid) or "-", cmdline(pid) or "-")


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def left(marker, orphans):
    entry = ("DROVER_TEST_RUN=%s" % marker).encode()
    stats = {}
    for pid in all_pids():
        st = stat_of(pid)
        if st and st[0] != "Z":
            stats[pid] = st
    found = {pid for pid in stats if has_marker(pid, entry)}
    try:
        with open(orphans) as f:
            for line in f:
                pid, start = (int(x) for x in line.split())
                if pid in stats and stats[pid][2] == start:
                    found.add(pid)
    except OSError:
        pass
    # Their descendants too: a daemon's workers, whatever their environment.
    grew = True
    while grew:
        grew = False
        for pid, st in stats.items():
            if pid not in found and st[1] in found:
                found.add(pid)
                grew = True
    found.discard(os.getpid())
    for pid in sorted(found):
        print(fields(pid))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "run":
        sys.exit(run(sys.argv[2], sys.argv[3:]))
    if len(sys.argv) == 4 and sys.argv[1] == "left":
        left(sys.argv[2], sys.argv[3])
        return
    sys.stderr.write("usage: reaper.py run ORPHANS COMMAND... | left MARKER ORPHANS\n")
    sys.exit(2)


if __name__ == "__main__":
    main()
