#!/usr/bin/python3
"""Runs tools/examples/consume_events.py against a real keytrail on `keytrail dev-kafka`.

Starts `keytrail dev-kafka` and `keytrail serve --kafka-brokers` (temp data dir, any free
HTTP port), creates org acme and, in org default, a key that it rotates and revokes
through the HTTP API with the bootstrap admin key, then runs the example from the
beginning of the topic and checks that it prints the key's key.created, key.rotated and
key.revoked in that order with their fields, that --org keeps to one org, and that no
token, secret or hash appears in what it prints. First, without processes, it decodes
every golden fixture (schemas/golden) with the example's code and checks its writer
epoch fence on made-up records. Exits 0 if all holds, 1 otherwise (the
temp dir, with the server's log, is then kept and named).

Usage: consume_events_test.py --keytrail BIN --python-path DIR --example PATH [--golden DIR]
  --python-path: the code of `flatc --python --gen-object-api schemas/events.fbs`.
"""

import argparse
import glob
import importlib.util
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

EXAMPLE_IDLE_SECONDS = "5"


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


def read_line(process, deadline, what):
    """The next stdout line of `process`, waiting until `deadline` (time.monotonic)."""
    if not hasattr(process, "lines"):  # one reader thread per process, started on first use
        process.lines = queue.Queue()
        threading.Thread(target=lambda: [process.lines.put(line) for line in process.stdout]
                         + [process.lines.put("")], daemon=True).start()
    try:
        line = process.lines.get(timeout=max(0, deadline - time.monotonic()))
    except queue.Empty:
        raise Failed(f"{what}: no output in time") from None
    check(line != "", f"{what}: exited before printing what was expected")
    return line.rstrip("\n")


def http(base, method, path, token=None, body=None):
    """(status, parsed JSON or None) of one request to keytrail's HTTP API."""
    request = urllib.request.Request(base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    except (urllib.error.URLError, ConnectionError):
        return 0, None
    try:
        return status, json.loads(payload) if payload else None
    except ValueError:
        return status, None


def call(base, method, path, token, body, expect):
    status, answer = http(base, method, path, token, body)
    check(status == expect, f"{method} {path}: {status} {answer}, expected {expect}")
    return answer


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_example(args, brokers, extra):
    env = dict(os.environ, PYTHONPATH=args.python_path)
    result = subprocess.run(
        [sys.executable, args.example, "--bootstrap", brokers, "--from-beginning",
         "--timeout", EXAMPLE_IDLE_SECONDS, "--max-events", "1000"] + extra,
        env=env, capture_output=True, text=True, timeout=120)
    print(f"$ consume_events.py {' '.join(extra)}  (exit {result.returncode})")
    print(result.stdout + result.stderr, end="")
    check(result.returncode == 0, f"the example exited with {result.returncode}")
    return result.stdout.splitlines(), result.stdout + result.stderr


def lines_of(lines, kind, key_id):
    return [i for i, line in enumerate(lines)
            if line.split(" ")[2:3] == [kind] and f" key_id={key_id} " in line + " "]


def load_example(args):
    sys.path.insert(0, args.python_path)
    spec = importlib.util.spec_from_file_location("consume_events", args.example)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example


def check_golden(example, golden_dir):
    """The example's decoder on every golden fixture: each kind decodes and prints."""
    fixtures = sorted(glob.glob(os.path.join(golden_dir, "*.ktev")))
    check(fixtures, f"no fixtures in {golden_dir}")
    for path in fixtures:
        with open(path, "rb") as f:
            event = example.decode(f.read())
        line = example.event_line(event)
        kind = os.path.basename(path).split(".")[0]
        check(event.payload is not None and f" {kind} " in line, f"{path}: printed {line}")
        check(not re.search(r"[0-9a-fA-F]{64}", line), f"{path}: a hash was printed")
    print(f"{len(fixtures)} golden fixtures decode and print")


def check_fence(example):
    """The example's EpochFence on made-up records: the rule of docs/events.md."""
    from keytrail.fb.Envelope import EnvelopeT
    from keytrail.fb.KeyResumed import KeyResumedT
    from keytrail.fb.KeysUsed import KeysUsedT
    from keytrail.fb.Payload import Payload
    from keytrail.fb.WriterClaimed import WriterClaimedT

    def event(kind, writer_epoch, claim_epoch=None):
        e = EnvelopeT()
        e.writerEpoch = writer_epoch
        if kind == "claim":
            e.payloadType, e.payload = Payload.WriterClaimed, WriterClaimedT()
            e.payload.epoch = claim_epoch
        elif kind == "used":
            e.payloadType, e.payload = Payload.KeysUsed, KeysUsedT()
        else:
            e.payloadType, e.payload = Payload.KeyResumed, KeyResumedT()
        return e

    # (offset, event, counts?) in offset order, from offset 0 and from the middle.
    from_zero = [(0, event("key", 0), True), (1, event("claim", 1, 1), True),
                 (2, event("key", 0), False),         # a stale writer's
                 (3, event("used", 0), True),         # any node's uses count
                 (4, event("claim", 1, 1), False),    # lost the race for epoch 1
                 (5, event("claim", 3, 3), False),    # skips epoch 2
                 (6, event("key", 1), True)]
    from_middle = [(7, event("used", 0), True), (8, event("key", 2), True),
                   (9, event("key", 1), False)]
    for records in (from_zero, from_middle):
        fence = example.EpochFence()
        for offset, e, counts in records:
            check(fence.admit(offset, e) == counts, f"fence: offset {offset} counts != {counts}")
    print("the fence admits as docs/events.md says")


def test(args, workdir, processes):
    example = load_example(args)
    check_golden(example, args.golden)
    check_fence(example)
    deadline = time.monotonic() + 60
    kafka = subprocess.Popen([args.keytrail, "dev-kafka", "--partitions", "4"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    processes.append(kafka)
    brokers = read_line(kafka, deadline, "keytrail dev-kafka")

    token_file = os.path.join(workdir, "token")
    with open(os.path.join(workdir, "serve.log"), "w") as log:
        serve = subprocess.Popen(
            [args.keytrail, "serve", "--kafka-brokers", brokers,
             "--data-dir", os.path.join(workdir, "data"), "--listen", "127.0.0.1:0",
             "--bootstrap-token-file", token_file, "--log-format", "json"],
            stdout=subprocess.PIPE, stderr=log, text=True)
    processes.append(serve)
    while True:
        line = read_line(serve, deadline, "keytrail serve")
        if line.startswith("listening on http://"):
            base = line[len("listening on "):]
            break
    while http(base, "GET", "/readyz")[0] != 200 or not os.path.getsize(token_file):
        check(time.monotonic() < deadline, "keytrail serve never became ready")
        time.sleep(0.2)
    with open(token_file) as f:
        admin = f.read().strip()

    acme = call(base, "POST", "/v1/orgs", admin, {"id": "acme", "name": "Acme Inc"}, 201)
    created = call(base, "POST", "/v1/orgs/default/keys", admin,
                   {"name": "ci bot", "group": "developer", "expires": "30d"}, 201)
    key_id = created["id"]
    rotated = call(base, "POST", f"/v1/orgs/default/keys/{key_id}/rotate", admin,
                   {"grace": "1h"}, 200)
    call(base, "POST", f"/v1/orgs/default/keys/{key_id}/revoke", admin,
         {"reason": "pipeline retired"}, 200)
    tokens = [admin, acme["admin_key"]["token"], created["token"], rotated["token"]]

    for extra in ([], ["--org", "default"]):
        lines, output = run_example(args, brokers, extra)
        made = lines_of(lines, "key.created", key_id)
        turned = lines_of(lines, "key.rotated", key_id)
        revoked = lines_of(lines, "key.revoked", key_id)
        check(len(made) == 1 and len(turned) == 1 and len(revoked) == 1,
              f"expected one key.created, key.rotated, key.revoked of {key_id}")
        check(made[0] < turned[0] < revoked[0], "the key's events are out of order")
        check('name="ci bot" group_id=developer' in lines[made[0]], "key.created lacks fields")
        check(f"by=key:{created['created_by']}" in lines[made[0]], "key.created lacks the actor")
        check(f"hint={rotated['hint']}" in lines[turned[0]], "key.rotated lacks the new hint")
        check('reason="pipeline retired"' in lines[revoked[0]], "key.revoked lacks the reason")
        for line in lines:
            check(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ [a-z_.]+ ", line),
                  f"not an event line: {line}")
        for token in tokens:
            # A token is kt_ + 22 characters of key id (printed on purpose) + the secret
            # + 4 of checksum (in the hint, on purpose); the secret part never shows.
            check(token not in output and token[3 + 22:-4] not in output,
                  "a token or its secret was printed")
        check(not re.search(r"[0-9a-fA-F]{64}", output), "a hash was printed")
        check("records follow" not in output or
              "records follow urn:keytrail:events:schema:1\n" in output,
              "ce_dataschema is not urn:keytrail:events:schema:1")
        orgs = {line.split(" ")[1] for line in lines}
        if extra:
            check(orgs == {"default"}, f"--org default printed orgs {sorted(orgs)}")
        else:
            check({"default", "acme"} <= orgs, f"expected both orgs, got {sorted(orgs)}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keytrail", required=True)
    parser.add_argument("--python-path", required=True)
    parser.add_argument("--example", required=True)
    parser.add_argument("--golden", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "schemas", "golden"))
    args = parser.parse_args()

    # ctest's timeout sends SIGTERM: unwind so the children are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("consume_events_test: terminated"))
    workdir = tempfile.mkdtemp(prefix="keytrail-consume-events-")
    processes = []
    passed = False
    try:
        test(args, workdir, processes)
        passed = True
    except Failed as e:
        print(f"FAILED: {e}", file=sys.stderr)
    finally:
        for process in reversed(processes):
            stop(process)
        if passed:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir} (serve.log: the server's log)", file=sys.stderr)
    if passed:
        print("PASSED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
