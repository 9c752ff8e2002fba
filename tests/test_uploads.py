"""Uploads over real HTTP and the file store: nothing is stored before consent or outside a
step that takes files, hourly caps, files on disk (never in the database), the cleanup job
fired at chosen times, and the store's contract on a directory and a real S3-compatible
server."""

import datetime as dt
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from bot.app import CauNoi
from bot.channels.web.files import upload_refusal
from bot.domain.i18n import text
from handlers import entry  # noqa: F401  (registers every flow's steps)
from handlers.profile import ONBOARDING
from handlers.submission import FLOW as SUBMIT
from storage.db import create_engine
from storage.files import DirectoryStore, FileStore, S3Store, open_store
from storage.migrate import alembic_config, upgrade
from storage.models import Attachment, WebUpload
from storage.web import UploadGate
from tests.conftest import AppFactory, Clock, config_with, rows
from tests.dialogue import onboard, send_named
from tests.webchat import Browser

COMPLAINT = "Quán ăn đầu hẻm 12 đường Hùng Vương bán đồ ăn để qua đêm, nhiều bạn bị đau bụng."
T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
PHOTO = b"\xff\xd8" + b"2" * 2000


@pytest.fixture
async def browsers() -> AsyncIterator[list[Browser]]:
    """Browsers opened by a test, closed at its end."""
    opened: list[Browser] = []
    yield opened
    for browser in opened:
        await browser.close()


async def _browser(app: CauNoi, opened: list[Browser], language: str = "vi") -> Browser:
    browser = Browser(app, language=language)
    browser.client.cookies.set("caunoi_lang", language)  # as if chosen on the page
    await browser.open()
    opened.append(browser)
    return browser


async def _at_attachments(app: CauNoi, opened: list[Browser], language: str = "vi") -> Browser:
    """A visitor who consented, chose a unit and wrote a complaint: attachments come next."""
    visitor = await _browser(app, opened, language)
    await onboard(visitor, app.config)
    await visitor.press("menu:complaint")
    await visitor.press(visitor.buttons()[0])
    await visitor.send(COMPLAINT)
    return visitor


async def _post_file(visitor: Browser, data: bytes) -> tuple[int, str]:
    """Post a file as the page does; the status and the refusal's message, if any."""
    headers = {"X-Event-Id": secrets.token_hex(8), "Content-Type": "image/jpeg"}
    response = await visitor.post("/chat/api/upload", content=data, headers=headers)
    return response.status_code, response.json().get("error", "")


def _store_files(app: CauNoi) -> dict[str, bytes]:
    root = Path(app.settings.file_store_url)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _sqlite_bytes(app: CauNoi) -> int:
    path = Path(str(app.db.engine.url.database))
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


async def test_nothing_is_stored_before_consent_or_outside_a_step_that_takes_files(
    make_app: AppFactory, browsers: list[Browser]
) -> None:
    app = await make_app(serve_http=True)
    stranger = await _browser(app, browsers, "en")
    assert await _post_file(stranger, PHOTO) == (403, text("web.upload_consent", "en"))
    await stranger.send("/start", replies=2)
    assert await _post_file(stranger, PHOTO) == (403, text("web.upload_consent", "en"))

    at_menu = await _browser(app, browsers)
    await onboard(at_menu, app.config)
    assert await _post_file(at_menu, PHOTO) == (409, text("web.upload_not_now", "vi"))
    assert (await rows(app.db, WebUpload), _store_files(app)) == ([], {})


async def test_a_file_at_the_attachment_step_goes_to_the_store_not_the_database(
    make_app: AppFactory, browsers: list[Browser]
) -> None:
    app = await make_app(serve_http=True)
    visitor = await _at_attachments(app, browsers)
    database_before = _sqlite_bytes(app) if app.db.engine.dialect.name == "sqlite" else 0
    big = secrets.token_bytes(3 * 1024 * 1024)
    [added] = await visitor.upload("bằng chứng.jpg", big, "image/jpeg")
    assert added == text("submit.attachment_added", "vi", count="1", max="5")

    [upload] = await rows(app.db, WebUpload)
    assert (upload.name, upload.size_bytes) == ("bằng chứng.jpg", len(big))
    assert _store_files(app) == {upload.store_key: big}
    columns = {c["name"] for c in sa.inspect(app.db.engine).get_columns("webupload")}
    assert "data" not in columns, "no bytes in the database"
    if app.db.engine.dialect.name == "sqlite":
        assert _sqlite_bytes(app) - database_before < 256 * 1024
    code = await send_named(visitor)
    [attachment] = await rows(app.db, Attachment)
    assert attachment.file_ref == f"web:{upload.id}", code


async def test_a_body_past_the_limit_is_refused_as_it_streams_and_nothing_is_kept(
    make_app: AppFactory, browsers: list[Browser]
) -> None:
    app = await make_app(serve_http=True, config=config_with({"limits": {"attachment_max_mb": 1}}))
    visitor = await _at_attachments(app, browsers)

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: sent in chunks
        for _ in range(40):
            yield b"0" * 64 * 1024

    headers = {"X-Event-Id": "chunky", "Content-Type": "image/png"}
    response = await visitor.post("/chat/api/upload", content=chunked(), headers=headers)
    assert response.status_code == 413
    assert response.json()["error"] == text("web.too_big", "vi", mb="1")
    assert (await rows(app.db, WebUpload), _store_files(app)) == ([], {})


async def test_uploads_are_capped_per_session_and_per_address_each_hour(
    make_app: AppFactory, browsers: list[Browser]
) -> None:
    web = {"uploads_per_hour_session": 2, "uploads_per_hour_address": 3}
    config = config_with({"channels": {"web": web}, "limits": {"dialogue_timeout_minutes": 600}})
    clock = Clock(T0)
    app = await make_app(serve_http=True, config=config, clock=clock)
    first, second = await _at_attachments(app, browsers), await _at_attachments(app, browsers)
    refused = (429, text("web.upload_limit", "vi"))

    answers = [(await _post_file(first, PHOTO))[0] for _ in range(2)]
    assert answers == [200, 200]
    assert await _post_file(first, PHOTO) == refused, "per session"
    assert (await _post_file(second, PHOTO))[0] == 200
    assert await _post_file(second, PHOTO) == refused, "per address (both are 127.0.0.1)"
    assert len(await rows(app.db, WebUpload)) == len(_store_files(app)) == 3

    clock.now = T0 + dt.timedelta(minutes=61)
    assert (await _post_file(first, PHOTO))[0] == 200, "a new hour"
    assert len(await rows(app.db, WebUpload)) == 4


async def test_the_cleanup_job_deletes_files_no_submission_took(
    make_app: AppFactory, browsers: list[Browser]
) -> None:
    clock = Clock(T0)
    config = config_with({"limits": {"dialogue_timeout_minutes": 24 * 60}})
    app = await make_app(serve_http=True, config=config, clock=clock)
    sent = await _at_attachments(app, browsers)
    await sent.upload("sent.jpg", PHOTO, "image/jpeg")
    await send_named(sent)
    dropped = await _at_attachments(app, browsers)
    await dropped.upload("dropped.jpg", PHOTO, "image/jpeg")
    clock.now = T0 + dt.timedelta(hours=5)
    await dropped.upload("later.jpg", PHOTO, "image/jpeg")
    stray = "uploads/" + "0" * 32  # a file nothing accounts for (e.g. after a crash)
    await app.uploads.store.write(stray, _chunks(b"stray"))
    await app.uploads.store.write("notes", _chunks(b"not an upload: left alone"))
    job = app.scheduler.get_job("upload-cleanup").func

    async def kept() -> list[str]:
        await job()
        names = {u.store_key: u.name for u in await rows(app.db, WebUpload)}
        assert set(_store_files(app)) == {*names, "notes"}, "rows and files go together"
        return sorted(names.values())

    clock.now = T0 + dt.timedelta(hours=5, minutes=59)
    assert await kept() == ["dropped.jpg", "later.jpg", "sent.jpg"]
    clock.now = T0 + dt.timedelta(hours=6, minutes=1)
    assert await kept() == ["later.jpg", "sent.jpg"]
    clock.now = T0 + dt.timedelta(hours=11, minutes=1)
    assert await kept() == ["sent.jpg"], "a submission took it: kept"


async def test_the_files_of_forgotten_visitors_and_purged_submissions_go(
    make_app: AppFactory, browsers: list[Browser]
) -> None:
    app = await make_app(serve_http=True)
    forgetful = await _at_attachments(app, browsers)
    await forgetful.upload("mine.jpg", PHOTO, "image/jpeg")
    purged = await _at_attachments(app, browsers)
    await purged.upload("purged.jpg", PHOTO, "image/jpeg")
    kept = await _at_attachments(app, browsers)
    await kept.upload("kept.jpg", PHOTO, "image/jpeg")
    [mine, gone, stays] = await rows(app.db, WebUpload)

    assert await app.uploads.forget_visitor(forgetful.visitor_id) == 1
    assert await app.uploads.forget_refs([f"web:{gone.id}", "tg-file-id"]) == 1
    assert [u.name for u in await rows(app.db, WebUpload)] == ["kept.jpg"]
    assert list(_store_files(app)) == [stays.store_key]
    assert mine.store_key not in _store_files(app)


async def test_a_forgotten_visitors_files_leave_the_store_with_the_next_cleanup(
    make_app: AppFactory, browsers: list[Browser]
) -> None:
    app = await make_app(serve_http=True)
    visitor = await _at_attachments(app, browsers)
    await visitor.upload("mine.jpg", PHOTO, "image/jpeg")
    await visitor.send("/forget")
    await visitor.press("forget:yes")
    assert await rows(app.db, WebUpload) == []
    await app.scheduler.get_job("upload-cleanup").func()
    assert _store_files(app) == {}


GATES = [
    # consented, flow, step, idle minutes -> refusal key (None: may upload)
    (False, None, None, None, "web.upload_consent"),
    (False, SUBMIT, "attachments", 1, "web.upload_consent"),
    (True, None, None, None, "web.upload_not_now"),
    (True, ONBOARDING, "unit", 1, "web.upload_not_now"),
    (True, SUBMIT, "category", 1, "web.upload_not_now"),
    (True, SUBMIT, "preview", 1, "web.upload_not_now"),
    (True, SUBMIT, "text", 1, None),
    (True, SUBMIT, "attachments", 59, None),
    (True, SUBMIT, "attachments", 61, "web.upload_not_now"),
]


@pytest.mark.parametrize(("consented", "flow", "step", "idle", "expected"), GATES)
def test_who_may_upload_where(
    consented: bool, flow: str | None, step: str | None, idle: int | None, expected: str | None
) -> None:
    updated = T0 - dt.timedelta(minutes=idle) if idle is not None else None
    refusal = upload_refusal(UploadGate(consented, flow, step, updated), T0, 60)
    assert (refusal.key if refusal else None) == expected


# ---- the store's contract, on a directory and on an S3-compatible server ----------------


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible server (moto's) on 127.0.0.1, for this module's tests."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:  # pragma: no cover - moto is a dev dependency
        pytest.skip(f"S3 tests skipped: moto is not installed ({error})")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
    except OSError as error:  # pragma: no cover - e.g. no local sockets
        pytest.skip(f"S3 tests skipped: moto's server did not start ({error})")
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _s3_client(endpoint: str) -> object:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FileStore:
    """A fresh, empty store of each kind."""
    if request.param == "directory":
        return DirectoryStore(tmp_path / "files")
    client = _s3_client(request.getfixturevalue("s3_endpoint"))
    bucket = f"caunoi-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    return S3Store(bucket, "prod/files", client=client)


async def test_a_store_keeps_streams_whole_and_forgets_on_delete(store: FileStore) -> None:
    big = secrets.token_bytes(3 * 1024 * 1024 + 17)
    pieces = [big[i : i + 65536] for i in range(0, len(big), 65536)]
    assert await store.write("uploads/aa", _chunks(*pieces)) == len(big)
    assert await store.write("uploads/bb", _chunks(b"small")) == 5
    assert await store.read("uploads/aa") == big
    assert await store.keys() == ["uploads/aa", "uploads/bb"]
    await store.delete("uploads/aa")
    await store.delete("uploads/aa")  # already gone: nothing happens
    assert (await store.read("uploads/aa"), await store.keys()) == (None, ["uploads/bb"])


async def test_a_store_keeps_nothing_of_a_stream_that_fails(store: FileStore) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"0" * (2 * 1024 * 1024)
        raise ValueError("too big")

    with pytest.raises(ValueError, match="too big"):
        await store.write("uploads/cc", failing())
    assert (await store.read("uploads/cc"), await store.keys()) == (None, [])


async def test_a_store_refuses_keys_that_leave_it(store: FileStore) -> None:
    for key in ("../etc/passwd", "/abs", "uploads/../../x", "UPPER", ""):
        with pytest.raises(ValueError, match="not a file store key"):
            await store.read(key)


@pytest.mark.parametrize(
    ("url", "kind", "where"),
    [
        ("data/files", DirectoryStore, "data/files"),
        ("/srv/caunoi/files", DirectoryStore, "/srv/caunoi/files"),
        ("file:///srv/caunoi/files", DirectoryStore, "/srv/caunoi/files"),
        ("s3://caunoi-files/prod", S3Store, "caunoi-files prod/"),
        ("s3://caunoi-files", S3Store, "caunoi-files "),
    ],
)
def test_the_store_comes_from_file_store_url(url: str, kind: type, where: str) -> None:
    store = open_store(url)
    assert isinstance(store, kind)
    if isinstance(store, S3Store):
        assert f"{store.bucket} {store.prefix}" == where
    else:
        assert str(store.root) == where  # type: ignore[attr-defined]


async def test_keys_put_in_the_bucket_by_hand_are_left_alone(s3_endpoint: str) -> None:
    client = _s3_client(s3_endpoint)
    client.create_bucket(Bucket="by-hand")  # type: ignore[attr-defined]
    client.put_object(Bucket="by-hand", Key="p/README.txt", Body=b"x")  # type: ignore[attr-defined]
    store = S3Store("by-hand", "p", client=client)
    await store.write("uploads/ok", _chunks(b"y"))
    assert await store.keys() == ["uploads/ok"]


async def test_the_app_keeps_uploads_in_the_object_store_it_is_given(
    make_app: AppFactory,
    browsers: list[Browser],
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = f"caunoi-{secrets.token_hex(4)}"
    client = _s3_client(s3_endpoint)
    client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    for name, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    app = await make_app(serve_http=True, file_store_url=f"s3://{bucket}/caunoi")
    visitor = await _at_attachments(app, browsers)
    await visitor.upload("ảnh.jpg", PHOTO, "image/jpeg")
    [upload] = await rows(app.db, WebUpload)
    stored = client.get_object(Bucket=bucket, Key=f"caunoi/{upload.store_key}")  # type: ignore[attr-defined]
    assert stored["Body"].read() == PHOTO
    assert await app.uploads.source()(f"web:{upload.id}") == ("ảnh.jpg", PHOTO)


def test_existing_blobs_move_to_the_directory_store(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0008-1")
    engine = create_engine(database_url)
    blob = secrets.token_bytes(5000)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO webupload (visitor_id, name, content_type, size_bytes, data, "
                "created_at) VALUES ('v1', 'a.jpg', 'image/jpeg', 5000, :data, :at)"
            ),
            {"data": blob, "at": T0},
        )
    monkeypatch.setenv("FILE_STORE_URL", str(tmp_path / "moved"))
    upgrade(database_url)
    with engine.connect() as connection:
        [key] = connection.execute(sa.text("SELECT store_key FROM webupload")).scalars().all()
    engine.dispose()
    assert (tmp_path / "moved" / key).read_bytes() == blob
