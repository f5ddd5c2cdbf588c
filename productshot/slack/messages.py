"""What the bot says in a thread when it cannot (or will not) make a shot, in English or Korean.

The agent answers results in the user's language; the bot's own notices follow the same rule, chosen from
the request's text (Hangul → Korean). `{reason}` is the named error's message, which says what was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from productshot.slack.summary import escape
from productshot.tools.plan import request_language

LANGUAGES = ("en", "ko")

_TEXTS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "no_image": {
            "en": "Please attach a product photo and say what you want, e.g. “put this bag on a simple beach "
            "scene, bottom-left”. To change an earlier shot, reply in its thread.",
            "ko": "제품 사진을 첨부하고 원하는 장면을 말씀해 주세요. 예: “이 가방을 단순한 해변 배경 왼쪽 아래에 놓아줘”. "
            "이전 결과를 고치려면 그 스레드에서 답글로 말씀해 주세요.",
        },
        "bad_file": {
            "en": ":warning: I could not use that file: {reason}",
            "ko": ":warning: 이 파일은 사용할 수 없어요: {reason}",
        },
        "download_failed": {
            "en": ":warning: I could not download the file from Slack: {reason}. Please attach it again.",
            "ko": ":warning: Slack에서 파일을 내려받지 못했어요: {reason}. 다시 첨부해 주세요.",
        },
        "bad_request": {
            "en": ":thinking_face: {reason}",
            "ko": ":thinking_face: {reason}",
        },
        "failed": {
            "en": ":warning: Sorry, I could not make the shot: {reason}",
            "ko": ":warning: 죄송해요, 이미지를 만들지 못했어요: {reason}",
        },
        "service_down": {
            "en": ":warning: The image service is not available right now: {reason}. Your request was not kept; "
            "please send it again later.",
            "ko": ":warning: 지금은 이미지 서비스를 쓸 수 없어요: {reason}. 요청은 저장되지 않았으니 잠시 후 다시 보내 주세요.",
        },
        "upload_failed": {
            "en": ":warning: The shot is ready, but Slack refused the upload: {reason}.",
            "ko": ":warning: 이미지는 만들었지만 Slack이 업로드를 거부했어요: {reason}.",
        },
        "busy": {
            "en": ":hourglass: I am busy with other requests right now ({reason}); please try again in a minute.",
            "ko": ":hourglass: 지금 다른 요청을 처리하느라 바빠요 ({reason}). 잠시 후 다시 시도해 주세요.",
        },
        "rate_limited": {
            "en": ":hourglass: You have sent {limit} requests in the last minute, the limit here; please wait "
            "{seconds} seconds and try again.",
            "ko": ":hourglass: 최근 1분 동안 {limit}개의 요청을 보내셔서 한도에 닿았어요. {seconds}초 후에 다시 시도해 주세요.",
        },
        "channel_not_allowed": {
            "en": "I am not enabled in this channel. Ask me in {channels}.",
            "ko": "이 채널에서는 사용할 수 없어요. {channels} 채널에서 불러 주세요.",
        },
        "dms_off": {
            "en": "Direct messages are turned off for this bot. Mention me in {channels}.",
            "ko": "이 봇은 DM을 받지 않아요. {channels} 채널에서 멘션해 주세요.",
        },
        "interrupted": {
            "en": ":warning: I was stopped before I finished this request; please send it again.",
            "ko": ":warning: 요청을 마치기 전에 봇이 멈췄어요. 다시 보내 주세요.",
        },
        "internal": {
            "en": ":warning: Something went wrong on my side ({reason}); the admin can find the details in the "
            "bot's log.",
            "ko": ":warning: 봇 내부에서 오류가 났어요 ({reason}). 관리자가 봇 로그에서 자세한 내용을 볼 수 있어요.",
        },
    }
)


def language_of(text: str) -> str:
    """'ko' for a request with Hangul in it, else 'en'."""
    return request_language(text or "")


def say(
    key: str,
    language: str,
    values: Mapping[str, str | int] | None = None,
    *,
    links: Mapping[str, str] | None = None,
) -> str:
    """The notice `key` in `language` (English when there is no such language).

    `values` are escaped for Slack (an error message may hold `<`); `links` are mrkdwn made here
    (`<#C123>` channel links) and go in as they are.
    """
    texts = _TEXTS.get(key)
    if texts is None:
        raise KeyError(f"no bot message named {key!r}; known: {', '.join(sorted(_TEXTS))}")
    template = texts.get(language) or texts["en"]
    filled = {name: escape(str(value)) for name, value in (values or {}).items()}
    filled.update(links or {})
    return template.format(**filled)


def channel_list(channels: frozenset[str] | None) -> str:
    """Channels as Slack links (`<#C123>`), for a notice that says where the bot works."""
    if not channels:
        return "a channel where I am enabled"
    return ", ".join(f"<#{channel}>" for channel in sorted(channels))


__all__ = ["LANGUAGES", "channel_list", "language_of", "say"]
