"""Secrets never leave the places they are kept: the database password in a sync or storage
URL (or FOCUS_SYNC_PASSWORD) and the R2 keys appear in no output of the real `focus` CLI —
stdout, stderr, `--json`, `config check`, with FOCUS_DEBUG=1 too — and in no file the CLI
writes (the local database, where the last sync error is kept), whatever fails: a refused
port, a name that does not resolve, a black hole, a refused login, a malformed URL, S3
refusing or failing. `config check` warns when the config file holding them is readable by
other users.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from tests.e2e.conftest import make_focus
from tests.r2.conftest import Proxy, admin
from tests.sockets import black_hole_port, free_port

pytestmark = pytest.mark.postgres

DEBUG: tuple[dict[str, str], ...] = ({}, {"FOCUS_DEBUG": "1"})


@pytest.fixture
def black_hole() -> Iterator[int]:
    with black_hole_port() as port:
        yield port


def secret_forms(*values: str) -> list[str]:
    """Each secret as given, percent-encoded, and its longer halves (a message that cut it)."""
    forms = []
    for v in values:
        forms += [v, quote(v, safe=""), v[: len(v) // 2 + 4], v[len(v) // 2 - 4 :]]
    return [f for f in forms if len(f) >= 8]


def assert_clean(proc: subprocess.CompletedProcess[str], leaks: list[str], what: Any) -> None:
    for form in leaks:
        assert form not in proc.stdout, (what, "stdout", form, proc.stdout)
        assert form not in proc.stderr, (what, "stderr", form, proc.stderr)
    assert "Traceback" not in proc.stderr or "FOCUS_DEBUG" not in str(what), proc.stderr


def assert_files_clean(root: Path, leaks: list[str]) -> None:
    """No file the CLI wrote (the database, its WAL) holds a secret."""
    for path in root.rglob("*"):
        if path.is_file() and not path.name.endswith(".toml"):
            data = path.read_bytes()
            for form in leaks:
                assert form.encode() not in data, (path, form)


def url_with(password: str, host: str, port: int | None, db: str = "focus") -> str:
    where = f"{host}:{port}" if port else host
    return f"postgresql://alice:{quote(password, safe='')}@{where}/{db}"


# -- Postgres ------------------------------------------------------------------------------


def test_no_postgres_failure_shows_the_password(tmp_path: Path, black_hole: int) -> None:
    password = "Pw-" + secrets.token_urlsafe(18)
    env_password = "Env-" + secrets.token_urlsafe(18)
    leaks = secret_forms(password, env_password)
    closed = free_port()
    cases: dict[str, dict[str, str]] = {
        "refused port": {"FOCUS_SYNC_URL": url_with(password, "127.0.0.1", closed)},
        "unknown host": {"FOCUS_SYNC_URL": url_with(password, "focus-nohost.invalid", 5432)},
        "black hole": {
            "FOCUS_SYNC_URL": url_with(password, "127.0.0.1", black_hole),
            "FOCUS_SYNC__CONNECT_TIMEOUT_SECONDS": "1",
        },
        "password from the environment": {
            "FOCUS_SYNC_URL": f"postgresql://alice@127.0.0.1:{closed}/focus",
            "FOCUS_SYNC_PASSWORD": env_password,
        },
        # The password holds what ends a URL's authority: read raw, it lands in the port
        # or the path, where a parser's message would quote it.
        "unencoded slash": {
            "FOCUS_SYNC_URL": f"postgresql://alice:{password}/x@127.0.0.1:{closed}/focus"
        },
        "unencoded hash": {
            "FOCUS_SYNC_URL": f"postgresql://alice:{password}#x@127.0.0.1:{closed}/focus"
        },
        "port made of the password": {
            "FOCUS_SYNC_URL": f"postgresql://alice@127.0.0.1:{password}/focus"
        },
        "bad option": {
            "FOCUS_SYNC_URL": url_with(password, "127.0.0.1", closed) + "?sslmode=sometimes"
        },
        "direct storage url": {"FOCUS_STORAGE_URL": url_with(password, "127.0.0.1", closed)},
    }
    syncing = [(["sync"], DEBUG[1]), (["sync", "--json"], DEBUG[0])]
    reading = [(["status", "--json"], DEBUG[1]), (["config", "check", "--json"], DEBUG[0])]
    for name, env in cases.items():
        focus = make_focus(tmp_path / name.replace(" ", "-"))
        if name == "refused port":  # a pending change, and the last error kept beside it
            assert focus("start", "--minutes", "5", env=env).returncode == 0
        # The commands that connect for every case; the others for the first and last.
        runs = syncing if name not in ("refused port", "direct storage url") else reading
        runs = runs + syncing if name == "refused port" else runs
        # Each case's commands at once (a second apart on a busy machine otherwise).
        procs = [(args, debug, focus.popen(*args, env=env | debug)) for args, debug in runs]
        for args, debug, running in procs:
            out, err = running.communicate(timeout=60)
            proc = subprocess.CompletedProcess(args, running.returncode, out, err)
            assert_clean(proc, leaks, (name, args, debug))
            if args[0] == "sync" and "FOCUS_SYNC_URL" in env:
                assert proc.returncode in (1, 2), (name, proc.stdout, proc.stderr)
                assert proc.stderr.count("\n") == 1, (name, proc.stderr)
        assert_files_clean(focus.home.parent, leaks)


def test_a_refused_login_and_a_working_sync_show_no_password(
    tmp_path: Path, sync_user: dict[str, Any]
) -> None:
    good = urlsplit(sync_user["sync_url"]).password
    assert good
    wrong = "Wrong-" + secrets.token_urlsafe(18)
    parts = urlsplit(sync_user["sync_url"])
    netloc = parts.netloc.replace(quote(good, safe=""), quote(wrong, safe=""))
    refused = urlunsplit(parts._replace(netloc=netloc))
    assert refused != sync_user["sync_url"]
    leaks = secret_forms(good, wrong)
    focus = make_focus(tmp_path)
    assert focus("start", "--minutes", "5").returncode == 0
    for debug in DEBUG:
        proc = focus("sync", env={"FOCUS_SYNC_URL": refused} | debug)
        assert proc.returncode == 2 and "refused the password" in proc.stderr, proc.stderr
        assert_clean(proc, leaks, ("refused", debug))
    for args, debug in (
        (["sync", "--json"], DEBUG[0]),
        (["sync"], DEBUG[1]),
        (["status", "--json"], DEBUG[1]),
        (["config", "check", "--json"], DEBUG[0]),
    ):
        proc = focus(*args, env={"FOCUS_SYNC_URL": sync_user["sync_url"]} | debug)
        assert proc.returncode == 0, proc.stderr
        assert_clean(proc, leaks, (args, debug))
    synced = focus("sync", "--json", env={"FOCUS_SYNC_URL": sync_user["sync_url"]})
    report = json.loads(synced.stdout)
    assert report["server"].startswith(f"postgresql://{sync_user['role']}@")
    assert_files_clean(focus.home.parent, leaks)


# -- the config file ------------------------------------------------------------------------


def write_config(path: Path, password: str, r2_secret: str, mode: int) -> Path:
    path.write_text(
        f'[sync]\nurl = "{url_with(password, "127.0.0.1", free_port())}"\n'
        f'[r2]\nbucket = "tracks"\naccess_key_id = "AKIDEXAMPLE"\n'
        f'secret_access_key = "{r2_secret}"\nendpoint_url = "http://127.0.0.1:{free_port()}"\n',
        encoding="utf-8",
    )
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_config_check_warns_about_secrets_other_users_can_read(tmp_path: Path, mode: int) -> None:
    password, r2_secret = secrets.token_urlsafe(18), secrets.token_urlsafe(30)
    config = write_config(tmp_path / "focus.toml", password, r2_secret, mode)
    focus = make_focus(tmp_path / "cli")
    proc = focus("config", "check", env={"FOCUS_CONFIG": str(config)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"config OK: {config}\n"
    (line,) = proc.stderr.splitlines()
    keys = "(sync.url, r2.secret_access_key)"
    assert line.startswith(f"focus: warning: {config} holds secrets {keys}")
    assert f"(mode {mode:04o}): run chmod 600" in line
    as_json = focus("config", "check", "--json", env={"FOCUS_CONFIG": str(config)})
    checked = json.loads(as_json.stdout)
    assert checked["ok"] is True and len(checked["warnings"]) == 1
    assert "chmod 600" in checked["warnings"][0]
    for proc in (
        focus("config", "check", env={"FOCUS_CONFIG": str(config), "FOCUS_DEBUG": "1"}),
        focus("config", "check", "--json", env={"FOCUS_CONFIG": str(config)}),
    ):
        assert_clean(proc, secret_forms(password, r2_secret), mode)


def test_config_check_is_quiet_for_a_private_file_or_one_without_secrets(tmp_path: Path) -> None:
    focus = make_focus(tmp_path / "cli")
    private = write_config(tmp_path / "private.toml", "pw-" + secrets.token_hex(8), "k" * 40, 0o600)
    public = tmp_path / "public.toml"
    public.write_text(
        '[sync]\nurl = "postgresql://alice@db.example/focus"\n[timer]\nfocus_minutes = 30\n'
    )
    public.chmod(0o644)
    for config in (private, public):
        proc = focus("config", "check", env={"FOCUS_CONFIG": str(config)})
        assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
        checked = json.loads(
            focus("config", "check", "--json", env={"FOCUS_CONFIG": str(config)}).stdout
        )
        assert "warnings" not in checked


# -- R2 ---------------------------------------------------------------------------------------


def make_wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes([7, 1]) * 8000)
    return path


@pytest.fixture
def failing_s3(s3_url: str) -> Iterator[Proxy]:
    """A proxy in front of moto whose answers the test sets (status and error code)."""
    from http.server import ThreadingHTTPServer

    from tests.r2.conftest import _handler

    p = Proxy(s3_url, fail=10**6)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(p))
    server.daemon_threads = True
    p.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield p
    server.shutdown()
    server.server_close()


def test_no_r2_failure_shows_the_keys(
    tmp_path: Path, s3_url: str, failing_s3: Proxy, sync_user: dict[str, Any]
) -> None:
    key_id = "AKID" + secrets.token_hex(8).upper()
    secret_key = secrets.token_urlsafe(30)
    password = urlsplit(sync_user["sync_url"]).password or ""
    leaks = secret_forms(key_id, secret_key, password)
    bucket = f"sec-{uuid.uuid4().hex[:10]}"
    admin(s3_url).create_bucket(Bucket=bucket)
    focus = make_focus(tmp_path)
    base = {
        "FOCUS_SYNC_URL": sync_user["sync_url"],
        "FOCUS_R2__BUCKET": bucket,
        "FOCUS_R2_ACCESS_KEY_ID": key_id,
        "FOCUS_R2_SECRET_ACCESS_KEY": secret_key,
    }
    make_wav(focus.home / "tone.wav")
    added = focus("tracks", "add", "tone.wav", env=base)
    assert added.returncode == 0, added.stderr
    cases = {
        "refused port": {"FOCUS_R2__ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"},
        "no such bucket": {"FOCUS_R2__ENDPOINT_URL": s3_url, "FOCUS_R2__BUCKET": "sec-missing"},
    }
    answers = ((403, "SignatureDoesNotMatch"), (403, "InvalidAccessKeyId"), (503, "SlowDown"))
    for status, code in answers:
        cases[f"{status} {code}"] = {
            "FOCUS_R2__ENDPOINT_URL": failing_s3.url,
            f"_{code}": str(status),
        }
    for name, env in cases.items():
        for key, value in list(env.items()):
            if key.startswith("_"):
                failing_s3.code, failing_s3.status = key[1:], int(value)
                del env[key]
        runs = [(["tracks", "upload"], DEBUG[1]), (["tracks", "upload", "--json"], DEBUG[0])]
        for args, debug in runs:
            proc = focus(*args, env=base | env | debug, timeout=120)
            assert_clean(proc, leaks, (name, args, debug))
            assert proc.returncode != 0, (name, proc.stdout, proc.stderr)
    proc = focus("tracks", "list", "--json", env=base)
    assert "failed" in proc.stdout or "error" in proc.stdout, proc.stdout
    assert_clean(proc, leaks, "tracks list")
    # The failure recorded on the track (shown by `tracks list`, synced) is clean too.
    assert_files_clean(focus.home.parent, leaks)
    # And once it works, the success says nothing secret either.
    proc = focus("tracks", "upload", "--json", env=base | {"FOCUS_R2__ENDPOINT_URL": s3_url})
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc, leaks, "uploaded")
    os.remove(focus.home / "tone.wav")


# -- track keys outside the user's prefix ----------------------------------------------------


@pytest.fixture
def recording_s3(s3_url: str) -> Iterator[tuple[str, list[str]]]:
    """A proxy in front of moto that records the path of every request it forwards."""
    from http.server import ThreadingHTTPServer

    from tests.r2.conftest import _handler

    paths: list[str] = []
    base = _handler(Proxy(s3_url))

    class Recording(base):  # type: ignore[valid-type,misc]
        def _recorded(self) -> None:
            paths.append(self.path)
            base._any(self)  # type: ignore[attr-defined]

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _recorded

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", paths
    server.shutdown()
    server.server_close()


async def test_a_planted_track_key_of_another_user_is_never_requested(
    tmp_path: Path,
    s3_url: str,
    recording_s3: tuple[str, list[str]],
    sync_user: dict[str, Any],
) -> None:
    """A modified client of the user plants a track whose key names another user's object
    (same content hash, the victim's prefix). A device of the user pulls it and fetches
    every track: each request it makes stays under its own user's prefix; the victim's
    object is never asked for, and what the device reports is one line."""
    import hashlib
    from datetime import UTC, datetime, timedelta

    import asyncpg

    endpoint, paths = recording_s3
    bucket = f"keys-{uuid.uuid4().hex[:10]}"
    s3 = admin(s3_url)
    s3.create_bucket(Bucket=bucket)
    body = b"the victim's private recording" * 100
    sha = hashlib.sha256(body).hexdigest()
    victim = uuid.uuid4()
    s3.put_object(Bucket=bucket, Key=f"user/{victim}/tracks/{sha}", Body=body)

    user_id = uuid.UUID(sync_user["user_id"])
    at = datetime.now(UTC) - timedelta(hours=1)
    library, track = uuid.uuid4(), uuid.uuid4()
    raw = await asyncpg.connect(sync_user["sync_url"])
    try:
        async with raw.transaction():
            stamp = await raw.fetchval(
                "UPDATE user_state SET change_stamp = change_stamp + 1 RETURNING change_stamp"
            )
            await raw.execute(
                "INSERT INTO libraries (user_id, id, name, library_type, version, created_at, "
                "updated_at, change_stamp) VALUES ($1, $2, 'Planted', 'music', 1, $3, $3, $4)",
                user_id,
                library,
                at,
                stamp,
            )
            await raw.execute(
                "INSERT INTO tracks (user_id, id, library_id, title, size_bytes, sha256, "
                "content_type, r2_key, upload_state, version, added_at, updated_at, "
                "change_stamp) VALUES ($1, $2, $3, 'Borrowed', $4, $5, 'audio/wav', $6, "
                "'uploaded', 1, $7, $7, $8)",
                user_id,
                track,
                library,
                len(body),
                sha,
                f"user/{victim}/tracks/{sha}",
                at,
                stamp,
            )
    finally:
        await raw.close()

    focus = make_focus(tmp_path)
    env = {
        "FOCUS_SYNC_URL": sync_user["sync_url"],
        "FOCUS_R2__BUCKET": bucket,
        "FOCUS_R2__ENDPOINT_URL": endpoint,
        "FOCUS_R2_ACCESS_KEY_ID": "test",
        "FOCUS_R2_SECRET_ACCESS_KEY": "test",
    }
    synced = focus("sync", "--json", env=env)
    assert synced.returncode == 0, synced.stderr
    assert str(track) in focus("tracks", "list", "--json", env=env).stdout
    fetched = focus("tracks", "fetch", "--all", env=env, timeout=120)
    assert fetched.returncode == 1, (fetched.stdout, fetched.stderr)
    assert fetched.stderr.count("\n") == 1 and "NoSuchKey" in fetched.stderr, fetched.stderr
    assert paths, "the device made no request at all"
    own = f"/{bucket}/user/{user_id}/tracks/"
    assert all(p.startswith(own) for p in paths), paths
    assert not any(str(victim) in p for p in paths)
    for path in tmp_path.rglob("*"):
        assert not (path.is_file() and body[:64] in path.read_bytes()), path


# -- the last resort: unexpected errors and FOCUS_DEBUG's traceback ------------------------------


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_and_its_traceback_show_no_secret(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    debug: bool,
) -> None:
    """A bug whose exception (and its cause) quotes every secret: the one line, and with
    FOCUS_DEBUG=1 the whole traceback, mask them all."""
    import app.cli

    file_password = "File-" + secrets.token_urlsafe(16) + "/:@"
    env_password = "Env-" + secrets.token_urlsafe(16)
    r2_secret = secrets.token_urlsafe(30)
    r2_key_id = "AKID" + secrets.token_hex(10).upper()
    config = tmp_path / "focus.toml"
    config.write_text(f'[storage]\nurl = "{url_with(file_password, "db.example", 5432)}"\n')
    monkeypatch.setenv("FOCUS_CONFIG", str(config))
    monkeypatch.setenv("FOCUS_SYNC_URL", url_with(env_password, "db.example", 5432))
    monkeypatch.setenv("FOCUS_R2_SECRET_ACCESS_KEY", r2_secret)
    monkeypatch.setenv("FOCUS_R2__ACCESS_KEY_ID", r2_key_id)
    if debug:
        monkeypatch.setenv("FOCUS_DEBUG", "1")
    everything = [file_password, env_password, r2_secret, r2_key_id]
    quoted = [quote(v, safe="") for v in everything]

    def fail(args: object) -> int:
        try:
            raise ValueError(f"cause: {quoted[0]} {quoted[1]}")
        except ValueError as cause:
            raise RuntimeError(f"bug near {' '.join(everything)}") from cause

    monkeypatch.setattr(app.cli, "handler_for", lambda command: fail)
    assert app.cli.main(["stats"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    for value in everything + quoted:
        assert value not in err, (value, err)
    assert "**********" in err
    if debug:
        assert err.startswith("Traceback") and "ValueError: cause:" in err
    else:
        assert err.startswith("focus: unexpected error: RuntimeError: bug near")
        assert err.count("\n") == 1


def test_the_apps_report_of_an_unexpected_error_shows_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.tui.errors import describe

    password = "App-" + secrets.token_urlsafe(16)
    monkeypatch.setenv("FOCUS_SYNC_URL", url_with(password, "db.example", 5432))
    title, message = describe(RuntimeError(f"connect to {url_with(password, 'db', None)}"))
    assert title == "Unexpected error"
    assert password not in message and quote(password, safe="") not in message
    assert message == "RuntimeError: connect to postgresql://alice:**********@db/focus"
