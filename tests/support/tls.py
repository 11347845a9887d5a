"""A self-signed certificate for localhost / 127.0.0.1, made with the ``openssl`` command for one test."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.ci import skip_or_fail


@dataclass(frozen=True)
class SelfSigned:
    cert: Path
    key: Path


def self_signed(directory: Path, name: str = "localhost") -> SelfSigned:
    """A fresh key and a certificate valid for ``localhost`` and 127.0.0.1 (one day)."""
    if shutil.which("openssl") is None:
        skip_or_fail("no openssl command to make a test certificate (apt-get install openssl)")
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return SelfSigned(cert, key)
