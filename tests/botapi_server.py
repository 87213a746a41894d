"""A loopback Telegram Bot API server for tests: real HTTP on 127.0.0.1, long polling with
offsets, webhooks, and the checks Telegram makes (token, HTML entities, length, buttons).

Test side: enqueue user messages, button presses and other updates; read what the bot sent
per chat; wait (with a bounded timeout) until messages arrive. ``BotRunner`` runs the real
``bot.telegram`` Application against it in a background thread."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "123456789:AAF-test_token_for_the_loopback_server_0123"
BOT_ID = 123456789
BOT_USERNAME = "ArabicNewsTestBot"
MAX_TEXT = 4096
SUPPORTED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji",
}
ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "span": "spoiler", "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note",
}
JSON_FIELDS = {
    "reply_markup", "entities", "allowed_updates", "commands", "reply_parameters",
    "link_preview_options", "scope",
}
INT_FIELDS = {
    "chat_id", "offset", "limit", "timeout", "message_id", "reply_to_message_id",
    "message_thread_id", "cache_time",
}
COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
MENTION_RE = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}")


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# ---------------------------------------------------------------- Telegram's HTML


def parse_html(text: str) -> tuple[str, list[dict]]:
    """Plain text and entities from Telegram HTML, rejecting what Telegram rejects:
    unsupported or unclosed tags, mismatched end tags, a bare ``<``. Like Telegram, an ``&``
    that starts no known entity stays a literal ``&``."""
    out: list[str] = []
    out_len = 0  # UTF-16 length of the text so far
    stack: list[tuple[str, int, dict]] = []
    entities: list[dict] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "&":
            decoded, consumed = _decode_entity(text, position)
            out.append(decoded)
            out_len += utf16_len(decoded)
            position += consumed
            continue
        if char != "<":
            out.append(char)
            out_len += utf16_len(char)
            position += 1
            continue
        offset = len(text[:position].encode("utf-8"))
        end = text.find(">", position)
        if end < 0:
            raise bad_request(f"can't parse entities: Unclosed start tag at byte offset {offset}")
        inside = text[position + 1:end]
        if inside.startswith("/"):
            name = inside[1:].strip().lower()
            if not stack:
                raise bad_request(f"can't parse entities: Unexpected end tag at byte offset {offset}")
            open_name, start, attributes = stack.pop()
            if name != open_name:
                raise bad_request(
                    f"can't parse entities: Unmatched end tag at byte offset {offset}, "
                    f'expected "</{open_name}>", found "</{name}>"'
                )
            if out_len > start:
                entity = {"type": ENTITY_TYPES[open_name], "offset": start, "length": out_len - start}
                if open_name == "a":
                    entity["url"] = attributes.get("href", "")
                entities.append(entity)
        else:
            match = re.match(r"([A-Za-z0-9-]*)(.*)$", inside, re.S)
            name, rest = match.group(1).lower(), match.group(2)
            if name not in SUPPORTED_TAGS:
                raise bad_request(
                    f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}'
                )
            if rest and not rest[0].isspace():
                raise bad_request(f"can't parse entities: Expected whitespace at byte offset {offset}")
            attributes = _attributes(rest, offset)
            if name == "span" and attributes.get("class") != "tg-spoiler":
                raise bad_request(f'can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte offset {offset}')
            stack.append((name, out_len, attributes))
        position = end + 1
    if stack:
        raise bad_request(
            f'can\'t parse entities: Can\'t find end tag corresponding to start tag "{stack[-1][0]}"'
        )
    return "".join(out), sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def _decode_entity(text: str, position: int) -> tuple[str, int]:
    match = re.match(r"&(#x[0-9A-Fa-f]{1,6}|#[0-9]{1,7}|[A-Za-z]+);", text[position:position + 12])
    if not match:
        return "&", 1
    body = match.group(1)
    try:
        if body.startswith("#x"):
            return chr(int(body[2:], 16)), match.end()
        if body.startswith("#"):
            return chr(int(body[1:])), match.end()
    except (ValueError, OverflowError):
        return "&", 1
    if body in NAMED_ENTITIES:
        return NAMED_ENTITIES[body], match.end()
    return "&", 1


def _attributes(rest: str, offset: int) -> dict[str, str]:
    attributes: dict[str, str] = {}
    pattern = re.compile(r"\s*([A-Za-z-]+)\s*(?:=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?")
    position = 0
    rest = rest.rstrip()
    while position < len(rest):
        match = pattern.match(rest, position)
        if not match or match.end() == position:
            raise bad_request(f"can't parse entities: Bad attribute at byte offset {offset}")
        value = match.group(2) or ""
        if value[:1] in "\"'" and value:
            value = value[1:-1]
        attributes[match.group(1).lower()] = parse_html_text(value)
        position = match.end()
    return attributes


def parse_html_text(text: str) -> str:
    out, position = [], 0
    while position < len(text):
        if text[position] == "&":
            decoded, consumed = _decode_entity(text, position)
            out.append(decoded)
            position += consumed
        else:
            out.append(text[position])
            position += 1
    return "".join(out)


def auto_entities(text: str) -> list[dict]:
    """The entities Telegram adds to a user's text: bot commands and @mentions."""
    entities = []
    for pattern, kind in ((COMMAND_RE, "bot_command"), (MENTION_RE, "mention")):
        for match in pattern.finditer(text):
            entities.append({
                "type": kind,
                "offset": utf16_len(text[:match.start()]),
                "length": utf16_len(match.group()),
            })
    return sorted(entities, key=lambda entity: entity["offset"])


# ---------------------------------------------------------------- records


@dataclass
class Sent:
    """A message the bot sent (or edited), as Telegram stored it."""

    message_id: int
    chat_id: int
    html: str  # the text as sent (parse_mode HTML)
    text: str  # the text after entity parsing
    entities: list[dict]
    reply_markup: dict | None = None
    reply_to: int | None = None
    edits: int = 0
    at: float = field(default_factory=time.monotonic)  # when the server accepted it

    def buttons(self) -> list[dict]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]


@dataclass
class Request:
    """One HTTP request the server received."""

    method: str
    path: str
    params: dict[str, Any]
    status: int = 0
    description: str = ""
    at: float = field(default_factory=time.monotonic)


class BotAPIServer:
    """The server and its test-side API. Use as a context manager."""

    def __init__(self, token: str = TOKEN, *, bot_id: int = BOT_ID, username: str = BOT_USERNAME) -> None:
        self.token = token
        self.bot = {
            "id": bot_id, "is_bot": True, "first_name": "أخبار", "username": username,
            "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.cond = threading.Condition()
        self.requests: list[Request] = []
        self.updates: list[dict] = []  # not yet confirmed by an offset
        self.allowed_updates: list[str] = []
        self.next_update_id = 1000
        self.next_message_id: dict[int, int] = {}
        self.chats: dict[int, dict] = {}
        self.messages: dict[tuple[int, int], dict] = {}  # every message, user's and bot's
        self.sent: dict[int, list[Sent]] = {}
        self.all_sent: list[Sent] = []  # every chat, in order
        self.actions: dict[int, list[str]] = {}
        self.callback_queries: dict[str, dict] = {}  # id -> {"answered": params or None}
        self.commands: list[dict] = []
        self.webhook: dict | None = None
        self.poll_generation = 0
        self._http: ThreadingHTTPServer | None = None
        self._stopping = False

    # ------------------------------------------------------------ lifecycle

    def start(self) -> BotAPIServer:
        server = self

        class Handler(_Handler):
            api = server

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._http.block_on_close = False
        threading.Thread(target=self._http.serve_forever, name="botapi", daemon=True).start()
        threading.Thread(target=self._deliver_webhooks, name="botapi-webhook", daemon=True).start()
        return self

    def stop(self) -> None:
        with self.cond:
            self._stopping = True
            self.cond.notify_all()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    def __enter__(self) -> BotAPIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._http.server_address[1]

    @property
    def base_url(self) -> str:
        """TELEGRAM_BASE_URL for the bot (PTB appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    # ------------------------------------------------------------ test side: updates

    def _chat(self, chat_id: int, chat_type: str, user: dict) -> dict:
        chat = self.chats.get(chat_id)
        if chat is None:
            if chat_type == "private":
                chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
            else:
                chat = {"id": chat_id, "type": chat_type, "title": f"مجموعة {chat_id}"}
            self.chats[chat_id] = chat
        return chat

    def _message(self, chat_id: int, user_id: int | None, chat_type: str, **content: Any) -> dict:
        user_id = user_id if user_id is not None else abs(chat_id)
        user = {"id": user_id, "is_bot": False, "first_name": f"مستخدم {user_id}", "language_code": "ar"}
        with self.cond:
            chat = self._chat(chat_id, chat_type, user)
            message_id = self.next_message_id.get(chat_id, 1)
            self.next_message_id[chat_id] = message_id + 1
            message = {"message_id": message_id, "date": int(time.time()), "chat": chat, "from": user}
            message.update(content)
            self.messages[(chat_id, message_id)] = message
            return message

    def _enqueue(self, kind: str, payload: dict) -> int:
        with self.cond:
            update_id = self.next_update_id
            self.next_update_id += 1
            self.updates.append({"update_id": update_id, kind: payload})
            self.cond.notify_all()
            return update_id

    def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        entities: list[dict] | None = None,
        reply_to: int | None = None,
    ) -> dict:
        """A user's text message; bot commands and @mentions get entities as Telegram
        would add them unless ``entities`` is given. ``reply_to``: a message id in the chat."""
        content: dict[str, Any] = {"text": text}
        found = auto_entities(text) if entities is None else entities
        if found:
            content["entities"] = found
        if reply_to is not None:
            content["reply_to_message"] = self.messages[(chat_id, reply_to)]
        message = self._message(chat_id, user_id, chat_type, **content)
        self._enqueue("message", message)
        return message

    def send_group_text(self, chat_id: int, text: str, *, user_id: int, **kwargs: Any) -> dict:
        return self.send_text(chat_id, text, user_id=user_id, chat_type="supergroup", **kwargs)

    def send_other(self, chat_id: int, kind: str, *, user_id: int | None = None, chat_type: str = "private") -> dict:
        """A non-text message: kind is photo, sticker, voice, document or location."""
        file = {"file_id": f"file-{kind}", "file_unique_id": f"u-{kind}"}
        contents = {
            "photo": {"photo": [{**file, "width": 90, "height": 90}], "caption": "<b>صورة</b>"},
            "sticker": {"sticker": {**file, "width": 512, "height": 512, "is_animated": False,
                                    "is_video": False, "type": "regular", "emoji": "😀"}},
            "voice": {"voice": {**file, "duration": 2}},
            "document": {"document": {**file, "file_name": "a.pdf"}},
            "location": {"location": {"latitude": 30.0, "longitude": 31.2}},
        }
        message = self._message(chat_id, user_id, chat_type, **contents[kind])
        self._enqueue("message", message)
        return message

    def edit_text(self, chat_id: int, message_id: int, text: str) -> dict:
        """The user edits an earlier message."""
        with self.cond:
            message = dict(self.messages[(chat_id, message_id)])
        message.update(text=text, edit_date=int(time.time()))
        self._enqueue("edited_message", message)
        return message

    def press_button(self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None) -> str:
        """The user presses an inline button of a bot message; returns the query id."""
        user_id = user_id if user_id is not None else abs(chat_id)
        with self.cond:
            message = self.messages[(chat_id, message_id)]
            query_id = f"cq{self.next_update_id}"
            self.callback_queries[query_id] = {"answered": None}
        query = {
            "id": query_id,
            "from": {"id": user_id, "is_bot": False, "first_name": f"مستخدم {user_id}"},
            "message": message,
            "chat_instance": f"ci{chat_id}",
            "data": data,
        }
        self._enqueue("callback_query", query)
        return query_id

    # ------------------------------------------------------------ test side: reading

    def sent_to(self, chat_id: int) -> list[Sent]:
        with self.cond:
            return list(self.sent.get(chat_id, []))

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "a condition") -> None:
        """Wait until ``predicate()`` (called under the lock) is true, or fail."""
        with self.cond:
            if not self.cond.wait_for(predicate, timeout):
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def wait_for_messages(self, chat_id: int, count: int, timeout: float = 10.0) -> list[Sent]:
        """Wait until the bot has sent at least ``count`` messages to the chat."""
        try:
            self.wait_for(lambda: len(self.sent.get(chat_id, [])) >= count, timeout)
        except AssertionError:
            texts = [sent.text[:80] for sent in self.sent_to(chat_id)]
            raise AssertionError(
                f"chat {chat_id}: wanted {count} messages within {timeout}s, got {texts}"
            ) from None
        return self.sent_to(chat_id)

    def wait_for_request(self, method: str, count: int = 1, timeout: float = 10.0) -> None:
        self.wait_for(
            lambda: sum(r.method == method for r in self.requests) >= count,
            timeout,
            f"{count} {method} request(s)",
        )

    def errors(self) -> list[Request]:
        """Requests the server refused (any status but 200)."""
        with self.cond:
            return [request for request in self.requests if request.status not in (0, 200)]

    def pending_updates(self) -> int:
        with self.cond:
            return len(self.updates)

    # ------------------------------------------------------------ API methods

    def call(self, method: str, params: dict[str, Any]) -> Any:
        handler = getattr(self, f"api_{method.lower()}", None)
        if handler is None:
            raise ApiError(404, "Not Found")
        return handler(params)

    def api_getme(self, params: dict) -> dict:
        return self.bot

    def api_logout(self, params: dict) -> bool:
        return True

    def api_close(self, params: dict) -> bool:
        return True

    def api_getupdates(self, params: dict) -> list[dict]:
        timeout = min(float(params.get("timeout", 0) or 0), 50.0)
        limit = max(1, min(int(params.get("limit", 100) or 100), 100))
        offset = params.get("offset")
        deadline = time.monotonic() + timeout
        with self.cond:
            if self.webhook is not None:
                raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active;"
                                    " use deleteWebhook to delete the webhook first")
            self.poll_generation += 1
            generation = self.poll_generation
            if params.get("allowed_updates") is not None:
                self.allowed_updates = list(params["allowed_updates"])
            self.cond.notify_all()
            if offset is not None:
                offset = int(offset)
                if offset < 0:
                    self.updates = self.updates[offset:]
                else:
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while True:
                self._drop_unwanted()
                if self.updates:
                    return self.updates[:limit]
                if self.poll_generation != generation:
                    raise ApiError(409, "Conflict: terminated by other getUpdates request;"
                                        " make sure that only one bot instance is running")
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping:
                    return []
                self.cond.wait(remaining)

    def _drop_unwanted(self) -> None:
        if self.allowed_updates:
            self.updates = [
                u for u in self.updates if any(kind in u for kind in self.allowed_updates)
            ]

    def api_setwebhook(self, params: dict) -> bool:
        url = params.get("url") or ""
        with self.cond:
            if not url:
                self.webhook = None
                return True
            self.webhook = {"url": url, "secret_token": params.get("secret_token")}
            if params.get("allowed_updates"):
                self.allowed_updates = list(params["allowed_updates"])
            if str(params.get("drop_pending_updates", "")).lower() == "true":
                self.updates = []
            self.cond.notify_all()
        return True

    def api_deletewebhook(self, params: dict) -> bool:
        with self.cond:
            self.webhook = None
            if str(params.get("drop_pending_updates", "")).lower() == "true":
                self.updates = []
        return True

    def api_getwebhookinfo(self, params: dict) -> dict:
        with self.cond:
            url = self.webhook["url"] if self.webhook else ""
            return {"url": url, "has_custom_certificate": False, "pending_update_count": len(self.updates)}

    def api_setmycommands(self, params: dict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("commands must be a list of at most 100 BotCommand")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        with self.cond:
            self.commands = commands
        return True

    def api_getmycommands(self, params: dict) -> list[dict]:
        with self.cond:
            return list(self.commands)

    def api_deletemycommands(self, params: dict) -> bool:
        with self.cond:
            self.commands = []
        return True

    def api_sendchataction(self, params: dict) -> bool:
        chat_id = self._known_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        with self.cond:
            self.actions.setdefault(chat_id, []).append(params["action"])
        return True

    def api_sendmessage(self, params: dict) -> dict:
        chat_id = self._known_chat(params)
        text, entities = self._text(params)
        markup = self._markup(params.get("reply_markup"))
        reply_to = self._reply_to(chat_id, params)
        with self.cond:
            message_id = self.next_message_id.get(chat_id, 1)
            self.next_message_id[chat_id] = message_id + 1
            message = {
                "message_id": message_id, "date": int(time.time()), "chat": self.chats[chat_id],
                "from": self.bot, "text": text,
            }
            if entities:
                message["entities"] = entities
            if markup:
                message["reply_markup"] = markup
            if reply_to is not None:
                message["reply_to_message"] = self.messages[(chat_id, reply_to)]
            self.messages[(chat_id, message_id)] = message
            record = Sent(message_id, chat_id, params["text"], text, entities, markup, reply_to)
            self.sent.setdefault(chat_id, []).append(record)
            self.all_sent.append(record)
            self.cond.notify_all()
            return message

    def api_editmessagetext(self, params: dict) -> dict:
        chat_id, sent = self._bot_message(params)
        text, entities = self._text(params)
        markup = self._markup(params.get("reply_markup"))
        with self.cond:
            if text == sent.text and markup == sent.reply_markup:
                raise bad_request("message is not modified: specified new message content and"
                                  " reply markup are exactly the same as a current content and"
                                  " reply markup of the message")
            sent.html, sent.text, sent.entities, sent.reply_markup = params["text"], text, entities, markup
            return self._store_edit(chat_id, sent)

    def api_editmessagereplymarkup(self, params: dict) -> dict:
        chat_id, sent = self._bot_message(params)
        markup = self._markup(params.get("reply_markup"))
        with self.cond:
            if markup == sent.reply_markup:
                raise bad_request("message is not modified: specified new message content and"
                                  " reply markup are exactly the same as a current content and"
                                  " reply markup of the message")
            sent.reply_markup = markup
            return self._store_edit(chat_id, sent)

    def api_answercallbackquery(self, params: dict) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        with self.cond:
            query = self.callback_queries.get(query_id)
            if query is None or query["answered"] is not None:
                raise bad_request("query is too old and response timeout expired or query ID is invalid")
            if len(str(params.get("text", ""))) > 200:
                raise bad_request("MESSAGE_TOO_LONG")
            query["answered"] = params
            self.cond.notify_all()
        return True

    # ------------------------------------------------------------ checks

    def _known_chat(self, params: dict) -> int:
        try:
            chat_id = int(params["chat_id"])
        except (KeyError, TypeError, ValueError):
            raise bad_request("chat_id is empty") from None
        with self.cond:
            if chat_id not in self.chats:
                raise bad_request("chat not found")
        return chat_id

    def _text(self, params: dict) -> tuple[str, list[dict]]:
        raw = params.get("text")
        if not isinstance(raw, str) or not raw.strip():
            raise bad_request("message text is empty")
        mode = (params.get("parse_mode") or "").lower()
        if mode == "html":
            text, entities = parse_html(raw)
        elif mode:
            raise bad_request(f"unsupported parse_mode {mode!r} in this test server")
        else:
            text, entities = raw, []
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text.strip()) > MAX_TEXT:
            raise bad_request("message is too long")
        return text, entities

    def _markup(self, markup: Any) -> dict | None:
        if not markup:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not str(button.get("text", "")).strip():
                    raise bad_request("BUTTON_TEXT_INVALID")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
        return markup

    def _reply_to(self, chat_id: int, params: dict) -> int | None:
        reply = params.get("reply_parameters") or {}
        message_id = reply.get("message_id", params.get("reply_to_message_id"))
        if message_id is None:
            return None
        with self.cond:
            if (chat_id, int(message_id)) in self.messages:
                return int(message_id)
        if reply.get("allow_sending_without_reply"):
            return None
        raise bad_request("message to be replied not found")

    def _bot_message(self, params: dict) -> tuple[int, Sent]:
        chat_id = self._known_chat(params)
        message_id = int(params.get("message_id", 0))
        with self.cond:
            for sent in self.sent.get(chat_id, []):
                if sent.message_id == message_id:
                    return chat_id, sent
        raise bad_request("message to edit not found")

    def _store_edit(self, chat_id: int, sent: Sent) -> dict:
        sent.edits += 1
        message = dict(self.messages[(chat_id, sent.message_id)])
        message.update(text=sent.text, edit_date=int(time.time()))
        message.pop("reply_markup", None)
        if sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        self.messages[(chat_id, sent.message_id)] = message
        self.cond.notify_all()
        return message

    # ------------------------------------------------------------ webhook delivery

    def _deliver_webhooks(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self._stopping or (self.webhook and self.updates), 1.0)
                if self._stopping:
                    return
                if not (self.webhook and self.updates):
                    continue
                self._drop_unwanted()
                if not self.updates:
                    continue
                update, webhook = self.updates[0], dict(self.webhook)
            request = urllib.request.Request(
                webhook["url"], data=json.dumps(update).encode(), method="POST",
                headers={"Content-Type": "application/json",
                         "X-Telegram-Bot-Api-Secret-Token": webhook.get("secret_token") or ""},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    delivered = response.status == 200
            except OSError:
                delivered = False
            with self.cond:
                if delivered and self.updates and self.updates[0] is update:
                    self.updates.pop(0)
                    self.cond.notify_all()
            if not delivered:
                time.sleep(0.05)  # webhook not listening yet: retry, as Telegram does


class _Handler(BaseHTTPRequestHandler):
    api: BotAPIServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else small writes wait for delayed ACKs (40 ms a request)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        match = re.fullmatch(r"/bot([^/]*)/([A-Za-z]+)", url.path)
        params: dict[str, Any] = {}
        method = match.group(2) if match else ""
        record = Request(method=method, path=url.path, params=params)
        with self.api.cond:  # logged on arrival, so a test can wait for a long poll to start
            self.api.requests.append(record)
            self.api.cond.notify_all()
        try:
            params.update(self._params(url.query))
            if match is None:
                raise ApiError(404, "Not Found")
            if match.group(1) != self.api.token:
                raise ApiError(401, "Unauthorized")
            result = self.api.call(method, params)
            body, record.status = {"ok": True, "result": result}, 200
        except ApiError as error:
            body = {"ok": False, "error_code": error.code, "description": error.description}
            record.status, record.description = error.code, error.description
        with self.api.cond:
            self.api.cond.notify_all()
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(record.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (a stopped bot's long poll)

    def _params(self, query: str) -> dict[str, Any]:
        raw: dict[str, Any] = dict(urllib.parse.parse_qsl(query))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        kind = self.headers.get("Content-Type", "")
        if body and kind.startswith("application/json"):
            raw.update(json.loads(body))
        elif body and kind.startswith("application/x-www-form-urlencoded"):
            raw.update(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        elif body:
            raise bad_request(f"unsupported content type {kind!r} in this test server")
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if key in JSON_FIELDS and isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    raise bad_request(f"can't parse {key} JSON object") from None
            elif key in INT_FIELDS and isinstance(value, str):
                try:
                    value = int(value)
                except ValueError:
                    raise bad_request(f"invalid {key}") from None
            params[key] = value
        return params


# ---------------------------------------------------------------- running the real bot


class LogCapture(logging.Handler):
    """Keeps every formatted record (traceback included) for assertions."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []
        self.levels: list[int] = []
        self._lines_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        with self._lines_lock:
            self.lines.append(line)
            self.levels.append(record.levelno)

    def text(self, level: int = logging.DEBUG) -> str:
        """Everything logged at ``level`` or above."""
        with self._lines_lock:
            return "\n".join(line for line, at in zip(self.lines, self.levels) if at >= level)

    def count(self, fragment: str) -> int:
        with self._lines_lock:
            return sum(fragment in line for line in self.lines)


class BotRunner:
    """The real Application from ``bot.telegram.build_application``, run with
    ``run_polling`` in a thread with its own event loop, logs captured at DEBUG."""

    def __init__(self, settings: Any, pipeline: Any, **build_options: Any) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.build_options = build_options
        self.logs = LogCapture()
        self.application: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._root_level = logging.getLogger().level

    def _run(self) -> None:
        from bot.telegram import build_application

        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.application = build_application(self.settings, self.pipeline, **self.build_options)
            self.application.run_polling(stop_signals=None, close_loop=True)
        except BaseException as error:  # reported by start()/stop()
            self.error = error

    def start(self, timeout: float = 15.0) -> BotRunner:
        root = logging.getLogger()
        root.addHandler(self.logs)
        root.setLevel(logging.DEBUG)
        self._thread = threading.Thread(target=self._run, name="bot", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not (self.application is not None and self.application.running):
            if self.error is not None or not self._thread.is_alive():
                raise RuntimeError(f"the bot did not start: {self.error!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot did not start within {timeout}s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        try:
            if self._thread is not None and self._thread.is_alive():
                self.loop.call_soon_threadsafe(self.application.stop_running)
                self._thread.join(timeout)
                if self._thread.is_alive():
                    raise AssertionError(f"the bot did not stop within {timeout}s")
        finally:
            root = logging.getLogger()
            root.removeHandler(self.logs)
            root.setLevel(self._root_level)

    def __enter__(self) -> BotRunner:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def busy(self) -> bool:
        """True while the bot holds an update it has not finished handling."""
        application = self.application
        return (
            not application.update_queue.empty()
            or application.update_processor.current_concurrent_updates > 0
        )

    def wait_idle(self, server: BotAPIServer, timeout: float = 10.0, settle: int = 3) -> None:
        """Wait until every enqueued update was fetched and fully handled, seen ``settle``
        times in a row 20 ms apart (covers the instant between dequeuing and handling)."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < settle:
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot was still busy after {timeout}s")
            quiet = quiet + 1 if (server.pending_updates() == 0 and not self.busy()) else 0
            time.sleep(0.02)
