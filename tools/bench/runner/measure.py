"""One function per measurement of tools/bench/run. Each runs one load generator
against one system and returns a dict of plain numbers (what the report and the JSON
file hold). Nothing here decides what is compared with what: see report.py.

Load generators: wrk (HTTP), redis-benchmark, pgbench, and keytrail_bench for the
in-process sections. Each is single-threaded (wrk -t1, redis-benchmark's default,
pgbench -j1) with the same number of connections, so the client side costs each system
about the same share of the 2 cores.
"""

import concurrent.futures
import csv
import http.client
import io
import json
import os
import re
import subprocess
import threading
import time
import urllib.parse

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, log, **kwargs):
    """Runs a load generator; its whole output also goes to the run's log."""
    log.write(f"\n$ {' '.join(args)}\n")
    log.flush()
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    log.write(done.stdout)
    log.write(done.stderr)
    log.flush()
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout


# --- CPU accounting --------------------------------------------------------------------

def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()  # after "pid (comm)"; fields 3..


def tree_cpu_seconds(pid):
    """CPU time of `pid` and all its descendants (live ones' own time, exited ones'
    through their parent's cutime/cstime: each counted once)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(_stat_fields(entry)[1])
            except (OSError, IndexError):
                continue
    tree, frontier = set(), {pid}
    while frontier:
        tree |= frontier
        frontier = {p for p, parent in parents.items() if parent in frontier} - tree
    ticks = 0
    for p in tree:
        try:
            fields = _stat_fields(p)
        except OSError:
            continue
        ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _machine_jiffies():
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class CpuMeter:
    """Over a `with` block: CPU seconds of the server's process tree, and how busy the
    whole machine was (1.0 = every core all the time; the load generator included)."""

    def __init__(self, pid):
        self.pid = pid

    def __enter__(self):
        self._cpu = tree_cpu_seconds(self.pid)
        self._busy, self._total = _machine_jiffies()
        return self

    def __exit__(self, *exc):
        busy, total = _machine_jiffies()
        self.server_cpu_s = tree_cpu_seconds(self.pid) - self._cpu
        self.machine_busy = (busy - self._busy) / max(1, total - self._total)

    def fields(self, operations):
        return {"server_cpu_us_per_op": self.server_cpu_s * 1e6 / max(1, operations),
                "machine_busy": round(self.machine_busy, 3)}


# --- keytrail in process ---------------------------------------------------------------

def keytrail_bench(binary, options, sections, log):
    """keytrail_bench's JSON lines as {"bench.metric": value}."""
    out = _run([binary, *options, *sections], log)
    results = {}
    for line in out.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            results[f"{r['bench']}.{r['metric']}"] = r["value"]
    return results


# --- keytrail over HTTP ----------------------------------------------------------------

def _wrk_command(url, script, script_args, clients, seconds):
    return ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s",
            "-s", os.path.join(BENCH_DIR, script), url, "--", *script_args]


def _wrk_result(out, script):
    """The KEYTRAIL_WRK line of a wrk run's output (wrk_report.lua), with requests_per_s;
    a run with any error fails."""
    for line in out.splitlines():
        if line.startswith("KEYTRAIL_WRK "):
            r = json.loads(line[len("KEYTRAIL_WRK "):])
            r["requests_per_s"] = r["requests"] / r["duration_s"]
            errors = sum(v for k, v in r.items() if k.startswith("errors_"))
            if errors:
                raise RuntimeError(f"wrk {script}: {errors} errors: {r}")
            return r
    raise RuntimeError(f"wrk {script}: no result line")


def _wrk(url, script, script_args, clients, seconds, log):
    return _wrk_result(_run(_wrk_command(url, script, script_args, clients, seconds), log),
                       script)


def _http_commands(server, script, last_arg, noun, clients, seconds, log):
    """Durable commands over HTTP with the admin token (org default): `script` gets
    ORG TOKEN_FILE `last_arg`; the result's fields are named after `noun` (plural)."""
    with CpuMeter(server.pid) as cpu:
        r = _wrk(server.url, script, ["default", server.token_file, last_arg], clients, seconds,
                 log)
    return {f"{noun}_per_s": r["requests_per_s"], noun: r["requests"],
            "clients": clients, "latency_p50_ms": r["latency_p50_us"] / 1000,
            "latency_p99_ms": r["latency_p99_us"] / 1000, **cpu.fields(r["requests"])}


def http_create(server, clients, seconds, run_name, log):
    """Durable creates over HTTP: wrk_create.lua, unique names."""
    return _http_commands(server, "wrk_create.lua", run_name, "creates", clients, seconds, log)


def http_rotate(server, ids_file, clients, seconds, log):
    """Durable rotations over HTTP (grace 0s): wrk_rotate.lua cycling through key ids."""
    return _http_commands(server, "wrk_rotate.lua", ids_file, "rotates", clients, seconds, log)


def _post_json(conn, path, body, token):
    conn.request("POST", path, json.dumps(body),
                 {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    data = response.read()
    if response.status != 201:
        raise RuntimeError(f"POST {path}: {response.status} {data[:300]!r}")
    return json.loads(data)


def create_tokens(server, count, path, clients=8):
    """Creates `count` keys over the API (group developer, 30 days) and writes their
    tokens to `path` and their ids to `path`.ids, one per line, for wrk_verify.lua and
    wrk_rotate.lua. Not timed."""
    address = urllib.parse.urlparse(server.url)
    admin = server.admin_token()
    local = threading.local()

    def create(i):
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        key = _post_json(local.conn, "/v1/orgs/default/keys",
                         {"name": f"verify-{i}", "group": "developer", "expires": "30d"}, admin)
        return key["token"], key["id"]

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        keys = list(pool.map(create, range(count), chunksize=64))
    with open(path, "w") as f:
        f.write("\n".join(token for token, _ in keys) + "\n")
    with open(path + ".ids", "w") as f:
        f.write("\n".join(key_id for _, key_id in keys) + "\n")


def _check_all_valid(server, before, run, clients, what):
    """Checks with /metrics (read now, against `before`) that every verify of the wrk
    `run` answered valid; returns the metrics read."""
    after = server.metrics()
    answers = {name: after[name] - before.get(name, 0) for name in after
               if name.startswith("keytrail_verify_total{")}
    valid = answers.pop('keytrail_verify_total{reason="valid"}', 0)
    # wrk does not count answers that arrive after its deadline: up to one per client.
    if any(answers.values()) or not run["requests"] <= valid <= run["requests"] + clients:
        raise RuntimeError(f"{what}: {run['requests']} requests, {valid} valid answers, "
                           f"others {answers}")
    return after


def http_verify(server, tokens_file, clients, seconds, warmup_s, log):
    """Verify over HTTP keep-alive: wrk_verify.lua cycling through valid tokens. Checks
    with /metrics that every verify in the measured run answered valid."""
    _wrk(server.url, "wrk_verify.lua", [tokens_file], clients, warmup_s, log)
    before = server.metrics()
    with CpuMeter(server.pid) as cpu:
        r = _wrk(server.url, "wrk_verify.lua", [tokens_file], clients, seconds, log)
    after = _check_all_valid(server, before, r, clients, "http verify")
    return {"verifies_per_s": r["requests_per_s"], "verifies": r["requests"],
            "clients": clients, "latency_p50_ms": r["latency_p50_us"] / 1000,
            "latency_p99_ms": r["latency_p99_us"] / 1000,
            "index_keys": after.get("keytrail_verify_index_keys", 0),
            **cpu.fields(r["requests"])}


def verify_under_writes(server, tokens_file, clients, pause_ms, writers, seconds, log):
    """Verify latency with and without a concurrent write load: verifies at a fixed pace
    (wrk_verify_paced.lua, `clients` connections each pausing `pause_ms` between
    requests), first alone, then while `writers` connections create keys as fast as the
    server takes them (wrk_create.lua in a second wrk). Every verify must answer valid."""
    paced = ["wrk_verify_paced.lua", [tokens_file, str(pause_ms)], clients, seconds, log]
    before = server.metrics()
    alone = _wrk(server.url, *paced)
    _check_all_valid(server, before, alone, clients, "paced verify alone")
    create_cmd = _wrk_command(server.url, "wrk_create.lua",
                              ["default", server.token_file, "under-writes"], writers, seconds + 2)
    log.write(f"\n$ {' '.join(create_cmd)} &\n")
    log.flush()
    creates = subprocess.Popen(create_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        time.sleep(1)  # the create load is running before the verifies start
        before = server.metrics()
        under = _wrk(server.url, *paced)
        _check_all_valid(server, before, under, clients, "paced verify under writes")
    finally:
        out, err = creates.communicate()
    log.write(out + err)
    log.flush()
    if creates.returncode != 0:
        raise RuntimeError(f"wrk wrk_create.lua under verifies failed: {err.strip()[-500:]}")
    created = _wrk_result(out, "wrk_create.lua")["requests_per_s"]
    return {"clients": clients, "pause_ms": pause_ms, "writers": writers,
            "verifies_per_s_alone": alone["requests_per_s"],
            "verifies_per_s_under_writes": under["requests_per_s"],
            "creates_per_s_during": created,
            "alone_p50_ms": alone["latency_p50_us"] / 1000,
            "alone_p99_ms": alone["latency_p99_us"] / 1000,
            "under_writes_p50_ms": under["latency_p50_us"] / 1000,
            "under_writes_p99_ms": under["latency_p99_us"] / 1000}


def gateway(nginx, server, tokens_file, clients, seconds, warmup_s, log):
    """GET through nginx to a static service, without and with the docs' auth_request to
    keytrail (valid tokens cycled; every answer must be a 200), in the same run: the
    throughput ratio, the added latency and keytrail's CPU per check."""
    args = [tokens_file, "/api/x"]
    _wrk(nginx.url_direct, "wrk_gateway.lua", args, clients, warmup_s, log)
    direct = _wrk(nginx.url_direct, "wrk_gateway.lua", args, clients, seconds, log)
    _wrk(nginx.url_checked, "wrk_gateway.lua", args, clients, warmup_s, log)
    before = server.metrics()
    with CpuMeter(server.pid) as cpu:
        checked = _wrk(nginx.url_checked, "wrk_gateway.lua", args, clients, seconds, log)
    after = server.metrics()
    allowed = (after.get('keytrail_check_total{result="allowed",reason=""}', 0)
               - before.get('keytrail_check_total{result="allowed",reason=""}', 0))
    if not checked["requests"] <= allowed <= checked["requests"] + clients:
        raise RuntimeError(f"gateway: {checked['requests']} requests, {allowed} checks allowed")
    return {"direct_per_s": direct["requests_per_s"], "checked_per_s": checked["requests_per_s"],
            "clients": clients,
            "direct_latency_p50_ms": direct["latency_p50_us"] / 1000,
            "checked_latency_p50_ms": checked["latency_p50_us"] / 1000,
            "direct_latency_mean_ms": direct["latency_mean_us"] / 1000,
            "checked_latency_mean_ms": checked["latency_mean_us"] / 1000,
            "added_latency_mean_ms":
                (checked["latency_mean_us"] - direct["latency_mean_us"]) / 1000,
            **{"keytrail_" + k: v for k, v in cpu.fields(checked["requests"]).items()}}


# --- Redis -----------------------------------------------------------------------------

def redis_key(i):
    """The name redis-benchmark gives key i with `-r`: key:__rand_int__ -> 12 digits."""
    return f"key:{i:012d}"


def redis_populate(redis, keys):
    """SETs `keys` keys whose values look like a verify answer (~150 bytes), through
    redis-cli --pipe."""
    value = ('{"valid":true,"key_id":"%s","org":"org-%d","group":"developer",'
             '"permissions":[],"expires_at":"2027-01-01T00:00:00Z"}')
    buf = io.StringIO()
    for i in range(keys):
        k, v = redis_key(i), value % (f"{i:022d}", i % 100)
        buf.write(f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n${len(v)}\r\n{v}\r\n")
    redis.cli("--pipe", stdin=buf.getvalue().encode())
    size = int(redis.cli("dbsize").strip())
    if size != keys:
        raise RuntimeError(f"redis: {size} keys after loading {keys}")


def _redis_benchmark(redis, keys, clients, requests, log):
    out = _run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(redis.port),
                "-c", str(clients), "-n", str(requests), "-r", str(keys), "--csv",
                "GET", "key:__rand_int__"], log)
    rows = list(csv.DictReader(io.StringIO(out)))
    if len(rows) != 1:
        raise RuntimeError(f"redis-benchmark: unexpected output {out!r}")
    return rows[0]


def redis_get(redis, keys, clients, seconds, log):
    """Redis GET of random existing keys. redis-benchmark takes a request count, not a
    duration: a first run of 50k requests warms up and calibrates the count."""
    calibration = _redis_benchmark(redis, keys, clients, 50_000, log)
    requests = max(50_000, int(float(calibration["rps"]) * seconds))
    with CpuMeter(redis.pid) as cpu:
        row = _redis_benchmark(redis, keys, clients, requests, log)
    hits = _redis_hits(redis)
    return {"gets_per_s": float(row["rps"]), "gets": requests, "clients": clients,
            "latency_p50_ms": float(row["p50_latency_ms"]),
            "latency_p99_ms": float(row["p99_latency_ms"]), "keyspace_hits": hits,
            **cpu.fields(requests)}


def _redis_hits(redis):
    info = redis.cli("info", "stats").decode()
    hits = int(re.search(r"keyspace_hits:(\d+)", info).group(1))
    misses = int(re.search(r"keyspace_misses:(\d+)", info).group(1))
    if misses:
        raise RuntimeError(f"redis: {misses} GETs missed; the keyspace was not loaded")
    return hits


# --- PostgreSQL ------------------------------------------------------------------------

def pg_load(pg, keys):
    """Creates the schema and loads `keys` keys (pg_schema.sql)."""
    pg.psql("-v", f"keys={keys}", "-f", os.path.join(BENCH_DIR, "pg_schema.sql"))


def _pgbench(pg, script, clients, seconds, defines, log):
    args = ["pgbench", *pg.conninfo(), "-n", "-M", "prepared", "-c", str(clients), "-j", "1",
            "-T", str(seconds), "-f", os.path.join(BENCH_DIR, script)]
    for name, value in defines.items():
        args += ["-D", f"{name}={value}"]
    with CpuMeter(pg.pid) as cpu:
        out = _run(args + ["postgres"], log)
        time.sleep(0.2)  # the postmaster reaps the backends: their time moves to it

    def number(pattern):
        match = re.search(pattern, out)
        if not match:
            raise RuntimeError(f"pgbench {script}: no '{pattern}' in output")
        return float(match.group(1))

    failed = number(r"number of failed transactions: (\d+)")
    if failed:
        raise RuntimeError(f"pgbench {script}: {failed:.0f} failed transactions")
    transactions = number(r"number of transactions actually processed: (\d+)")
    return {"tps": number(r"tps = ([\d.]+) \(without initial connection time\)"),
            "transactions": transactions,
            "latency_avg_ms": number(r"latency average = ([\d.]+) ms"),
            "clients": clients, **cpu.fields(transactions)}


def pg_verify(pg, keys, clients, seconds, warmup_s, log):
    """Indexed lookup by SHA-256 hash of a random existing key (pg_verify.sql)."""
    _pgbench(pg, "pg_verify.sql", clients, warmup_s, {"keys": keys}, log)
    r = _pgbench(pg, "pg_verify.sql", clients, seconds, {"keys": keys}, log)
    return {"lookups_per_s": r["tps"], "lookups": r["transactions"], "clients": clients,
            "latency_avg_ms": r["latency_avg_ms"], "server_cpu_us_per_op":
            r["server_cpu_us_per_op"], "machine_busy": r["machine_busy"]}


def pg_rotate(pg, keys, clients, seconds, log):
    """A random key's secret replaced + an audit row in one transaction (pg_rotate.sql)."""
    r = _pgbench(pg, "pg_rotate.sql", clients, seconds, {"keys": keys}, log)
    return {"rotates_per_s": r["tps"], "rotates": r["transactions"], "clients": clients,
            "latency_avg_ms": r["latency_avg_ms"], "server_cpu_us_per_op":
            r["server_cpu_us_per_op"], "machine_busy": r["machine_busy"]}


def pg_create(pg, clients, seconds, log):
    """Key row + audit row in one transaction, fsync on (pg_create.sql)."""
    r = _pgbench(pg, "pg_create.sql", clients, seconds, {}, log)
    return {"creates_per_s": r["tps"], "creates": r["transactions"], "clients": clients,
            "latency_avg_ms": r["latency_avg_ms"], "server_cpu_us_per_op":
            r["server_cpu_us_per_op"], "machine_busy": r["machine_busy"]}
