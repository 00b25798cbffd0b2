"""The traffic client `local curl` runs inside a pod, as the app's UID: one result per request.

Standalone, run as `python3 -I client.py '<json job>'`: the standard library only, except for
gRPC, which imports grpcio from the directories the job's `grpc_path` names. Each request uses
a new connection (as `curl` run N times would), so the sidecar's routing is exercised per
request. A TCP request connects, reads the server's greeting line, sends a line and reads it
back. A gRPC request (`grpc://host:port/package.Service/Method`) makes one unary call whose
message is the body's bytes (no protobuf), with the headers as metadata and `timeout` as its
deadline. It prints one JSON list of results: start time, status (an HTTP code, "ok", a gRPC
status name such as "OK" or "PERMISSION_DENIED", or "error: <kind>"), latency, the backend's
answer (a gRPC status's details when they are JSON), the response headers (gRPC: initial and
trailing metadata) and, for gRPC, the status details.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable
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
        text = body.decode(errors="replace")
        answer = {"text": text if job.get("whole_body") else text[:200]}
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


def grpc_once(job: dict[str, Any]) -> dict[str, Any]:
    import grpc  # noqa: PLC0415 (only gRPC requests need grpcio)

    url = urllib.parse.urlsplit(job["url"])
    metadata = tuple((name.lower(), value) for name, value in job["headers"].items())
    request = (job.get("body") or "").encode()
    # No proxy from the environment: the pod's own sidecar is the only way out.
    with grpc.insecure_channel(url.netloc, options=[("grpc.enable_http_proxy", 0)]) as channel:
        # No serializers: the message is raw bytes each way.
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(url.path)
        try:
            response, done = call.with_call(request, timeout=job["timeout"], metadata=metadata)
        except grpc.RpcError as error:
            trailers = tuple((m.key, m.value) for m in error.trailing_metadata() or ())
            return grpc_result(error.code().name, error.details() or "", b"", trailers)
        return grpc_result("OK", "", response, done.initial_metadata() + done.trailing_metadata())


def grpc_result(
    status: str, details: str, response: bytes, metadata: Iterable[tuple[str, str | bytes]]
) -> dict[str, Any]:
    """One gRPC call's result: the answer is the response message, or the details of a failed
    call when they are JSON (the stub app's facts, naming the pod that failed it)."""
    headers = {str(k): v if isinstance(v, str) else v.hex() for k, v in metadata}
    try:
        answer = json.loads(response or details or "null")
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        answer = {"text": (response.decode(errors="replace") or details)[:200]}
    return {"status": status, "details": details, "answer": answer, "headers": headers}


def request_kind(job: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """How to send the job's requests; a gRPC job first makes grpcio importable."""
    if job["url"].startswith("grpc://"):
        sys.path.extend(job.get("grpc_path", []))
        os.environ.setdefault("GRPC_DNS_RESOLVER", "native")  # getaddrinfo, as HTTP resolves
        return grpc_once
    return tcp_once if job["tcp"] else http_once


def main(job: dict[str, Any]) -> list[dict[str, Any]]:
    once = request_kind(job)
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
