"""The issue-24 flood against a running echo example, for benches/RESULTS.md.

usage: python3 benches/flood.py ECHO_BINARY CONNECTIONS MIB [echo flags...]

Starts ECHO_BINARY on 127.0.0.1:0 with the flags, opens CONNECTIONS raw
clients that each send the header of a 60 MiB binary frame and MIB MiB of
it, then wait for the server's close (read timeout RT seconds, default 6).
Prints VmRSS before, at the peak and after, the close codes, and with
TRIM=1 calls malloc_trim(0) and malloc_stats() in the server through gdb.
WAVES=N repeats the flood N times on the same server.
"""
import socket, threading, time, sys, os, struct, subprocess, re
exe = sys.argv[1]; n = int(sys.argv[2]); sent = int(sys.argv[3]) << 20
extra = sys.argv[4:]
p = subprocess.Popen([exe, "--addr", "127.0.0.1:0"] + extra, stdout=subprocess.PIPE, text=True)
line = p.stdout.readline(); addr = line.strip().rsplit("://",1)[1]; host, port = addr.rsplit(":",1); port=int(port)
def rss():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1])
def hs(s):
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    buf=b""
    while b"\r\n\r\n" not in buf: buf += s.recv(4096)
    return buf.split(b"\r\n\r\n",1)[1]
chunk = b"\0" * (1<<20)
res = {}
t0 = time.time()
def flooder(i):
    s = socket.create_connection((host, port)); s.settimeout(float(os.environ.get("RT","6")))
    hs(s)
    s.sendall(bytes([0x82, 0x80|127]) + struct.pack(">Q", 60<<20) + b"\1\2\3\4")
    left = sent; err=None
    try:
        while left > 0:
            m = min(left, len(chunk)); s.sendall(chunk[:m]); left -= m
    except Exception as e: err = type(e).__name__
    tw = time.time()-t0
    code=None
    try:
        d = b""
        while len(d) < 4:
            x = s.recv(100)
            if not x: break
            d += x
        if len(d)>=4: code = struct.unpack(">H", d[2:4])[0]
    except Exception as e: code = type(e).__name__
    res[i] = (round(tw,2), err, code, round(time.time()-t0,2))
base = rss(); peak = base
for wave in range(int(os.environ.get("WAVES","1"))):
    ts = [threading.Thread(target=flooder, args=(i,)) for i in range(n)]
    for t in ts: t.start()
    while any(t.is_alive() for t in ts):
        peak = max(peak, rss()); time.sleep(0.01)
    time.sleep(0.5)
    after = rss()
    print("wave", wave, "after", after)
from collections import Counter
print("before", base, "peak", peak, "after", after, "KiB; elapsed", round(time.time()-t0,2))
print(Counter((r[1], r[2]) for r in res.values()))
print("write-done times", sorted(r[0] for r in res.values())[::max(1,n//10)])
print("close times", sorted(r[3] for r in res.values())[::max(1,n//10)])
time.sleep(1); print("rss later", rss())
if os.environ.get("TRIM"):
    out = subprocess.run(["gdb","-p",str(p.pid),"-batch","-ex","call (int) malloc_trim(0)"],capture_output=True,text=True)
    print("malloc_trim ->", [l for l in out.stdout.splitlines() if l.startswith("$")])
    print("rss after malloc_trim(0)", rss())
    out = subprocess.run(["gdb","-p",str(p.pid),"-batch","-ex","call (void) malloc_stats()"],capture_output=True,text=True)
    print(out.stderr[-1500:])
p.kill()
