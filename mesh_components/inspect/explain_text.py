"""An explanation as text: the request, the client side, then each backend's server side."""

from __future__ import annotations

from mesh_components.inspect.explain import Backend, Explanation, ServerSide, Step

_WIDTH = 14


def render(explanation: Explanation) -> str:
    request = explanation.request
    lines = [
        f"request  {_request_line(explanation)}",
        f"from     {explanation.client} ({explanation.identity})",
        "",
    ]
    lines.append(f"client side: {explanation.client}")
    lines += _steps(explanation.steps)
    for backend in explanation.backends:
        lines += ["", _backend_heading(backend, explanation.backends)]
        lines += _steps(backend.steps)
        lines += [line for server in backend.servers for line in _server(server)]
    if explanation.hypothetical:
        lines += [
            "",
            f"had the request reached the pods serving {request.host}, their RBAC would decide:",
        ]
        lines += [line for server in explanation.hypothetical for line in _server(server)]
    lines += ["", f"verdict: {explanation.verdict.value.upper()}: {explanation.summary}"]
    return "\n".join(lines)


def _request_line(explanation: Explanation) -> str:
    request = explanation.request
    headers = [f"{k}: {v}" for k, v in request.headers if k != "host"]
    extra = f"  [{'; '.join(headers)}]" if headers else ""
    line = f"{request.method} {request.path}  Host: {request.host_header}  to port {request.port}"
    return line + extra


def _steps(steps: tuple[Step, ...], indent: int = 2) -> list[str]:
    pad = " " * indent
    return [f"{pad}{step.what:<{_WIDTH}}{step.found}" for step in steps]


def _backend_heading(backend: Backend, backends: tuple[Backend, ...]) -> str:
    if backend.weight is None:
        share = "all traffic"
    else:
        total = sum(b.weight or 0 for b in backends)
        share = (
            f"weight {backend.weight}, {100 * backend.weight / total:.0f}% of requests"
            if total
            else "weight 0"
        )
    idle = "; idle, receives nothing" if not backend.carries_traffic else ""
    return f"backend {backend.cluster} ({share}{idle})"


def _server(server: ServerSide) -> list[str]:
    verdict = "allowed" if server.allowed else "DENIED"
    return [f"  server {server.workload} ({server.identity}): {verdict}", *_steps(server.steps, 4)]
