"""The tdemesh config: which meshes exist and where their resources live.

A TOML file (the format is TEAM.md's shared contract) validated with
pydantic at the edge, so that everything inside `mesh` can trust it. Every
problem is reported as a `ConfigError` naming the file, the key and the fix;
pydantic's own messages never reach an operator unexplained.

The file is found by flag, then the `TDEMESH_CONFIG` environment variable,
then `config.toml` in the user config directory.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mesh.endpoints import Cloud, Endpoints, for_cloud, load_endpoints_file

ENV_VAR = "TDEMESH_CONFIG"
APP_NAME = "tdemesh"


class ConfigError(Exception):
    """A config problem: the file, the key, what is wrong and the fix."""

    def __init__(self, file: Path | None, key: str, problem: str, fix: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        self.fix = fix
        where = f"{file}" if file else "config"
        super().__init__(f"{where}: {key}: {problem}; fix: {fix}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Region(_Model):
    """One region of a mesh: its instance, its vault, its network."""

    resource_group: str = Field(min_length=1)
    instance: str = Field(min_length=1)
    vault: str = Field(min_length=3, max_length=24)
    network_security_group: str = Field(min_length=1)
    # Vault name -> private endpoint name, from this instance's network.
    private_endpoints: dict[str, str] = Field(default_factory=dict)


class Mesh(_Model):
    """Two instances in a failover group, their vaults and endpoints."""

    cloud: Cloud
    subscription_id: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    failover_group: str = Field(min_length=1)
    allow_fault_drills: bool = False
    endpoints_file: Path | None = None
    regions: dict[str, Region]

    @model_validator(mode="after")
    def _check_shape(self) -> Mesh:
        if len(self.regions) != 2:
            raise ValueError(
                f"a mesh has exactly two regions, found {len(self.regions)} "
                f"({', '.join(self.regions) or 'none'})"
            )
        if self.cloud == "Simulator" and self.endpoints_file is None:
            raise ValueError("cloud = 'Simulator' needs endpoints_file")
        vaults = {region.vault for region in self.regions.values()}
        for name, region in self.regions.items():
            unknown = set(region.private_endpoints) - vaults
            if unknown:
                raise ValueError(
                    f"regions.{name}.private_endpoints names "
                    f"{', '.join(sorted(unknown))}, which is not a vault of "
                    f"this mesh ({', '.join(sorted(vaults))})"
                )
        return self

    def region_of_vault(self, vault: str) -> str | None:
        for name, region in self.regions.items():
            if region.vault == vault:
                return name
        return None

    def region_of_instance(self, instance: str) -> str | None:
        for name, region in self.regions.items():
            if region.instance == instance:
                return name
        return None

    def endpoints(self) -> Endpoints:
        """The endpoints every SDK client of this mesh is built from."""
        if self.cloud == "Simulator":
            assert self.endpoints_file is not None  # the validator saw to it
            return load_endpoints_file(self.endpoints_file)
        return for_cloud(self.cloud, self.tenant_id, self.subscription_id)


class Config(_Model):
    default_mesh: str | None = None
    meshes: dict[str, Mesh]

    @model_validator(mode="after")
    def _check_default(self) -> Config:
        if not self.meshes:
            raise ValueError("no [meshes.<name>] table")
        if self.default_mesh is not None and self.default_mesh not in self.meshes:
            raise ValueError(
                f"default_mesh = {self.default_mesh!r} names no mesh "
                f"(there are {', '.join(sorted(self.meshes))})"
            )
        return self

    def mesh(self, name: str | None = None) -> tuple[str, Mesh]:
        """The named mesh, else the default, else the only one."""
        chosen = name or self.default_mesh
        if chosen is None:
            if len(self.meshes) == 1:
                chosen = next(iter(self.meshes))
            else:
                raise ConfigError(
                    None,
                    "default_mesh",
                    f"several meshes ({', '.join(sorted(self.meshes))}) and no default",
                    "pass --mesh NAME or set default_mesh",
                )
        if chosen not in self.meshes:
            raise ConfigError(
                None,
                "meshes",
                f"no mesh named {chosen!r} (there are "
                f"{', '.join(sorted(self.meshes))})",
                "pass the name of a [meshes.<name>] table",
            )
        return chosen, self.meshes[chosen]


def user_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def find_config(flag: Path | None = None) -> Path | None:
    """The config file to read: flag, then TDEMESH_CONFIG, then the user dir."""
    if flag is not None:
        return flag
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return Path(from_env)
    candidate = user_config_path()
    return candidate if candidate.exists() else None


def load_config(path: Path) -> Config:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as error:
        raise ConfigError(
            path,
            "(file)",
            "no such file",
            "create it with `tdemesh discover`, or pass --config with a path "
            f"that exists (the {ENV_VAR} variable also names it)",
        ) from error
    except OSError as error:
        raise ConfigError(
            path, "(file)", f"cannot be read ({error})", "check its permissions"
        ) from error
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(
            path, "(syntax)", f"not valid TOML ({error})", "correct the syntax"
        ) from error
    return parse_config(data, path)


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise _explain(error, path) from error
    return _resolve_paths(config, path)


def _resolve_paths(config: Config, path: Path | None) -> Config:
    """A relative endpoints_file is relative to the config file."""
    if path is None:
        return config
    meshes = {}
    for name, mesh in config.meshes.items():
        file = mesh.endpoints_file
        if file is not None and not file.is_absolute():
            mesh = mesh.model_copy(update={"endpoints_file": path.parent / file})
        meshes[name] = mesh
    return config.model_copy(update={"meshes": meshes})


_FIXES = {
    "missing": "add the key",
    "extra_forbidden": "remove it, or check its spelling against the documented keys",
    "literal_error": "use one of the values listed",
    "string_too_short": "give it a value",
    "string_too_long": "shorten it (a vault name has 3 to 24 characters)",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "string_type": "quote the value",
    "dict_type": "make it a table",
}


def _explain(error: ValidationError, path: Path | None) -> ConfigError:
    # A misspelt key shows up as "extra" plus "missing": name the typo first.
    errors = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    kind = first["type"]
    message = first["msg"].removeprefix("Value error, ")
    fix = _FIXES.get(kind, "correct the value")
    if kind == "value_error":
        fix = _value_error_fix(message)
    elif kind == "extra_forbidden":
        message = "unknown key"
        fix = _spelling_fix(str(first["loc"][-1]), errors)
    elif kind == "missing":
        message = "required key is missing"
    more = len(error.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(path, key, message, fix)


def _spelling_fix(unknown: str, errors: list[Any]) -> str:
    missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing"]
    close = difflib.get_close_matches(unknown, missing, n=1)
    if close:
        return f"rename it to {close[0]!r}"
    return "remove it, or check its spelling against the documented keys"


def _value_error_fix(message: str) -> str:
    if "endpoints_file" in message:
        return "set endpoints_file to the simulator's endpoints.json"
    if "two regions" in message:
        return "describe both regions of the failover group as [..regions.<name>]"
    if "default_mesh" in message:
        return "set default_mesh to one of the mesh names"
    if "private_endpoints" in message:
        return "key private_endpoints by the vault names of the mesh's regions"
    return "correct the value"


def dump_config(config: Config) -> str:
    """TOML text for a config, in the layout of TEAM.md's example."""
    lines: list[str] = []
    if config.default_mesh:
        lines += [f"default_mesh = {_toml_str(config.default_mesh)}", ""]
    for name, mesh in config.meshes.items():
        lines.append(f"[meshes.{_toml_key(name)}]")
        lines.append(f"cloud = {_toml_str(mesh.cloud)}")
        lines.append(f"subscription_id = {_toml_str(mesh.subscription_id)}")
        lines.append(f"tenant_id = {_toml_str(mesh.tenant_id)}")
        lines.append(f"failover_group = {_toml_str(mesh.failover_group)}")
        lines.append(f"allow_fault_drills = {str(mesh.allow_fault_drills).lower()}")
        if mesh.endpoints_file is not None:
            lines.append(f"endpoints_file = {_toml_str(str(mesh.endpoints_file))}")
        for region_name, region in mesh.regions.items():
            table = f"meshes.{_toml_key(name)}.regions.{_toml_key(region_name)}"
            lines += ["", f"[{table}]"]
            lines.append(f"resource_group = {_toml_str(region.resource_group)}")
            lines.append(f"instance = {_toml_str(region.instance)}")
            lines.append(f"vault = {_toml_str(region.vault)}")
            lines.append(
                f"network_security_group = {_toml_str(region.network_security_group)}"
            )
            lines.append(f"[{table}.private_endpoints]")
            for vault, endpoint in region.private_endpoints.items():
                lines.append(f"{_toml_key(vault)} = {_toml_str(endpoint)}")
        lines.append("")
    return "\n".join(lines)


def write_config(config: Config, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_config(config), encoding="utf-8")


def _toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _toml_key(key: str) -> str:
    if key and all(c.isalnum() or c in "-_" for c in key):
        return key
    return _toml_str(key)
