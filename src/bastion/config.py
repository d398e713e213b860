"""Settings: the one module that reads the environment. Built once at start, passed explicitly afterwards.

:class:`Settings` is a plain pydantic value: constructing one never reads the environment. The process's
entry point (the ``bastion`` command, each ``bastion serve`` worker, a library caller) builds it once with
:meth:`Settings.from_env`: defaults, then the ``BASTION_*`` variables, then flags. Everything below gets it
passed down — the store, the service, the vault, the report flows. ``docs/configuration.md`` lists every
variable; ``docs/decisions/0009-configuration.md`` says why it is shaped so.

The embedded default is a SQLite file in a local folder (``BASTION_HOME``, default
``$XDG_DATA_HOME/bastion`` or ``~/.local/share/bastion``); production points ``BASTION_DATABASE_URL`` at
PostgreSQL.

Two switches are not settings because they act before any settings exist, and are read here all the same
(:func:`text_pure_requested`; ``BASTION_TEXT_COMPILE`` is read by ``setup.py`` at build time). The command
line's own switches ``BASTION_DEBUG`` and ``BASTION_NO_FAST_EXIT`` are read by its entry point
(:func:`bastion.cli.main`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

__all__ = ["DEFAULT_LOCK_WAIT", "ENVIRONMENT", "Settings", "default_home", "export_for_workers", "text_pure_requested"]


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """``BASTION_HOME``, else ``$XDG_DATA_HOME/bastion``, else ``~/.local/share/bastion``."""
    env = os.environ if environ is None else environ
    home = env.get("BASTION_HOME")
    if home:
        return Path(home).expanduser()
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "bastion"


#: Seconds a store writer waits for another one before giving up with ``store-busy``.
DEFAULT_LOCK_WAIT = 600.0


def _words(value: Any) -> Any:
    """A comma-separated variable (``a, b,c``) as a tuple of its non-empty items."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


def _loose_bool(value: Any, *, true: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return value.strip().lower() in true
    return value


#: Every setting read from the environment: field -> variable. Names and meanings are a contract (users'
#: scripts set them); ``docs/configuration.md`` documents each, and a test keeps the two in step.
ENVIRONMENT: dict[str, str] = {
    "home": "BASTION_HOME",
    "database_url": "BASTION_DATABASE_URL",
    "policy_path": "BASTION_POLICY",
    "holding_dir": "BASTION_HOLDING_DIR",
    "lock_wait": "BASTION_LOCK_WAIT",
    "max_body_bytes": "BASTION_MAX_BODY_BYTES",
    "background": "BASTION_BACKGROUND",
    "url_media_hosts": "BASTION_URL_MEDIA_HOSTS",
    "url_media_max_bytes": "BASTION_URL_MEDIA_MAX_BYTES",
    "url_media_timeout": "BASTION_URL_MEDIA_TIMEOUT",
    "webhook_allow_networks": "BASTION_WEBHOOK_ALLOW_NETWORKS",
    "trusted_proxies": "BASTION_TRUSTED_PROXIES",
    "vault_dir": "BASTION_VAULT_DIR",
    "vault_retention_days": "BASTION_VAULT_RETENTION_DAYS",
    "vault_keys": "BASTION_VAULT_KEYS",
    "vault_active_key": "BASTION_VAULT_ACTIVE_KEY",
    "platform_name": "BASTION_PLATFORM_NAME",
    "profile_url": "BASTION_PROFILE_URL",
    "item_url": "BASTION_ITEM_URL",
    "ncmec_url": "BASTION_NCMEC_URL",
    "ncmec_username": "BASTION_NCMEC_USERNAME",
    "ncmec_password": "BASTION_NCMEC_PASSWORD",
    "ncmec_reporter_email": "BASTION_NCMEC_REPORTER_EMAIL",
    "ncmec_reporter_phone": "BASTION_NCMEC_REPORTER_PHONE",
    "ncmec_reporter_first_name": "BASTION_NCMEC_REPORTER_FIRST_NAME",
    "ncmec_reporter_last_name": "BASTION_NCMEC_REPORTER_LAST_NAME",
    "ncmec_company": "BASTION_NCMEC_COMPANY",
    "ncmec_terms": "BASTION_NCMEC_TERMS",
    "ncmec_legal_url": "BASTION_NCMEC_LEGAL_URL",
    "ncmec_industry_mou": "BASTION_NCMEC_INDUSTRY_MOU",
    "dsa_terms_url": "BASTION_DSA_TERMS_URL",
    "dsa_endpoint": "BASTION_DSA_ENDPOINT",
    "dsa_token": "BASTION_DSA_TOKEN",
    "classifier_http_url": "BASTION_CLASSIFIER_HTTP_URL",
    "classifier_http_model": "BASTION_CLASSIFIER_HTTP_MODEL",
    "classifier_http_version": "BASTION_CLASSIFIER_HTTP_VERSION",
    "classifier_http_secret": "BASTION_CLASSIFIER_HTTP_SECRET",
    "classifier_http_auth_header": "BASTION_CLASSIFIER_HTTP_AUTH_HEADER",
    "classifier_http_auth_scheme": "BASTION_CLASSIFIER_HTTP_AUTH_SCHEME",
    "classifier_http_body": "BASTION_CLASSIFIER_HTTP_BODY",
    "classifier_http_scores": "BASTION_CLASSIFIER_HTTP_SCORES",
    "classifier_http_timeout": "BASTION_CLASSIFIER_HTTP_TIMEOUT",
    "classifier_http_retries": "BASTION_CLASSIFIER_HTTP_RETRIES",
    "classifier_http_backoff": "BASTION_CLASSIFIER_HTTP_BACKOFF",
    "classifier_http_deadline": "BASTION_CLASSIFIER_HTTP_DEADLINE",
    "classifier_http_breaker_failures": "BASTION_CLASSIFIER_HTTP_BREAKER_FAILURES",
    "classifier_http_breaker_seconds": "BASTION_CLASSIFIER_HTTP_BREAKER_SECONDS",
}


class Settings(BaseModel):
    """Everything Bastion is configured with. Build it with :meth:`from_env` at start; pass it down."""

    model_config = ConfigDict(extra="forbid")

    #: field -> the variable it is read from. A subclass with settings of its own (``ServeSettings``) extends
    #: it: ``ENVIRONMENT = {**Settings.ENVIRONMENT, field: variable}``.
    ENVIRONMENT: ClassVar[dict[str, str]] = ENVIRONMENT

    # --- the store --------------------------------------------------------------------------------------
    home: Path = Field(default_factory=default_home)
    #: SQLAlchemy URL; None = a SQLite file in ``home``
    database_url: Optional[str] = None
    #: seconds a writer waits for another one before giving up with ``store-busy``
    lock_wait: float = Field(DEFAULT_LOCK_WAIT, ge=0)

    # --- the service ------------------------------------------------------------------------------------
    #: YAML policy file; None = the shipped default
    policy_path: Optional[Path] = None
    #: the restricted folder for bytes of media a person must see; None = ``home/holding`` (see :attr:`holding`)
    holding_dir: Optional[Path] = None
    #: request bodies larger than this are refused with 413 before they are read whole
    max_body_bytes: int = Field(64 * 1024 * 1024, gt=0)
    #: run the batch worker, retro-matcher, index sync and webhook delivery in the server's process
    background: bool = True
    #: hosts URL media may be fetched from (``example.com``, ``*.cdn.example.com``); empty = URL media off
    url_media_hosts: tuple[str, ...] = ()
    url_media_max_bytes: int = Field(50 * 1024 * 1024, gt=0)
    #: seconds for a whole URL fetch, redirects included
    url_media_timeout: float = Field(20.0, gt=0)
    #: networks (CIDR) webhook targets may resolve into although not public (a receiver on your own network);
    #: empty = loopback, private, link-local and metadata targets are refused (metadata whatever this says)
    webhook_allow_networks: tuple[str, ...] = ()
    #: addresses or networks (CIDR) of reverse proxies in front of the server: from a peer in them (only),
    #: ``X-Forwarded-For`` names the client (the sign-in throttle's address) and ``X-Forwarded-Proto`` the
    #: scheme. Empty = no proxy is trusted: those headers are ignored, so a client cannot choose its address
    trusted_proxies: tuple[str, ...] = ()

    # --- the evidence vault -----------------------------------------------------------------------------
    #: None = ``home/vault``
    vault_dir: Optional[Path] = None
    vault_retention_days: int = Field(365, ge=0)
    #: ``id:base64key,...``
    vault_keys: Optional[SecretStr] = None
    vault_active_key: Optional[str] = None

    # --- reports ----------------------------------------------------------------------------------------
    platform_name: Optional[str] = None
    #: ``https://example.org/u/{handle}``: where an account is on the platform ({handle}, {account})
    profile_url: Optional[str] = None
    #: ``https://example.org/p/{item}``: where an item was on the platform
    item_url: Optional[str] = None
    #: None = NCMEC's test environment
    ncmec_url: Optional[str] = None
    ncmec_username: Optional[str] = None
    ncmec_password: Optional[SecretStr] = None
    ncmec_reporter_email: Optional[str] = None
    ncmec_reporter_phone: Optional[str] = None
    ncmec_reporter_first_name: Optional[str] = None
    ncmec_reporter_last_name: Optional[str] = None
    ncmec_company: Optional[str] = None
    ncmec_terms: Optional[str] = None
    ncmec_legal_url: Optional[str] = None
    ncmec_industry_mou: bool = False
    dsa_terms_url: Optional[str] = None
    dsa_endpoint: Optional[str] = None
    dsa_token: Optional[SecretStr] = None

    # --- the external classifier connector (bastion.classifiers.http, docs/classifiers.md) --------------
    classifier_http_url: Optional[str] = None
    classifier_http_model: Optional[str] = None
    classifier_http_version: Optional[str] = None
    #: sent only in the auth header; never logged, never in an error or a repr
    classifier_http_secret: Optional[SecretStr] = None
    classifier_http_auth_header: str = "Authorization"
    #: put before the secret in the header (``Bearer <secret>``); empty: the secret alone
    classifier_http_auth_scheme: str = "Bearer"
    #: JSON request body template; None: ``{"image": "{image_base64}"}``
    classifier_http_body: Optional[str] = None
    #: ``name=$.json.path, ...``: where each score is in the answer
    classifier_http_scores: Optional[str] = None
    classifier_http_timeout: float = Field(5.0, gt=0)
    classifier_http_retries: int = Field(2, ge=0, le=10)
    classifier_http_backoff: float = Field(0.2, ge=0)
    classifier_http_deadline: float = Field(20.0, gt=0)
    classifier_http_breaker_failures: int = Field(5, ge=1)
    classifier_http_breaker_seconds: float = Field(30.0, ge=0)

    @field_validator("home", "policy_path", "holding_dir", "vault_dir", mode="after")
    @classmethod
    def _expand(cls, value: Optional[Path]) -> Optional[Path]:
        return value.expanduser() if value is not None else None

    @field_validator("url_media_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        value = _words(value)
        return tuple(h.lower() for h in value) if isinstance(value, (tuple, list)) else value

    @field_validator("webhook_allow_networks", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        import ipaddress

        value = _words(value)
        if isinstance(value, (tuple, list)):
            for net in value:
                ipaddress.ip_network(net, strict=False)  # a ValueError names the bad network
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        import ipaddress

        value = _words(value)
        if isinstance(value, (tuple, list)):
            # a ValueError names the bad one; host bits go (10.1.2.3/8 is 10.0.0.0/8), an address is a /32 or /128
            value = tuple(str(ipaddress.ip_network(str(net).strip(), strict=False)) for net in value)
        return value

    @field_validator("background", mode="before")
    @classmethod
    def _background(cls, value: Any) -> Any:
        # "0" turns it off; any other value leaves it on (as BASTION_BACKGROUND always worked)
        return value.strip() != "0" if isinstance(value, str) else value

    @field_validator("ncmec_industry_mou", mode="before")
    @classmethod
    def _mou(cls, value: Any) -> Any:
        return _loose_bool(value, true=("1", "true", "yes"))

    # --- building ---------------------------------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **flags: Any):
        """Defaults, then the environment (``os.environ`` unless ``environ`` is given), then ``flags``
        (command-line values; None means "not given"). An invalid value is a :class:`ConfigError` naming
        the variable, at start — never a surprise halfway through a job."""
        from bastion.errors import ConfigError

        values: dict[str, Any] = _read_environment(cls.ENVIRONMENT, environ)
        if "home" not in values:
            values["home"] = default_home(environ)
        values.update({k: v for k, v in flags.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = []
            for e in exc.errors():
                field = str(e["loc"][0]) if e["loc"] else ""
                source = cls.ENVIRONMENT.get(field, field) if flags.get(field) is None else f"{field} (given)"
                problems.append(f"{source}: {e['msg']}")
            raise ConfigError("invalid setting " + "; ".join(problems)) from None

    # --- derived ----------------------------------------------------------------------------------------

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'bastion.db'}"

    @property
    def holding(self) -> Path:
        """The media holding folder: ``BASTION_HOLDING_DIR``, else ``home/holding`` — for the server and the
        CLI alike (they read the same setting, so they cannot disagree)."""
        return self.holding_dir or (self.home / "holding")

    @property
    def vault_folder(self) -> Path:
        return self.vault_dir or (self.home / "vault")

    def store_settings(self) -> "Settings":
        """The common settings alone (a subclass's extra fields dropped)."""
        return Settings(**{k: getattr(self, k) for k in Settings.model_fields})


@lru_cache(maxsize=8)
def _environment_source(variables: tuple[tuple[str, str], ...]) -> type:
    """The pydantic-settings reader of ``variables`` (field, variable), every one as its raw text
    (:class:`Settings` validates them). Built on first use: the command line's help never pays for it."""
    from pydantic import create_model
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class _Variables(BaseSettings):
        # an empty variable is an unset one (``BASTION_DATABASE_URL=`` means the default, as it always did)
        model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, extra="ignore")

    fields: dict[str, Any] = {name: (Optional[str], Field(None, validation_alias=var)) for name, var in variables}
    return create_model("BastionEnvironment", __base__=_Variables, **fields)


def _read_environment(variables: Mapping[str, str], environ: Mapping[str, str] | None) -> dict[str, str]:
    """The raw values of the variables that are set and not empty."""
    if environ is not None:
        return {name: environ[var] for name, var in variables.items() if environ.get(var)}
    read = _environment_source(tuple(variables.items()))()
    return {name: value for name in read.model_fields_set if (value := getattr(read, name))}


def export_for_workers(settings: Settings) -> None:
    """Put ``settings`` where ``bastion serve``'s worker processes find them: uvicorn starts each worker from
    an import string, and each builds its own app with :meth:`Settings.from_env`, so every setting read from
    the environment is written there as the worker will read it (flags included)."""
    for name, variable in type(settings).ENVIRONMENT.items():
        value = getattr(settings, name)
        if value is None:
            os.environ.pop(variable, None)
        elif isinstance(value, bool):
            os.environ[variable] = "1" if value else "0"
        elif isinstance(value, SecretStr):
            os.environ[variable] = value.get_secret_value()
        elif isinstance(value, tuple):
            os.environ[variable] = ",".join(value)
        elif isinstance(value, Path):
            os.environ[variable] = str(value.resolve())
        else:
            os.environ[variable] = str(value)


def text_pure_requested() -> bool:
    """``BASTION_TEXT_PURE=1``: run the text modules' Python sources even where compiled ones are built
    (:mod:`bastion.text._compiled` asks on import, before any settings exist; coverage-guided fuzzing needs
    the bytecode)."""
    return os.environ.get("BASTION_TEXT_PURE") == "1"
