"""smtp_sink: a receiving SMTP server that captures, judges and durably stores every message.

Built on aiosmtpd with sockets bound by ``SinkServer`` itself. It never relays. Verdicts come
from an injected ``judge`` coroutine; recipient behaviour (rejects, greylisting, junk filing,
late bounces, faults) from a ``PolicyBook``; bounces sent to bounce addresses are parsed into
``BounceReport`` values for an injected ``on_bounce`` coroutine.
"""

from smtp_sink.bounces import BounceReport, OnBounce, bounce_token, parse_bounce
from smtp_sink.capture import (
    FOLDERS,
    CapturedMessage,
    Mailbox,
    clean_text,
    header_block,
    summarize_headers,
)
from smtp_sink.config import DmarcDecision, SinkConfig
from smtp_sink.dsn import Deliver, build_dsn, smtp_deliverer
from smtp_sink.errors import BounceParseError, ConfigError, MessageNotFound, SinkError, StoreError
from smtp_sink.greylist import Greylist
from smtp_sink.group_commit import GroupCommit
from smtp_sink.policies import (
    GREYLISTED,
    MAILBOX_FULL,
    MAX_DELAY,
    MAX_GREYLIST_ATTEMPTS,
    MAX_LIST_ENTRIES,
    MAX_WINDOW,
    SENDER_BLOCKED,
    TEMPORARY_FAILURE,
    USER_UNKNOWN,
    Action,
    Policy,
    PolicyBook,
    Reply,
    Stage,
    load_policies,
    parse_policies,
    parse_policy,
    parse_reply,
)
from smtp_sink.protocol import with_enhanced_code
from smtp_sink.schema import SinkTables, build_metadata, create_store_engine, metadata
from smtp_sink.server import SinkServer
from smtp_sink.store import SinkStore
from smtp_sink.tls import ensure_certificate, generate_self_signed, server_tls_context
from smtp_sink.verdicts import (
    EnvelopeFacts,
    HeaderSummary,
    JsonObject,
    JsonValue,
    Judge,
    TlsFacts,
    Verdict,
    null_judge,
)

__all__ = [
    "FOLDERS",
    "GREYLISTED",
    "MAILBOX_FULL",
    "MAX_DELAY",
    "MAX_GREYLIST_ATTEMPTS",
    "MAX_LIST_ENTRIES",
    "MAX_WINDOW",
    "SENDER_BLOCKED",
    "TEMPORARY_FAILURE",
    "USER_UNKNOWN",
    "Action",
    "BounceParseError",
    "BounceReport",
    "CapturedMessage",
    "ConfigError",
    "Deliver",
    "DmarcDecision",
    "EnvelopeFacts",
    "Greylist",
    "GroupCommit",
    "HeaderSummary",
    "JsonObject",
    "JsonValue",
    "Judge",
    "Mailbox",
    "MessageNotFound",
    "OnBounce",
    "Policy",
    "PolicyBook",
    "Reply",
    "SinkConfig",
    "SinkError",
    "SinkServer",
    "SinkStore",
    "SinkTables",
    "Stage",
    "StoreError",
    "TlsFacts",
    "Verdict",
    "bounce_token",
    "build_dsn",
    "build_metadata",
    "clean_text",
    "create_store_engine",
    "ensure_certificate",
    "generate_self_signed",
    "header_block",
    "load_policies",
    "metadata",
    "null_judge",
    "parse_bounce",
    "parse_policies",
    "parse_policy",
    "parse_reply",
    "server_tls_context",
    "smtp_deliverer",
    "summarize_headers",
    "with_enhanced_code",
]
