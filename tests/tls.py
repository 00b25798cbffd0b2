"""Real TLS between two identities' files, in memory: Python's ssl (OpenSSL) on both ends."""

from __future__ import annotations

import ssl
from pathlib import Path

from mesh_components import names, pki


def write_files(directory: Path, issued: pki.IdentityCertificate) -> Path:
    """The identity Secret's three files, as the sidecar sees them mounted."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in issued.files().items():
        (directory / name).write_bytes(data)
    return directory


def tls_context(certs: Path, *, server_side: bool) -> ssl.SSLContext:
    """Mutual TLS with the files in `certs`: present the leaf, trust only `ca.crt`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    context.load_cert_chain(certs / names.CERT_CHAIN_FILE, certs / names.PRIVATE_KEY_FILE)
    context.load_verify_locations(certs / names.CA_BUNDLE_FILE)
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = False
    return context


def handshake(client_context: ssl.SSLContext, server_context: ssl.SSLContext) -> ssl.SSLObject:
    """Drive a mutual handshake over memory BIOs; the server end, or ssl.SSLError."""
    client_out, server_in, server_out, client_in = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(client_in, client_out, server_side=False)
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    done = {client: False, server: False}
    for _ in range(10):
        for end in (client, server):
            if not done[end]:
                try:
                    end.do_handshake()
                    done[end] = True
                except ssl.SSLWantReadError:
                    pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if all(done.values()):
            return server
    raise AssertionError("the handshake did not finish")
