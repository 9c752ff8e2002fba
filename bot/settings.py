"""Deployment values and secrets, read from the environment only."""

import ipaddress
from pathlib import Path

from pydantic import AnyHttpUrl, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """What differs between deployments; secrets are never logged or printed."""

    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", env_ignore_empty=True
    )

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    # A bot made in Zalo Bot Creator: its token (`<bot_id>:<secret>`) and the API's address
    # (requests go to <base>/bot<TOKEN>/<method>).
    zalo_bot_token: SecretStr | None = None
    zalo_bot_api_base_url: str = "https://bot-api.zaloplatforms.com"
    # The Zalo Official Account's app (developers.zalo.me): its id and secret key for OAuth v4,
    # the first refresh token (from the consent; afterwards the tokens live in the database)
    # and OAuth's address.
    zalo_oa_app_id: str | None = None
    zalo_oa_app_secret: SecretStr | None = None
    zalo_oa_refresh_token: SecretStr | None = None
    zalo_oauth_base_url: str = "https://oauth.zaloapp.com"
    # Where `python -m bot zalo-oa-consent` keeps its PKCE verifier between its two steps.
    zalo_oa_consent_file: Path = Path("data/zalo-oa-consent.json")
    # The OA secret key, which signs webhook events, and the OA API's address.
    zalo_oa_webhook_secret: SecretStr | None = None
    zalo_oa_api_base_url: str = "https://openapi.zalo.me"
    database_url: SecretStr = SecretStr("sqlite:///data/caunoi.db")
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: SecretStr | None = None
    # The address people reach this app at, for links (web chat, sign-in); default: local.
    public_url: AnyHttpUrl | None = None
    # Where uploaded files live: a directory, or s3://bucket/prefix (AWS_* variables for the
    # endpoint and credentials).
    file_store_url: str = "data/files"
    caunoi_config: Path = Field(default=Path("config.yaml"))
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = "INFO"
    # Reverse proxies whose X-Forwarded-For is believed (IPs or CIDRs, comma-separated).
    trusted_proxies: str = ""
    # Web Push for the web chat: the VAPID private key (`python -m bot vapid-keys` makes one)
    # and the contact push services may write to (mailto: or https:).
    webpush_vapid_private_key: SecretStr | None = None
    webpush_vapid_subject: str | None = None
    # Where the try-out (no Telegram token, no key set) keeps the key it made.
    webpush_key_file: Path = Path("data/webpush-vapid.key")

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> "Settings":
        if self.webhook_url is not None and not self.webhook_secret:
            raise ValueError("WEBHOOK_URL is set but WEBHOOK_SECRET is empty: set a random secret")
        if self.webhook_secret is not None:
            secret = self.webhook_secret.get_secret_value()
            if not 1 <= len(secret) <= 256 or not all(c.isalnum() or c in "_-" for c in secret):
                raise ValueError(
                    "WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and - "
                    "(Telegram's rule for secret_token)"
                )
        return self

    @model_validator(mode="after")
    def _proxies_are_addresses(self) -> "Settings":
        self.proxies()
        return self

    def proxies(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The trusted reverse proxies as networks (a bare address is a network of one)."""
        entries = [entry.strip() for entry in self.trusted_proxies.split(",") if entry.strip()]
        try:
            return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
        except ValueError as error:
            raise ValueError(f"TRUSTED_PROXIES: {error}") from None

    def webhook(self) -> tuple[str, str] | None:
        """The public base URL and the secret, in webhook mode; None when polling."""
        if self.webhook_url is None or self.webhook_secret is None:
            return None
        return str(self.webhook_url), self.webhook_secret.get_secret_value()

    def public_base(self) -> str | None:
        """The app's public address without a trailing slash, if one is configured."""
        url = self.public_url or self.webhook_url
        return str(url).rstrip("/") if url is not None else None

    @property
    def telegram_enabled(self) -> bool:
        """Whether a Telegram token was given."""
        return bool(self.telegram_bot_token and self.telegram_bot_token.get_secret_value())
