"""The apiserver's TLS: a self-signed certificate authority, a server certificate it
signed for the loopback names (``localhost``, ``127.0.0.1``, ``::1``) and the listen host,
and a client certificate (``raftkv-admin``) for kubeconfigs without a token (kubectl
asks for a user name over TLS unless the kubeconfig names some credential).

:func:`ensure_certificates` writes ``ca.crt``, ``server.crt``, ``server.key``,
``client.crt`` and ``client.key`` into a folder once and reuses them afterwards (so a kubeconfig written earlier keeps working
across restarts on the same data directory); :func:`server_context` is the
:class:`ssl.SSLContext` to serve them with, and the kubeconfig carries ``ca.crt``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Certificates", "ensure_certificates", "server_context"]

#: how long the generated certificates are valid
VALID_DAYS = 3650
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@attrs.frozen(kw_only=True)
class Certificates:
    """Paths of the PEM files of one apiserver's TLS."""

    ca_cert: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str

    def ca_pem(self) -> bytes:
        return _read(self.ca_cert)

    def client_pem(self) -> tuple[bytes, bytes]:
        """(certificate, key) of the client certificate."""
        return _read(self.client_cert), _read(self.client_key)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "raftkv"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(host: str) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for name in dict.fromkeys((*LOOPBACK_NAMES, host)):  # in order, once each
        if not name:
            continue
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(names)


def _write(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def ensure_certificates(folder: str, host: str = "127.0.0.1", *, now_us: int) -> Certificates:
    """The certificates in ``folder``, generated there first if they are not yet (a CA,
    and a server certificate for the loopback names and ``host``), valid from an hour
    before ``now_us`` (the caller's wall clock, microseconds since the Unix epoch)."""
    certs = Certificates(ca_cert=os.path.join(folder, "ca.crt"), server_cert=os.path.join(folder, "server.crt"),
                         server_key=os.path.join(folder, "server.key"), client_cert=os.path.join(folder, "client.crt"),
                         client_key=os.path.join(folder, "client.key"))
    if all(os.path.exists(p) for p in attrs.astuple(certs)):
        return certs
    os.makedirs(folder, exist_ok=True)
    now = datetime.datetime.fromtimestamp(0, datetime.UTC) + datetime.timedelta(microseconds=now_us)
    start = now - datetime.timedelta(hours=1)
    end = start + datetime.timedelta(days=VALID_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("raftkv-kube-ca")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    for name, usage, cert_path, key_path in (
            ("raftkv-kube-apiserver", ExtendedKeyUsageOID.SERVER_AUTH, certs.server_cert, certs.server_key),
            ("raftkv-admin", ExtendedKeyUsageOID.CLIENT_AUTH, certs.client_cert, certs.client_key)):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(ca_name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))
        if usage == ExtendedKeyUsageOID.SERVER_AUTH:
            builder = builder.add_extension(_san(host), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()), 0o600)
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(certs.ca_cert, ca.public_bytes(serialization.Encoding.PEM), 0o644)  # last: its presence means done
    return certs


def server_context(certs: Certificates) -> ssl.SSLContext:
    """An HTTPS server context (TLS 1.2 or newer, HTTP/1.1 by ALPN) serving ``certs``; a
    client certificate is optional, and one presented must be the CA's."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certs.server_cert, certs.server_key)
    ctx.load_verify_locations(certs.ca_cert)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
