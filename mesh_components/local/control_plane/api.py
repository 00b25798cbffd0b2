"""A small client of the Kubernetes API: JSON over HTTPS with a client certificate.

Enough for what runs beside the API server here (readiness checks, and the node): GET, POST,
PUT, PATCH and DELETE of one object, the list of a collection, and a watch of one (a stream of
events, one JSON object a line). Errors are `ApiError`s with the server's status and message,
never a traceback of http.client.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh_components.local.system import LocalRunnerError

Json = dict[str, Any]
TIMEOUT = 10.0


class ApiError(LocalRunnerError):
    """The API server answered with an error status, or could not be reached."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Credentials:
    """How to reach and prove oneself to the API server."""

    host: str
    port: int
    ca: Path
    certificate: Path
    key: Path


class Api:
    """Requests to one API server, as one client."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._context = ssl.create_default_context(cafile=str(credentials.ca))
        self._context.load_cert_chain(str(credentials.certificate), str(credentials.key))

    def get(self, path: str) -> Json:
        return self.request("GET", path)

    def watch(self, path: str, resource_version: str, seconds: int = 240) -> Iterator[Json]:
        """The events on collection `path` after `resource_version`, for about `seconds`
        (the server ends the stream then); an ERROR event (410: too old) is yielded as is."""
        query = f"watch=1&allowWatchBookmarks=true&resourceVersion={resource_version}"
        query += f"&timeoutSeconds={seconds}"
        joiner = "&" if "?" in path else "?"
        connection = self._connect(seconds + TIMEOUT)
        try:
            connection.request(
                "GET", f"{path}{joiner}{query}", headers={"Accept": "application/json"}
            )
            response = connection.getresponse()
            if response.status != 200:
                text = response.read().decode(errors="replace")
                raise ApiError(response.status, f"watch {path}: {response.status} {text[:200]}")
            while line := response.readline():
                if line.strip():
                    yield json.loads(line)
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise ApiError(0, f"watch {path}: {error}") from None
        finally:
            connection.close()

    def _connect(self, timeout: float = TIMEOUT) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self.credentials.host, self.credentials.port, context=self._context, timeout=timeout
        )

    def request(
        self, method: str, path: str, body: Json | None = None, content_type: str = ""
    ) -> Json:
        """The decoded JSON answer to `method path`; an ApiError for any status but 2xx."""
        connection = self._connect()
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type or "application/json"
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
        except (OSError, http.client.HTTPException) as error:
            raise ApiError(0, f"{method} {path}: {error}") from None
        finally:
            connection.close()
        answer: Json = json.loads(text) if text.strip().startswith("{") else {"text": text}
        if not 200 <= response.status < 300:
            message = answer.get("message") or answer.get("text") or response.reason
            raise ApiError(response.status, f"{method} {path}: {response.status} {message}")
        return answer
