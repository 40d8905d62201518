"""Key material from an operator's file: what is accepted, what is refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from runbooks.errors import Refused
from runbooks.estate import thumbprint_of
from runbooks.keys import file_thumbprint, load_private_key


def pem_file(path: Path, key: object) -> str:
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def b64(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def rsa_2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_an_openssl_pem_is_read_and_its_thumbprint_is_the_public_keys(
    tmp_path: Path, rsa_2048: rsa.RSAPrivateKey
) -> None:
    path = pem_file(tmp_path / "k.pem", rsa_2048)
    assert load_private_key("pem", path).key_size == 2048
    assert file_thumbprint("pem", path) == thumbprint_of(rsa_2048.public_key())


def test_an_hsm_json_web_key_export_is_read(
    tmp_path: Path, rsa_2048: rsa.RSAPrivateKey
) -> None:
    n = rsa_2048.private_numbers()
    jwk = {
        "kty": "RSA-HSM",
        "n": b64(n.public_numbers.n),
        "e": b64(n.public_numbers.e),
        "d": b64(n.d),
        "p": b64(n.p),
        "q": b64(n.q),
        "dp": b64(n.dmp1),
        "dq": b64(n.dmq1),
        "qi": b64(n.iqmp),
    }
    path = tmp_path / "k.json"
    path.write_text(json.dumps(jwk))
    assert file_thumbprint("hsm", str(path)) == thumbprint_of(rsa_2048.public_key())


def test_a_4096_bit_key_is_refused_with_the_sizes_mi_accepts(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    with pytest.raises(Refused, match="2048 or 3072"):
        load_private_key("pem", pem_file(tmp_path / "big.pem", key))


def test_an_ec_key_or_garbage_or_no_file_is_refused(tmp_path: Path) -> None:
    ec_path = pem_file(tmp_path / "ec.pem", ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(Refused, match="RSA"):
        load_private_key("pem", ec_path)
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(Refused) as junk:
        load_private_key("pem", str(tmp_path / "junk.pem"))
    assert "openssl genrsa" in junk.value.fix
    with pytest.raises(Refused) as missing:
        load_private_key("pem", str(tmp_path / "missing.pem"))
    assert "key_file" in missing.value.fix
    with pytest.raises(Refused, match="JSON Web Key"):
        load_private_key("hsm", str(tmp_path / "junk.pem"))
