"""`python -m bot zalo-oa-consent`: an admin gives the Union's OA app its first tokens (or new
ones after they were lost), in two steps. The first prints Zalo's permission page (PKCE S256)
and keeps the verifier in a file only its owner reads; the second takes the code (or the
whole address Zalo's page sent the browser to), exchanges it and stores the pair in the
database, where the running app picks it up at its next send. Every message is in
Vietnamese, then English."""

import asyncio
import json
import os
from pathlib import Path

import httpx

from bot.channels.base import TemporaryFailure
from bot.channels.zalo_oa_auth import (
    Consent,
    ConsentAnswerError,
    OaCredentials,
    OAuthRefused,
    code_from,
    exchange_code,
    oa_credentials,
    start_consent,
)
from bot.domain.clock import show_datetime
from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from storage.models import utcnow
from storage.zalo_oa import NewPair, store_consent

COMMAND = "python -m bot zalo-oa-consent"
CALLBACK_PATH = "/zalo/oa/consent"
PROBLEMS = {
    "credentials": (
        "Chưa đặt ZALO_OA_APP_ID và ZALO_OA_APP_SECRET (mã ứng dụng và khóa bí mật trên "
        "developers.zalo.me).",
        "ZALO_OA_APP_ID and ZALO_OA_APP_SECRET are not set (the app's id and secret key on "
        "developers.zalo.me).",
    ),
    "redirect": (
        "Cần địa chỉ callback đã khai báo cho ứng dụng: thêm --redirect-uri https://… hoặc "
        "đặt PUBLIC_URL.",
        "The app's registered callback address is needed: add --redirect-uri https://… or "
        "set PUBLIC_URL.",
    ),
    "no_start": (
        f"Chưa có bước đầu (hoặc đã dùng xong): chạy {COMMAND} không kèm mã để lấy đường dẫn.",
        f"There is no first step (or it was used): run {COMMAND} without a code for the link.",
    ),
    "other_app": (
        f"Bước đầu được làm cho một ứng dụng khác: chạy lại {COMMAND} không kèm mã.",
        f"The first step was for another app: run {COMMAND} again without a code.",
    ),
    "state": (
        "Địa chỉ đã dán không thuộc lần cấp quyền này (state khác): mở lại đường dẫn mới nhất.",
        "The address pasted is not from this consent (its state differs): open the latest link.",
    ),
    "denied": (
        "Zalo không cấp quyền (có thể bạn đã bấm từ chối): mở lại đường dẫn và bấm đồng ý.",
        "Zalo gave no permission (perhaps it was declined): open the link again and accept.",
    ),
    "empty": (
        "Không thấy mã (code) trong nội dung đã dán: dán cả địa chỉ trình duyệt được chuyển tới.",
        "No code in what was pasted: paste the whole address the browser was sent to.",
    ),
}


def _say(vietnamese: str, english: str) -> None:
    print(vietnamese)
    print(english, flush=True)


def _problem(key: str) -> int:
    _say(*PROBLEMS[key])
    return 2


def consent(settings: Settings, answer: str | None, redirect_uri: str | None) -> int:
    """The consent's first step (no answer) or its second (the code or the address)."""
    credentials = oa_credentials(settings)
    if credentials is None:
        return _problem("credentials")
    if answer is None:
        return _first_step(settings, credentials, redirect_uri)
    return _second_step(settings, credentials, answer)


def _first_step(settings: Settings, credentials: OaCredentials, redirect_uri: str | None) -> int:
    public = settings.public_base()
    callback = redirect_uri or (f"{public}{CALLBACK_PATH}" if public else None)
    if callback is None:
        return _problem("redirect")
    started = start_consent(credentials, callback)
    _keep(settings.zalo_oa_consent_file, credentials.app_id, started)
    _say(
        "1. Mở đường dẫn này bằng tài khoản Zalo quản trị OA và bấm đồng ý cấp quyền:",
        "1. Open this link with the OA administrator's Zalo account and grant the permissions:",
    )
    print(started.url)
    _say(
        f"2. Zalo chuyển trình duyệt tới {callback}?code=…; chép cả địa chỉ đó rồi chạy: "
        f"{COMMAND} '<địa chỉ hoặc mã>'",
        f"2. Zalo sends the browser to {callback}?code=…; copy that whole address and run: "
        f"{COMMAND} '<address or code>'",
    )
    return 0


def _keep(path: Path, app_id: str, started: Consent) -> None:
    """Write the verifier where only this user can read it (0600 from its creation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    kept = {
        "app_id": app_id,
        "code_verifier": started.code_verifier,
        "state": started.state,
        "redirect_uri": started.redirect_uri,
    }
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(kept, file)


def _second_step(settings: Settings, credentials: OaCredentials, answer: str) -> int:
    path = settings.zalo_oa_consent_file
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        verifier, state, app_id = kept["code_verifier"], kept["state"], kept["app_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return _problem("no_start")
    if app_id != credentials.app_id:
        return _problem("other_app")
    try:
        code = code_from(answer, state)
    except ConsentAnswerError as error:
        return _problem(str(error))
    try:
        pair = asyncio.run(_exchange(credentials, code, verifier))
    except OAuthRefused as refused:
        _say(
            f"Zalo từ chối mã ({refused}). Mã chỉ dùng được một lần và trong ít phút: mở lại "
            "đường dẫn ở bước 1 để lấy mã mới.",
            f"Zalo refused the code ({refused}). A code works once and for a few minutes: open "
            "the link from step 1 again for a new one.",
        )
        return 2
    except TemporaryFailure as error:
        _say(
            f"Không kết nối được Zalo ({error}); thử lại sau ít phút với mã mới.",
            f"Zalo could not be reached ({error}); try again in a few minutes with a new code.",
        )
        return 2
    _store(settings, credentials, pair)
    path.unlink(missing_ok=True)
    until = show_datetime(pair.expires_at)
    _say(
        f"Đã lưu mã truy cập của OA vào cơ sở dữ liệu (hiệu lực đến {until}, sau đó tự làm "
        "mới). Cầu Nối đang chạy sẽ dùng ngay ở lần gửi tới; không cần ZALO_OA_REFRESH_TOKEN "
        "nữa.",
        f"The OA's tokens are stored in the database (valid until {until}, then refreshed by "
        "themselves). A running Cầu Nối uses them at its next send; ZALO_OA_REFRESH_TOKEN is "
        "no longer needed.",
    )
    return 0


async def _exchange(credentials: OaCredentials, code: str, verifier: str) -> NewPair:
    async with httpx.AsyncClient() as http:
        return await exchange_code(http, credentials, code, verifier, now=utcnow())


def _store(settings: Settings, credentials: OaCredentials, pair: NewPair) -> None:
    url = settings.database_url.get_secret_value()
    upgrade(url)
    db = Database(url)
    env = settings.zalo_oa_refresh_token
    env_token = env.get_secret_value() if env is not None else None
    now = utcnow()
    try:
        with db.session() as session:
            store_consent(
                session=session,
                app_id=credentials.app_id,
                pair=pair,
                now=now,
                env_token=env_token,
            )
    finally:
        asyncio.run(db.dispose())
