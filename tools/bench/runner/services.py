"""The processes tools/bench/run starts: keytrail serve, a throwaway PostgreSQL 15
cluster, a redis-server and nginx, each on a loopback port in the run's temp dir.

Each service is a context manager: entering starts it and waits until it answers,
leaving stops it (also on errors and on SIGINT/SIGTERM, which the runner turns into
SystemExit). Only processes started here are ever signalled, by their own pid.
"""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

PG_BIN = "/usr/lib/postgresql/15/bin"


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, ready, timeout_s=60, process=None):
    """Polls ready() until it is true; fails if `process` exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready after {timeout_s} s")


def stop_process(process, grace_s=15):
    """SIGTERM, then SIGKILL after grace_s; only this one child."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class KeytrailServer:
    """`keytrail serve` on the embedded local log in `data_dir`, on a free loopback port,
    with the bootstrap admin token written to `<data_dir>.token`."""

    def __init__(self, binary, data_dir, threads, key_quota, log_path, extra_args=()):
        self.binary = binary
        self.extra_args = list(extra_args)
        self.data_dir = data_dir
        self.token_file = data_dir + ".token"
        self.threads = threads
        self.key_quota = key_quota
        self.log_path = log_path
        self.process = None
        self.url = None

    def __enter__(self):
        args = [self.binary, "serve", "--data-dir", self.data_dir,
                "--listen", "127.0.0.1:0", "--threads", str(self.threads),
                "--key-quota", str(self.key_quota),
                "--bootstrap-token-file", self.token_file] + self.extra_args
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log,
                                        text=True)
        # stdout: the bootstrap warning and token, then "listening on http://ADDR".
        # Read line by line; the token is never kept or printed.
        for line in self.process.stdout:
            match = re.match(r"listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                break
        if self.url is None:
            stop_process(self.process)
            raise RuntimeError(f"keytrail serve did not start; see {self.log_path}")
        wait_until("keytrail serve /readyz", self._ready, process=self.process)
        return self

    def _ready(self):
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    @property
    def pid(self):
        return self.process.pid

    def admin_token(self):
        with open(self.token_file) as f:
            return f.readline().strip()

    def metrics(self):
        """The Prometheus text of /metrics as {'name{labels}': value}."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def __exit__(self, *exc):
        stop_process(self.process)
        self.process.stdout.close()
        self.log.close()


def _unprivileged_user():
    """Who runs PostgreSQL when we are root (initdb refuses root): 'postgres' (created by
    the Debian package), else 'nobody'."""
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("no unprivileged user to run PostgreSQL as")


class Postgres:
    """A throwaway PostgreSQL 15 cluster in `data_dir` on a free loopback port, trust
    authentication for user 'bench', fsync=on and synchronous_commit=on (the defaults,
    set explicitly: a create is durable when COMMIT returns)."""

    def __init__(self, data_dir, log_path, shared_buffers="512MB"):
        self.data_dir = data_dir
        self.log_path = log_path
        self.shared_buffers = shared_buffers
        self.port = free_port()
        self.started = False
        self.as_user = []
        if os.geteuid() == 0:
            user = _unprivileged_user()
            self.as_user = ["runuser", "-u", user.pw_name, "--"]
            self._uid, self._gid = user.pw_uid, user.pw_gid

    def _run(self, args, check=True):
        subprocess.run(self.as_user + args, check=check, stdout=subprocess.DEVNULL,
                       stderr=subprocess.STDOUT)

    def __enter__(self):
        os.makedirs(self.data_dir, mode=0o700)
        for path in (self.data_dir, self.log_path):
            if not os.path.exists(path):
                open(path, "a").close()
            if self.as_user:
                os.chown(path, self._uid, self._gid)
        self._run([f"{PG_BIN}/initdb", "-D", self.data_dir, "--auth=trust",
                   "--username=bench", "--no-instructions", "-E", "UTF8"])
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as conf:
            conf.write(f"""
# tools/bench/run
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.data_dir}'
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = {self.shared_buffers}
max_connections = 40
""")
        self._run([f"{PG_BIN}/pg_ctl", "-D", self.data_dir, "-l", self.log_path, "-w",
                   "-t", "60", "start"])
        self.started = True
        return self

    def conninfo(self):
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "bench"]

    def psql(self, *args):
        """psql against the 'postgres' database; returns its stdout."""
        return subprocess.run(["psql", *self.conninfo(), "-d", "postgres", "-X", "-q",
                               "-v", "ON_ERROR_STOP=1", *args],
                              check=True, capture_output=True, text=True).stdout

    def version(self):
        return self.psql("-At", "-c", "SHOW server_version").split()[0]

    @property
    def pid(self):
        """The postmaster's pid (every backend is its child)."""
        with open(os.path.join(self.data_dir, "postmaster.pid")) as f:
            return int(f.readline())

    def __exit__(self, *exc):
        if self.started:
            # Not checked: after a Ctrl-C in a terminal the postmaster got SIGINT too and
            # may be gone already.
            self._run([f"{PG_BIN}/pg_ctl", "-D", self.data_dir, "-m", "fast", "-w",
                       "stop"], check=False)


class Redis:
    """redis-server on a free loopback port, no persistence (a cache, as Redis is used
    in front of a key store)."""

    def __init__(self, work_dir, log_path):
        self.work_dir = work_dir
        self.log_path = log_path
        self.port = free_port()
        self.process = None

    def __enter__(self):
        os.makedirs(self.work_dir, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--save", "", "--appendonly", "no", "--dir", self.work_dir,
             "--logfile", self.log_path, "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until("redis-server", self._ready, process=self.process)
        return self

    def cli(self, *args, stdin=None):
        return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
                              input=stdin, check=True, capture_output=True).stdout

    def _ready(self):
        try:
            return self.cli("ping").strip() == b"PONG"
        except subprocess.CalledProcessError:
            return False

    @property
    def pid(self):
        return self.process.pid

    def version(self):
        info = self.cli("info", "server").decode()
        match = re.search(r"redis_version:(\S+)", info)
        return match.group(1) if match else "?"

    def __exit__(self, *exc):
        stop_process(self.process)


NGINX_DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))), "docs", "gateways", "nginx")


class Nginx:
    """nginx (one process, foreground) with the gateway configuration of docs/gateways/nginx
    pointed at `keytrail_url`, in front of a static service (a second server block that
    answers 200 "ok"). Two entry points, same service behind both:
      url_checked  the docs' gateway: /api/ asks keytrail (auth_request) first
      url_direct   a plain proxy to the same service, no check"""

    def __init__(self, work_dir, keytrail_url, log_path):
        self.work_dir = work_dir
        self.keytrail_address = urllib.parse.urlparse(keytrail_url).netloc
        self.log_path = log_path
        self.process = None

    def __enter__(self):
        ports = {name: free_port() for name in ("checked", "direct", "service")}
        os.makedirs(os.path.join(self.work_dir, "snippets"), exist_ok=True)
        os.makedirs(os.path.join(self.work_dir, "temp"), exist_ok=True)
        with open(os.path.join(NGINX_DOCS, "keytrail-gateway.conf")) as f:
            gateway = f.read()
        for old, new in (("server 127.0.0.1:8080;", f"server {self.keytrail_address};"),
                         ("server 127.0.0.1:9000;", f"server 127.0.0.1:{ports['service']};"),
                         ("listen 127.0.0.1:8000;", f"listen 127.0.0.1:{ports['checked']};")):
            if old not in gateway:
                raise RuntimeError(f"docs nginx config changed: no '{old}'")
            gateway = gateway.replace(old, new)
        with open(os.path.join(self.work_dir, "keytrail-gateway.conf"), "w") as f:
            f.write(gateway)
        shutil.copy(os.path.join(NGINX_DOCS, "snippets", "keytrail-auth.conf"),
                    os.path.join(self.work_dir, "snippets"))
        temp = os.path.join(self.work_dir, "temp")
        with open(os.path.join(self.work_dir, "nginx.conf"), "w") as f:
            f.write(f"""daemon off;
master_process off;
worker_processes 1;
pid {self.work_dir}/nginx.pid;
error_log {self.log_path} warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {temp}/body; proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi; uwsgi_temp_path {temp}/uwsgi; scgi_temp_path {temp}/scgi;
  include keytrail-gateway.conf;
  server {{
    listen 127.0.0.1:{ports['direct']};
    location / {{
      proxy_pass http://protected_service;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
  server {{
    listen 127.0.0.1:{ports['service']};
    location / {{ default_type text/plain; return 200 "ok\n"; }}
  }}
}}
""")
        self.process = subprocess.Popen(
            ["/usr/sbin/nginx", "-p", self.work_dir, "-c",
             os.path.join(self.work_dir, "nginx.conf"), "-e", self.log_path],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url_checked = f"http://127.0.0.1:{ports['checked']}"
        self.url_direct = f"http://127.0.0.1:{ports['direct']}"

        def ready():
            try:
                with urllib.request.urlopen(self.url_direct + "/", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_until("nginx", ready, process=self.process)
        return self

    @property
    def pid(self):
        return self.process.pid

    def version(self):
        out = subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True, text=True)
        return out.stderr.strip().split("/")[-1]

    def __exit__(self, *exc):
        stop_process(self.process)


def have(program):
    return shutil.which(program) is not None
