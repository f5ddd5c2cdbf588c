"""The Slack bot end to end: real HTTP everywhere, the real agent, a real stdio MCP server.

A local Slack stand-in (tests/support/slack_api.py) plays Slack: it signs and posts Events API requests to
the bot's HTTP endpoint, serves the attached photo, takes the upload and records every Web API call. The bot
runs in HTTP mode with bolt's own acknowledgement path (process_before_response=False) and shares one agent
runtime (one MCP session) across its worker pool. Embedded defaults only: studio backdrops, u2netp, the
rules planner, a 320×240 canvas.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from productshot.agent.context import AgentContext
from productshot.slack.config import BotPolicy, SlackOptions
from productshot.slack.events_store import EventStore
from productshot.slack.service import SlackService
from productshot.store import AssetStore
from tests.support.imagegen import make_product, on_background
from tests.support.slack_api import ApiCall, SlackStandIn, bot_settings, event_payload, signed_request
from tests.support.waiting import wait_until
from tests.support.worker_proc import free_port

pytestmark = pytest.mark.slow

CANVAS = (320, 240)
PRODUCT_RGB = (170, 40, 45)
CHANNELS = frozenset({"C0SHOTS", "C0TEAM"})
SLACK_ACK_DEADLINE_S = 3.0  # Slack redelivers an event whose request is not answered within 3 seconds
_ts = itertools.count(1)


def next_ts() -> str:
    return f"{1700100000 + next(_ts)}.000200"


def photo_png(size: tuple[int, int] = (160, 200)) -> bytes:
    """A product photographed on a plain light backdrop (the bot cuts it out with u2netp)."""
    product = make_product((size[0] * 3 // 4, size[1] * 3 // 4), "bottle", PRODUCT_RGB)
    photo, _ = on_background(product, (236, 236, 232), canvas=size)
    return png_bytes(photo)


def cutout_png(size: tuple[int, int] = (90, 120)) -> bytes:
    """A product with a transparent background (place_product needs no cutout for it: fast)."""
    return png_bytes(make_product(size, "box", PRODUCT_RGB))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def user_message(
    slack: SlackStandIn,
    text: str,
    *,
    channel: str = "C0SHOTS",
    user: str = "U0ALICE",
    files: tuple[str, ...] = (),
    thread_ts: str | None = None,
    mention: bool = True,
    channel_type: str | None = None,
) -> tuple[dict[str, Any], str]:
    """An Events API body for a person's message (an app_mention, or a plain `message`), and its ts."""
    ts = next_ts()
    event: dict[str, Any] = {
        "type": "app_mention" if mention else "message",
        "user": user,
        "text": f"<@{slack.bot_user_id}> {text}" if mention else text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "client_msg_id": str(uuid.uuid4()),
    }
    if channel_type:
        event["channel_type"] = channel_type
    if files:
        event["files"] = [slack.file_object(f) for f in files]
        if not mention:
            event["subtype"] = "file_share"
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event_payload(event), ts


def uploads_in(slack: SlackStandIn, channel: str, thread_ts: str) -> list[ApiCall]:
    return slack.in_thread(channel, thread_ts, "files.completeUploadExternal")


def nth_upload(slack: SlackStandIn, channel: str, thread_ts: str, n: int) -> ApiCall | None:
    """The n-th upload into a thread (1-based), once there is one."""
    calls = uploads_in(slack, channel, thread_ts)
    return calls[n - 1] if len(calls) >= n else None


def messages_in(slack: SlackStandIn, channel: str, thread_ts: str) -> list[str]:
    return [str(c.params.get("text")) for c in slack.in_thread(channel, thread_ts, "chat.postMessage")]


def uploaded_bytes(slack: SlackStandIn, call: ApiCall) -> tuple[str, bytes]:
    """The uploaded file's name and bytes behind a completeUploadExternal call."""
    files = call.params["files"]
    items = json.loads(files) if isinstance(files, str) else files
    upload = slack.upload(str(items[0]["id"]))
    assert upload.data is not None
    return upload.filename, upload.data


def product_centre_x(png: bytes) -> float:
    """Where the red product stands across a result image (the mean x of its pixels)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    red = (pixels[..., 0] > 120) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)
    assert red.sum() > 200, "no product pixels found in the uploaded image"
    return float(np.nonzero(red)[1].mean())


def reactions(slack: SlackStandIn, channel: str, ts: str) -> list[str]:
    return [
        str(c.params.get("name"))
        for c in slack.calls("reactions.add")
        if (c.params.get("channel"), c.params.get("timestamp")) == (channel, ts)
    ]


def options(slack: SlackStandIn, **changes: Any) -> SlackOptions:
    base: dict[str, Any] = {
        "mode": "http",
        "port": 0,
        "api_url": slack.base_url,
        "policy": BotPolicy(channels=CHANNELS, max_file_bytes=400_000),
        "rate_per_minute": 3,
        "workers": 3,
        "queue_size": 8,
        "context": AgentContext(width=CANVAS[0], height=CANVAS[1], model="studio"),
    }
    base.update(changes)
    return SlackOptions(**base)


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def bot_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("slack-home")


@pytest.fixture(scope="module")
def bot(slack: SlackStandIn, bot_home: Path) -> Iterator[SlackService]:
    with SlackService(bot_settings(bot_home, slack), options(slack)) as service:
        yield service


def post(bot: SlackService, slack: SlackStandIn, payload: dict[str, Any], **kw: Any) -> Any:
    assert bot.url is not None
    return signed_request(bot.url, payload, slack.signing_secret, **kw)


# ---- a shot, and a follow-up in its thread -------------------------------------------------------------------
def test_mention_with_a_photo_gets_the_shot_uploaded_into_its_thread(
    bot: SlackService, slack: SlackStandIn, bot_home: Path
) -> None:
    file_id = slack.add_file("bag.png", photo_png(), "image/png")
    payload, ts = user_message(slack, "put this on a simple beach scene, bottom-left", files=(file_id,))

    answer = post(bot, slack, payload)

    assert answer.status == 200
    # Slack's protocol deadline (it retries after 3 s), not a speed target: the ack does no work at all.
    assert answer.seconds < SLACK_ACK_DEADLINE_S, f"acknowledged after {answer.seconds:.2f} s"
    done = slack.wait_for(lambda s: uploads_in(s, "C0SHOTS", ts), timeout=120)
    call = done[0]
    assert answer.answered_at < call.at, "the event is acknowledged before the shot is made, not after"
    assert call.params["channel_id"] == "C0SHOTS" and call.params["thread_ts"] == ts
    filename, data = uploaded_bytes(slack, call)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    assert image.size == CANVAS
    asset_id = filename.removeprefix("productshot-").removesuffix(".png")
    with AssetStore.open(bot_settings(bot_home, slack)) as store:
        asset = store.get(asset_id)
    assert asset.kind == "result" and asset.path.read_bytes() == data
    comment = str(call.params["initial_comment"])
    assert "plan: rules" in comment and "cutout: u2netp" in comment and "generate: studio" in comment
    assert " · " in comment and "composite" in comment
    assert "bottom left" in comment  # the agent's reply, in the request's language
    assert str(bot_home) not in comment  # the local path line is left out
    assert slack.downloads(file_id) == 1
    slack.wait_for(lambda s: "white_check_mark" in reactions(s, "C0SHOTS", ts))
    assert reactions(slack, "C0SHOTS", ts)[0] == "eyes"
    assert product_centre_x(data) < CANVAS[0] / 2  # bottom-left: the product stands in the left half

    # A follow-up in the same thread, plain text: the product moves right, nothing is downloaded again.
    follow, follow_ts = user_message(slack, "move it to the right", thread_ts=ts)
    assert post(bot, slack, follow).status == 200
    second = slack.wait_for(lambda s: nth_upload(s, "C0SHOTS", ts, 2))
    _, moved = uploaded_bytes(slack, second)
    assert Image.open(io.BytesIO(moved)).size == CANVAS
    assert product_centre_x(moved) > product_centre_x(data) + 0.05 * CANVAS[0]
    comment = str(second.params["initial_comment"])
    assert "cutout: u2netp" not in comment and "reused cutout, background" in comment
    assert slack.downloads(file_id) == 1
    slack.wait_for(lambda s: "white_check_mark" in reactions(s, "C0SHOTS", follow_ts))


def test_the_requester_follows_up_without_mentioning_the_bot(bot: SlackService, slack: SlackStandIn) -> None:
    file_id = slack.add_file("box.png", cutout_png(), "image/png")
    payload, ts = user_message(slack, "on white marble, left", files=(file_id,), user="U0BEN")
    assert post(bot, slack, payload).status == 200
    first = slack.wait_for(lambda s: uploads_in(s, "C0SHOTS", ts))[0]

    # Someone else's plain reply is conversation, not a request; the requester's plain reply is a follow-up.
    chatter, chatter_ts = user_message(slack, "nice one", thread_ts=ts, user="U0CAROL", mention=False)
    assert post(bot, slack, chatter).status == 200
    plain, _ = user_message(slack, "bigger", thread_ts=ts, user="U0BEN", mention=False)
    assert post(bot, slack, plain).status == 200
    second = slack.wait_for(lambda s: nth_upload(s, "C0SHOTS", ts, 2))
    _, before = uploaded_bytes(slack, first)
    _, after = uploaded_bytes(slack, second)
    assert _red_area(after) > 1.2 * _red_area(before)
    assert reactions(slack, "C0SHOTS", chatter_ts) == []


def _red_area(png: bytes) -> int:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    return int(((pixels[..., 0] > 120) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)).sum())


def test_a_direct_message_with_a_photo_is_answered_in_its_thread(
    bot: SlackService, slack: SlackStandIn
) -> None:
    file_id = slack.add_file("cup.png", cutout_png(), "image/png")
    payload, ts = user_message(
        slack,
        "흰 대리석 위 가운데에 놓아줘",
        channel="D0DANA",
        user="U0DANA",
        files=(file_id,),
        mention=False,
        channel_type="im",
    )
    assert post(bot, slack, payload).status == 200
    call = slack.wait_for(lambda s: uploads_in(s, "D0DANA", ts))[0]
    comment = str(call.params["initial_comment"])
    assert any("\uac00" <= ch <= "\ud7a3" for ch in comment), comment  # answered in Korean


# ---- concurrency -------------------------------------------------------------------------------------------
def test_five_events_at_once_get_five_replies_each_in_its_own_thread(
    bot: SlackService, slack: SlackStandIn
) -> None:
    sent = []
    for i in range(5):
        file_id = slack.add_file(f"item{i}.png", cutout_png((80 + 4 * i, 110)), "image/png")
        payload, ts = user_message(
            slack, "on a wooden table, center", files=(file_id,), user=f"U0CROWD{i}", channel="C0TEAM"
        )
        sent.append((payload, ts))

    with ThreadPoolExecutor(5) as senders:
        answers = list(senders.map(lambda item: post(bot, slack, item[0]), sent))

    assert [a.status for a in answers] == [200] * 5
    slack.wait_for(lambda s: all(uploads_in(s, "C0TEAM", ts) for _, ts in sent), timeout=120)
    names = set()
    for answer, (_, ts) in zip(answers, sent, strict=True):
        calls = uploads_in(slack, "C0TEAM", ts)
        assert len(calls) == 1, f"thread {ts} got {len(calls)} uploads"
        assert answer.answered_at < calls[0].at, "each event is acknowledged before its shot is made"
        name, data = uploaded_bytes(slack, calls[0])
        assert Image.open(io.BytesIO(data)).size == CANVAS
        names.add(name)
    assert len(names) == 5  # five different results, one per thread


# ---- HTTP acknowledgement and signatures -----------------------------------------------------------------------
def _after_a_fence(bot: SlackService, slack: SlackStandIn) -> None:
    """Post a valid request and wait for its answer: the bot is alive and has processed what came before,
    so "nothing happened" to a refused request is a fact, not the result of looking too early."""
    payload, ts = user_message(slack, "on a beach", user=f"U0FENCE{uuid.uuid4().hex[:6].upper()}")  # no photo
    assert post(bot, slack, payload).status == 200
    _notice(slack, "C0SHOTS", ts)


def test_a_bad_signature_is_refused_with_401(
    bot: SlackService, slack: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    payload, ts = user_message(slack, "on a beach, secret-body-marker")
    with caplog.at_level(logging.DEBUG):
        answer = post(bot, slack, payload, signature="v0=" + "0" * 64)
    assert answer.status == 401
    # Bolt's log of the refusal keeps the fact, not the body an attacker sent.
    refusals = [r.getMessage() for r in caplog.records if "invalid Slack signature" in r.getMessage()]
    assert refusals and not any("secret-body-marker" in r.getMessage() for r in caplog.records)
    _after_a_fence(bot, slack)
    assert slack.in_thread("C0SHOTS", ts) == [] and reactions(slack, "C0SHOTS", ts) == []


def test_an_old_timestamp_is_refused_as_a_replay(bot: SlackService, slack: SlackStandIn) -> None:
    payload, ts = user_message(slack, "on a beach")
    answer = post(bot, slack, payload, timestamp=int(time.time()) - 6 * 60)  # correctly signed, but stale
    assert answer.status == 401
    _after_a_fence(bot, slack)
    assert slack.in_thread("C0SHOTS", ts) == [] and reactions(slack, "C0SHOTS", ts) == []


@pytest.mark.parametrize("stamp", ["abc", "12.5", "", "-1", "1e9"])
def test_a_timestamp_that_is_not_a_number_is_a_401_not_a_500(
    bot: SlackService, slack: SlackStandIn, stamp: str
) -> None:
    payload, ts = user_message(slack, "on a beach")
    answer = post(bot, slack, payload, timestamp=stamp)
    assert answer.status == 401, answer
    _after_a_fence(bot, slack)
    assert slack.in_thread("C0SHOTS", ts) == []


# ---- bad input: a clear message in the thread each time -----------------------------------------------------------
def _notice(slack: SlackStandIn, channel: str, ts: str) -> str:
    texts = slack.wait_for(lambda s: messages_in(s, channel, ts))
    assert len(texts) == 1, texts
    return texts[0]


def test_a_mention_without_a_photo_asks_for_one(bot: SlackService, slack: SlackStandIn) -> None:
    payload, ts = user_message(slack, "put it on a beach", user="U0ERIN")
    assert post(bot, slack, payload).status == 200
    assert "attach a product photo" in _notice(slack, "C0SHOTS", ts)


@pytest.mark.parametrize(
    ("question", "example"), [("what can you do?", "white marble"), ("뭐 할 수 있어?", "대리석")]
)
def test_a_question_without_a_photo_gets_the_help_answer(
    bot: SlackService, slack: SlackStandIn, question: str, example: str
) -> None:
    asker = (
        "U0HELPKO" if re.search("[가-힣]", question) else "U0HELPEN"
    )  # own users: the rate limit is per user
    payload, ts = user_message(slack, question, user=asker)
    assert post(bot, slack, payload).status == 200
    answer = _notice(slack, "C0SHOTS", ts)
    assert example in answer and "nothing to change" not in answer


def test_a_file_that_is_not_an_image_is_refused_by_name(bot: SlackService, slack: SlackStandIn) -> None:
    file_id = slack.add_file("specs.pdf", b"%PDF-1.7\n" + b"0" * 500, "application/pdf")
    payload, ts = user_message(slack, "on a beach", files=(file_id,), user="U0ERIN")
    assert post(bot, slack, payload).status == 200
    text = _notice(slack, "C0SHOTS", ts)
    assert "specs.pdf" in text and "not a photo" in text and "PNG" in text
    assert slack.downloads(file_id) == 0


def test_a_fake_image_is_refused_after_download(bot: SlackService, slack: SlackStandIn) -> None:
    file_id = slack.add_file("photo.png", b"this is not a png at all" * 20, "image/png")
    payload, ts = user_message(slack, "on a beach", files=(file_id,), user="U0FRED")
    assert post(bot, slack, payload).status == 200
    text = _notice(slack, "C0SHOTS", ts)
    assert "photo.png" in text and "could not be read as an image" in text


def test_a_file_too_large_is_refused_before_download(bot: SlackService, slack: SlackStandIn) -> None:
    file_id = slack.add_file("huge.jpg", b"\xff\xd8\xff" + b"0" * 1000, "image/jpeg", size=5_000_000)
    payload, ts = user_message(slack, "on a beach", files=(file_id,), user="U0FRED")
    assert post(bot, slack, payload).status == 200
    text = _notice(slack, "C0SHOTS", ts)
    assert "huge.jpg" in text and "4.8 MB" in text and "limit" in text
    assert slack.downloads(file_id) == 0


@pytest.mark.parametrize("status", [404, 500])
def test_a_download_that_fails_is_reported(bot: SlackService, slack: SlackStandIn, status: int) -> None:
    file_id = slack.add_file("gone.png", cutout_png(), "image/png", fail_status=status)
    payload, ts = user_message(slack, "on a beach", files=(file_id,), user=f"U0GINA{status}")
    assert post(bot, slack, payload).status == 200
    text = _notice(slack, "C0SHOTS", ts)
    assert "could not download" in text and f"HTTP {status}" in text and "gone.png" in text
    slack.wait_for(lambda s: "warning" in reactions(s, "C0SHOTS", ts))


def test_channels_outside_the_admins_list_get_a_polite_refusal(
    bot: SlackService, slack: SlackStandIn
) -> None:
    file_id = slack.add_file("bag.png", cutout_png(), "image/png")
    payload, ts = user_message(slack, "on a beach", channel="C0RANDOM", files=(file_id,), user="U0HANK")
    assert post(bot, slack, payload).status == 200
    text = _notice(slack, "C0RANDOM", ts)
    assert "not enabled in this channel" in text and "<#C0SHOTS>" in text
    assert slack.downloads(file_id) == 0


def test_a_user_over_the_rate_limit_is_asked_to_wait(bot: SlackService, slack: SlackStandIn) -> None:
    threads = []
    for _ in range(4):  # the limit is 3 a minute
        payload, ts = user_message(slack, "on a beach", user="U0IVY")
        assert post(bot, slack, payload).status == 200
        threads.append(ts)
    texts = [_notice(slack, "C0SHOTS", ts) for ts in threads]  # bolt runs listeners concurrently: any order
    limited = [t for t in texts if "3 requests in the last minute" in t]
    assert len(limited) == 1 and "seconds" in limited[0]
    assert sum("attach a product photo" in t for t in texts) == 3


# ---- retries: never twice, even after a restart ------------------------------------------------------------------
def test_a_retry_is_not_processed_twice_even_after_a_restart(
    slack: SlackStandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="productshot.slack.handlers")
    home = tmp_path / "home"
    settings = bot_settings(home, slack)
    file_id = slack.add_file("retry.png", cutout_png(), "image/png")
    payload, ts = user_message(slack, "on a beach, right", files=(file_id,), user="U0JOE", channel="C0TEAM")

    with SlackService(settings, options(slack)) as first:
        assert post(first, slack, payload).status == 200
        slack.wait_for(lambda s: uploads_in(s, "C0TEAM", ts))
        again = post(first, slack, payload, retry_num=1)  # Slack's retry while the bot is up
        assert again.status == 200

    with SlackService(settings, options(slack)) as second:  # a restart: new App, same data home
        retried = post(second, slack, payload, retry_num=2)
        assert retried.status == 200
        # The same message as a new event (another event id) is the same request too.
        twin = dict(payload, event_id="EvTWIN0000001")
        assert post(second, slack, twin).status == 200
        # The restarted bot is alive: a fresh request in another thread is answered.
        probe, probe_ts = user_message(slack, "on a beach", user="U0JOE2", channel="C0TEAM")
        assert post(second, slack, probe).status == 200
        _notice(slack, "C0TEAM", probe_ts)
        # Each repeat was seen and turned away as a duplicate (not merely not yet looked at).
        wait_until(
            lambda: sum(r.getMessage().endswith(": duplicate") for r in caplog.records) >= 3,
            what="the retry, the retry after the restart and the twin event logged as duplicates",
        )

    assert len(uploads_in(slack, "C0TEAM", ts)) == 1
    assert slack.downloads(file_id) == 1
    assert reactions(slack, "C0TEAM", ts).count("eyes") == 1
    jobs = EventStore.open(settings).jobs()
    assert [j.status for j in jobs if j.thread_ts == ts] == ["done"]


# ---- the worker down -------------------------------------------------------------------------------------------
def test_the_worker_down_is_said_in_the_thread(slack: SlackStandIn, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens here, and auto-start is off
    settings = bot_settings(tmp_path / "home", slack, worker_url=dead)
    generator = AgentContext(width=CANVAS[0], height=CANVAS[1], model="sdxl-turbo")  # needs the worker
    with SlackService(settings, options(slack, context=generator)) as service:
        file_id = slack.add_file("w.png", cutout_png(), "image/png")
        payload, ts = user_message(slack, "on a beach", files=(file_id,), user="U0KIM", channel="C0TEAM")
        assert post(service, slack, payload).status == 200
        text = _notice(slack, "C0TEAM", ts)
    assert "could not make the shot" in text or "not available" in text
    assert "worker" in text and dead in text
    slack.wait_for(lambda s: "warning" in reactions(s, "C0TEAM", ts))
    assert uploads_in(slack, "C0TEAM", ts) == []
