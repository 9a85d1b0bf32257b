"""One typed settings object for every process, read from IOC_* environment variables.

Defaults describe the local stack: everything on loopback, state under .run/.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOC_", extra="ignore")

    run_dir: Path = REPO_ROOT / ".run"
    bind_host: str = "127.0.0.1"

    # PostgreSQL / TimescaleDB. Debian's own cluster may hold 5432, so ours has its own port.
    pg_host: str = "127.0.0.1"
    pg_port: int = 55432
    pg_database: str = "ioc"
    pg_user: str = "ioc"
    # Secrets stay out of repr(): a failing test prints its settings into the CI log.
    pg_password: str | None = Field(default=None, repr=False)  # else run_dir/secrets.json
    database_url: str | None = Field(default=None, repr=False)  # overrides the pg_* parts
    # Engine of a NEW schema: auto = TimescaleDB when the server can load it. An existing
    # schema keeps the engine it was made on (store/engine.py); this only checks it.
    db_engine: Literal["auto", "timescaledb", "postgresql"] = "auto"

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    # Service secrets; unset ones come from run_dir/secrets.json (config/secrets.py).
    mqtt_ingest_password: str | None = Field(default=None, repr=False)
    mqtt_frigate_password: str | None = Field(default=None, repr=False)
    mqtt_admin_password: str | None = Field(default=None, repr=False)
    mqtt_commands_password: str | None = Field(default=None, repr=False)
    # Group that shares the broker's account files (password file, ACL, their lock) among
    # processes in other containers (docker-compose: init, api, alerts). Set: the files are
    # 0640 (the lock 0660) of this group in a setgid 0o2770 directory. Unset (local
    # stack): 0600, owned by the broker's user when we run as root.
    mqtt_accounts_gid: int | None = Field(default=None, ge=0)
    webhook_secret: str | None = Field(default=None, repr=False)
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 9092
    api_port: int = 8000
    api_workers: int = Field(default=1, ge=1, le=64)  # uvicorn processes of `ioc api`
    # API bounds: request body size; failed authentications per client address and
    # requests per token ("N/second|minute|hour", the `limits` package's notation).
    api_max_body_bytes: int = 1 << 20
    # Reverse proxies whose X-Forwarded-For / -Proto headers are believed (uvicorn's
    # forwarded_allow_ips: comma-separated addresses or networks). Empty: none, so the
    # client address — which the per-address rate limits count — is always the TCP
    # peer's; uvicorn's default trusted 127.0.0.1, letting any local process forge it.
    api_trusted_proxies: str = ""
    api_auth_failures: str = "20/minute"
    api_token_requests: str = "600/minute"
    metrics_port: int = 9108  # ingest worker's Prometheus endpoint; 0 = off
    alerts_metrics_port: int = 9109  # alert service's Prometheus endpoint; 0 = off
    # How often the alert service looks for silent devices / closed hours / due reminders.
    offline_check_seconds: float = 15
    air_check_seconds: float = 60
    renotify_check_seconds: float = 30

    routes_file: Path = REPO_ROOT / "deploy" / "ingest" / "routes.yaml"
    metrics_file: Path = REPO_ROOT / "events" / "metrics.yaml"
    channels_file: Path = REPO_ROOT / "deploy" / "alerts" / "channels.yaml"
    # Rule packs: environment rules (processors/rules), security detections, Sigma
    # rules, indicator lists. Several folders may be given, separated by ':'.
    env_rules: str = str(REPO_ROOT / "processors" / "environment" / "rules")
    security_rules: str = str(REPO_ROOT / "processors" / "security" / "rules" / "detections.yaml")
    sigma_rules: str = str(REPO_ROOT / "processors" / "security" / "rules" / "sigma")
    # The site's networks and names that Sigma placeholders (%home_net%, ...) stand for
    # (processors/security/sigma/site.py); HOME_NET also gets every agency's ranges.
    security_site: Path = REPO_ROOT / "deploy" / "security" / "site.yaml"
    indicators: str = str(REPO_ROOT / "deploy" / "security" / "indicators")
    # Cameras: the registry (zones, schedules, counting lines, ANPR segments per camera),
    # the camera rule pack, where ISAPI image parts are kept (content-addressed files,
    # never in the database), and how long read plates are kept (personal data).
    camera_registry: Path = REPO_ROOT / "deploy" / "cameras" / "registry.yaml"
    camera_rules: Path = REPO_ROOT / "processors" / "cameras" / "rules" / "cameras.yaml"
    snapshot_dir: Path | None = None  # default: run_dir/snapshots
    snapshot_max_bytes: int = Field(default=2 << 20, ge=1024)
    plate_retention_days: int = Field(default=30, ge=1)
    # The address devices reach the API at, printed in `ioc devices add` (isapi_url);
    # default http://<bind_host>:<api_port>.
    public_api_url: str | None = None
    # The Frigate server's address, to turn a `frigate:<event id>` snapshot reference
    # into a link (<frigate_url>/api/events/<id>/snapshot.jpg); unset: no link.
    frigate_url: str | None = None
    # What is open data and on what terms (publisher, licence, open stations, bounds,
    # datasets) for /public/v1/ (api/public/).
    open_data_file: Path = REPO_ROOT / "api" / "public" / "open_data.yaml"
    # Sender of public warnings (CAP <sender>) and the SOC's name in STIX exports.
    cap_sender: str = "ioc@kiengiang.gov.vn"
    soc_name: str = "SOC tỉnh Kiên Giang"
    soc_province: str = "Kiên Giang"
    # PEM key and certificate that sign public CAP messages (xmldsig); default
    # run_dir/cap-signing/{key,cert}.pem, a self-signed pair generated 0600 on first use.
    cap_signing_key: Path | None = None
    cap_signing_cert: Path | None = None
    # Leadership reports: recipients, periods, the document's heading (processors/reports/).
    reports_file: Path = REPO_ROOT / "deploy" / "reports" / "reports.yaml"
    # The agencies: networks, hosts, log sources and their expected intervals
    # (config/agencies.py; every security event and alert is given its agency from it).
    agencies_file: Path = REPO_ROOT / "deploy" / "security" / "agencies.yaml"
    # Remote TAXII 2.1 collections whose indicators are pulled (processors/taxii/pull.py).
    taxii_file: Path = REPO_ROOT / "deploy" / "security" / "taxii.yaml"

    def rules_paths(self) -> list[Path]:
        return [Path(p) for p in self.env_rules.split(":") if p]

    def sigma_paths(self) -> list[Path]:
        return [Path(p) for p in self.sigma_rules.split(":") if p]

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def snapshots_path(self) -> Path:
        return self.snapshot_dir or self.run_dir / "snapshots"

    @property
    def api_base_url(self) -> str:
        return (self.public_api_url or f"http://{self.bind_host}:{self.api_port}").rstrip("/")

    @property
    def secrets_file(self) -> Path:
        return self.run_dir / "secrets.json"

    def dsn(self) -> str:
        if self.database_url:
            return self.database_url
        from config.secrets import load_secrets

        # Clients never create secrets: only the stack's first start does (`ioc stack up`).
        password = self.pg_password or load_secrets(self, create=False).pg_password
        return (
            f"host={self.pg_host} port={self.pg_port} dbname={self.pg_database} "
            f"user={self.pg_user} password={password}"
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
