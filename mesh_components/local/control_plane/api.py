"""A small client of the Kubernetes API: JSON over HTTPS with a client certificate.

Enough for what runs beside the API server here (readiness checks, and the node agent): GET,
POST, PUT and PATCH of one object, and the list of a collection. Errors are `ApiError`s with
the server's status and message, never a traceback of http.client.
"""

from __future__ import annotations

import http.client
import json
import ssl
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

    def request(
        self, method: str, path: str, body: Json | None = None, content_type: str = ""
    ) -> Json:
        """The decoded JSON answer to `method path`; an ApiError for any status but 2xx."""
        connection = http.client.HTTPSConnection(
            self.credentials.host, self.credentials.port, context=self._context, timeout=TIMEOUT
        )
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
