#!/bin/sh
# HTTP server benchmark (issue: the shared HTTP/HTTPS server). fleetup serve and nginx
# (one worker, sendfile on, access log off; config written here) side by side, same
# machine, same client (wrk), same files: a 100-byte package, a 64 MiB package, and a
# POST answered 204; over HTTP and over HTTPS (the same certificate and key). Reports
# req/s, throughput, the server's own CPU per request and per GiB, and the ratios.
# Rewrites the bench:http section of docs/benchmarks.md.
# usage: bench_http.sh BUILD_DIR
set -eu
build=$1
here=$(cd "$(dirname "$0")" && pwd)
doc="$here/../../docs/benchmarks.md"
out="$here/../../bench-out/http"
FU="$build/fleetup"
for t in wrk nginx python3; do
    command -v $t >/dev/null 2>&1 || [ -x /usr/sbin/$t ] ||
        { echo "bench_http: $t missing: tools/setup.sh --bench" >&2; exit 2; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
SMALL_S=${BENCH_HTTP_SMALL_SECONDS:-8}
BIG_S=${BENCH_HTTP_BIG_SECONDS:-10}
rm -rf "$out"
mkdir -p "$out/www/pkg" "$out/state"
head -c 100 /dev/urandom >"$out/small.bin"
head -c 67108864 /dev/urandom >"$out/big.bin"
SMALL=$(sha256sum "$out/small.bin" | cut -d' ' -f1)
BIG=$(sha256sum "$out/big.bin" | cut -d' ' -f1)
cp "$out/small.bin" "$out/www/pkg/$SMALL"
cp "$out/big.bin" "$out/www/pkg/$BIG"
cat >"$out/fleet.yml" <<YML
fleetup: 1
nodes:
  node1:
baseline:
  components:
    - {name: small, version: "1", package: $out/small.bin, sha256: $SMALL}
    - {name: big, version: "1", package: $out/big.bin, sha256: $BIG}
YML
base=$((30000 + $$ % 10000))
FP=$base; FS=$((base + 1)); NP=$((base + 2)); NS=$((base + 3))

"$FU" serve "$out/fleet.yml" --state-dir "$out/state" --port $FP --ssl-port $FS --bind 127.0.0.1 \
    --api-on-http >"$out/serve.log" 2>&1 &
FPID=$!
trap 'kill $FPID 2>/dev/null; [ -f "$out/nginx.pid" ] && kill "$(cat "$out/nginx.pid")" 2>/dev/null; true' EXIT
i=0
until grep -q "TLS certificate" "$out/serve.log"; do
    i=$((i + 1)); [ $i -lt 100 ] || { cat "$out/serve.log" >&2; exit 1; }; sleep 0.1
done
TOKEN=$("$FU" token node1 --rollout 1 --state-dir "$out/state")
cat >"$out/nginx.conf" <<NGX
worker_processes 1;
pid $out/nginx.pid;
error_log $out/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $out/nginx-tmp;
    proxy_temp_path $out/nginx-tmp;
    fastcgi_temp_path $out/nginx-tmp;
    uwsgi_temp_path $out/nginx-tmp;
    scgi_temp_path $out/nginx-tmp;
    types { application/octet-stream bin; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$NP;
        listen 127.0.0.1:$NS ssl;
        ssl_certificate $out/state/tls.crt;
        ssl_certificate_key $out/state/tls.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $out/www;
        location /pkg/ { }
        location /cb/ { client_max_body_size 64k; return 204; }
    }
}
NGX
mkdir -p "$out/nginx-tmp"
"$NGINX" -c "$out/nginx.conf" -p "$out"
sleep 0.5
NPIDS=$(pgrep -f "nginx: worker process" | tr '\n' ' ')
cat >"$out/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"phase":"install","state":"running","percent":50,"message":"flashing"}'
wrk.headers["Content-Type"] = "application/json"
LUA

cpu_ticks() { # sum of utime+stime of the given pids
    t=0
    for p in "$@"; do
        set -- $(cut -d' ' -f14,15 "/proc/$p/stat")
        t=$((t + $1 + $2))
    done
    echo $t
}
HZ=$(getconf CLK_TCK)
results="$out/results.txt"
: >"$results"
run() { # run NAME SERVER PIDS URL CONNS SECONDS [wrk args...]
    name=$1; server=$2; pids=$3; url=$4; conns=$5; secs=$6; shift 6
    c0=$(cpu_ticks $pids)
    wrk -t1 -c"$conns" -d"${secs}s" --latency "$@" "$url" >"$out/wrk-$name-$server.txt" 2>&1
    c1=$(cpu_ticks $pids)
    python3 - "$out/wrk-$name-$server.txt" "$name" "$server" "$((c1 - c0))" "$HZ" >>"$results" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def num(pattern, unit=True):
    m = re.search(pattern, text)
    if not m: return 0.0
    v = float(m.group(1))
    if unit:
        u = m.group(2)
        v *= {"": 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}.get(u, 1)
    return v
reqs = num(r"(\d+) requests in", False)
rps = num(r"Requests/sec:\s+([\d.]+)", False)
bps = num(r"Transfer/sec:\s+([\d.]+)(\w*)")
secs = num(r"requests in ([\d.]+)s", False)
errors = len(re.findall(r"Non-2xx|Socket errors", text))
cpu = int(sys.argv[4]) / int(sys.argv[5])
print("name=%s server=%s rps=%.0f bytes_per_s=%.0f requests=%d cpu_s=%.2f secs=%.2f errors=%d" % (
    sys.argv[2], sys.argv[3], rps, bps, reqs, cpu, secs, errors))
PY
}
AUTH="Authorization: Bearer $TOKEN"
for srv in fleetup nginx; do
    if [ $srv = fleetup ]; then P=$FP; S=$FS; PIDS=$FPID; else P=$NP; S=$NS; PIDS=$NPIDS; fi
    run small-http $srv "$PIDS" "http://127.0.0.1:$P/pkg/$SMALL" 50 "$SMALL_S" -H "$AUTH"
    run small-https $srv "$PIDS" "https://127.0.0.1:$S/pkg/$SMALL" 50 "$SMALL_S" -H "$AUTH"
    run post-http $srv "$PIDS" "http://127.0.0.1:$P/cb/1/node1" 50 "$SMALL_S" -H "$AUTH" -s "$out/post.lua"
    run post-https $srv "$PIDS" "https://127.0.0.1:$S/cb/1/node1" 50 "$SMALL_S" -H "$AUTH" -s "$out/post.lua"
    run big-http $srv "$PIDS" "http://127.0.0.1:$P/pkg/$BIG" 4 "$BIG_S" -H "$AUTH"
    run big-https $srv "$PIDS" "https://127.0.0.1:$S/pkg/$BIG" 4 "$BIG_S" -H "$AUTH"
done
cat "$results"

python3 - "$results" "$doc" <<'PY'
import os, re, sys, datetime, subprocess
rows = [dict(kv.split("=", 1) for kv in l.split()) for l in open(sys.argv[1]) if "=" in l]
R = {(r["name"], r["server"]): r for r in rows}
nginx_v = subprocess.run(["sh", "-c", "nginx -v 2>&1 || /usr/sbin/nginx -v 2>&1"], capture_output=True, text=True).stdout.strip()
cpu = open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].split("\n")[0].strip()
L = ["Measured %s on %d cores (%s), %s, wrk 1 thread; fleetup %s." % (
    datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), os.cpu_count(), cpu, nginx_v,
    subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()), ""]
L.append("| workload | server | req/s | throughput (MB/s) | server CPU (s) | CPU per request (µs) | CPU per GiB (s) | fleetup / nginx req/s | fleetup / nginx CPU per GiB |")
L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
verdict = []
for name in ["small-http", "small-https", "post-http", "post-https", "big-http", "big-https"]:
    f, n = R.get((name, "fleetup")), R.get((name, "nginx"))
    for r in (f, n):
        if r is None: continue
        reqs, cpu_s, bps, secs = float(r["requests"]), float(r["cpu_s"]), float(r["bytes_per_s"]), float(r["secs"])
        gib = bps * secs / 2**30
        rr = float(f["rps"]) / float(n["rps"]) if f and n and float(n["rps"]) else 0
        cg_f = float(f["cpu_s"]) / max(float(f["bytes_per_s"]) * float(f["secs"]) / 2**30, 1e-9) if f else 0
        cg_n = float(n["cpu_s"]) / max(float(n["bytes_per_s"]) * float(n["secs"]) / 2**30, 1e-9) if n else 0
        L.append("| %s | %s | %s | %.1f | %.2f | %.1f | %.3f | %s | %s |" % (
            name, r["server"], format(int(float(r["rps"])), ","), bps / 2**20, cpu_s,
            cpu_s * 1e6 / max(reqs, 1), cpu_s / max(gib, 1e-9),
            "%.2fx" % rr if r is f else "", "%.2fx" % (cg_f / cg_n) if r is f and cg_n else ""))
    if f and n:
        if name.startswith("big"):
            cg_f = float(f["cpu_s"]) / (float(f["bytes_per_s"]) * float(f["secs"]) / 2**30)
            cg_n = float(n["cpu_s"]) / (float(n["bytes_per_s"]) * float(n["secs"]) / 2**30)
            ok = cg_f <= 1.1 * cg_n
            verdict.append("%s: CPU per GiB %.3f s vs nginx %.3f s (%.2fx, target at most 1.10x): %s" % (
                name, cg_f, cg_n, cg_f / cg_n, "**met**" if ok else "**not met**"))
        else:
            ratio = float(f["rps"]) / float(n["rps"])
            verdict.append("%s: %.2fx nginx's req/s (target at least 1.0x): %s" % (
                name, ratio, "**met**" if ratio >= 1.0 else "**not met**"))
L.append("")
L += ["- " + v for v in verdict]
body = "\n".join(L)
print(body)
doc = sys.argv[2]
begin, end = "<!-- bench:http:begin -->", "<!-- bench:http:end -->"
text = open(doc).read()
block = begin + "\n" + body + "\n" + end
text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, count=1, flags=re.S) if begin in text else text.rstrip("\n") + "\n\n" + block + "\n"
open(doc + ".tmp", "w").write(text)
os.replace(doc + ".tmp", doc)
PY
