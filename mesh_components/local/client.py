"""The traffic client `local curl` runs inside a pod, as the app's UID: one result per request.

Standalone (standard library only), run as `python3 -I client.py '<json job>'`. Each HTTP
request uses a new connection (as `curl` run N times would), so the sidecar's routing is
exercised per request. A TCP request connects, reads the server's greeting line, sends a line
and reads it back. It prints one JSON list of results: start time, status (an HTTP code,
"ok", or "error: <kind>"), latency, the backend's answer and the response headers.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import time
import urllib.parse
from typing import Any


def http_once(job: dict[str, Any]) -> dict[str, Any]:
    url = urllib.parse.urlsplit(job["url"])
    conn = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=job["timeout"])
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    try:
        conn.request(job["method"], path, body=job.get("body"), headers=job["headers"])
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as error:
        return {"status": f"error: {type(error).__name__}"}
    finally:
        conn.close()
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {"text": body.decode(errors="replace")[:200]}
    headers = {name.lower(): value for name, value in response.getheaders()}
    return {"status": response.status, "answer": answer, "headers": headers}


def tcp_once(job: dict[str, Any]) -> dict[str, Any]:
    url = urllib.parse.urlsplit(job["url"] if "//" in job["url"] else f"tcp://{job['url']}")
    marker = f"{job.get('marker', 'ping')}\n".encode()
    try:
        with socket.create_connection((url.hostname, url.port), timeout=job["timeout"]) as conn:
            reader = conn.makefile("rb")
            greeting = reader.readline().decode(errors="replace").strip()
            conn.sendall(marker)
            echoed = reader.readline()
    except OSError as error:
        return {"status": f"error: {type(error).__name__}"}
    if not greeting:
        return {"status": "error: closed"}
    if echoed != marker:
        return {"status": "error: no-echo", "answer": {"greeting": greeting}}
    parts = greeting.split()  # hello from <ns>/<pod> <workload> <port>
    pod = parts[2].split("/", 1)[-1] if len(parts) > 3 else greeting
    workload = parts[3] if len(parts) > 3 else ""
    return {"status": "ok", "answer": {"pod": pod, "workload": workload, "greeting": greeting}}


def main(job: dict[str, Any]) -> list[dict[str, Any]]:
    once = tcp_once if job["tcp"] else http_once
    results = []
    deadline = time.monotonic() + job["duration"] if job.get("duration") else None
    count = 0
    while (count < job["count"]) if deadline is None else (time.monotonic() < deadline):
        if job.get("stop_file") and os.path.exists(job["stop_file"]):
            break
        started, clock = time.time(), time.perf_counter()
        result = once(job)
        result["time"] = started
        result["latency_ms"] = (time.perf_counter() - clock) * 1000
        results.append(result)
        count += 1
        if job.get("interval"):
            time.sleep(job["interval"])
    return results


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
