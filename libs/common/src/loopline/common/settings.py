"""Settings from `LOOPLINE_*` environment variables and an optional TOML config file.

Precedence (highest first): explicit keyword arguments, environment, the config file named by
`LOOPLINE_CONFIG` (or `config_file=`), defaults. Errors name the setting and its source.

`Settings` holds what every process shares (where it runs, the bus, the store, logging, the HTTP
edge, memory). Each service owns a section of its own (`SettingsSection` subclasses in the
service's package, named by `ServiceDef.settings`), read from the same sources:

    [loopline.writer]          # TOML section …
    max_batch = 5000
    LOOPLINE_WRITER__MAX_BATCH=5000   # … or the environment, nested
    LOOPLINE_WRITER_MAX_BATCH=5000    # … or flat (the names from before sections still work)
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

#: the config file `load_settings` read, handed to the settings sources (read once; `os.environ`
#: is never touched)
_CONFIG_SOURCE: ContextVar[_TomlSource | None] = ContextVar("loopline_config_source", default=None)


class SettingsError(ValueError):
    """Settings could not be loaded; the message names each bad setting."""


class _TomlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path is not None:
            try:
                with path.open("rb") as fh:
                    raw = tomllib.load(fh)
            except FileNotFoundError as exc:
                raise SettingsError(f"config file {path} does not exist") from exc
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc
            section = raw.get("loopline", raw)
            self._data = {str(k).replace("-", "_"): v for k, v in section.items()}
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    """Everything configurable about a Loopline process."""

    model_config = SettingsConfigDict(env_prefix="LOOPLINE_", extra="ignore", validate_default=True)

    # what the sections read besides the environment: keyword arguments and the config file
    _overrides: dict[str, Any] = PrivateAttr(default_factory=dict)
    _file_values: dict[str, Any] = PrivateAttr(default_factory=dict)
    _file: Path | None = PrivateAttr(default=None)
    _sections: dict[type[SettingsSection], SettingsSection] = PrivateAttr(default_factory=dict)

    # where and how to run
    data_dir: Path = Field(default=Path(".loopline"), description="embedded data directory")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    bus_url: str = Field(default="memory://", description="memory:// or kafka://host:port[,host:port]")
    store_dsn: str = Field(default="", description="chdb:///dir or http(s)://user:pass@host:8123/db")
    database: str = "loopline"
    clickhouse_cluster: str = Field(
        default="",
        description="ClickHouse cluster (remote_servers) to create the schema on: replicated local "
        "tables behind Distributed ones, sharded by tenant object (store/cluster.py); '' = one server",
    )
    service_urls: dict[str, str] = Field(default_factory=dict, description="service → base URL (distributed)")
    internal_token: str = Field(default="", description="shared secret for gateway → service calls")

    # auth
    bootstrap_api_key: str = ""
    bootstrap_org_name: str = "default"

    # logging
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    # HTTP edge (runtime/http_protocol.py): a client must send a request head within
    # http_head_timeout_s and may pause at most http_body_idle_timeout_s mid-body
    http_head_timeout_s: float = Field(default=10.0, gt=0)
    http_body_idle_timeout_s: float = Field(default=30.0, gt=0)
    http_max_head_bytes: int = Field(default=64 * 1024, ge=1024)
    http_max_connections: int = Field(default=4096, gt=0)

    # the bus (the services' own settings are their sections: ingest/settings.py, …)
    topic_partitions: int = Field(default=8, gt=0)
    # in-process bus: messages per partition not yet consumed by every group; beyond it publishes
    # wait (backpressure), which bounds memory and how stale reads can get under overload
    inproc_bus_capacity: int = Field(default=20_000, gt=0)
    # ... and at most this many bytes of such messages per partition (rows can be 20 MiB each;
    # 0: no byte bound): memory waiting for the writer stays bounded under overload. 8 MiB (64
    # MiB over the 8 partitions, more than one writer batch): with 64 MiB per partition a
    # saturated embedded server queued ~140,000 spans (8 s for the writer to drain, rows that
    # stale); three interleaved pairs of 15 s saturated runs: 6,517 / 10,065 / 11,087 spans/s
    # acknowledged and written against 5,654 / 6,392 / 11,048 (the last pair on a quiet machine),
    # CPU per span 162 / 134 / 133 against 150 / 160 / 130, peak RSS 1.37 against 1.77 GB
    inproc_bus_capacity_bytes: int = Field(default=8 * 1024 * 1024, ge=0)
    # in-process bus: a topic no group consumes in this process (dead letters, commit notices)
    # keeps at most this many bytes of messages per partition, oldest dropped (0: no byte bound)
    inproc_bus_retain_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    # in-process bus: journal every publish under data_dir/bus so a crash (kill -9) loses no
    # acknowledged row; fsync each publish too for power-loss safety (much slower)
    inproc_bus_journal: bool = True
    inproc_bus_fsync: bool = False
    topic_prefix: str = Field(default="", description="prefix of every topic and consumer group")
    # advertised to SDKs by /version: batches above it go through the overflow upload
    logs3_payload_max_bytes: int = Field(default=8 * 1024 * 1024, gt=0)

    # memory (issue 10, defect 7; see loopline.runtime.memory). 0 leaves a glibc parameter at its
    # default. glibc: a fixed mmap threshold (big buffers go back to the OS when freed), at most
    # this many malloc arenas, and malloc_trim every so many seconds (0: never)
    malloc_mmap_threshold_bytes: int = Field(default=1024 * 1024, ge=0, le=32 * 1024 * 1024)
    malloc_arena_max: int = Field(default=2, ge=0, le=64)
    malloc_trim_interval_s: float = Field(default=30.0, ge=0)
    # embedded store (chdb) caches, which ClickHouse sizes at 5 GiB each when unset; applied when
    # this process starts the engine. 0 for max_server_memory leaves ClickHouse's 90% of RAM
    chdb_mark_cache_bytes: int = Field(default=256 * 1024 * 1024, ge=0)
    chdb_index_mark_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    chdb_primary_index_cache_bytes: int = Field(default=128 * 1024 * 1024, ge=0)
    chdb_query_condition_cache_bytes: int = Field(default=32 * 1024 * 1024, ge=0)
    chdb_max_server_memory_bytes: int = Field(default=0, ge=0)

    @field_validator("bus_url")
    @classmethod
    def _check_bus_url(cls, v: str) -> str:
        if not (v.startswith("memory://") or v.startswith("kafka://")):
            raise ValueError("must start with memory:// or kafka://")
        return v

    @field_validator("store_dsn")
    @classmethod
    def _check_store_dsn(cls, v: str) -> str:
        if v and not v.startswith(("chdb://", "http://", "https://")):
            raise ValueError("must start with chdb://, http:// or https://")
        return v

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, v: str) -> str:
        if v.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return v.upper()

    @property
    def effective_store_dsn(self) -> str:
        return self.store_dsn or f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def chdb_engine_options(self) -> dict[str, int]:
        """Start-up options of the embedded engine (ClickHouse server settings)."""
        opts = {
            "mark_cache_size": self.chdb_mark_cache_bytes,
            "index_mark_cache_size": self.chdb_index_mark_cache_bytes,
            "primary_index_cache_size": self.chdb_primary_index_cache_bytes,
            "query_condition_cache_size": self.chdb_query_condition_cache_bytes,
        }
        if self.chdb_max_server_memory_bytes:
            opts["max_server_memory_usage"] = self.chdb_max_server_memory_bytes
        return opts

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = _CONFIG_SOURCE.get() or _TomlSource(settings_cls, config_file_path())
        return (init_settings, env_settings, toml)

    def section(self, cls: type[S]) -> S:
        """This process's settings of one service section (loaded once, then cached)."""
        got = self._sections.get(cls)
        if got is None:
            got = self._sections[cls] = _load_section(cls, self._overrides, self._file_values, self._file)
        assert isinstance(got, cls)
        return got


def config_file_path(given: Path | None = None) -> Path | None:
    """The config file: the one given, else `LOOPLINE_CONFIG`, else none."""
    path = given or os.environ.get("LOOPLINE_CONFIG")
    return Path(path) if path else None


class SettingsSection(BaseModel):
    """A service's own settings: subclass it in the service's package, set `SECTION`, declare
    fields with defaults, and name the class in `ServiceDef.settings`; read it with
    `ctx.settings.section(Cls)`.

    Each field `f` is read from (highest first) the keyword argument `<section>={"f": …}` or a
    flat one, `LOOPLINE_<SECTION>__<F>`, a flat variable, `[loopline.<section>] f` in the config
    file or a flat key there, then the default. The flat name is `<section>_<f>` unless
    `FLAT_NAMES` maps the field to the name it had before sections (e.g. `max_request_bytes`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    SECTION: ClassVar[str] = ""
    FLAT_NAMES: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def flat_name(cls, field: str) -> str:
        return cls.FLAT_NAMES.get(field, f"{cls.SECTION}_{field}")

    @classmethod
    def env_names(cls, field: str) -> tuple[str, str]:
        """The nested and the flat environment variable of a field."""
        return f"LOOPLINE_{cls.SECTION}__{field}".upper(), f"LOOPLINE_{cls.flat_name(field)}".upper()


S = TypeVar("S", bound=SettingsSection)


def _load_section(
    cls: type[S], overrides: Mapping[str, Any], file_values: Mapping[str, Any], file: Path | None
) -> S:
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    nested_kw = overrides.get(cls.SECTION) or {}
    nested_file = file_values.get(cls.SECTION) if isinstance(file_values.get(cls.SECTION), dict) else {}
    for field in cls.model_fields:
        flat = cls.flat_name(field)
        nested_env, flat_env = cls.env_names(field)
        candidates: list[tuple[bool, Any, str]] = [
            (field in nested_kw, nested_kw.get(field), f"{cls.SECTION}={{{field!r}: …}}"),
            (flat in overrides, overrides.get(flat), f"keyword {flat}"),
            (nested_env in os.environ, os.environ.get(nested_env), nested_env),
            (flat_env in os.environ, os.environ.get(flat_env), flat_env),
            (
                field in (nested_file or {}),
                (nested_file or {}).get(field),
                f"[loopline.{cls.SECTION}] {field} in {file}",
            ),
            (flat in file_values, file_values.get(flat), f"{flat} in {file}"),
        ]
        for present, value, where in candidates:
            if present and value is not None:
                values[field], origin[field] = value, where
                break
    lines = [
        f"{where} ({cls.SECTION}.{key}): not a setting of this section; known: {', '.join(cls.model_fields)}"
        for nested, where in (
            (nested_kw, f"keyword {cls.SECTION}"),
            (nested_file or {}, f"[loopline.{cls.SECTION}] in {file}"),
        )
        for key in nested
        if key not in cls.model_fields
    ]
    if lines:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines))
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            where = origin.get(field) or cls.env_names(field)[1]
            lines.append(f"{where} ({cls.SECTION}.{field}): {err['msg']} (got {err.get('input')!r})")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings, raising SettingsError with one line per bad setting.

    Keyword arguments that are no `Settings` field are kept for the services' sections
    (`writer_max_batch=…` or `writer={"max_batch": …}`)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    source = _TomlSource(Settings, config_file_path(config_file))
    token = _CONFIG_SOURCE.set(source)
    try:
        s = Settings(**{k: v for k, v in given.items() if k in Settings.model_fields})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            lines.append(f"LOOPLINE_{name.upper()} ({name}): {err['msg']} (got {err.get('input')!r})")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
    finally:
        _CONFIG_SOURCE.reset(token)
    s._overrides = {k: v for k, v in given.items() if k not in Settings.model_fields}
    s._file_values = source._data
    s._file = source.path
    return s
