#!/usr/bin/env python3
"""Print the functions of a static, unstripped binary in the order a run
of it first calls them, one symbol name per line, in every process it
forks or clones (until they exec something else).

Each function's first byte is replaced by int3 before the program starts;
a hit records the function, puts the byte back and resumes, so every
function costs one trap, however often it runs. Used by
scripts/symbol-order.sh to pack the code a container start touches.

Usage: first-touch.py OUT BINARY ARGS...   (as root; BINARY is argv[0];
the names are appended to OUT)
"""
import ctypes
import os
import signal
import subprocess
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]

TRACEME, PEEKUSER, POKEUSER, CONT, DETACH = 0, 3, 6, 7, 17
SETOPTIONS = 0x4200
O_TRACEFORK, O_TRACEVFORK, O_TRACECLONE, O_TRACEEXEC = 2, 4, 8, 0x10
EVENT_EXEC = 4
RIP = 16 * 8  # offsetof(struct user_regs_struct, rip) on x86_64
WALL = 0x40000000


def ptrace(req, pid, addr=0, data=0):
    ctypes.set_errno(0)
    r = libc.ptrace(req, pid, ctypes.c_void_p(addr), ctypes.c_void_p(data))
    if r == -1 and ctypes.get_errno() != 0:
        raise OSError(ctypes.get_errno(), f"ptrace({req}, {pid})")
    return r


def functions(binary):
    """Address -> names of every function symbol with a nonzero size."""
    out = subprocess.run(["nm", "-S", "--defined-only", binary],
                         check=True, capture_output=True, text=True).stdout
    by_addr = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwWiI" and int(parts[1], 16) > 0:
            by_addr.setdefault(int(parts[0], 16), []).append(parts[3])
    return by_addr


def resume_at_function(p, orig):
    """If p stopped on one of our int3s, put the function's first byte back
    and rewind to it; return the function's address."""
    addr = ptrace(PEEKUSER, p, RIP) - 1
    if addr not in orig:
        return None
    with open(f"/proc/{p}/mem", "r+b", buffering=0) as mem:
        mem.seek(addr)
        mem.write(orig[addr])
    ptrace(POKEUSER, p, RIP, addr)
    return addr


def release(pids, orig):
    """Let processes that outlive the command (a created container's init
    waiting for `start`) go on untraced: stop each, put every original
    byte back, detach."""
    for p in pids:
        try:
            os.kill(p, signal.SIGSTOP)
        except ProcessLookupError:
            continue
        while True:
            q, status = os.waitpid(p, WALL)
            if not os.WIFSTOPPED(status):
                break
            if os.WSTOPSIG(status) == signal.SIGSTOP and status >> 16 == 0:
                with open(f"/proc/{p}/mem", "r+b", buffering=0) as mem:
                    for addr, byte in orig.items():
                        mem.seek(addr)
                        mem.write(byte)
                ptrace(DETACH, p)
                os.kill(p, signal.SIGCONT)
                break
            sig = os.WSTOPSIG(status) if status >> 16 == 0 else 0
            if sig == signal.SIGTRAP and resume_at_function(p, orig):
                sig = 0
            ptrace(CONT, p, 0, sig)


def main():
    out, binary, args = sys.argv[1], sys.argv[2], sys.argv[2:]
    by_addr = functions(binary)
    pid = os.fork()
    if pid == 0:
        ptrace(TRACEME, 0)
        os.execv(binary, args)
    _, status = os.waitpid(pid, 0)  # stopped at the exec
    assert os.WIFSTOPPED(status), status
    ptrace(SETOPTIONS, pid, 0,
           O_TRACEFORK | O_TRACEVFORK | O_TRACECLONE | O_TRACEEXEC)
    orig = {}
    with open(f"/proc/{pid}/mem", "r+b", buffering=0) as mem:
        for addr in by_addr:
            mem.seek(addr)
            orig[addr] = mem.read(1)
            mem.seek(addr)
            mem.write(b"\xcc")
    ptrace(CONT, pid)

    order, seen = [], set()
    live = {pid}
    while live:
        try:
            p, status = os.waitpid(-1, WALL)
        except ChildProcessError:
            break
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            live.discard(p)
            if p == pid:
                release(live - {pid}, orig)
                break
            continue
        live.add(p)
        sig, event = os.WSTOPSIG(status), status >> 16
        if event == EVENT_EXEC:
            # It runs another program now (the container's, or a hook).
            ptrace(DETACH, p)
            live.discard(p)
            continue
        if event:
            ptrace(CONT, p)
            continue
        if sig == signal.SIGTRAP:
            addr = resume_at_function(p, orig)
            if addr is not None:
                if addr not in seen:
                    seen.add(addr)
                    order.append(addr)
                ptrace(CONT, p)
                continue
        if sig == signal.SIGSTOP:
            ptrace(CONT, p)  # a new child's first stop
            continue
        ptrace(CONT, p, 0, sig)
    with open(out, "a") as f:
        for addr in order:
            for name in by_addr[addr]:
                print(name, file=f)


if __name__ == "__main__":
    main()
