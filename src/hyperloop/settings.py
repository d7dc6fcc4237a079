"""Typed server settings, read once from the environment (``HYPERLOOP_*``) or a settings file.

Every field carries a ``description`` (its help string); ``SETTINGS_DOC`` renders them and a
test fails when one is missing.  Production refuses to start without a configured secret.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "HYPERLOOP_"
SETTINGS_FILE_ENV = "HYPERLOOP_SETTINGS_FILE"
MIN_SECRET_LENGTH = 32
HISTOGRAM_BINS_ENV = "HYPERLOOP_MAX_HISTOGRAM_BINS"  # read by hyperloop.analysis.histograms
SAMPLE_INTERVAL_ENV = "HYPERLOOP_METRICS_SAMPLE_INTERVAL"  # read by hyperloop.analysis.metrics


class SettingsError(ValueError):
    """The settings cannot be used to start the server (message says which and why)."""


class Settings(BaseSettings):
    """Server settings.  Precedence: keyword arguments > environment > settings file > default."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, validate_default=True
    )

    settings_file: Path | None = Field(
        default=None,
        description="TOML (`.toml`) or env-style file with settings; set it through the "
        "environment variable HYPERLOOP_SETTINGS_FILE. TOML keys are the setting names "
        "without prefix, env files use HYPERLOOP_<NAME>=value lines.",
    )
    environment: Literal["development", "production"] = Field(
        default="development",
        description="`development` generates a secret key at first start when none is "
        "configured and allows insecure cookies; `production` refuses to start without a "
        "configured `secret_key` and forces the `Secure` cookie flag.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Secret that signs session cookies, CSRF tokens and the OIDC login state "
        f"(a random string of at least {MIN_SECRET_LENGTH} characters; every server process "
        "of one installation needs the same one). Empty: in development each installation "
        "generates its own at first start and keeps it in `<data_dir>/secret_key` (mode "
        "0600); `production` refuses to start without it.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy database URL: `sqlite:///path.db` or "
        "`postgresql+psycopg://user:pass@host/db`. Empty: the embedded SQLite database "
        "`<data_dir>/hyperloop.db` (absolute, so that a server started from another folder "
        "finds the same database).",
    )
    data_dir: Path = Field(
        default=Path("./var"),
        description="Folder for the embedded database, test outputs and train outputs.",
    )
    outputs_root: Path | None = Field(
        default=None,
        description="Folder the output browser (`/outputs/browse?path=...`) shows paths "
        "relative to (anything outside is refused). Defaults to `data_dir`. Only the outputs "
        "of train runs, train tests, jobs and wagon tests under `work_dir` are listed and "
        "served, each to the users who may read that object's page; the rest of the folder "
        "(database, accounts, demo data, tags) never is.",
    )
    storage_roots: list[str] = Field(
        default_factory=list,
        description="Where dataset files may lie: absolute local folders and URL prefixes, "
        'e.g. `["/data/alice", "root://eos.example.org//eos/alice/"]`. A file-list or '
        "folder import refuses any path (normalised first: `..` collapsed, symlinks "
        "resolved) that is not strictly under one of them, and the catalogue download, "
        "wagon tests and train jobs refuse such paths already in the catalogue. Empty: no "
        "dataset file is accepted (`hyperloop serve --demo` adds its demo data folder).",
    )
    public_url: str | None = Field(
        default=None,
        description="URL under which users reach the server, e.g. `https://hyperloop.example.org` "
        "behind a reverse proxy; used in `hyperloop reproduce` commands, OIDC redirect URLs and "
        "links in e-mails. Empty: the web server uses the origin of each request, and the "
        "scheduler (which has no request) `http://<host>:<port>`.",
    )
    host: str = Field(default="127.0.0.1", description="Address `hyperloop serve` listens on.")
    port: int = Field(
        default=8000, ge=1, le=65535, description="TCP port `hyperloop serve` listens on."
    )
    run_migrations_on_start: bool = Field(
        default=True,
        description="Upgrade the database schema to the newest revision when the server starts.",
    )
    session_cookie_name: str = Field(
        default="hyperloop_session", description="Name of the signed login-session cookie."
    )
    session_max_age_seconds: int = Field(
        default=14 * 24 * 3600,
        ge=60,
        description="Longest life of a login session, in seconds, however active it is.",
    )
    session_idle_timeout_seconds: int = Field(
        default=12 * 3600,
        ge=60,
        description="A login session unused for this many seconds has ended (the user logs "
        "in again). Sessions also end at logout, password change and role change.",
    )
    cookie_secure: bool = Field(
        default=False,
        description="Send cookies only over HTTPS (the `Secure` flag). Forced on in production.",
    )
    csrf_cookie_name: str = Field(
        default="hyperloop_csrf",
        description="Name of the CSRF double-submit cookie; form posts must repeat its value in "
        "the `csrf_token` field or the `X-CSRF-Token` header.",
    )
    impersonation_header: str = Field(
        default="X-Hyperloop-Impersonate",
        description="Request header by which an admin acts as another user (value: username). "
        "Every action then records both names.",
    )
    api_threads: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Threads of each server process that run the synchronous API and page "
        "handlers (their database work). Requests beyond it wait their turn instead of all "
        "running at once: with Python's global interpreter lock, many threads interleave "
        "every request and each takes longer (measured with `benchmarks/api_load.py`, see "
        "the deployment guide). Raise it when the database is remote and slow to answer; "
        "keep it at or below the database pool (20 + 20 connections).",
    )
    api_page_size: int = Field(
        default=50, ge=1, le=1000, description="Default number of items per page of API lists."
    )
    api_max_page_size: int = Field(
        default=500, ge=1, le=10000, description="Largest `limit` an API list accepts."
    )
    # ------------------------------------------------------------ input limits
    max_request_body_bytes: int = Field(
        default=16 * 2**20,
        ge=1024,
        le=2**40,
        description="Largest request body (JSON, form) the server reads, in bytes; a larger "
        "one is refused with 413 before it is read. Bounds wagon configurations, file lists "
        "and every other JSON body.",
    )
    max_upload_bytes: int = Field(
        default=200 * 2**20,
        ge=1024,
        le=2**40,
        description="Largest file upload (`multipart/form-data` body, e.g. a performance "
        "metrics file or a wagon configuration file), in bytes; larger ones get 413.",
    )
    max_histogram_bins: int = Field(
        default=10_000_000,
        ge=1,
        le=2**40,
        description="Largest number of bins of one histogram: a binning configurable with "
        "more bins is refused when a wagon is saved, and the analysis runtime refuses to "
        "book a histogram whose axes together have more (workers and `hyperloop run-train` "
        "read it from the environment variable HYPERLOOP_MAX_HISTOGRAM_BINS).",
    )
    api_description_public: bool = Field(
        default=False,
        description="Serve the API description (`/openapi.json`, `/docs`, `/redoc`) without "
        "a login. By default only logged-in users (session or API token) get it.",
    )
    oidc_enabled: bool = Field(
        default=False, description="Offer login through an OpenID Connect provider."
    )
    oidc_metadata_url: str | None = Field(
        default=None,
        description="OIDC discovery document, e.g. "
        "`https://auth.example.org/realms/x/.well-known/openid-configuration`.",
    )
    oidc_client_id: str | None = Field(default=None, description="OIDC client identifier.")
    oidc_client_secret: SecretStr | None = Field(default=None, description="OIDC client secret.")
    oidc_scopes: str = Field(
        default="openid email profile", description="Space-separated OIDC scopes requested."
    )
    oidc_username_claim: str = Field(
        default="preferred_username",
        description="ID-token claim whose value is the Hyperloop username.",
    )
    oidc_create_users: bool = Field(
        default=True,
        description="Create a local account on first OIDC login (otherwise only existing "
        "usernames may log in).",
    )
    proxy_auth_enabled: bool = Field(
        default=False,
        description="Trust an identity header (X.509 client certificate subject DN) set by a "
        "reverse proxy, only for requests coming from `trusted_proxies`.",
    )
    proxy_auth_header: str = Field(
        default="X-SSL-Client-S-DN",
        description="Header carrying the verified client certificate subject DN.",
    )
    proxy_auth_username_attribute: str = Field(
        default="CN",
        description="DN attribute whose value is the username, e.g. `CN` in "
        "`/DC=ch/DC=cern/OU=Users/CN=jdoe`. When it repeats, the one nearest the root is "
        "taken: the first in OpenSSL slash form (`/OU=Users/CN=jdoe/CN=123456/CN=John Doe`), "
        "the last in RFC 4514 comma form (`CN=John Doe,CN=123456,CN=jdoe,OU=Users`): `jdoe` "
        "in both.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of reverse proxies, e.g. "
        '`["127.0.0.1", "10.0.0.0/8"]`. Only a TCP peer in this list may set the client '
        "address and scheme (`X-Forwarded-For`, `X-Forwarded-Proto`) and, with "
        "`proxy_auth_enabled`, the certificate identity header; from anybody else these "
        "headers are ignored.",
    )
    login_account_failures: int = Field(
        default=5,
        ge=1,
        description="Failed logins to one username (existing or not) before further logins "
        "to it are refused for a while (HTTP 429 with `Retry-After`), even with the right "
        "password.",
    )
    login_address_failures: int = Field(
        default=20,
        ge=1,
        description="Failed logins from one client address before further logins from it are "
        "refused for a while (HTTP 429 with `Retry-After`).",
    )
    login_delay_seconds: int = Field(
        default=30,
        ge=1,
        description="First refusal period once a limit of failed logins is reached; it doubles "
        "with every further failure, up to `login_max_delay_seconds`.",
    )
    login_max_delay_seconds: int = Field(
        default=3600,
        ge=1,
        description="Longest refusal period after failed logins; failures older than this are "
        "forgotten.",
    )
    login_hash_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Password verifications (argon2) that run at the same time per server "
        "process; further logins wait for a free one without holding an API thread, so "
        "logins cannot starve the rest of the API.",
    )

    # ------------------------------------------------------------ scheduler and engine
    scheduler_in_server: bool = Field(
        default=True,
        description="`hyperloop serve` also runs the scheduler in a background thread (the "
        "embedded default). Set false when a separate `hyperloop scheduler` process runs it; "
        "`hyperloop serve --no-scheduler` does the same for one start.",
    )
    dask_scheduler_address: str | None = Field(
        default=None,
        description="Address of an external Dask scheduler, e.g. `tcp://10.0.0.5:8786` (started "
        "with `dask scheduler`, or a dask-jobqueue HTCondorCluster/SLURMCluster's "
        "`scheduler_address`). Empty: the scheduler starts an embedded Dask LocalCluster.",
    )
    dask_workers: int = Field(
        default=2,
        ge=1,
        le=1024,
        description="Worker processes of the embedded LocalCluster (each runs one job at a "
        "time unless `dask_cores_per_worker` is set).",
    )
    dask_cores_per_worker: int | None = Field(
        default=None,
        ge=1,
        description="Cores each embedded worker declares (Dask resource `cores`), with one "
        "thread per core: a job of an N-core target takes N of them, so a 4-core worker runs "
        "four 1-core jobs or two 2-core jobs at once. Empty: one job per worker whatever its "
        "cores.",
    )
    work_dir: Path | None = Field(
        default=None,
        description="Folder for wagon/train test outputs and train job attempts and merges "
        "(`tests/`, `trains/<id>/`). Defaults to `<data_dir>/work`. Without `storage_url`, "
        "workers of an external Dask cluster must see it at the same path (shared filesystem).",
    )
    storage_url: str = Field(
        default="",
        description="Where train jobs and merges are stored (`trains/<id>/jobs/...`, "
        "`trains/<id>/merged/...`), and with a URL wagon and train tests too "
        "(`tests/wagon-test-<id>/...`; with a folder they stay in `work_dir/tests`): "
        "a folder or an fsspec URL such as `s3://bucket/hyperloop` "
        "(install `s3fs`; keys and endpoint from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, "
        "`FSSPEC_S3_ENDPOINT_URL`). Workers compute in a local scratch folder "
        "(`HYPERLOOP_WORKER_SCRATCH`, default the system's temporary folder) and upload each "
        "attempt there; the scheduler merges and the web servers read from there: no shared "
        "filesystem needed (a web server copies what its pages show into `cache_dir`, "
        "fetching only what is new or changed). Empty: `work_dir`.",
    )
    staging_root: str | None = Field(
        default=None,
        description="Storage of the analysis facilities, a folder or fsspec URL (`root://`, "
        "`s3://`, ...): the scheduler copies a dataset staged to target T into "
        "`<staging_root>/<T>/dataset-<id>/` and deletes it there when unstaged. Defaults to "
        "`<data_dir>/staged`.",
    )
    staging_confirm_bytes: int = Field(
        default=10**12,
        ge=0,
        description="A staging request of a dataset bigger than this many bytes waits for an "
        "operator's confirmation of the data amount before the scheduler copies anything "
        "(0: every request is confirmed).",
    )
    scheduler_interval_s: float = Field(
        default=1.0, gt=0, description="Seconds between two scheduler steps (ticks)."
    )
    scheduler_lease_ttl_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds the scheduler lease in the database stays valid without renewal; "
        "a killed scheduler is replaced by a waiting one this long after its last renewal.",
    )
    scheduler_test_target: str = Field(
        default="test",
        description="Target wagon tests run on. When the database has no target of that name "
        "the scheduler uses 1 core and `scheduler_test_memory_mb`.",
    )
    scheduler_test_memory_mb: int = Field(
        default=3600,
        ge=1,
        description="Memory limit (MB) of the test target when the database does not define it "
        "(SPEC §4: a 2-core slot minus a buffer).",
    )
    metrics_sample_interval: float = Field(
        default=0.1,
        ge=0.01,
        le=60,
        description="Seconds between two samples of the performance metrics of a test or job "
        "(CPU, PSS, RSS, bytes read per device: the test graphs). PSS is read at most as "
        "often as keeps its cost below 5% of a core; after 600 intervals the interval grows "
        "with the run's age (a run's age / 600), so that long jobs keep small metrics files. "
        "Workers and `hyperloop run-train` read it "
        "from the environment variable HYPERLOOP_METRICS_SAMPLE_INTERVAL.",
    )
    scheduler_test_files: int = Field(
        default=2, ge=1, description="Catalogue files of a dataset that form a test sample."
    )
    scheduler_job_wall_time_s: float = Field(
        default=3600.0,
        gt=0,
        description="Wall-time limit of every job and test attempt (seconds); beyond it the "
        "attempt is killed and recorded as expired.",
    )
    scheduler_max_attempts: int = Field(
        default=3, ge=1, description="Attempts of a job before it stays failed (automatic retries)."
    )
    scheduler_max_running_tests: int = Field(
        default=4, ge=1, description="Wagon tests running on the engine at the same time."
    )
    scheduler_express_fraction: float = Field(
        default=0.98,
        gt=0,
        le=1,
        description="Express (non-slow) trains start their final merge once this fraction of "
        "jobs is done.",
    )
    slim_derived_retention_days: float = Field(
        default=30,
        gt=0,
        description="Days after which the scheduler deletes the output of a finished slim "
        "derived-data train that no dataset production uses (SPEC §2).",
    )
    story_keep_days: float = Field(
        default=365,
        ge=0,
        description="Days the stories (every state change and its cause) of the jobs of an "
        "ended train run (done, killed, closed) and of an ended wagon test are kept; then the "
        "scheduler deletes them, a batch per step. A train's jobs' moves stay counted in its "
        "story summary and a train run's own state changes are kept. 0: keep forever.",
    )
    scheduler_max_files_per_job: int = Field(
        default=10, ge=1, description="Input files per grid job when a train is split."
    )
    scheduler_compose_every_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between two looks of the scheduler at automatic composition "
        "(due slots of scheduled datasets, full trains).",
    )
    scheduler_compose_catch_up_s: float = Field(
        default=3600.0,
        ge=0,
        description="On the first look at a dataset's composition schedule (no slot recorded "
        "yet), slots this many seconds in the past still fire; older ones are skipped.",
    )
    scheduler_long_train_expiry_days: float = Field(
        default=14,
        gt=0,
        description="Days after which a long-train request nobody approved or rejected is "
        "closed as expired (and its requester told).",
    )
    scheduler_stale_clean_every_s: float = Field(
        default=86400.0,
        gt=0,
        description="Seconds between two clean-ups of stale enablings (wagons enabled on a "
        "dataset but not composed into a train within 4 weeks are disabled).",
    )
    scheduler_batch: int = Field(
        default=1000,
        ge=1,
        description="Job instructions (submit, finish, resubmit, ...) the scheduler performs "
        "per database transaction (1: one transaction each).",
    )
    scheduler_dashboard_warm_s: float = Field(
        default=0.5,
        ge=0,
        description="Seconds per scheduler step spent storing the Dashboard's missing closed "
        "days (so its first visitor of a long interval does not wait); 0: never.",
    )
    scheduler_partial_results_every_s: float = Field(
        default=10.0,
        ge=0,
        description="Seconds between two merges of a running train's live partial results "
        "(its outputs merged over the jobs finished so far, shown on its outputs tab); "
        "0: no partial results. They are stored with the train's jobs and merges "
        "(`<storage_url>/trains/<id>/partial/`, a remote storage included) and removed once "
        "the final merge is done.",
    )
    scheduler_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Overrides of the test warning thresholds of SPEC §4 "
        "(hyperloop.core.assessment.Thresholds fields), e.g. "
        '`{"min_reduction_factor": 20, "max_log_bytes": 20000000}`.',
    )

    @field_validator("scheduler_thresholds")
    @classmethod
    def _known_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        from dataclasses import fields

        from hyperloop.core.assessment import Thresholds

        known = {f.name for f in fields(Thresholds)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"scheduler_thresholds: unknown threshold(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        return value

    tags: Path | None = Field(
        default=None,
        description="Folder of package tag builds, one sub-folder per tag name "
        "(`<tags>/<tag>`): `hyperloop run-train` runs a configuration's tag from there when "
        "the configuration names no existing package folder and no `--package` is given. "
        "Empty: the installed package.",
    )
    conditions_url: str | None = Field(
        default=None,
        description="Where analysis jobs and tests read conditions objects (magnetic field, "
        "calibrations): the URL of a conditions service (`hyperloop conditions serve`) or a "
        "folder of objects. Every process that runs jobs (Dask workers) needs it in its "
        "environment as `HYPERLOOP_CONDITIONS_URL`. Empty: the built-in objects of the "
        "package's `conditions.toml`.",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="Folder where `hyperloop demo-data`, `demo-site` and `serve --demo` keep "
        "PYTHIA initialisation tables and fast-mode event pools between runs (empty: "
        "`$XDG_CACHE_HOME/hyperloop/demo`, `~/.cache/hyperloop/demo`), and where a web "
        "server keeps its copy of the files of a remote `storage_url` that its pages "
        "showed (`<cache_dir>/storage-mirror/`; empty: `<data_dir>/cache`).",
    )

    mail_from: str = Field(
        default="hyperloop@localhost",
        description="Sender address of the e-mails Hyperloop sends (notification policy: "
        "`hyperloop.core.mail.EMAIL_POLICY`).",
    )
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server for e-mails. Empty: e-mails are written as `.eml` files into "
        "`mail_dir` instead (the embedded default).",
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Port of the SMTP server.")
    smtp_username: str | None = Field(
        default=None, description="SMTP login name (empty: no login)."
    )
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS before login."
    )
    mail_dir: Path | None = Field(
        default=None,
        description="Folder the e-mails go to as `.eml` files when no SMTP server is set. "
        "Defaults to `<data_dir>/mail`.",
    )

    @field_validator("storage_roots")
    @classmethod
    def _valid_storage_roots(cls, value: list[str]) -> list[str]:
        from hyperloop.core.storage_roots import StorageRootError, StorageRoots

        try:
            StorageRoots.parse(value)
        except StorageRootError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("public_url")
    @classmethod
    def _valid_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"public_url: {value!r} must be an http(s) URL with a host")
        return value.strip().rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"trusted_proxies: {item!r} is not an IP address or CIDR network"
                ) from exc
        return value

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if not self.database_url:  # frozen model: set once, here
            default = f"sqlite:///{(Path(self.data_dir) / 'hyperloop.db').resolve()}"
            object.__setattr__(self, "database_url", default)
        secret = self.secret_key.get_secret_value() if self.secret_key is not None else ""
        if self.environment != "development":
            if not secret:
                raise ValueError(
                    f"secret_key: a configured secret is required when environment is "
                    f"{self.environment!r}; set {ENV_PREFIX}SECRET_KEY to a random string of at "
                    f"least {MIN_SECRET_LENGTH} characters"
                )
            if len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"secret_key: {len(secret)} characters is too short outside development "
                    f"(need at least {MIN_SECRET_LENGTH})"
                )
        if self.oidc_enabled:
            missing = [
                name
                for name in ("oidc_metadata_url", "oidc_client_id", "oidc_client_secret")
                if getattr(self, name) in (None, "")
            ]
            if missing:
                raise ValueError(
                    "oidc_enabled is true but these settings are empty: " + ", ".join(missing)
                )
        if self.proxy_auth_enabled and not self.trusted_proxies:
            raise ValueError(
                "proxy_auth_enabled is true but trusted_proxies is empty: the identity header "
                "would be trusted from nobody; list the reverse proxy addresses"
            )
        return self

    @property
    def server_url(self) -> str:
        """``public_url``, or the address ``hyperloop serve`` listens on (for links made
        without a request: e-mails, OIDC redirects)."""
        if self.public_url:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def dataset_roots(self) -> Any:
        """The parsed ``storage_roots`` (a ``hyperloop.core.storage_roots.StorageRoots``)."""
        from hyperloop.core.storage_roots import StorageRoots

        return StorageRoots.parse(self.storage_roots)

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry the Secure flag in production or when asked to."""
        return self.cookie_secure or self.environment == "production"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        file = os.environ.get(SETTINGS_FILE_ENV)
        if file:
            path = Path(file)
            if not path.is_file():
                raise SettingsError(f"{SETTINGS_FILE_ENV}={file}: no such settings file")
            if path.suffix == ".toml":
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            else:
                sources.append(DotEnvSettingsSource(settings_cls, env_file=path))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once (environment, then the settings file); raise SettingsError."""
    from pydantic import ValidationError

    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid Hyperloop settings: {problems}") from None
    # The analysis runtime (in this process and the workers it starts) reads its limit from
    # the environment: it knows nothing of settings.
    os.environ[HISTOGRAM_BINS_ENV] = str(settings.max_histogram_bins)
    os.environ[SAMPLE_INTERVAL_ENV] = str(settings.metrics_sample_interval)
    return settings


def settings_doc() -> list[tuple[str, str, str, str]]:
    """(name, environment variable, default, help) for every setting, for docs and `--help`."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if name == "secret_key":
            default = "(generated: <data_dir>/secret_key)"
        rows.append(
            (name, ENV_PREFIX + name.upper(), repr(default), (field.description or "").strip())
        )
    return rows


SETTINGS_DOC = "\n".join(
    f"{env} (default {default}): {help_text}" for _, env, default, help_text in settings_doc()
)
