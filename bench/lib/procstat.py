"""Process-tree CPU and RSS sampling from /proc, shared by bench/lib/compare.py
and bench/lib/instructions.py.

A server is a tree of processes under the pid we started (xmppd: one;
Prosody: one Lua process; ejabberd: the ejabberdctl shell, beam.smp,
erl_child_setup and its port programs).  Figures sum every process in the
tree except the shell wrappers that only wait for their child (bash, sh, su,
setpriv, env), which are not part of the server.
"""
import os
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
WRAPPERS = {"bash", "sh", "dash", "su", "setpriv", "env", "timeout", "ejabberdctl"}


def _stat(pid):
    """(comm, ppid, cpu_seconds, rss_bytes) of one pid, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    lp, rp = data.find("("), data.rfind(")")
    comm = data[lp + 1:rp]
    f = data[rp + 2:].split()
    # f[0]=state f[1]=ppid ... f[11]=utime f[12]=stime ... f[21]=rss (pages)
    return comm, int(f[1]), (int(f[11]) + int(f[12])) / CLK_TCK, int(f[21]) * PAGE


def _switches(pid):
    """Context switches (voluntary + involuntary) of all of pid's threads,
    or 0 if it is gone.  /proc/PID/status counts the main thread only, so
    the threads' own files are summed.  A count that does not depend on
    the machine's speed: each one is a wake-up or a preemption."""
    n = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status", "rb") as f:
                for line in f:
                    if b"ctxt_switches:" in line:
                        n += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
    return n


def tree_pids(root):
    """root and all its descendants (a snapshot of /proc)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat(int(name))
        if st:
            children.setdefault(st[1], []).append(int(name))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_usage(root):
    """(cpu_seconds, rss_bytes, [comm...]) summed over the server's processes."""
    cpu, rss, comms = 0.0, 0, []
    for p in tree_pids(root):
        st = _stat(p)
        if not st or st[0] in WRAPPERS:
            continue
        cpu += st[2]
        rss += st[3]
        comms.append(st[0])
    return cpu, rss, comms


def _interpolate(s, t):
    """The value at time t of a counter sampled as [(time, value)]."""
    if not s:
        return 0.0
    if t <= s[0][0]:
        return s[0][1]
    for (t0, c0), (t1, c1) in zip(s, s[1:]):
        if t0 <= t <= t1:
            return c0 if t1 == t0 else c0 + (c1 - c0) * (t - t0) / (t1 - t0)
    return s[-1][1]


class Sampler:
    """Samples a process tree every `interval` seconds in a thread:
    (monotonic time, cpu seconds, rss bytes), and beside them the context
    switches (self.switches: (time, count)).  The tree is re-read every
    second so that children started later (ejabberd's port programs) count."""

    def __init__(self, root, interval=0.1):
        self.root, self.interval = root, interval
        self.samples = []
        self.switches = []
        self._stop = threading.Event()
        self._pids = tree_pids(root)
        self._pids_t = time.monotonic()
        self.comms = set()
        self._thr = threading.Thread(target=self._run, daemon=True)

    def _one(self):
        now = time.monotonic()
        if now - self._pids_t > 1.0:
            self._pids, self._pids_t = tree_pids(self.root), now
        cpu, rss, cs = 0.0, 0, 0
        for p in self._pids:
            st = _stat(p)
            if not st or st[0] in WRAPPERS:
                continue
            cpu += st[2]
            rss += st[3]
            cs += _switches(p)
            self.comms.add(st[0])
        self.samples.append((now, cpu, rss))
        self.switches.append((now, cs))

    def _run(self):
        while not self._stop.is_set():
            self._one()
            self._stop.wait(self.interval)

    def start(self):
        self._one()
        self._thr.start()
        return self

    def stop(self):
        self._stop.set()
        self._thr.join()
        self._one()

    def cpu_at(self, t):
        """CPU seconds at time t, interpolated between samples."""
        return _interpolate([(ts, c) for (ts, c, _) in self.samples], t)

    def switches_at(self, t):
        """Context switches at time t, interpolated between samples."""
        return _interpolate(self.switches, t)

    def rss_max(self, t0, t1):
        v = [r for (t, _, r) in self.samples if t0 <= t <= t1]
        return max(v) if v else 0

    def rss_at(self, t):
        best = None
        for (ts, _, r) in self.samples:
            if ts <= t:
                best = r
        return best if best is not None else (self.samples[0][2] if self.samples else 0)
