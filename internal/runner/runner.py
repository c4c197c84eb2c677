# enclave resident runner: one per sandbox, started once over an interactive
# session. stdlib only, single-threaded (fork is safe). Line-delimited JSON on
# its original stdin/stdout.
#
# Start:    the host writes a 32-character key and a newline. Every line the
#           runner writes then begins with the key, as the first member of
#           one JSON object ({"k": key, ...}; runner.go checks it), so the
#           host can tell the runner's lines from anything else.
# Ready:    {"k": key, "ready": true, "pid": n, "hardened": b, "fork_server": b}
#           once started; hardened: it made itself non-dumpable; fork_server:
#           calls start on standbys
# Notice:   {"k": key, "fork_server_lost": true}   the fork server died or was
#           stopped: calls fork from the runner from now on
# Request:  {"id": n, "argv": [...] | "py_path": p, "py_src": s, "env": {...},
#            "cwd": d, "stdin": b64|null, "timeout": secs, "grace": secs, "max": bytes}
#           {"id": n, "kill": true}
#           {"id": n, "sweep": true}   kill every process no call or session owns
#           a call with "stream": true also gets its output as it is read:
#           {"k": key, "id": n, "chunk": b64, "s": "out"|"err"} (then the Reply)
#           {"id": n, "op": name, ...}   background processes (procs.py's
#           part below: spawn, list, info, read, stdin, signal) and terminals
#           (pty, pty_in, pty_resize) and a marker file (mark); replies
#           {"k": key, "id": n, "result": {...}}
#           or {"k": key, "id": n, "error": text, "status": "not_found"|"finished"|"invalid"}
#           a terminal also sends {"k": key, "id": n, "pty_out": b64} and ends
#           with {"k": key, "id": n, "code": exit}
# Ack:      {"k": key, "id": n, "ack": true}   read, before anything runs: a
#           call the runner dies before acking never ran (safe to resend)
# Reply:    {"k": key, "id": n, "code": exit, "timed_out": b, "killed": b,
#            "oom": b, "out": b64, "err": b64, "out_trunc": b, "err_trunc": b}
#           {"k": key, "id": n, "code": -1, "error": text}   the call could not start
#           {"k": key, "id": n, "swept": count}
#
# Arguments: the number of standbys (below: the fork server; 0 or none: every
# call is a fork of this runner), then where the cgroup filesystem is (the
# memory-thrash watchdog's; "" or none: /sys/fs/cgroup), then the path of the
# host's channel socket ("" or none: no channel).
#
# Channel:  after the key, the runner connects to the channel socket and
#           writes the key and a newline there; its Ready line (on stdout)
#           says "channel": true, and from then on the protocol runs on the
#           socket alone: stdin and stdout are closed, and the socket's EOF
#           ends the runner (the session that started it may end first, with
#           the runtime's relay, and takes nothing with it). A channel it
#           cannot reach leaves the protocol on stdin/stdout
#           ("channel": false).
# Boot:     a fourth argument names a file holding the key: the sandbox
#           started the runner itself (runner.go's Boot), with no session;
#           the runner reads the key there, connects to the channel (or
#           exits, status 3) and says Ready on it.
#
# Each call is a forked child in its own process group. An argv call execs
# the program (exactly a new process). A python call runs the source as the
# file py_path the way `python py_path` does, without paying interpreter
# start-up. At the deadline the group gets SIGTERM, then SIGKILL after grace.
# A call is complete when the child exited and its stdout/stderr reached EOF.
#
# Isolation from the calls it runs: calls are children of a fork server
# forked before the key was read (no call holds the key or another call's
# data); the runner and the fork server are not dumpable, so a call's
# processes (same uid, no CAP_SYS_PTRACE) cannot open /proc/<runner>/fd/* or
# ptrace it; children close every protocol fd and wipe the key before any
# call code runs. Stdin is written without blocking the loop, and SIGPIPE is
# ignored, so a call that does not read its stdin affects no other call.
import array, base64, errno, fcntl, gc, json, os, resource, select, signal, socket, struct, sys, termios, time

proto_in = os.dup(0)
proto_out = os.dup(1)
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 0)
os.dup2(null, 1)
wake_r, wake_w = os.pipe()
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGCHLD, lambda *a: None)
signal.signal(signal.SIGPIPE, signal.SIG_IGN)

PR_SET_DUMPABLE = 4


try:
    import ctypes
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except Exception:
    _prctl = None


def set_dumpable(on):
    try:
        return _prctl(PR_SET_DUMPABLE, 1 if on else 0, 0, 0, 0) == 0
    except Exception:
        return False


hardened = set_dumpable(False)

# The key is read (read_key, once the fork server runs) straight into this
# bytearray and only ever written from it, so no other copy of it lives in
# this process's memory for a forked child to find.
KEY_LEN = 32
key = bytearray(KEY_LEN + 1)
# Every line starts with this; it lives only here and in key, which a
# forked child wipes. Filled in place: no intermediate copy of the key.
PREFIX_HEAD, PREFIX_TAIL = b'{"k": "', b'", '
prefix = bytearray(len(PREFIX_HEAD) + KEY_LEN + len(PREFIX_TAIL))


def read_key():
    src = proto_in
    if KEY_FILE is not None:
        try:
            src = os.open(KEY_FILE, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            sys.exit(3)
    got = 0
    while got < len(key):
        n = os.readv(src, [memoryview(key)[got:]])
        if n == 0:
            sys.exit(0 if KEY_FILE is None else 3)
        got += n
    if src != proto_in:
        os.close(src)
    del key[KEY_LEN:]
    prefix[:len(PREFIX_HEAD)] = PREFIX_HEAD
    prefix[len(PREFIX_HEAD):len(PREFIX_HEAD) + KEY_LEN] = key
    prefix[len(PREFIX_HEAD) + KEY_LEN:] = PREFIX_TAIL


def nproc_cap():
    # The sandbox's pids limit less a reserve for the runner and execs.
    for path in ("/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max"):
        try:
            with open(path) as f:
                n = int(f.read().strip())
            return max(n - PIDS_RESERVE, 1)
        except (OSError, ValueError):
            pass
    return 0


PIDS_RESERVE = 32
NPROC_CAP = nproc_cap()

BASE_ENV = dict(os.environ)
# Warm what every Python call uses, once, so forked children do not pay for
# it: the first compile() of a process initialises the compiler (~1 ms).
import atexit, builtins, types  # noqa: E401
compile("x = 1\nprint(x)\n", "<warm>", "exec")
calls = {}  # id -> call state
by_pid = {}
by_fd = {}  # output fd -> call
by_in = {}  # stdin fd -> call


CGROUP = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else "/sys/fs/cgroup"  # runner.go's Options
CHANNEL = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None  # runner.go's Options.Channel
KEY_FILE = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None  # runner.go's Boot
OOM_FILES = (os.path.join(CGROUP, "memory/memory.oom_control"), os.path.join(CGROUP, "memory.events"))


def oom_kills():
    # The cgroup's OOM-kill counter: a call that died of SIGKILL while it
    # rose was killed by the memory limit. -1: unknown.
    for path in OOM_FILES:
        try:
            with open(path) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == "oom_kill":
                        return int(v)
        except (OSError, ValueError):
            pass
    return -1


# The memory-thrash watchdog. On a memory cgroup at its limit the kernel
# reclaims the sandbox's file pages (program text included) before it
# OOM-kills: a process that keeps allocating can then refault the same few
# pages for tens of seconds before the kernel gives up (measured: the memory
# bomb of e2e/chaos_test.go, at times, 10-30 s at the limit with under 2 MiB
# of file pages and ~700 major faults a second). While calls run, the
# runner samples the cgroup every THRASH_TICK; at the limit with at most
# THRASH_FILE bytes of file pages and at least THRASH_FAULTS major faults a
# second for THRASH_SECONDS, it does what the kernel would: SIGKILL the
# largest of its own descendants. A call killed that way gets the oom
# verdict. (A workload streaming through a mapped file at the limit keeps
# more file pages than that, and runs.)
THRASH_TICK = 0.5
THRASH_FILE = 4 << 20
THRASH_FAULTS = 200
THRASH_SECONDS = 2.0
MEM_FILES = (("memory/memory.usage_in_bytes", "memory/memory.limit_in_bytes", "memory/memory.stat"),
             ("memory.current", "memory.max", "memory.stat"))  # cgroup v1, v2
thrash = {"next": None, "faults": None, "at": None, "since": None, "kills": 0}


def read_int(path):
    try:
        with open(path, "rb") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None  # absent, or "max" (no limit)


def starved():
    # The sandbox's major faults so far when its memory cgroup is at its
    # limit with almost no file pages left, else None.
    for usage_f, limit_f, stat_f in MEM_FILES:
        usage = read_int(os.path.join(CGROUP, usage_f))
        if usage is None:
            continue
        limit = read_int(os.path.join(CGROUP, limit_f))
        if limit is None or limit >= 1 << 60 or usage < limit - max(limit >> 6, 1 << 20):
            return None
        st = {}
        try:
            with open(os.path.join(CGROUP, stat_f), "rb") as f:
                for line in f:
                    k, _, v = line.partition(b" ")
                    st[k] = int(v)
        except (OSError, ValueError):
            return None
        pick = lambda *keys: next((st[k] for k in keys if k in st), None)
        cache = pick(b"total_cache", b"cache", b"file")  # v1 (hierarchical first), v2
        faults = pick(b"total_pgmajfault", b"pgmajfault")
        if cache is None or faults is None or cache - (pick(b"total_shmem", b"shmem") or 0) > THRASH_FILE:
            return None
        return faults
    return None


def thrash_watch(now):
    if not calls:
        thrash["next"] = thrash["since"] = thrash["faults"] = None
        return
    if thrash["next"] is None:
        thrash["next"] = now + THRASH_TICK  # a call that ends sooner costs nothing
    if now < thrash["next"]:
        return
    thrash["next"] = now + THRASH_TICK
    faults = starved()
    prev, prev_at = thrash["faults"], thrash["at"]
    thrash["faults"], thrash["at"] = faults, now
    if faults is None or prev is None or (faults - prev) / (now - prev_at) < THRASH_FAULTS:
        thrash["since"] = None
        return
    if thrash["since"] is None:
        thrash["since"] = prev_at
    if now - thrash["since"] >= THRASH_SECONDS:
        thrash["since"] = thrash["faults"] = None
        kill_largest()


def kill_largest():
    # The largest process by resident memory among this runner's
    # descendants (calls, what they left, background processes; orphans of
    # calls are reparented here: PR_SET_CHILD_SUBREAPER).
    me = os.getpid()
    table = proc_table()
    mine = {me}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _, _) in table.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                changed = True
    best, victim = 0, None
    for pid in mine - {me}:
        try:
            with open("/proc/%d/statm" % pid, "rb") as f:
                rss = int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if rss > best:
            best, victim = rss, pid
    if victim is None:
        return
    try:
        os.kill(victim, signal.SIGKILL)
        thrash["kills"] += 1
    except OSError:
        pass


def oom_events():
    # The kernel's OOM kills (when it counts them) and the watchdog's.
    return max(oom_kills(), 0) + thrash["kills"]


def send(obj):
    # One writev of the keyed prefix and the body: one chunk through the
    # session, and no other object ever holds the key.
    bufs = [memoryview(prefix), memoryview(json.dumps(obj).encode()[1:] + b"\n")]
    while bufs:
        n = os.writev(proto_out, bufs)
        while bufs and n >= len(bufs[0]):
            n -= len(bufs[0])
            bufs.pop(0)
        if bufs:
            bufs[0] = bufs[0][n:]


def run_python(path, src):
    # In the child: become `python path`. When the file cannot be written
    # (a full disk), the code still runs and tracebacks still show its lines.
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(src)
    except OSError:
        import linecache
        linecache.cache[path] = (len(src), None, src.splitlines(True), path)
    sys.argv = [path]
    sys.path[0] = os.path.dirname(path)
    mod = types.ModuleType("__main__")
    mod.__file__ = path
    mod.__builtins__ = builtins
    mod.__cached__ = None
    sys.modules["__main__"] = mod
    code = 0
    try:
        exec(compile(src, path, "exec"), mod.__dict__)
    except SystemExit as e:
        code = exit_code(e)
    except BaseException as e:
        import traceback
        tb = e.__traceback__
        if tb is not None and tb.tb_frame.f_code.co_filename != path:
            tb = tb.tb_next  # hide this runner's frame
        traceback.print_exception(type(e), e, tb)
        code = 1
    # Interpreter shutdown order: join non-daemon threads, then atexit.
    # Without threading imported by the code there are no threads to join.
    if "threading" in sys.modules:
        try:
            sys.modules["threading"]._shutdown()
        except BaseException:
            pass
    try:
        atexit._run_exitfuncs()
    except SystemExit as e:
        code = exit_code(e)
    except BaseException:
        pass
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except BaseException:
            pass
    os._exit(code)


def exit_code(e):
    c = e.code
    if c is None:
        return 0
    if isinstance(c, int):
        return c & 0xFF
    try:
        sys.stderr.write(str(c) + "\n")
    except BaseException:
        pass
    return 1


def become_call(in_fd, out_w, err_w):
    # In a forked child about to run a call's (or a background process's)
    # code: its own stdio, no other fd, dumpable again (a normal process).
    # It has a call's limits (limit_call) already.
    os.dup2(in_fd, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.closerange(3, 65536)
    set_dumpable(True)


def limit_call():
    # The runner must outlive and outrun its calls to enforce their
    # deadlines (a runner killed or starved mid-call would leave, say, a
    # fork bomb running): under memory pressure the kernel kills a call's
    # processes first, and calls may not take the last pids of the sandbox,
    # which the runner and execs need. (A lower CPU priority for calls would
    # also keep the runner ahead of a busy call, but costs every call time
    # whenever the host is busy: the runner is idle while a call runs.)
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    if NPROC_CAP > 0:
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (NPROC_CAP, NPROC_CAP))
        except (OSError, ValueError):
            pass


def child(req, extra, env, in_r, out_w, err_w, prepared=False):
    # In the forked child, before any call code runs: wipe the key, drop
    # every protocol fd, then become dumpable again (a normal process). A
    # standby did all but the fds before its request came.
    if not prepared:
        prepare_call()
        limit_call()
    become_call(in_r if in_r is not None else null, out_w, err_w)
    if req.get("cwd"):
        os.chdir(req["cwd"])
    if "py_path" in req:
        for k, v in extra.items():
            os.environ[k] = v
        sys.stdin = open(0, "r", closefd=False)
        # Line-buffered, so a call cut off at its deadline still returns
        # the lines it printed before.
        sys.stdout = open(1, "w", closefd=False, buffering=1)
        sys.stderr = open(2, "w", closefd=False, buffering=1)
        run_python(req["py_path"], req["py_src"])
    argv = req["argv"]
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        os.write(2, ("%s: %s\n" % (argv[0], e.strerror)).encode())
        os._exit(126 if e.errno in (errno.EACCES, errno.ENOEXEC) else 127)


def prepare_call():
    # What a call's process does first that needs nothing of the call.
    key[:] = bytes(KEY_LEN)
    prefix[:] = bytes(len(prefix))
    os.setpgid(0, 0)
    signal.set_wakeup_fd(-1)
    for s in (signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(s, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def fork_call(req, in_r, out_w, err_w):
    # The call forked from this runner (no fork server). The environment is
    # built here, once per call in the parent: rebuilding os.environ in the
    # child costs more than the fork.
    extra = {k: v for k, v in (req.get("env") or {}).items() if BASE_ENV.get(k) != v}
    env = dict(BASE_ENV, **extra) if extra else BASE_ENV
    pid = os.fork()
    if pid == 0:
        try:
            child(req, extra, env, in_r, out_w, err_w)
        except BaseException as e:
            try:
                os.write(2, ("enclave runner: %s\n" % e).encode())
            finally:
                os._exit(127)
    try:
        # The parent sets the call's group too (the race-free way): from here
        # on every process of the call is in group pid, even if the child has
        # not run yet, so a sweep or a kill never mistakes it for a leftover.
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child did it already and has exec'd
    return pid


def start(req, line):
    # A call read while the fork server is still warming the next standby
    # waits for it (its fork is under way; forking here instead would cost
    # as much and share this runner's pages with the call), at most
    # QUEUE_PATIENCE: then it is forked here.
    if zygote is not None and not standbys:
        waiting.append((req, line, time.monotonic(), 0))
        return
    launch(req, line)


def launch(req, line, fork=False, tries=0, since=None):
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r = in_w = None
    stdin = req.get("stdin")
    if stdin is not None:
        in_r, in_w = os.pipe()
    if not fork:
        line = standby_line(req, line)
        fork = line is None
    pid, sock = (None, None) if fork else hand_over(line, [in_r if in_r is not None else null, out_w, err_w])
    if pid is None and not fork and zygote is not None:
        # Every standby listed had died (its exit not read yet): wait for
        # the next, as start() does.
        for fd in (out_r, out_w, err_r, err_w, in_r, in_w):
            if fd is not None:
                os.close(fd)
        waiting.append((req, line, time.monotonic() if since is None else since, tries))
        return
    if pid is None:
        pid = fork_call(req, in_r, out_w, err_w)
    os.close(out_w)
    os.close(err_w)
    now = time.monotonic()
    timeout = req.get("timeout") or 0
    c = {"id": req["id"], "pid": pid, "fds": {out_r: "out", err_r: "err"}, "out": [], "err": [],
         "size": {"out": 0, "err": 0}, "trunc": {"out": False, "err": False}, "max": req.get("max") or 0,
         "deadline": now + timeout if timeout > 0 else None, "grace": req.get("grace") or 5.0,
         "kill_at": None, "timed_out": False, "killed": False, "code": None, "py_path": req.get("py_path"),
         "oom_before": oom_events(), "in_fd": None, "in_data": None, "stream": bool(req.get("stream")),
         "eof_at": None, "sock": sock, "req": req, "line": line, "tries": tries}
    calls[c["id"]] = c
    by_pid[pid] = c
    for fd in c["fds"]:
        os.set_blocking(fd, False)
        by_fd[fd] = c
    if in_r is not None:
        os.close(in_r)
        data = base64.b64decode(stdin)
        if data:
            os.set_blocking(in_w, False)
            c["in_fd"], c["in_data"] = in_w, memoryview(data)
            by_in[in_w] = c
        else:
            os.close(in_w)


def close_stdin(c):
    fd = c["in_fd"]
    if fd is not None:
        del by_in[fd]
        c["in_fd"] = c["in_data"] = None
        try:
            os.close(fd)
        except OSError:
            pass


def feed(c):
    # One non-blocking write of a call's pending stdin; EOF once all is in.
    try:
        n = os.write(c["in_fd"], c["in_data"][:1 << 16])
    except BlockingIOError:
        return
    except OSError:
        close_stdin(c)  # the reader is gone (EPIPE): the rest is dropped
        return
    c["in_data"] = c["in_data"][n:]
    if not c["in_data"]:
        close_stdin(c)


def signal_group(c, sig):
    try:
        os.killpg(c["pid"], sig)
    except OSError:
        pass


def finish_if_done(c):
    if c["code"] is None or c["fds"]:
        return
    close_stdin(c)
    if c.get("py_path"):
        try:
            os.unlink(c["py_path"])  # the script goes once the call ends
        except OSError:
            pass
    # The group may outlive the main process (a background job holding no
    # output): it is not part of the call.
    del calls[c["id"]]
    oom = c["code"] == 137 and not c["timed_out"] and not c["killed"] and c["oom_before"] < oom_events()
    send({"id": c["id"], "code": c["code"], "timed_out": c["timed_out"], "killed": c["killed"], "oom": oom,
          "out": base64.b64encode(b"".join(c["out"])).decode(), "err": base64.b64encode(b"".join(c["err"])).decode(),
          "out_trunc": c["trunc"]["out"], "err_trunc": c["trunc"]["err"]})


def waited():
    # (pid, status) of every child that has exited, without blocking.
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


def reap():
    for pid, status in waited():
        if zygote is not None and pid == zygote["pid"]:
            zygote_msgs()  # the exits it reported before it died
            zygote_gone()
            continue
        exited(pid, status)


def exited(pid, status):
    for i, (spid, sock) in enumerate(standbys):
        if spid == pid:  # died unused (something killed it): replace it
            sock.close()
            del standbys[i]
            if zygote is not None:
                try:
                    zygote["sock"].send(b"n")
                except OSError:
                    pass
            return
    t = pty_by_pid.pop(pid, None)
    if t is not None:
        t["code"] = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        pty_done(t)
        return
    c = by_pid.pop(pid, None)
    if c is None:
        return
    if c["sock"] is not None:
        try:
            took = c["sock"].recv(1) == b"k"
        except OSError:
            took = False
        c["sock"].close()
        c["sock"] = None
        if not took and not (c["killed"] or c["timed_out"]):
            relaunch(c)
            return
        # A call killed (by its caller or its deadline) before its standby
        # took it ends there: it never ran, and must not run later.
    if os.WIFSIGNALED(status):
        c["code"] = 128 + os.WTERMSIG(status)
    else:
        c["code"] = os.WEXITSTATUS(status)
    finish_if_done(c)


def relaunch(c):
    # The standby died before it took the call (something killed it): the
    # call never ran. It starts again, on the next standby or, after
    # STANDBY_TRIES such losses, forked here.
    del calls[c["id"]]
    for fd in list(c["fds"]):
        del by_fd[fd]
        os.close(fd)
    close_stdin(c)
    tries = c["tries"] + 1
    try:
        launch(c["req"], c["line"], fork=tries >= STANDBY_TRIES or zygote is None, tries=tries)
    except Exception as e:
        send({"id": c["id"], "code": -1, "error": str(e)})


def stat_fields(pid):
    # The fields of /proc/<pid>/stat after the command name, from the state
    # on; [] when the process is gone.
    try:
        with open("/proc/%s/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return []
    return stat[stat.rfind(b")") + 2:].split()


def proc_table():
    # pid -> (ppid, pgid, start time) for every process this runner can see.
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = stat_fields(name)
        if not fields:
            continue
        if fields[0] == b"Z":
            continue  # dead already: its parent reaps it (see sweep)
        out[int(name)] = (int(fields[1]), int(fields[2]), fields[19])
    return out


def sweep():
    # Kill every process that no running call, no other exec session (ppid 0
    # inside the container: e.g. a notebook kernel) and not the sandbox's
    # own command (the oldest process after PID 1) owns: what earlier calls
    # left behind. The same rule as the
    # one-shot sweep (internal/executor/sweep.go), and it needs no memory
    # of earlier runners. Only inside a container, where exec'd processes
    # have no parent in the namespace and a booted runner is a child of the
    # sandbox's init: on a host this would be every process of the machine.
    if os.getppid() != (1 if KEY_FILE is not None else 0):
        return 0
    me = os.getpid()
    live_groups = {c["pid"] for c in calls.values()}
    killed = 0
    gone = set()
    for _ in range(20):  # a fork bomb refills between rounds; its pids limit bounds it
        table = proc_table()
        keep = {1, me} | {pid for pid, _ in standbys}
        zpid = zygote["pid"] if zygote is not None else me
        keep.add(zpid)
        # The sandbox's command is the oldest process after PID 1 and this
        # runner's own (a booted runner starts before it): an init starts
        # it first (Podman), or it is exec'd right after the pause process
        # of a pod that shares its process namespace.
        others = [(int(st), pid) for pid, (_, _, st) in table.items() if pid not in keep]
        if others:
            keep.add(min(others)[1])
        for pid, (ppid, pgid, st) in table.items():
            if ppid == 0 or pgid in live_groups:
                keep.add(pid)
        # Descendants of kept processes (other than the children of the
        # runner and of its fork server, which are calls) are kept too.
        changed = True
        while changed:
            changed = False
            for pid, (ppid, _, _) in table.items():
                if pid not in keep and ppid in keep and ppid not in (1, me, zpid):
                    keep.add(pid)
                    changed = True
        victims = [pid for pid in table if pid not in keep]
        if not victims:
            break
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in victims:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        killed += len(victims)
        gone.update(victims)
        reap()
    # The next caller must not see them, not even as zombies: wait (a
    # second at most) until their parents (PID 1, this runner) reaped them.
    until = time.monotonic() + 1.0
    while gone and time.monotonic() < until:
        gone = {pid for pid in gone if os.path.exists("/proc/%d" % pid)}
        if gone:
            reap()
            time.sleep(0.005)
    return killed



# ---- background processes ------------------------------------------------
# A background process is run by a monitor: a daemon (setsid, double fork)
# that outlives this runner, so the process survives the server and its
# session. Its state is files under DIR/<process id>/, nothing in memory:
#   meta.json    argv, cwd, start time, ring size, deadline
#   pid.json     the process's pid (its group) and the monitor's
#   in           a FIFO the monitor reads stdin records from: b"d%08x" +
#                data, or b"e" (EOF); writers hold in.lock (replicas)
#   out          the output log: records b"o"|b"e" + 16 hex digits of the
#                output offset + 8 of length + data; compacted to the last
#                RING bytes (at least) once it holds twice that
#   status.json  exit code, signal, end time; written once, at exit

REC_HDR = 25
ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


class OpError(Exception):
    def __init__(self, status, text):
        Exception.__init__(self, text)
        self.status = status


def proc_dir(a):
    pid_id = a.get("process_id") or ""
    if not (0 < len(pid_id) <= 32) or not set(pid_id) <= ID_CHARS:
        raise OpError("invalid", "bad process id")
    return os.path.join(a["dir"], pid_id)


def write_atomic(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, path)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except OSError:
        return True


def drop_protocol():
    # In a forked child: nothing of the protocol or its key survives.
    key[:] = bytes(KEY_LEN)
    prefix[:] = bytes(len(prefix))
    signal.set_wakeup_fd(-1)
    for sg in (signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(sg, signal.SIG_DFL)


class Ring:
    def __init__(self, d, limit):
        self.path = os.path.join(d, "out")
        self.limit = limit
        self.f = open(self.path, "ab", buffering=0)
        self.recs = []  # [file position, output offset, length], oldest first
        self.first = 0  # index of the oldest record kept
        self.size = 0
        self.total = 0

    def append(self, stream, data):
        self.f.write(b"%c%016x%08x" % (stream, self.total, len(data)) + data)
        self.recs.append((self.size, self.total, len(data)))
        self.size += REC_HDR + len(data)
        self.total += len(data)
        if self.total - self.recs[self.first][1] > 2 * self.limit:
            self.compact()

    def compact(self):
        # Keep from the last record that starts at or before total - limit:
        # at least the last limit bytes of output stay readable.
        keep = self.total - self.limit
        i = self.first
        while i + 1 < len(self.recs) and self.recs[i + 1][1] <= keep:
            i += 1
        start = self.recs[i][0]
        with open(self.path, "rb") as src:
            src.seek(start)
            tail = src.read()
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as dst:
            dst.write(tail)
        os.rename(tmp, self.path)
        self.f.close()
        self.f = open(self.path, "ab", buffering=0)
        self.recs = [(pos - start, off, n) for pos, off, n in self.recs[i:]]
        self.first = 0
        self.size -= start


def monitor(d, a, env, stdin):
    # The daemon that runs one background process until it ends.
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.closerange(3, 65536)
    wr, ww = os.pipe()
    os.set_blocking(ww, False)
    signal.set_wakeup_fd(ww)
    signal.signal(signal.SIGCHLD, lambda *x: None)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    # The process is signalled, not its monitor: these stay blocked here.
    # The child starts with them blocked too and unblocks them once their
    # default actions are back, so a signal sent the moment it started is
    # held until then, never lost.
    held = {signal.SIGHUP, signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    fifo = os.open(os.path.join(d, "in"), os.O_RDWR | os.O_NONBLOCK)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            signal.set_wakeup_fd(-1)
            for sg in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
                signal.signal(sg, signal.SIG_DFL)
            limit_call()
            become_call(in_r, out_w, err_w)
            if a.get("cwd"):
                os.chdir(a["cwd"])
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
            argv = a["argv"]
            os.execvpe(argv[0], argv, env)
        except OSError as e:
            os.write(2, ("%s: %s\n" % (a["argv"][0], e.strerror)).encode())
            os._exit(126 if e.errno in (errno.EACCES, errno.ENOEXEC) else 127)
        except BaseException:
            os._exit(127)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    write_atomic(os.path.join(d, "pid.json"), {"pid": pid, "monitor": os.getpid()})
    ring = Ring(d, a["ring"])
    pending = bytearray(stdin)
    eof = False
    rbuf = bytearray()
    outs = {out_r: ord("o"), err_r: ord("e")}
    for fd in list(outs) + [in_w, fifo]:
        os.set_blocking(fd, False)
    timeout = a.get("timeout") or 0
    deadline = time.monotonic() + timeout if timeout > 0 else None
    kill_at = None
    timed_out = False
    status = None
    while status is None:
        now = time.monotonic()
        wait = None
        for t in (deadline, kill_at):
            if t is not None:
                wait = max(0.0, t - now) if wait is None else min(wait, max(0.0, t - now))
        wl = [in_w] if in_w is not None and (pending or eof) else []
        try:
            readable, writable, _ = select.select(list(outs) + [fifo, wr], wl, [], wait)
        except InterruptedError:
            readable, writable = [], []
        for fd in readable:
            if fd == wr:
                try:
                    os.read(wr, 4096)
                except BlockingIOError:
                    pass
            elif fd == fifo:
                try:
                    rbuf += os.read(fifo, 1 << 16)
                except BlockingIOError:
                    pass
                while rbuf:
                    if rbuf[0] == ord("e"):
                        eof = True
                        del rbuf[:1]
                    elif rbuf[0] == ord("d") and len(rbuf) >= 9:
                        n = int(rbuf[1:9], 16)
                        if len(rbuf) < 9 + n:
                            break
                        pending += rbuf[9:9 + n]
                        del rbuf[:9 + n]
                    elif rbuf[0] == ord("d"):
                        break
                    else:
                        del rbuf[:]  # not a record: nobody but the runner writes here
            else:
                try:
                    data = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if data:
                    ring.append(outs[fd], data)
                else:
                    os.close(fd)
                    del outs[fd]
        if writable and in_w is not None:
            try:
                if pending:
                    n = os.write(in_w, pending[:1 << 16])
                    del pending[:n]
                if eof and not pending:
                    os.close(in_w)
                    in_w = None
            except BlockingIOError:
                pass
            except OSError:
                os.close(in_w)
                in_w = None
                del pending[:]
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            timed_out = True
            deadline = None
            kill_at = now + (a.get("grace") or 5.0)
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                pass
        if kill_at is not None and now >= kill_at:
            kill_at = None
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            got, st = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            got, st = pid, 0
        if got == pid:
            status = st
    # The process is gone: what it wrote is in the pipes (a background job
    # of its own that keeps writing is not part of it).
    for fd, s in list(outs.items()):
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            ring.append(s, data)
    code, sig = None, None
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        code = 128 + sig
    else:
        code = os.WEXITSTATUS(status)
    write_atomic(os.path.join(d, "status.json"), {"code": code, "signal": sig, "ended": time.time(), "timed_out": timed_out})
    os._exit(0)


def op_spawn(a):
    d = proc_dir(a)
    os.makedirs(a["dir"], mode=0o700, exist_ok=True)
    try:
        os.mkdir(d, 0o700)
    except FileExistsError:
        raise OpError("invalid", "process id in use")
    os.mkfifo(os.path.join(d, "in"), 0o600)
    write_atomic(os.path.join(d, "meta.json"), {"argv": a["argv"], "cwd": a.get("cwd") or "", "started": time.time(),
                                                "ring": a["ring"], "timeout": a.get("timeout") or 0})
    extra = {k: v for k, v in (a.get("env") or {}).items() if BASE_ENV.get(k) != v}
    env = dict(BASE_ENV, **extra)
    stdin = base64.b64decode(a.get("stdin") or "")
    pid = os.fork()
    if pid == 0:
        try:
            drop_protocol()
            os.setsid()
            if os.fork() == 0:
                monitor(d, a, env, stdin)
        except BaseException:
            pass
        os._exit(0)
    os.waitpid(pid, 0)
    # Answer with the pid: the monitor writes it right after its fork.
    until = time.monotonic() + 1.0
    while not os.path.exists(os.path.join(d, "pid.json")) and time.monotonic() < until:
        time.sleep(0.0005)
    return proc_info(d, os.path.basename(d))


def proc_info(d, pid_id):
    meta = read_json(os.path.join(d, "meta.json"))
    if meta is None:
        raise OpError("not_found", "no such process")
    pids = read_json(os.path.join(d, "pid.json")) or {}
    st = read_json(os.path.join(d, "status.json"))
    info = {"process_id": pid_id, "pid": pids.get("pid"), "argv": meta["argv"], "cwd": meta["cwd"],
            "started": meta["started"], "ring": meta["ring"], "timeout": meta["timeout"],
            "code": None, "signal": None, "ended": None, "timed_out": False, "lost": False}
    if st is not None:
        info.update(running=False, code=st["code"], signal=st["signal"], ended=st["ended"], timed_out=st["timed_out"])
    elif not pids:
        info.update(running=True)  # the monitor is starting it
    elif alive(pids["monitor"]):
        info.update(running=True)
    else:
        # Its monitor was killed (from inside the sandbox): the exit status
        # is lost; the process may still run, unobserved.
        info.update(running=False, lost=True)
    return info


def op_list(a):
    try:
        names = sorted(os.listdir(a["dir"]))
    except FileNotFoundError:
        return {"processes": []}
    out = []
    for name in names:
        if set(name) <= ID_CHARS:
            try:
                out.append(proc_info(os.path.join(a["dir"], name), name))
            except OpError:
                pass
    out.sort(key=lambda i: i["started"])
    return {"processes": out}


read_hint = {}  # process dir -> (inode, file position, output offset) after the last read


def op_read(a):
    d = proc_dir(a)
    info = proc_info(d, os.path.basename(d))
    offset = max(int(a.get("offset") or 0), 0)
    limit = min(max(int(a.get("max") or 1 << 16), 1), 1 << 20)
    chunks, size, first, nxt = [], 0, None, offset
    try:
        f = open(os.path.join(d, "out"), "rb")
    except FileNotFoundError:
        f = None
    if f is not None:
        with f:
            ino = os.fstat(f.fileno()).st_ino
            hint = read_hint.get(d)
            if hint and hint[0] == ino and hint[2] == offset:
                f.seek(hint[1])  # the same file: nothing before it was dropped
                first = offset
            pos = f.tell()
            while size < limit:
                hdr = f.read(REC_HDR)
                if len(hdr) < REC_HDR:
                    break
                off, n = int(hdr[1:17], 16), int(hdr[17:25], 16)
                if first is None:
                    first = off
                if off + n <= offset:
                    f.seek(n, 1)
                    pos += REC_HDR + n
                    continue
                data = f.read(n)
                if len(data) < n:
                    break  # being written
                lo = max(offset - off, 0)
                piece = data[lo:lo + limit - size]
                chunks.append(["out" if hdr[0] == ord("o") else "err", base64.b64encode(piece).decode()])
                size += len(piece)
                nxt = off + lo + len(piece)
                if lo + len(piece) < n:
                    break  # the rest of this record next time
                pos += REC_HDR + n
            read_hint[d] = (ino, pos, nxt)
    # Output before the oldest record kept was compacted away.
    dropped = first - offset if first is not None and first > offset else 0
    return {"chunks": chunks, "next_offset": nxt, "dropped": dropped, "running": info["running"]}


def op_stdin(a):
    d = proc_dir(a)
    info = proc_info(d, os.path.basename(d))
    if not info["running"]:
        raise OpError("finished", "the process has finished")
    data = base64.b64decode(a.get("data") or "")
    rec = b""
    for i in range(0, len(data), 1 << 16):
        part = data[i:i + (1 << 16)]
        rec += b"d%08x" % len(part) + part
    if a.get("eof"):
        rec += b"e"
    try:
        fd = os.open(os.path.join(d, "in"), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        raise OpError("finished", "the process has finished")
    try:
        lock = os.open(os.path.join(d, "in.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            view = memoryview(rec)
            until = time.monotonic() + 2.0
            while view:
                try:
                    n = os.write(fd, view)
                    view = view[n:]
                except BlockingIOError:
                    left = until - time.monotonic()
                    if left <= 0:
                        raise OpError("finished", "the process's monitor does not take its stdin")
                    select.select([], [fd], [], left)
        finally:
            os.close(lock)
    finally:
        os.close(fd)
    return {"written": len(data)}


def op_signal(a):
    d = proc_dir(a)
    info = proc_info(d, os.path.basename(d))
    if not info["running"] or not info.get("pid"):
        raise OpError("finished", "the process has finished")
    try:
        os.killpg(info["pid"], int(a["signal"]))
    except ProcessLookupError:
        raise OpError("finished", "the process has finished")
    return {"signalled": True}


def op_mark(a):
    # A small file the host reads back later (a spare's claim, see
    # internal/runner/mark.go): written whole or not at all. No fsync: it
    # must outlive the server, not the host.
    path, text = a.get("path") or "", a.get("text")
    if not path.startswith("/tmp/.enclave/") or ".." in path.split("/") or not isinstance(text, str):
        raise OpError("invalid", "bad mark")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return {"marked": True}


OPS = {"spawn": op_spawn, "list": op_list, "info": lambda a: proc_info(proc_dir(a), a["process_id"]),
       "read": op_read, "stdin": op_stdin, "signal": op_signal, "mark": op_mark}


# ---- terminals --------------------------------------------------------------
# A terminal's output is read only while less than PTY_WINDOW of it awaits
# the host's pty_ack: a client that reads slowly slows the terminal (as a
# real one does) instead of filling this runner or the host.
PTY_WINDOW = 1 << 20
ptys = {}  # id -> terminal
by_pty = {}  # master fd -> terminal
pty_by_pid = {}


def winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def open_pty(rid, a):
    extra = {k: v for k, v in (a.get("env") or {}).items() if BASE_ENV.get(k) != v}
    env = dict(BASE_ENV, **extra)
    env.setdefault("TERM", "xterm-256color")
    master, slave = os.openpty()
    winsize(master, a.get("rows") or 24, a.get("cols") or 80)
    pid = os.fork()
    if pid == 0:
        try:
            drop_protocol()
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            os.closerange(3, 65536)
            set_dumpable(True)
            if a.get("cwd"):
                os.chdir(a["cwd"])
            argv = a["argv"]
            os.execvpe(argv[0], argv, env)
        except OSError as e:
            os.write(2, ("%s: %s\r\n" % (a["argv"][0], e.strerror)).encode())
            os._exit(127)
        except BaseException:
            os._exit(127)
    os.close(slave)
    os.set_blocking(master, False)
    t = {"id": rid, "pid": pid, "fd": master, "in": bytearray(), "code": None, "unacked": 0}
    ptys[rid] = t
    by_pty[master] = t
    pty_by_pid[pid] = t


def pty_done(t):
    if t["code"] is None or t["fd"] is not None:
        return
    del ptys[t["id"]]
    send({"id": t["id"], "code": t["code"]})


def pty_close(t):
    if t["fd"] is not None:
        del by_pty[t["fd"]]
        os.close(t["fd"])
        t["fd"] = None
    pty_done(t)


def pty_read(t):
    try:
        data = os.read(t["fd"], 1 << 16)
    except BlockingIOError:
        return
    except OSError:
        data = b""  # EIO: the terminal's last process closed it
    if data:
        t["unacked"] += len(data)
        send({"id": t["id"], "pty_out": base64.b64encode(data).decode()})
    else:
        pty_close(t)


def pty_write(t):
    try:
        n = os.write(t["fd"], t["in"][:1 << 16])
        del t["in"][:n]
    except BlockingIOError:
        pass
    except OSError:
        del t["in"][:]


# ---- the fork server ------------------------------------------------------
# Calls are not forked from this runner but handed to standby children of a
# fork server (zygote below), which is forked from the runner before the key is read, so
# neither it nor any call ever held the key, a protocol fd or another call's
# data. It keeps STANDBYS children forked and warmed, each waiting on its own
# socket; the runner starts a call with one sendmsg (the request and the
# call's stdio fds), so a call's path has no fork and no copy-on-write faults:
# the fork server pays them while the runner waits for requests, and the
# runner, which no longer forks, never shares its pages with a child. The
# fork server reaps its children and sends each exit status here; the runner
# is their subreaper, so if the fork server dies its children become the
# runner's and are reaped by reap(). Without a fork server (it died, was
# stopped, or the platform lacks SCM_RIGHTS or prctl), calls fork here.
# Messages (SOCK_SEQPACKET): runner -> fork server b"n" (one more standby);
# fork server -> runner b"s<pid>" with the standby's socket, b"x<pid> <status>".
STANDBYS = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 0  # runner.go's Options
INLINE_MAX = 32 << 10  # a larger request goes to the standby in a memfd
PR_SET_CHILD_SUBREAPER = 36
CHILD_KEYS = ("argv", "py_path", "py_src", "env", "cwd")  # what child() reads
STATUS_PATIENCE = 5.0  # seconds a finished call waits for its exit status
QUEUE_PATIENCE = 0.25  # seconds a call waits for a standby
STANDBY_TRIES = 3  # standbys lost under one call before it is forked here
zygote = None  # {"pid": n, "sock": socket} while the fork server runs
standbys = []  # [(pid, socket)] ready, oldest first
waiting = []  # [(request, line, since, tries)] calls read while no standby was ready


def send_fds(sock, data, fds):
    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])


def fds_of(anc):
    # The descriptors an SCM_RIGHTS message carried.
    fds = array.array("i")
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return list(fds)


def recv_fds(sock, size, maxfds):
    data, anc, _, _ = sock.recvmsg(size, socket.CMSG_SPACE(maxfds * 4))
    return data, fds_of(anc)


def start_zygote():
    global zygote
    if STANDBYS < 1 or _prctl is None or not hasattr(socket, "AF_UNIX"):
        return
    if _prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        return
    if hasattr(gc, "freeze"):
        gc.freeze()  # a child's collections then never touch (copy) these pages
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            mine.close()
            fork_server(theirs)
        finally:
            os._exit(0)
    theirs.close()
    mine.setblocking(False)
    zygote = {"pid": pid, "sock": mine}


def fork_server(sock):
    # The fork server's loop: keep the standbys coming, report exits.
    zr, zw = os.pipe()
    os.set_blocking(zw, False)
    signal.set_wakeup_fd(zw)
    for fd in (proto_in, proto_out, wake_r, wake_w):
        os.close(fd)
    want = STANDBYS
    while True:
        while want > 0:
            try:
                fork_standby(sock, (sock.fileno(), zr, zw))
            except OSError:
                break  # no pids or memory now (a fork bomb): try again soon
            want -= 1
        try:
            readable, _, _ = select.select([sock, zr], [], [], 0.1 if want > 0 else None)
        except InterruptedError:
            readable = []
        if zr in readable:
            try:
                os.read(zr, 4096)
            except BlockingIOError:
                pass
        if sock in readable:
            msg = sock.recv(64)
            if not msg:
                os._exit(0)  # the runner is gone; so are the standbys' peers
            want += msg.count(b"n")
        for pid, status in waited():
            sock.send(b"x%d %d" % (pid, status))


def fork_standby(sock, drop):
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            mine.close()
            standby(theirs, drop)
        except BaseException as e:
            try:
                os.write(2, ("enclave runner: %s\n" % e).encode())
            finally:
                os._exit(127)
        os._exit(0)
    try:
        os.setpgid(pid, pid)  # as in fork_call(): its group from the first instant
    except OSError:
        pass
    theirs.close()
    try:
        send_fds(sock, b"s%d" % pid, [mine.fileno()])
    finally:
        mine.close()


def standby(sock, drop):
    # A forked child of the fork server, in its own group, waiting for the
    # one call it will run. It stays non-dumpable until then (a process of
    # another call that could ptrace it would become this call).
    # What needs nothing of the call is done before it comes, off its path.
    prepare_call()
    limit_call()
    for fd in drop:
        os.close(fd)
    buf = bytearray(INLINE_MAX + 1)
    warm_call()
    n, anc, _, _ = sock.recvmsg_into([buf], socket.CMSG_SPACE(4 * 4))
    data, fds = bytes(buf[:n]), fds_of(anc)
    if not data:
        os._exit(0)  # the runner is gone
    try:
        sock.send(b"k")  # this call is mine now (see exited)
    except OSError:
        pass
    if data[:1] == b"m":
        mfd = fds.pop()
        chunks = []
        while True:
            b = os.read(mfd, 1 << 20)
            if not b:
                break
            chunks.append(b)
        data = b"i" + b"".join(chunks)
    req = json.loads(data[1:])
    in_r, out_w, err_w = fds
    extra = {k: v for k, v in (req.get("env") or {}).items() if BASE_ENV.get(k) != v}
    env = dict(BASE_ENV, **extra) if extra else BASE_ENV
    child(req, extra, env, in_r, out_w, err_w, prepared=True)


def warm_call():
    # In a standby: what child() and run_python() do first, once, before the
    # request, so that the copy-on-write faults of the pages they touch, and
    # of heap pages their allocations will reuse, are not on the call's path.
    # Nothing here changes what the call observes.
    set_dumpable(False)
    req = json.loads('{"id": 1, "py_path": "/tmp/w.py", "py_src": "print(1)", "env": {"A": "b"}, "cwd": "", "timeout": 1.5}')
    extra = {k: v for k, v in req["env"].items() if BASE_ENV.get(k) != v}
    dict(BASE_ENV, **extra)
    mod = types.ModuleType("__main__")
    mod.__file__, mod.__builtins__ = req["py_path"], builtins
    code = compile(req["py_src"], req["py_path"], "exec")
    files = [open(os.devnull, "w", buffering=1) for _ in range(3)]
    g = dict(mod.__dict__, print=lambda *a: print(*a, file=files[0]))
    exec(code, g)
    for f in files:
        f.close()


def zygote_msgs():
    # Everything the fork server sent: standbys and exit statuses.
    while zygote is not None:
        try:
            data, fds = recv_fds(zygote["sock"], 64, 1)
        except BlockingIOError:
            break
        except OSError:
            data, fds = b"", []
        if not data:
            zygote_gone()
            return
        if data[:1] == b"s" and fds:
            standbys.append((int(data[1:]), socket.socket(fileno=fds[0])))
        elif data[:1] == b"x":
            pid, status = data[1:].split()
            exited(int(pid), int(status))
        else:
            for fd in fds:
                os.close(fd)
    launch_waiting()


def launch_waiting(fork=False):
    while waiting and (standbys or fork or zygote is None):
        req, line, since, tries = waiting.pop(0)
        try:
            launch(req, line, fork, tries, since)
        except Exception as e:
            send({"id": req.get("id"), "code": -1, "error": str(e)})


def zygote_gone():
    # The fork server is dead (or was killed for not answering): calls fork
    # here from now on, and its children, now this runner's, are reaped here.
    global zygote
    if zygote is None:
        return
    z, zygote = zygote, None
    send({"fork_server_lost": True})
    try:
        os.kill(z["pid"], signal.SIGKILL)
    except OSError:
        pass
    z["sock"].close()
    for _, s in standbys:
        s.close()  # a standby that reads EOF exits
    del standbys[:]
    launch_waiting()


def zygote_stuck(now):
    # A call whose output ended but whose exit status has not come: the fork
    # server is stopped (a call can SIGSTOP it) or far behind. Kill it; its
    # zombies are then this runner's to reap. Calls that waited too long for
    # a standby are forked here.
    if zygote is None:
        return
    if waiting and now - waiting[0][2] >= QUEUE_PATIENCE:
        if proc_state(zygote["pid"]) in (b"T", b"t"):
            zygote_gone()
            return
        launch_waiting(fork=True)
    for c in calls.values():
        # On a standby: its socket stays open until the fork server reports
        # its exit.
        if c["code"] is None and not c["fds"] and c["sock"] is not None and c["eof_at"] is not None:
            if now - c["eof_at"] >= STATUS_PATIENCE or proc_state(zygote["pid"]) in (b"T", b"t"):
                zygote_gone()
                return


def proc_state(pid):
    return (stat_fields(pid) or [b""])[0]


def standby_line(req, line):
    # What a standby gets: the request line as read, or, when that is large
    # (stdin, a long script), only what it needs to become the call; None
    # when it cannot be passed (too large, no memfd).
    if len(line) >= INLINE_MAX:
        line = json.dumps({k: req[k] for k in CHILD_KEYS if k in req}).encode()
        if len(line) >= INLINE_MAX and not hasattr(os, "memfd_create"):
            return None
    return line


def hand_over(line, fds):
    # Start a call on a standby: (its pid, its socket), or (None, None) when
    # none could take it. The socket stays open until the standby exits: the
    # byte it sends back says it took the call (see exited).
    while standbys and zygote is not None:
        pid, sock = standbys.pop(0)
        try:
            zygote["sock"].send(b"n")
        except OSError:
            pass  # full or gone: it is read for its exit below
        try:
            if len(line) < INLINE_MAX:
                send_fds(sock, b"i" + line, fds)
            else:
                mfd = os.memfd_create("enclave-request", os.MFD_CLOEXEC)
                try:
                    os.write(mfd, line)
                    os.lseek(mfd, 0, os.SEEK_SET)
                    send_fds(sock, b"m", fds + [mfd])
                finally:
                    os.close(mfd)
            sock.setblocking(False)
            return pid, sock
        except OSError:
            sock.close()  # that standby is gone; its exit is reported and ignored
    return None, None


def handle_op(req):
    rid, op = req.get("id"), req.get("op")
    if op == "pty":
        send({"id": rid, "ack": True})
        try:
            open_pty(rid, req)
        except Exception as e:
            send({"id": rid, "code": -1, "error": str(e)})
        return
    if op in ("pty_in", "pty_resize", "pty_ack"):
        t = ptys.get(rid)
        if t is None or t["fd"] is None:
            return
        if op == "pty_ack":
            t["unacked"] = max(t["unacked"] - int(req.get("n") or 0), 0)
        elif op == "pty_in":
            t["in"] += base64.b64decode(req.get("data") or "")
            pty_write(t)
        else:
            try:
                winsize(t["fd"], req.get("rows") or 24, req.get("cols") or 80)
            except OSError:
                pass
        return
    fn = OPS.get(op)
    try:
        if fn is None:
            raise OpError("invalid", "unknown op %r" % op)
        send({"id": rid, "result": fn(req)})
    except OpError as e:
        send({"id": rid, "error": str(e), "status": e.status})
    except Exception as e:
        send({"id": rid, "error": "%s: %s" % (type(e).__name__, e), "status": "failed"})


def connect_channel():
    # runner.go's channel: a socket the host listens on, mounted read-only
    # into the sandbox, so no runtime relays the protocol. The runner proves
    # itself with the key (a writev: no other object holds it). None: it
    # cannot be reached; the protocol stays on stdin/stdout.
    if CHANNEL is None or not hasattr(socket, "AF_UNIX"):
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(2.0)
        s.connect(CHANNEL)
        s.setblocking(True)
        bufs = [memoryview(key), b"\n"]
        while bufs:
            n = os.writev(s.fileno(), bufs)
            while bufs and n >= len(bufs[0]):
                n -= len(bufs[0])
                bufs.pop(0)
            if bufs:
                bufs[0] = bufs[0][n:]
    except OSError:
        s.close()
        return None
    return s.detach()


def end():
    # The host is gone (its end of the protocol closed): so are the calls.
    for c in list(calls.values()):
        signal_group(c, signal.SIGKILL)
    for t in list(ptys.values()):
        try:
            os.killpg(t["pid"], signal.SIGKILL)
        except OSError:
            pass
    sys.exit(0)


start_zygote()
read_key()
channel = connect_channel()
if channel is None and KEY_FILE is not None:
    sys.exit(3)  # booted: nobody to talk to but the channel
ready = {"ready": True, "pid": os.getpid(), "hardened": hardened, "fork_server": zygote is not None,
         "channel": channel is not None}
if channel is not None and KEY_FILE is not None:
    os.close(proto_in)
    os.close(proto_out)
    proto_in = proto_out = channel
send(ready)
if channel is not None and proto_in != channel:
    os.close(proto_in)
    os.close(proto_out)
    proto_in = proto_out = channel
buf = b""
while True:
    now = time.monotonic()
    wait = None
    for c in list(calls.values()):
        for t in (c["deadline"], c["kill_at"]):
            if t is not None:
                wait = max(0.0, t - now) if wait is None else min(wait, max(0.0, t - now))
        if c["eof_at"] is not None and c["code"] is None:
            wait = 0.05 if wait is None else min(wait, 0.05)  # zygote_stuck looks again
    if waiting:
        wait = 0.05 if wait is None else min(wait, 0.05)
    if calls and thrash["next"] is not None:
        wait = max(0.0, thrash["next"] - now) if wait is None else min(wait, max(0.0, thrash["next"] - now))
    zfd = [zygote["sock"]] if zygote is not None else []
    try:
        readable, writable, _ = select.select([proto_in, wake_r] + zfd + list(by_fd) +
                                              [fd for fd, t in by_pty.items() if t["unacked"] < PTY_WINDOW], list(by_in) +
                                              [t["fd"] for t in ptys.values() if t["in"] and t["fd"] is not None], [], wait)
    except InterruptedError:
        readable, writable = [], []
    for fd in writable:
        c = by_in.get(fd)
        if c is not None:
            feed(c)
        t = by_pty.get(fd)
        if t is not None:
            pty_write(t)
    for fd in readable:
        if fd == wake_r:
            try:
                os.read(wake_r, 4096)
            except BlockingIOError:
                pass
            continue
        if zfd and fd is zfd[0]:
            zygote_msgs()
            continue
        if fd == proto_in:
            try:
                chunk = os.read(proto_in, 1 << 16)
            except OSError:
                chunk = b""  # a reset channel is an ended one
            if not chunk:
                end()
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    req = json.loads(line)
                except ValueError:
                    continue
                if req.get("kill"):
                    for i, (w, _, _, _) in enumerate(waiting):
                        if w.get("id") == req["id"]:
                            del waiting[i]
                            send({"id": req["id"], "code": 128 + signal.SIGKILL, "timed_out": False, "killed": True,
                                  "oom": False, "out": "", "err": "", "out_trunc": False, "err_trunc": False})
                            break
                    c = calls.get(req["id"])
                    if c is not None:
                        c["killed"] = True
                        signal_group(c, signal.SIGKILL)
                    t = ptys.get(req["id"])
                    if t is not None:
                        try:
                            os.killpg(t["pid"], signal.SIGKILL)
                        except OSError:
                            pass
                    continue
                if "op" in req:
                    handle_op(req)
                    continue
                if req.get("sweep"):
                    send({"id": req["id"], "swept": sweep()})
                    continue
                send({"id": req.get("id"), "ack": True})
                try:
                    start(req, line)
                except Exception as e:
                    send({"id": req.get("id"), "code": -1, "error": str(e)})
            continue
        t = by_pty.get(fd)
        if t is not None:
            pty_read(t)
            continue
        c = by_fd.get(fd)
        if c is None:
            continue
        name = c["fds"][fd]
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            continue
        if not data:
            os.close(fd)
            del c["fds"][fd]
            del by_fd[fd]
            if not c["fds"]:
                c["eof_at"] = time.monotonic()
            finish_if_done(c)
            continue
        room = c["max"] - c["size"][name] if c["max"] else len(data)
        if room < len(data):
            c["trunc"][name] = True
            data = data[:max(room, 0)]
        if data:
            c[name].append(data)
            c["size"][name] += len(data)
            if c["stream"]:
                send({"id": c["id"], "chunk": base64.b64encode(data).decode(), "s": name})
    reap()
    now = time.monotonic()
    zygote_stuck(now)
    thrash_watch(now)
    for c in list(calls.values()):
        if c["deadline"] is not None and now >= c["deadline"] and not c["timed_out"]:
            c["timed_out"] = True
            signal_group(c, signal.SIGTERM)
            c["kill_at"] = now + c["grace"]
            c["deadline"] = None
        if c["kill_at"] is not None and now >= c["kill_at"]:
            signal_group(c, signal.SIGKILL)
            c["kill_at"] = None
