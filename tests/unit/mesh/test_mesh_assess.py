"""assess() on hand-built Snapshots: each rule, stated as a behaviour."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from mesh_estate import (
    KEY,
    NOW,
    PRINCIPAL,
    THUMB,
    V0,
    V1,
    cut,
    deny_rule,
    healthy,
    instance_name,
    kid,
    revoke,
    vault_name,
    with_connection_status,
    with_endpoint,
    with_instance,
    with_rule,
    with_vault,
    with_version,
)

from mesh.assess import assess
from mesh.assessment import DeadlineKind, Severity, Verdict
from mesh.snapshot import (
    AccessPolicy,
    Database,
    Identity,
    Protector,
    ReadError,
    RegisteredKey,
)

E, C = "eastus2", "centralus"


def test_the_protected_mesh_is_healthy_with_four_working_paths() -> None:
    assessment = assess(healthy())
    assert assessment.verdict is Verdict.HEALTHY
    assert [f.code for f in assessment.findings if f.severity != Severity.INFO] == []
    assert len(assessment.paths) == 4
    assert all(path.usable for path in assessment.paths)
    assert assessment.deadlines == ()


def test_one_cut_to_the_other_vault_degrades_and_names_the_rule() -> None:
    assessment = assess(cut(healthy(), E, C))
    assert assessment.verdict is Verdict.DEGRADED
    path = assessment.path(instance_name(E), vault_name(C))
    assert path is not None and path.reachable is False and not path.usable
    [finding] = assessment.by_code("NSG_RULE_CUTS_PATH")
    assert "deny-centralus" in finding.what and "nsg-sqlmi-eastus2" in finding.what
    assert "delete" in finding.fix
    assert assessment.by_code("SINGLE_KEY_PATH")


def test_cutting_the_home_vault_leaves_the_instance_on_its_fallback() -> None:
    assessment = assess(cut(healthy(), E, E))
    assert assessment.verdict is Verdict.DEGRADED
    [finding] = assessment.by_code("RUNNING_ON_FALLBACK")
    assert finding.resource.endswith(instance_name(E))
    assert assessment.deadlines == ()


def test_cutting_both_paths_is_critical_with_deadlines() -> None:
    snapshot = cut(cut(healthy(), E, E), E, C)
    assessment = assess(snapshot)
    assert assessment.verdict is Verdict.CRITICAL
    [finding] = assessment.by_code("PROTECTOR_UNAVAILABLE")
    assert "deny-eastus2" in finding.what and "deny-centralus" in finding.what
    kinds = {d.kind for d in assessment.deadlines}
    assert kinds == {
        DeadlineKind.KEY_CHECK,
        DeadlineKind.INACCESSIBLE,
        DeadlineKind.AUTO_HEAL,
    }
    heal = next(d for d in assessment.deadlines if d.kind is DeadlineKind.AUTO_HEAL)
    assert heal.at == NOW + timedelta(minutes=30)


def test_a_disabled_protector_does_not_fall_back_and_is_critical() -> None:
    disabled_at = NOW - timedelta(minutes=4)
    snapshot = with_version(healthy(), E, V1, enabled=False, updated=disabled_at)
    assessment = assess(snapshot)
    assert assessment.verdict is Verdict.CRITICAL
    [finding] = assessment.by_code("PROTECTOR_UNAVAILABLE")
    assert finding.resource.endswith(instance_name(E))
    assert "only when the first is unreachable" in finding.what
    assert assessment.by_code("KEY_DISABLED")
    heal = next(d for d in assessment.deadlines if d.kind is DeadlineKind.AUTO_HEAL)
    assert heal.at == disabled_at + timedelta(minutes=30)
    check = next(d for d in assessment.deadlines if d.kind is DeadlineKind.KEY_CHECK)
    assert check.at == disabled_at + timedelta(minutes=10)


def test_a_revoked_permission_on_the_home_vault_is_critical_and_names_the_role() -> (
    None
):
    assessment = assess(revoke(healthy(), C, C))
    assert assessment.verdict is Verdict.CRITICAL
    [finding] = [
        f
        for f in assessment.by_code("PERMISSION_MISSING")
        if f.resource.endswith(vault_name(C))
    ]
    assert "Key Vault Crypto Service Encryption User" in finding.fix
    assert PRINCIPAL[C] in finding.fix
    path = assessment.path(instance_name(C), vault_name(C))
    assert path is not None and path.permission is False


def test_access_policy_vaults_need_get_wrap_and_unwrap() -> None:
    policies = (
        AccessPolicy(PRINCIPAL[E], None, ("get", "wrapKey")),
        AccessPolicy(PRINCIPAL[C], None, ("Get", "WrapKey", "UnwrapKey")),
    )
    snapshot = with_vault(
        healthy(), C, rbac_authorization=False, access_policies=policies
    )
    assessment = assess(snapshot)
    eastus_path = assessment.path(instance_name(E), vault_name(C))
    central_path = assessment.path(instance_name(C), vault_name(C))
    assert eastus_path is not None and eastus_path.permission is False
    assert central_path is not None and central_path.permission is True
    [finding] = assessment.by_code("PERMISSION_MISSING")
    assert "unwrapKey" in finding.what and "set-policy" in finding.fix


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"kty": "EC"}, "KEY_TYPE_UNSUPPORTED"),
        ({"size": 4096}, "KEY_SIZE_UNSUPPORTED"),
        ({"not_before": NOW + timedelta(days=1)}, "KEY_NOT_YET_ACTIVE"),
        ({"expires": NOW - timedelta(hours=1)}, "KEY_EXPIRED"),
        ({"key_ops": ("encrypt", "decrypt")}, "KEY_OPERATIONS_MISSING"),
        ({"enabled": False}, "KEY_DISABLED"),
    ],
)
def test_each_key_requirement_breaks_the_path_and_says_so(
    changes: dict[str, object], code: str
) -> None:
    assessment = assess(with_version(healthy(), C, V1, **changes))
    assert assessment.by_code(code)
    path = assessment.path(instance_name(C), vault_name(C))
    assert path is not None and path.key_usable is False
    assert assessment.verdict is Verdict.CRITICAL  # the home copy, no fallback


def test_an_expiry_soon_warns_and_a_far_expiry_informs() -> None:
    soon = assess(with_version(healthy(), E, V1, expires=NOW + timedelta(days=5)))
    far = assess(with_version(healthy(), E, V1, expires=NOW + timedelta(days=300)))
    assert soon.by_code("KEY_EXPIRES_SOON") and soon.verdict is Verdict.DEGRADED
    assert far.by_code("KEY_HAS_EXPIRY") and far.verdict is Verdict.HEALTHY


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"soft_delete": False}, "VAULT_SOFT_DELETE_OFF"),
        ({"purge_protection": False}, "VAULT_PURGE_PROTECTION_OFF"),
    ],
)
def test_vault_protection_is_required(changes: dict[str, object], code: str) -> None:
    assessment = assess(with_vault(healthy(), E, **changes))
    [finding] = assessment.by_code(code)
    assert vault_name(E) in finding.fix
    assert assessment.verdict is Verdict.DEGRADED


def test_a_vault_and_key_name_over_94_characters_is_flagged() -> None:
    long_name = "k" * 80
    snapshot = healthy()
    for region in (E, C):
        vault = snapshot.vault_in(region)
        assert vault is not None
        keys = tuple(
            replace(
                key,
                name=long_name,
                versions=tuple(
                    replace(v, name=long_name, kid=kid(region, v.version, long_name))
                    for v in key.versions
                ),
            )
            for key in vault.keys
        )
        snapshot = with_vault(snapshot, region, keys=keys)
        instance = snapshot.instance_in(region)
        assert instance is not None and instance.protector is not None
        snapshot = with_instance(
            snapshot,
            region,
            protector=replace(instance.protector, uri=kid(region, V1, long_name)),
            keys=tuple(
                replace(k, uri=k.uri.replace(f"/{KEY}/", f"/{long_name}/"))
                if k.uri
                else k
                for k in instance.keys or ()
            ),
        )
    assessment = assess(snapshot)
    assert assessment.by_code("KEY_NAME_TOO_LONG")


def test_an_endpoint_not_approved_cuts_its_path() -> None:
    snapshot = with_connection_status(healthy(), C, E, "Pending")
    assessment = assess(snapshot)
    [finding] = assessment.by_code("ENDPOINT_NOT_APPROVED")
    assert "Pending" in finding.what and "approve" in finding.fix
    path = assessment.path(instance_name(C), vault_name(E))
    assert path is not None and path.reachable is False


def test_a_missing_endpoint_cuts_its_path() -> None:
    snapshot = with_endpoint(healthy(), E, vault_name(C), exists=False)
    assessment = assess(snapshot)
    assert assessment.by_code("ENDPOINT_MISSING")
    assert assessment.verdict is Verdict.DEGRADED


def test_an_allow_rule_with_higher_priority_keeps_the_path_open() -> None:
    allow = replace(deny_rule("10.1.1.5", name="allow-kv", priority=90), access="Allow")
    snapshot = with_rule(cut(healthy(), E, C), E, allow)
    assert assess(snapshot).verdict is Verdict.HEALTHY


def test_a_deny_on_another_port_or_address_does_not_cut() -> None:
    other_port = replace(deny_rule("*"), destination_ports=("1433",))
    other_address = deny_rule("192.168.0.0/16")
    snapshot = with_rule(with_rule(healthy(), E, other_port), E, other_address)
    assert assess(snapshot).verdict is Verdict.HEALTHY


def test_a_vault_the_operator_cannot_reach_is_reported() -> None:
    error = ReadError(vault_name(C), "keys.list", "403 Forbidden by firewall", 403)
    snapshot = with_vault(healthy(), C, operator_reachable=False, operator_error=error)
    assessment = assess(snapshot)
    assert assessment.by_code("VAULT_UNREACHABLE_FOR_OPERATOR")
    assert assessment.verdict is Verdict.DEGRADED


def test_a_vault_not_answering_cuts_every_path_to_it() -> None:
    error = ReadError(vault_name(E), "keys.get", "connection refused", None)
    snapshot = with_vault(healthy(), E, operator_reachable=False, operator_error=error)
    assessment = assess(snapshot)
    assert assessment.by_code("VAULT_NOT_ANSWERING")
    assert assessment.by_code("RUNNING_ON_FALLBACK")
    assert assessment.verdict is Verdict.DEGRADED


def test_the_secondary_lacking_the_primarys_material_is_flagged() -> None:
    snapshot = healthy()
    secondary = snapshot.instance_in(C)
    assert secondary is not None
    other = "C3" * 20
    keys = tuple(
        replace(k, thumbprint=other) if k.uri else k for k in secondary.keys or ()
    )
    protector = replace(secondary.protector, thumbprint=other)  # type: ignore[type-var]
    snapshot = with_instance(snapshot, C, keys=keys, protector=protector)
    assessment = assess(snapshot)
    partner = [
        f
        for f in assessment.by_code("PARTNER_LACKS_KEY")
        if f.resource.endswith(instance_name(C))
    ]
    assert partner and THUMB in partner[0].what


def test_auto_rotation_on_one_side_only_is_flagged() -> None:
    snapshot = healthy()
    primary = snapshot.instance_in(E)
    assert primary is not None and primary.protector is not None
    snapshot = with_instance(
        snapshot, E, protector=replace(primary.protector, auto_rotation_enabled=True)
    )
    [finding] = assess(snapshot).by_code("AUTO_ROTATION_ONE_SIDED")
    assert finding.resource.endswith(instance_name(C))


def test_auto_rotation_needs_the_same_key_uri_on_the_secondary() -> None:
    snapshot = healthy()
    for region in (E, C):
        instance = snapshot.instance_in(region)
        assert instance is not None and instance.protector is not None
        snapshot = with_instance(
            snapshot,
            region,
            protector=replace(instance.protector, auto_rotation_enabled=True),
        )
    assert not assess(snapshot).by_code("AUTO_ROTATION_KEY_URI_DIFFERS")
    secondary = snapshot.instance_in(C)
    assert secondary is not None
    only_home = tuple(
        k for k in secondary.keys or () if not (k.uri or "").startswith(kid(E)[:30])
    )
    snapshot = with_instance(snapshot, C, keys=only_home)
    assert assess(snapshot).by_code("AUTO_ROTATION_KEY_URI_DIFFERS")


def test_registration_on_the_primary_before_the_secondary_is_noted() -> None:
    snapshot = healthy()
    secondary = snapshot.instance_in(C)
    assert secondary is not None
    later = tuple(
        replace(k, created=NOW - timedelta(days=1)) if k.uri else k
        for k in secondary.keys or ()
    )
    assessment = assess(with_instance(snapshot, C, keys=later))
    assert assessment.by_code("REGISTERED_PRIMARY_FIRST")
    assert not assess(healthy()).by_code("REGISTERED_PRIMARY_FIRST")


def test_a_disabled_old_version_is_flagged_while_backups_may_need_it() -> None:
    assessment = assess(with_version(healthy(), E, V0, enabled=False))
    [finding] = assessment.by_code("OLD_VERSION_DISABLED")
    assert V0 in finding.resource and "--enabled true" in finding.fix
    assert assessment.verdict is Verdict.DEGRADED


def test_a_versionless_registered_uri_is_judged_as_managed_instance_does() -> None:
    snapshot = healthy()
    instance = snapshot.instance_in(E)
    assert instance is not None
    extra = RegisteredKey(
        "kv-tde-eastus2_other", "AzureKeyVault", uri=f"{kid(E)[:-33]}/"
    )
    snapshot = with_instance(snapshot, E, keys=(*(instance.keys or ()), extra))
    [finding] = assess(snapshot).by_code("KEY_URI_VERSIONLESS")
    assert "versionless" in finding.why or "version" in finding.what


def test_inaccessible_databases_are_critical_with_the_root_cause_in_words() -> None:
    snapshot = revoke(revoke(healthy(), E, E), E, C)
    instance = snapshot.instance_in(E)
    assert instance is not None
    databases = tuple(
        replace(
            db,
            status="Inaccessible",
            inaccessibility_reason_kind="TransparentDataEncryption",
            inaccessibility_error_code="AzureKeyVaultMissingPermissions",
        )
        for db in instance.databases or ()
    )
    assessment = assess(with_instance(snapshot, E, databases=databases))
    findings = assessment.by_code("DATABASE_INACCESSIBLE")
    assert len(findings) == 3
    assert "lacks get, wrapKey, unwrapKey" in findings[0].what
    assert "AzureKeyVaultMissingPermissions" in findings[0].what
    assert "revalidate" in findings[0].fix.lower()
    assert "`tdemesh run recover`" in findings[0].fix
    assert "Invoke-AzSqlInstanceTransparentDataEncryptionProtector" in findings[0].fix
    kinds = {d.kind for d in assessment.deadlines}
    assert kinds == {DeadlineKind.AUTO_HEAL}


def test_an_instance_without_identity_is_critical() -> None:
    snapshot = with_instance(healthy(), C, identity=Identity("None"))
    assessment = assess(snapshot)
    assert assessment.by_code("IDENTITY_MISSING")
    assert assessment.verdict is Verdict.CRITICAL


def test_a_user_assigned_identity_is_the_one_that_needs_access() -> None:
    uami = "/subscriptions/s/resourceGroups/r/providers/x/userAssignedIdentities/u"
    identity = Identity(
        "SystemAssigned,UserAssigned",
        principal_id=PRINCIPAL[E],
        primary_user_assigned_id=uami,
        user_assigned=((uami, "bbbbbbbb-0000-0000-0000-000000000009"),),
    )
    assessment = assess(with_instance(healthy(), E, identity=identity))
    assert assessment.verdict is Verdict.CRITICAL
    assert any("bbbbbbbb" in f.what for f in assessment.by_code("PERMISSION_MISSING"))


def test_a_service_managed_mesh_is_not_yet_protected() -> None:
    protector = Protector("ServiceManaged", "ServiceManaged")
    snapshot = with_instance(
        with_instance(healthy(), E, protector=protector), C, protector=protector
    )
    assessment = assess(snapshot)
    assert assessment.verdict is Verdict.DEGRADED
    assert len(assessment.by_code("PROTECTOR_SERVICE_MANAGED")) == 2


def test_a_deleted_protector_key_is_critical() -> None:
    vault = healthy().vault_in(E)
    assert vault is not None
    emptied = tuple(replace(k, exists=False, versions=()) for k in vault.keys)
    assessment = assess(with_vault(healthy(), E, keys=emptied))
    assert assessment.by_code("PROTECTOR_KEY_MISSING")
    assert assessment.verdict is Verdict.CRITICAL


def test_a_part_that_could_not_be_read_is_a_finding_not_a_crash() -> None:
    error = ReadError("nsg-sqlmi-eastus2", "network_security_groups.get", "boom", 500)
    snapshot = healthy()
    groups = tuple(
        replace(g, outbound_rules=None, errors=(error,)) if g.region == E else g
        for g in snapshot.network_security_groups
    )
    assessment = assess(replace(snapshot, network_security_groups=groups))
    assert assessment.by_code("READ_FAILED")
    assert assessment.verdict is Verdict.DEGRADED
    path = assessment.path(instance_name(E), vault_name(E))
    assert path is not None and path.reachable is None


def test_the_failover_group_must_pair_the_mesh_instances() -> None:
    snapshot = healthy()
    group = replace(snapshot.failover_group, secondary_instance="someone-else")  # type: ignore[type-var]
    assert assess(replace(snapshot, failover_group=group)).by_code(
        "FAILOVER_GROUP_MISMATCH"
    )
    assert assess(replace(snapshot, failover_group=None)).by_code(
        "FAILOVER_GROUP_MISSING"
    )


def test_a_different_copy_registered_from_the_other_vault_is_no_fallback() -> None:
    snapshot = healthy()
    instance = snapshot.instance_in(E)
    assert instance is not None
    keys = tuple(
        replace(k, uri=kid(C, V0), thumbprint=None)
        if (k.uri or "").startswith("https://kv-tde-centralus")
        else k
        for k in instance.keys or ()
    )
    assessment = assess(with_instance(snapshot, E, keys=keys))
    path = assessment.path(instance_name(E), vault_name(C))
    assert path is not None and path.same_thumbprint is False
    assert assessment.by_code("THUMBPRINT_MISMATCH")


def test_every_finding_names_a_resource_and_a_fix() -> None:
    snapshot = with_version(cut(revoke(healthy(), C, E), E, C), E, V0, enabled=False)
    snapshot = with_instance(
        snapshot, C, databases=(Database("sales", "Inaccessible"),)
    )
    for finding in assess(snapshot).findings:
        assert finding.resource and finding.fix and finding.what and finding.why


def test_a_deny_for_another_subnet_does_not_cut_once_the_subnet_is_known() -> None:
    other_subnet = replace(deny_rule("*"), source_prefixes=("10.99.0.0/24",))
    snapshot = with_rule(healthy(), E, other_subnet)
    # The subnet's range unknown: the rule is assumed to apply.
    assert assess(snapshot).verdict is not Verdict.HEALTHY
    known = with_instance(snapshot, E, subnet_prefix="10.1.0.0/24")
    assert assess(known).verdict is Verdict.HEALTHY
    inside = with_instance(snapshot, E, subnet_prefix="10.99.0.0/26")
    assert assess(inside).verdict is not Verdict.HEALTHY


def test_a_vault_open_to_all_networks_is_noted_without_changing_the_verdict() -> None:
    snapshot = with_vault(
        healthy(), C, public_network_access="Enabled", network_default_action="Allow"
    )
    assessment = assess(snapshot)
    [finding] = assessment.by_code("VAULT_OPEN_TO_ALL_NETWORKS")
    assert finding.severity is Severity.INFO
    assert assessment.verdict is Verdict.HEALTHY


def test_a_newer_version_the_protector_does_not_use_is_an_unfinished_rotation() -> None:
    snapshot = healthy()
    vault = snapshot.vault_in(E)
    assert vault is not None
    [key] = vault.keys
    newest = replace(
        key.versions[-1],
        version="f" * 32,
        kid=kid(E, "f" * 32),
        thumbprint="C3" * 20,
        created=NOW - timedelta(hours=1),
    )
    snapshot = with_vault(
        snapshot, E, keys=(replace(key, versions=(*key.versions, newest)),)
    )
    assessment = assess(snapshot)
    [finding] = assessment.by_code("PROTECTOR_NOT_LATEST_VERSION")
    assert finding.resource.endswith(instance_name(E))
    assert "secondary first" in finding.fix
    assert assessment.verdict is Verdict.HEALTHY


def test_an_inaccessible_database_on_the_secondary_must_be_reseeded() -> None:
    snapshot = revoke(healthy(), C, C)
    snapshot = with_instance(
        snapshot, C, databases=(Database("sales", "Inaccessible"),)
    )
    [finding] = assess(snapshot).by_code("DATABASE_INACCESSIBLE")
    assert "re-seed" in finding.fix
