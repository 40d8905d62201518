"""Key URIs in the forms operators paste, judged as Managed Instance judges."""

from __future__ import annotations

import pytest

from mesh.keyuri import (
    KeyUriError,
    managed_instance_problems,
    name_length_ok,
    parse_key_uri,
    parse_server_key_name,
    same_vault_url,
    server_key_name,
)

VERSION = "0123456789abcdef0123456789abcdef"
CANONICAL = f"https://contoso.vault.azure.net/keys/tde/{VERSION}"


@pytest.mark.parametrize(
    ("pasted", "tidied"),
    [
        (CANONICAL, ()),
        (f"https://contoso.vault.azure.net:443/keys/tde/{VERSION}", ("port 443",)),
        (CANONICAL + "/", ("trailing slash",)),
        (f"  {CANONICAL}\n", ("whitespace",)),
        (f"https://contoso.vault.azure.net/keys/tde/\n{VERSION}", ("whitespace",)),
        (f"https://CONTOSO.Vault.Azure.NET/keys/tde/{VERSION}", ("upper case",)),
        (
            f"https://contoso.vault.azure.net/KEYS/tde/{VERSION.upper()}",
            ("upper case",),
        ),
        (CANONICAL + "?api-version=7.4", ("query string",)),
        (
            f" https://CONTOSO.vault.azure.net:443/keys/tde/{VERSION}/ ",
            ("whitespace", "port 443", "trailing slash", "upper case"),
        ),
    ],
)
def test_pasted_forms_become_the_canonical_versioned_id(
    pasted: str, tidied: tuple[str, ...]
) -> None:
    uri = parse_key_uri(pasted)
    assert uri.canonical == CANONICAL
    assert set(uri.tidied) == set(tidied)
    assert managed_instance_problems(uri) == ()


@pytest.mark.parametrize(
    "pasted",
    [
        "https://contoso.vault.azure.net/keys/tde",
        "https://contoso.vault.azure.net/keys/tde/",
        "https://contoso.vault.azure.net:443/keys/tde/ ",
    ],
)
def test_versionless_uris_are_read_but_managed_instance_refuses_them(
    pasted: str,
) -> None:
    uri = parse_key_uri(pasted)
    assert uri.versionless
    [problem] = managed_instance_problems(uri)
    assert "version" in problem and "Managed Instance" in problem


@pytest.mark.parametrize(
    ("pasted", "fragment"),
    [
        ("", "empty"),
        ("http://contoso.vault.azure.net/keys/tde/" + VERSION, "https"),
        ("https://contoso.vault.azure.net/secrets/tde/" + VERSION, "/keys/"),
        ("https://contoso.vault.azure.net/keys/t_d_e/" + VERSION, "key name"),
        ("https://contoso.vault.azure.net/keys/tde/123", "key version"),
        ("https://contoso.vault.azure.net", "/keys/"),
    ],
)
def test_what_is_not_a_key_id_is_refused_with_a_fix(pasted: str, fragment: str) -> None:
    with pytest.raises(KeyUriError) as caught:
        parse_key_uri(pasted)
    assert fragment in str(caught.value)
    assert caught.value.fix


def test_simulator_ports_are_kept_but_443_is_not() -> None:
    sim = parse_key_uri(f"https://127.0.0.1:8443/keys/tde/{VERSION}")
    assert sim.port == 8443 and sim.vault_url == "https://127.0.0.1:8443"
    assert same_vault_url("https://127.0.0.1:8443", sim.canonical)
    assert not same_vault_url("https://127.0.0.1:8444", sim.canonical)
    assert same_vault_url(
        "https://contoso.vault.azure.net", CANONICAL.replace(".net/", ".net:443/")
    )


def test_same_key_ignores_case_of_the_name_and_version_equality_is_exact() -> None:
    a = parse_key_uri(CANONICAL)
    b = parse_key_uri(CANONICAL.replace("/tde/", "/TDE/"))
    assert a.same_key(b) and a.same_version(b)
    assert not a.same_version(a.with_version("f" * 32))


def test_server_key_names_round_trip() -> None:
    name = server_key_name("kv-tde-eastus2", "tde-protector", VERSION)
    assert name == f"kv-tde-eastus2_tde-protector_{VERSION}"
    assert parse_server_key_name(name) == ("kv-tde-eastus2", "tde-protector", VERSION)
    assert parse_server_key_name("ServiceManaged") is None


def test_vault_and_key_names_may_total_94_characters() -> None:
    assert name_length_ok("v" * 24, "k" * 70)
    assert not name_length_ok("v" * 24, "k" * 71)
