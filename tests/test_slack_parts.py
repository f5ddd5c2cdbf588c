"""The Slack bot's parts on their own: event store (real SQLite), files (real HTTP against the stand-in),
pool (a real loop thread), rate limit, event parsing, the summary line, notices, configuration and flags."""

from __future__ import annotations

import argparse
import asyncio
import io
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from PIL import Image

from productshot.agent.errors import ToolCallError, ToolServerError
from productshot.agent.runtime import TurnResult
from productshot.cli import slack_cmd
from productshot.errors import BadImageError, BadRequestError, WorkerUnavailableError
from productshot.settings import Settings
from productshot.slack.app import make_client
from productshot.slack.config import BotPolicy, SlackOptions, check_tokens, parse_channels
from productshot.slack.errors import BotBusyError, BotStoppedError, FileDownloadError
from productshot.slack.events_store import EventStore
from productshot.slack.files import (
    SlackFile,
    check_file,
    check_image_file,
    download_file,
    download_origins,
    file_info,
    pick_file,
)
from productshot.slack.handlers import SlackBot, notice_for, parse_message
from productshot.slack.messages import say
from productshot.slack.pool import AgentPool
from productshot.slack.ratelimit import RateLimiter
from productshot.slack.summary import escape, format_seconds, result_comment, steps_line
from tests.support.slack_api import SlackStandIn, bot_settings
from tests.support.waiting import wait_until


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as stand_in:
        yield stand_in


# ---- event store ---------------------------------------------------------------------------------------------
def test_a_claimed_event_is_refused_again_even_by_a_new_store_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "slack.sqlite3"
    first = EventStore(path)
    job = first.claim(["event:Ev1", "message:C1:1.1"], channel="C1", thread_ts="1.1", user_id="U1")
    assert job is not None
    assert first.claim(["event:Ev1"], channel="C1", thread_ts="1.1", user_id="U1") is None
    # The same message as another event (a mention and a thread message) is refused by its message key.
    assert first.claim(["event:Ev2", "message:C1:1.1"], channel="C1", thread_ts="1.1", user_id="U1") is None
    restarted = EventStore(path)
    assert restarted.claim(["event:Ev1"], channel="C1", thread_ts="1.1", user_id="U1") is None
    assert restarted.is_handled("event:Ev1") and not restarted.is_handled("event:Ev2")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM jobs").fetchone()[0] == 1


def test_claims_from_many_threads_let_exactly_one_win(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "slack.sqlite3")
    wins: list[str | None] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(store.claim(["event:EvSAME"], channel="C1", thread_ts="1.1", user_id="U1"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for w in wins if w is not None) == 1


def test_jobs_left_running_by_an_earlier_run_are_taken_once_as_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "slack.sqlite3"
    before = EventStore(path)
    left = before.claim(["event:EvA"], channel="C1", thread_ts="5.5", user_id="U1")
    finished = before.claim(["event:EvB"], channel="C1", thread_ts="6.6", user_id="U1")
    assert left and finished
    before.finish(finished, "done", "a1")
    assert before.take_interrupted() == []  # its own running jobs are not interrupted
    after = EventStore(path)
    taken = after.take_interrupted()
    assert [(j.job_id, j.thread_ts) for j in taken] == [(left, "5.5")]
    assert after.take_interrupted() == []
    assert {j.job_id: j.status for j in after.jobs()} == {left: "interrupted", finished: "done"}
    with pytest.raises(BadRequestError, match="status"):
        after.finish(left, "running")


def test_old_keys_are_pruned_and_threads_remember_their_owner(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "slack.sqlite3", retention_s=60)
    job = store.claim(["event:EvOld"], channel="C1", thread_ts="1.1", user_id="U1")
    assert job
    store.finish(job, "done")
    assert store.prune(now=time.time() + 3600) == 1
    assert not store.is_handled("event:EvOld")
    store.remember_thread("C1", "1.1", "U1")
    store.remember_thread("C1", "1.1", "U2")  # a later requester does not take the thread over
    assert store.thread_owner("C1", "1.1") == "U1" and store.thread_owner("C1", "2.2") is None
    with pytest.raises(BadRequestError, match="no event id"):
        store.claim([], channel="C1", thread_ts="1.1", user_id="U1")


# ---- parsing events ------------------------------------------------------------------------------------------
def test_parse_message_strips_the_mention_and_finds_the_thread() -> None:
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": "<@U0BOT> put it   on a beach <@U0BOT|productshot>",
        "ts": "2.000",
        "thread_ts": "1.000",
        "channel": "C1",
        "client_msg_id": "m-1",
    }
    message = parse_message(event, event_id="Ev1", bot_user_id="U0BOT", via_mention=True)
    assert message is not None
    assert message.text == "put it on a beach"
    assert message.thread_ts == "1.000" and message.in_thread and message.mentioned
    assert message.conversation == "slack-C1-1.000"
    assert message.keys == ("event:Ev1", "message:C1:2.000", "client_msg:m-1")
    top = parse_message({**event, "thread_ts": None}, event_id=None, bot_user_id="U0BOT", via_mention=True)
    assert top is not None and top.thread_ts == "2.000" and not top.in_thread


@pytest.mark.parametrize(
    "change",
    [
        {"bot_id": "B1"},
        {"subtype": "message_changed"},
        {"subtype": "channel_join"},
        {"user": "U0BOT"},
        {"user": None},
    ],
)
def test_parse_message_ignores_what_is_not_a_person_talking(change: dict[str, Any]) -> None:
    event = {
        "type": "message",
        "user": "U1",
        "text": "hi",
        "ts": "1.0",
        "channel": "D1",
        "channel_type": "im",
    }
    assert parse_message({**event, **change}, event_id="Ev", bot_user_id="U0BOT", via_mention=False) is None


def test_a_dm_is_recognised_by_its_channel() -> None:
    event = {
        "type": "message",
        "user": "U1",
        "text": "hi",
        "ts": "1.0",
        "channel": "D1",
        "subtype": "file_share",
    }
    message = parse_message(event, event_id="Ev", bot_user_id="U0BOT", via_mention=False)
    assert message is not None and message.is_dm and not message.mentioned


# ---- files -----------------------------------------------------------------------------------------------------
def test_a_file_is_downloaded_with_the_bot_token_and_checked(slack: SlackStandIn, tmp_path: Path) -> None:
    data = png()
    file_id = slack.add_file("shoe photo (1).png", data, "image/png")
    client = make_client(slack.bot_token, slack.base_url)
    file = file_info(client, file_id)
    assert file.is_image and file.size == len(data) and file.name == "shoe photo (1).png"
    check_file(file, max_bytes=10_000)
    path = download_file(
        file,
        token=slack.bot_token,
        folder=tmp_path,
        max_bytes=10_000,
        origins=download_origins(slack.base_url),
    )
    assert path.read_bytes() == data and path.parent == tmp_path and " " not in path.name
    check_image_file(path, file, max_pixels=1_000_000)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_token_without_files_read_gets_the_sign_in_page_which_is_caught(
    slack: SlackStandIn, tmp_path: Path
) -> None:
    file = file_info(
        make_client(slack.bot_token, slack.base_url), slack.add_file("a.png", png(), "image/png")
    )
    with pytest.raises(FileDownloadError, match="files:read"):
        download_file(
            file,
            token="xoxb-wrong",
            folder=tmp_path,
            max_bytes=10_000,
            origins=download_origins(slack.base_url),
        )
    assert list(tmp_path.iterdir()) == []


def test_the_token_is_never_sent_to_another_host(slack: SlackStandIn, tmp_path: Path) -> None:
    file_id = slack.add_file("a.png", png(), "image/png")
    file = file_info(make_client(slack.bot_token, slack.base_url), file_id)
    elsewhere = SlackFile(
        file.id, file.name, file.mimetype, file.filetype, file.size, "https://evil.example/a.png"
    )
    with pytest.raises(FileDownloadError, match="not sent there"):
        download_file(
            elsewhere,
            token=slack.bot_token,
            folder=tmp_path,
            max_bytes=10_000,
            origins=download_origins(slack.base_url),
        )
    assert download_origins("https://slack.com/api/") == {"https://slack.com", "https://files.slack.com"}
    assert "https://files.slack-gov.com" in download_origins("https://slack-gov.com/api/")


def test_a_file_larger_than_files_info_said_stops_at_the_cap(slack: SlackStandIn, tmp_path: Path) -> None:
    big = png((600, 600)) + b"\0" * 20_000
    file = file_info(
        make_client(slack.bot_token, slack.base_url), slack.add_file("b.png", big, "image/png", size=100)
    )
    check_file(file, max_bytes=5_000)  # files.info claims 100 bytes
    with pytest.raises(BadImageError, match="over this bot's limit"):
        download_file(
            file,
            token=slack.bot_token,
            folder=tmp_path,
            max_bytes=5_000,
            origins=download_origins(slack.base_url),
        )
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def test_files_info_errors_and_bad_files_are_named(slack: SlackStandIn) -> None:
    with pytest.raises(FileDownloadError, match="file_not_found"):
        file_info(make_client(slack.bot_token, slack.base_url), "F_NOPE")
    svg = SlackFile("F1", "logo.svg", "image/svg+xml", "svg", 100, None)
    with pytest.raises(BadImageError, match=r"logo\.svg.*not a photo"):
        check_file(svg, max_bytes=1_000)
    jpeg = SlackFile("F2", "big.jpg", "image/jpeg", "jpg", 3 * 1024 * 1024, None)
    with pytest.raises(BadImageError, match=r"3\.0 MB, over this bot's limit of 1\.0 MB"):
        check_file(jpeg, max_bytes=1024 * 1024)
    files = [{"id": "F1", "mimetype": "application/pdf"}, {"id": "F2", "mimetype": "image/png"}]
    assert pick_file(files) == files[1] and pick_file(files[:1]) == files[0] and pick_file([]) is None


# ---- pool ------------------------------------------------------------------------------------------------------
class GateRuntime:
    """A runtime stand-in for the pool's own behaviour (the agent is exercised in test_slack_bot.py)."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.fail_with = fail_with
        self.opened = self.closed = False
        self.log: list[str] = []

    async def __aenter__(self) -> GateRuntime:
        if self.fail_with is not None:
            raise self.fail_with
        self.opened = True
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.closed = True


def gated(gate: threading.Event, label: str) -> Any:
    async def job(runtime: GateRuntime) -> str:
        runtime.log.append(f"start {label}")
        await asyncio.to_thread(gate.wait, 10)
        runtime.log.append(f"end {label}")
        return label

    return job


def test_the_pool_is_bounded_and_refuses_when_full() -> None:
    runtime = GateRuntime()
    gate = threading.Event()
    with AgentPool(runtime, workers=1, queue_size=1) as pool:  # type: ignore[type-var]
        first = pool.submit(gated(gate, "a"))
        second = pool.submit(gated(gate, "b"))
        with pytest.raises(BotBusyError, match="1 workers are busy and 1 requests are already waiting"):
            pool.submit(gated(gate, "c"))
        assert pool.pending == 2
        gate.set()
        assert first.result(10) == "a" and second.result(10) == "b"
        wait_until(lambda: pool.pending == 0, what="finished jobs leave the pool's count")
        assert pool.submit(gated(gate, "d")).result(10) == "d"
    assert runtime.opened and runtime.closed


def test_jobs_of_one_thread_run_one_after_another() -> None:
    runtime = GateRuntime()
    gate = threading.Event()
    with AgentPool(runtime, workers=3, queue_size=3) as pool:  # type: ignore[type-var]
        first = pool.submit(gated(gate, "a"), key="slack-C1-1.0")
        second = pool.submit(gated(gate, "b"), key="slack-C1-1.0")
        other = pool.submit(gated(gate, "x"), key="slack-C1-2.0")
        wait_until(lambda: {"start a", "start x"} <= set(runtime.log), what="a and x start")
        assert "start b" not in runtime.log, "b waits for a, which holds its thread"
        gate.set()
        for future in (first, second, other):
            future.result(10)
    assert runtime.log.index("end a") < runtime.log.index("start b")


def test_a_runtime_that_cannot_open_fails_the_start_with_its_error() -> None:
    pool = AgentPool(GateRuntime(ToolServerError("could not start a session with the MCP server")))  # type: ignore[type-var]
    with pytest.raises(ToolServerError, match="could not start a session"):
        pool.start()
    with pytest.raises(BotStoppedError):
        pool.submit(gated(threading.Event(), "a"))


def test_stop_cancels_what_outlives_the_grace_period() -> None:
    runtime = GateRuntime()

    async def endless(rt: GateRuntime) -> None:
        rt.log.append("start")
        await asyncio.sleep(3600)

    pool = AgentPool(runtime, workers=1, queue_size=0)  # type: ignore[type-var]
    pool.start()
    stuck = pool.submit(endless)
    wait_until(lambda: runtime.log == ["start"], what="the endless job starts")
    # stop() returns only because the hour-long task is cancelled (pytest-timeout guards against a hang).
    pool.stop(grace_s=0.2)
    assert runtime.log == ["start"] and stuck.cancelled()
    assert runtime.closed
    with pytest.raises(BotStoppedError):
        pool.submit(endless)


# ---- the rest -------------------------------------------------------------------------------------------------------
def test_the_rate_limit_slides_per_user() -> None:
    now = [1000.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.check("U1") == 0 and limiter.check("U1") == 0
    assert limiter.check("U1") == pytest.approx(60.0)
    assert limiter.check("U2") == 0  # per user
    now[0] += 30
    assert limiter.check("U1") == pytest.approx(30.0)
    now[0] += 30
    assert limiter.check("U1") == 0
    assert RateLimiter(0).check("U1") == 0 and not RateLimiter(0).enabled
    with pytest.raises(BadRequestError, match="rate"):
        RateLimiter(-1)


def test_the_summary_line_says_what_served_each_step() -> None:
    steps = [
        {"name": "plan", "backend": "rules", "seconds": 0.0123},
        {"name": "cutout", "backend": "u2netp", "seconds": 0.4},
        {"name": "generate", "backend": "studio", "seconds": 12.2},
        {"name": "composite", "backend": "composite", "seconds": 0.02},
    ]
    assert (
        steps_line(steps)
        == "plan: rules 0.01s · cutout: u2netp 0.40s · generate: studio 12s · composite 0.02s"
    )
    assert (
        steps_line(steps[3:], reused=["cutout", "background"])
        == "composite 0.02s · reused cutout, background"
    )
    assert format_seconds(3.456) == "3.5s"
    result = TurnResult(
        thread="slack-C1-1.0",
        reply="Done: the <product> stands at the left.\nSaved to /home/x/assets/ab.png",
        language="en",
        mode="rules",
        outcome={"asset_id": "a1", "path": "/home/x/assets/ab.png", "steps": steps[:1], "reused": []},
    )
    comment = result_comment(result, hint="Say 'bigger'.")
    assert comment == "Done: the &lt;product&gt; stands at the left.\nplan: rules 0.01s\nSay 'bigger'."
    assert escape("a & <@U1>") == "a &amp; &lt;@U1&gt;"


def test_notices_name_the_problem_in_the_users_language() -> None:
    assert "<#C1>" in say("channel_not_allowed", "en", links={"channels": "<#C1>"})
    assert "&lt;b&gt;" in say("failed", "en", {"reason": "<b>"})
    assert "이미지" in say("failed", "ko", {"reason": "x"})
    assert say("interrupted", "fr") == say("interrupted", "en")
    with pytest.raises(KeyError, match="no bot message"):
        say("nope", "en")
    assert "not available" in notice_for(WorkerUnavailableError("worker gone"), "en", had_file=True)
    assert "could not make the shot" in notice_for(
        ToolCallError("place_product", "boom"), "en", had_file=True
    )
    assert "attach a product photo" in notice_for(BadImageError("no photo"), "en", had_file=False)
    assert "on my side (KeyError)" in notice_for(KeyError("x"), "en", had_file=False)


def test_tokens_and_limits_are_checked_with_the_variable_named(tmp_path: Path) -> None:
    base = Settings.from_mapping({}, home=tmp_path)
    with pytest.raises(BadRequestError, match="SLACK_BOT_TOKEN is not set"):
        check_tokens(base, "http")
    with pytest.raises(BadRequestError, match="xoxb-"):
        check_tokens(base.with_overrides(slack_bot_token="xoxp-user"), "http")
    bot = base.with_overrides(slack_bot_token="xoxb-1")
    with pytest.raises(BadRequestError, match="SLACK_SIGNING_SECRET"):
        check_tokens(bot, "http")
    with pytest.raises(BadRequestError, match="SLACK_APP_TOKEN"):
        check_tokens(bot, "socket")
    check_tokens(bot.with_overrides(slack_app_token="xapp-1"), "socket")
    assert SlackOptions().resolved_mode(bot.with_overrides(slack_app_token="xapp-1")) == "socket"
    assert SlackOptions().resolved_mode(bot) == "http"
    assert parse_channels(" C0A1, G0B2 ") == {"C0A1", "G0B2"}
    with pytest.raises(BadRequestError, match="general is not a channel id"):
        parse_channels("C0A1,general")
    with pytest.raises(BadRequestError, match="empty list"):
        BotPolicy(channels=frozenset())
    with pytest.raises(BadRequestError, match="mode"):
        SlackOptions(mode="carrier-pigeon")


def test_flags_become_options_and_bad_flags_are_named(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="productshot")
    slack_cmd.register(parser.add_subparsers())
    settings = Settings.from_mapping({}, home=tmp_path)
    args = parser.parse_args(
        [
            "slack",
            "--channels",
            "C0A1,C0B2",
            "--rate",
            "4",
            "--max-file-mb",
            "2",
            "--no-dms",
            "-W",
            "256",
            "-H",
            "192",
        ]
    )
    options = slack_cmd.options_from_args(args, settings)
    assert options.policy.channels == {"C0A1", "C0B2"} and not options.policy.allow_dms
    assert options.rate_per_minute == 4 and options.policy.max_file_bytes == 2 * 1024 * 1024
    assert options.context.width == 256 and options.mode == "auto"
    for flags, match in (
        (["--channels", "random"], "--channels: random"),
        (["--rate", "-1"], "--rate"),
        (["--max-file-mb", "0"], "--max-file-mb"),
        (["--port", "70000"], "--port"),
        (["--workers", "0"], "--workers"),
        (["--queue", "-1"], "--queue"),
    ):
        with pytest.raises(BadRequestError, match=match):
            slack_cmd.options_from_args(parser.parse_args(["slack", *flags]), settings)


def test_admin_limits_come_from_the_environment_and_flags_override_them(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="productshot")
    slack_cmd.register(parser.add_subparsers())
    env = {
        "PRODUCTSHOT_SLACK_CHANNELS": "C0ENV1, C0ENV2",
        "PRODUCTSHOT_SLACK_RATE": "3",
        "PRODUCTSHOT_SLACK_WORKERS": "4",
        "PRODUCTSHOT_SLACK_QUEUE": "0",
    }
    settings = Settings.from_mapping(env, home=tmp_path)
    from_env = slack_cmd.options_from_args(parser.parse_args(["slack"]), settings)
    assert from_env.policy.channels == {"C0ENV1", "C0ENV2"}
    assert (from_env.rate_per_minute, from_env.workers, from_env.queue_size) == (3, 4, 0)
    flagged = slack_cmd.options_from_args(
        parser.parse_args(["slack", "--channels", "C0FLAG", "--rate", "0", "--workers", "1"]), settings
    )
    assert flagged.policy.channels == {"C0FLAG"}
    assert (flagged.rate_per_minute, flagged.workers, flagged.queue_size) == (0, 1, 0)
    defaults = slack_cmd.options_from_args(
        parser.parse_args(["slack"]), Settings.from_mapping({}, home=tmp_path)
    )
    assert defaults.policy.channels is None
    assert (defaults.rate_per_minute, defaults.workers, defaults.queue_size) == (10, 2, 16)
    for name, value in (
        ("PRODUCTSHOT_SLACK_CHANNELS", "general"),
        ("PRODUCTSHOT_SLACK_RATE", "-2"),
        ("PRODUCTSHOT_SLACK_WORKERS", "65"),
        ("PRODUCTSHOT_SLACK_QUEUE", "-1"),
    ):
        bad = Settings.from_mapping({name: value}, home=tmp_path)
        with pytest.raises(BadRequestError, match=name):
            slack_cmd.options_from_args(parser.parse_args(["slack"]), bad)
    with pytest.raises(BadRequestError, match="PRODUCTSHOT_SLACK_RATE must be an integer"):
        Settings.from_mapping({"PRODUCTSHOT_SLACK_RATE": "many"}, home=tmp_path)


def test_recover_tells_interrupted_threads_to_send_again(slack: SlackStandIn, tmp_path: Path) -> None:
    settings = bot_settings(tmp_path / "home", slack)
    EventStore.open(settings).claim(["event:EvLost"], channel="C0LOST", thread_ts="9.9", user_id="U1")
    bot = SlackBot(
        client=make_client(slack.bot_token, slack.base_url),
        pool=AgentPool(GateRuntime()),  # type: ignore[arg-type]
        store=EventStore.open(settings),  # a new boot: the claim above was an earlier run's
        limiter=RateLimiter(0),
        policy=BotPolicy(),
        inbox=tmp_path / "inbox",
        download_origins=download_origins(slack.base_url),
    )
    assert bot.recover() == 1
    texts = [c.params["text"] for c in slack.in_thread("C0LOST", "9.9", "chat.postMessage")]
    assert len(texts) == 1 and "send it again" in texts[0]
    assert bot.recover() == 0


def test_the_manifest_grants_what_the_bot_uses_and_the_docs_explain_each_scope() -> None:
    import yaml

    repo = Path(__file__).resolve().parents[1]
    manifest = yaml.safe_load((repo / "productshot" / "slack" / "manifest.yaml").read_text(encoding="utf-8"))
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    # chat.postMessage, reactions.add, files.info + download, files_upload_v2, mentions and DMs
    assert {
        "chat:write",
        "reactions:write",
        "files:read",
        "files:write",
        "app_mentions:read",
        "im:history",
    } <= scopes
    assert {"app_mention", "message.im"} <= events
    for event, scope in (("message.channels", "channels:history"), ("message.groups", "groups:history")):
        assert (event in events) == (scope in scopes)
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    docs = (repo / "docs" / "slack.md").read_text(encoding="utf-8")
    for scope in sorted(scopes | {"connections:write"}):
        assert f"| `{scope}` |" in docs or f"| `{scope}` (" in docs, f"docs/slack.md does not explain {scope}"
