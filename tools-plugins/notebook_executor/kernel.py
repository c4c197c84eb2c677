# enclave notebook kernel: one persistent Python interpreter per sandbox,
# driven by line-delimited JSON on its original stdin/stdout. stdlib only.
#
# Request:  {"code": "..."}
# Reply:    {"status": "ok"|"error"|"interrupted", "output": "...", "error": "..."}
# First line after start: {"ready": true, "pid": <pid>}
#
# Cells run in one __main__ namespace. Everything a cell writes to stdout or
# stderr, its subprocesses included, lands in one capture file in the order
# written. SIGINT (sent to the kernel's process group at a deadline) raises
# KeyboardInterrupt in the cell; leftover processes of the group are killed.
import ast, io, json, linecache, os, signal, sys, tempfile, traceback, types

try:
    os.setpgid(0, 0)  # own process group: an interrupt reaches the cell's children
except OSError:
    pass

proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(devnull, 0)
capture = tempfile.TemporaryFile(mode="w+b", buffering=0)
os.dup2(capture.fileno(), 1)
os.dup2(capture.fileno(), 2)
stream = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="replace", write_through=True)
sys.stdout = sys.stderr = stream
sys.stdin = open(os.devnull, "r")

main = types.ModuleType("__main__")
main.__dict__["__builtins__"] = __builtins__
sys.modules["__main__"] = main
ns = main.__dict__
KERNEL_FILES = {__file__ if "__file__" in globals() else "<string>", "<string>"}
cells = 0
MAX_OUTPUT = int(os.environ.get("ENCLAVE_MAX_OUTPUT", "1048576"))


def reply(obj):
    proto_out.write((json.dumps(obj) + "\n").encode())


def kill_leftovers():
    me = os.getpid()
    try:
        pgid = os.getpgid(0)
    except OSError:
        return
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                os.kill(int(name), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


def collected():
    stream.flush()
    capture.seek(0)
    data = capture.read()
    capture.seek(0)
    capture.truncate()
    truncated = len(data) > MAX_OUTPUT
    return data[:MAX_OUTPUT].decode("utf-8", "replace"), truncated


def format_exc(exc):
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in KERNEL_FILES:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def run(code):
    global cells
    cells += 1
    name = "<cell-%d>" % cells
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    result = ""
    tree = ast.parse(code, name, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, name, "exec"), ns)
    if last is not None:
        value = eval(compile(last, name, "eval"), ns)
        if value is not None and not code.rstrip().endswith(";"):
            result = "\nResult: " + repr(value)
    return result


def handle(code):
    status, err = "ok", ""
    result = ""
    try:
        result = run(code)
    except KeyboardInterrupt:
        status = "interrupted"
        kill_leftovers()
    except SystemExit as e:
        status, err = "error", "SystemExit: %s\n" % (e.code,)
    except BaseException as e:  # the cell's error, reported, never fatal
        status, err = "error", format_exc(e)
    out, truncated = collected()
    if status == "ok":
        reply({"status": "ok", "output": out + result, "truncated": truncated})
    elif status == "interrupted":
        reply({"status": "interrupted", "output": out, "truncated": truncated})
    else:
        reply({"status": "error", "output": "", "error": out + err, "truncated": truncated})


reply({"ready": True, "pid": os.getpid()})
while True:
    try:
        line = proto_in.readline()
    except KeyboardInterrupt:  # an interrupt between cells
        continue
    if not line:
        break
    try:
        req = json.loads(line)
    except ValueError:
        continue
    try:
        handle(req.get("code", ""))
    except KeyboardInterrupt:  # interrupt raced the reply
        kill_leftovers()
        collected()
        reply({"status": "interrupted", "output": ""})
