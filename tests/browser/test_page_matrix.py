"""Every page in Chromium, in nb and en, logged out, as a user, as support and as an admin:
it fits at 360, 390, 768 and 1280 px (no sideways scrolling, no link or one-word header broken
over lines), logs no console error and no failed request (CSP violations included), has no
serious or critical axe-core violation, and shows no wording from the other language's catalog.

One walk collects what each page shows (a page is loaded once per role and language, then
measured at every width); each test below asserts one of these properties over the whole walk.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.pofile import read_po

from maildiag.lab.feedback import SPOOFER
from maildiag.lab.kit import FOLLOW_SECONDS, LAB_PASSWORD
from tests.browser.conftest import LabProcess
from tests.browser.test_reset_flow import _link, _request_reset

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CATALOGS = (
    ROOT / "maildiag" / "locale" / "{lang}" / "LC_MESSAGES" / "maildiag.po",
    ROOT / "reports" / "locale" / "{lang}" / "LC_MESSAGES" / "reports.po",
)
LANGS = ("nb", "en")
WIDTHS = (360, 390, 768, 1280)
AXE_WIDTH = 390  # axe once per page, language and role, at a phone's width
SERIOUS = ("serious", "critical")
ACCOUNTS = {
    "user": "kari@kunde-ok.example",
    "support": "support@visma.example",
    "admin": "admin@visma.example",
}
ROLES = ("anon", *ACCOUNTS)
STAFF = ("support", "admin")
# One domain per role for /check (3 checks per domain per 15 minutes; nb and en make two).
CHECK_DOMAIN = {
    "anon": "kunde-ok.example",
    "user": "kunde-nullmx.example",
    "support": "kunde-spam.example",
    "admin": "kunde-ukjent.example",
}
RESET_ACCOUNT = "kari@kunde-nomx.example"  # its reset mail gives a valid token and a message
SHOTS = Path("/tmp/shots")


@dataclass
class Seen:
    """What one page showed, for one role and language."""

    where: str
    overflow: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    axe: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Visit:
    """One page: how to reach it, and the status its document answers with."""

    name: str
    go: Callable[[Any, Callable[[str], str]], Any]  # (page, url) -> the document's Response
    status: int = 200
    ready: str | None = None  # a selector to wait for before measuring


def _fragments(text: str) -> list[str]:
    """The literal pieces of a catalog text (between its ``{placeholders}``)."""
    return [p.strip() for p in re.split(r"\{[^}]*\}|\n", text) if p.strip()]


def _catalog_texts(lang: str) -> dict[str, str]:
    texts: dict[str, str] = {}
    for pattern in CATALOGS:
        path = Path(str(pattern).format(lang=lang))
        with path.open("rb") as handle:
            for message in read_po(handle, locale=lang):
                if message.id and isinstance(message.string, str) and message.string:
                    texts[f"{path.name}:{message.id}"] = message.string
    return texts


def _shows(text: str, words: str) -> bool:
    """Whether ``text`` shows ``words`` as words (not inside a name: ``do.not.reply@``)."""
    for variant in {words, words[0].lower() + words[1:]}:  # also as it reads mid-sentence
        if re.search(rf"(?<![\w.@/=-]){re.escape(variant)}(?![\w@/-]|\.\w)", text):
            return True
    return False


def foreign_words(lang: str) -> list[str]:
    """Pieces of the other language's wording that this language's catalogs never use: text
    that differs between nb and en, longer than 3 characters, with a letter in it."""
    own, other = _catalog_texts(lang), _catalog_texts("en" if lang == "nb" else "nb")
    own_text = "\n".join(own.values())
    found = set()
    for key, text in other.items():
        if own.get(key) == text:
            continue
        for piece in _fragments(text):
            if len(piece) > 3 and re.search(r"[^\W\d_]", piece) and piece not in own_text:
                found.add(piece)
    return sorted(found, key=len, reverse=True)


_MEASURE = """() => {
  const width = window.innerWidth, problems = [];
  const page = document.documentElement.scrollWidth;
  if (page > width) {
    const wide = [...document.querySelectorAll("body *")]
      .filter((el) => el.getBoundingClientRect().right > width + 1)
      .filter((el) => !el.parentElement
        || el.parentElement.getBoundingClientRect().right <= width + 1)
      .slice(0, 3).map((el) => el.tagName.toLowerCase() + (el.className ? "." + el.className : ""));
    problems.push(`page ${page}px wide (${wide.join(", ")})`);
  }
  return problems;
}"""

_BROKEN = """(mainNav) => {
  const problems = [];
  const lines = (el) => { const r = document.createRange(); r.selectNodeContents(el);
    return new Set([...r.getClientRects()].map((rect) => Math.round(rect.top))).size; };
  for (const a of document.querySelectorAll("header.site nav a, header.site nav button")) {
    if (lines(a) > 1) problems.push(`nav "${a.textContent.trim()}" on ${lines(a)} lines`);
    const box = a.getBoundingClientRect();
    if (box.right > window.innerWidth || a.scrollWidth > a.clientWidth + 1)
      problems.push(`nav "${a.textContent.trim()}" cut off`);
  }
  if (mainNav && !document.querySelector('header.site nav a[href="/check"]'))
    problems.push("no main navigation");
  for (const th of document.querySelectorAll("th")) {
    const text = th.textContent.trim();
    if (text && !/\\s/.test(text) && lines(th) > 1) problems.push(`header "${text}" broken`);
  }
  return problems;
}"""

_TEXTS = """() => {
  const lang = document.documentElement.lang, out = [];
  const other = (el) => {
    const marked = el.closest("[lang]");
    return marked && marked.lang !== lang;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest("script, style, noscript, template") || other(el)) continue;
    out.push(node.nodeValue);
  }
  const labelled = "[placeholder], [title], [aria-label], [alt], input[type=submit][value]";
  for (const el of document.querySelectorAll(labelled)) {
    if (other(el)) continue;
    for (const name of ["placeholder", "title", "aria-label", "alt", "value"]) {
      if (el.hasAttribute(name) && (name !== "value" || el.type === "submit"))
        out.push(el.getAttribute(name));
    }
  }
  return out.join("\\n").replace(/\\s+/g, " ");
}"""


class Walker:
    """One browser context for one role and language; visits pages and records what it sees."""

    def __init__(
        self, browser: Any, base_url: str, role: str, lang: str, axe: Any, *, main_nav: bool = True
    ) -> None:
        self.base_url, self.role, self.lang, self.axe = base_url, role, lang, axe
        self.main_nav = main_nav  # False for the sink alone, which has no other pages
        self.context = browser.new_context(locale="nb-NO" if lang == "nb" else "en-GB")
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)
        self.documents: set[str] = set()  # the pages' own URLs (their status is the visit's)
        self.foreign = foreign_words(lang)

    def _console(self, message: Any) -> None:
        # A page's own status (404, 410) is checked against the visit's; Chromium logs it too.
        own_status = message.location.get("url") in self.documents and message.text.startswith(
            "Failed to load resource: the server responded with a status of"
        )
        if message.type == "error" and not own_status:
            self.problems.append(f"console: {message.text}")

    def _failed(self, request: Any) -> None:
        # Leaving a page aborts what it still loads (its event stream, its icon): that is the
        # navigation, not a failure. A refused request (CSP, network, 4xx) fails otherwise.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"failed: {request.url} {request.failure}")

    def _response(self, response: Any) -> None:
        if response.request.is_navigation_request() and response.frame == self.page.main_frame:
            self.documents.add(response.url)
        elif response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def start(self) -> None:
        self.page.set_viewport_size({"width": 1280, "height": 900})
        self.page.goto(self.url(f"/?lang={self.lang}"))  # the language cookie
        if self.role != "anon":
            self.page.goto(self.url("/login"))
            self.page.fill("#email", ACCOUNTS[self.role])
            self.page.fill("#password", LAB_PASSWORD)
            with self.page.expect_navigation():
                self.page.click("form[action='/login'] button[type=submit]")

    def visit(self, visit: Visit) -> Seen:
        seen = Seen(f"{self.role}/{self.lang} {visit.name}")
        self.page.set_viewport_size({"width": 1280, "height": 900})
        self.problems = []
        response = visit.go(self.page, self.url)
        if visit.ready:
            self.page.wait_for_selector(visit.ready, timeout=30_000)
        self.page.wait_for_load_state("load")
        status = response.status if response is not None else None
        if status != visit.status:
            seen.errors.append(f"document answered {status}, expected {visit.status}")
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 900})
            seen.overflow += [f"{width}px: {p}" for p in self.page.evaluate(_MEASURE)]
            seen.broken += [f"{width}px: {p}" for p in self.page.evaluate(_BROKEN, self.main_nav)]
            if width == AXE_WIDTH:
                seen.axe += self._axe()
            if width in (390, 1280):
                self._shoot(visit.name, width)
        text = self.page.evaluate(_TEXTS)
        seen.foreign = [w for w in self.foreign if _shows(text, w)]
        seen.errors += self.problems
        return seen

    def _axe(self) -> list[str]:
        results = self.axe.run(self.page)
        return [
            f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes'][:3]]}"
            for v in results.response["violations"]
            if v["impact"] in SERIOUS
        ]

    def _shoot(self, name: str, width: int) -> None:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "home"
        SHOTS.mkdir(exist_ok=True)
        self.page.screenshot(
            path=str(SHOTS / f"{slug}.{self.role}.{self.lang}.{width}.png"), full_page=True
        )

    def close(self) -> None:
        self.context.close()


def _goto(path: str, expect: int = 200, ready: str | None = None, name: str = "") -> Visit:
    return Visit(name or path, lambda page, url: page.goto(url(path)), expect, ready)


def _submit(page: Any, selector: str) -> Any:
    with page.expect_navigation() as navigation:
        page.click(selector)
    return navigation.value


def _forgot_sent(page: Any, url: Callable[[str], str]) -> Any:
    page.goto(url("/forgot-password"))
    page.fill("#email", "nobody@kunde-ok.example")
    page.click(".captcha-box")
    page.wait_for_selector(".captcha-box:checked")  # ticked once the proof of work is done
    return _submit(page, "form[action='/forgot-password'] button[type=submit]")


def _help_result(address: str) -> Callable[[Any, Callable[[str], str]], Any]:
    def go(page: Any, url: Callable[[str], str]) -> Any:
        page.goto(url("/help/no-email"))
        page.fill("#address", address)
        return _submit(page, "form[action='/help/no-email'] button[type=submit]")

    return go


def _support_checklist(page: Any, url: Callable[[str], str]) -> Any:
    page.goto(url("/support?address=kari%40kunde-ok.example"))
    return _submit(page, "button[name=format][value=page]")


def _reports_with_a_refused_file(page: Any, url: Callable[[str], str]) -> Any:
    """An admin's /reports after a refused upload (with the browser's session), so the list of
    refused files is shown."""
    refused = page.request.post(
        url("/api/v1/reports?name=matrix.xml"),
        data=b"<feedback",
        headers={"content-type": "application/xml"},
    )
    assert refused.ok, refused.status
    return page.goto(url("/reports"))


def _admin_search(page: Any, url: Callable[[str], str]) -> Any:
    page.goto(url("/admin/accounts"))
    page.fill("#q", "kunde")
    return _submit(page, "form[role=search] button[type=submit]")


def visits(
    role: str, lang: str, token: str, message_id: int, scans: tuple[int, int]
) -> list[Visit]:
    """The pages ``role`` can reach, and those it is refused (with their deliberate status)."""
    domain = CHECK_DOMAIN[role]
    done, queued = scans
    common = [
        _goto("/"),
        _goto("/login"),
        _goto("/forgot-password"),
        Visit("/forgot-password (sent)", _forgot_sent),
        _goto(f"/reset-password?token={token}", name="/reset-password (valid token)"),
        _goto("/reset-password?token=" + "A" * 43, 410, name="/reset-password (used token)"),
        _goto("/reset-password?token=bad", 400, name="/reset-password (malformed token)"),
        _goto("/reset-password/done"),
        _goto("/help/no-email"),
        Visit("/help/no-email (result)", _help_result(f"matrix-{role}-{lang}@kunde-ok.example")),
        _goto("/spf"),
        _goto("/spf?domain=legacy.visma.example&ip=192.0.2.200&lint=true", name="/spf (result)"),
        _goto("/check"),
        _goto(f"/check?domain={domain}", name="/check (result)", ready=".checklist"),
        _goto("/docs", ready=".opblock"),
        _goto("/no-such-page", 404),
    ]
    if role == "anon":
        return [*common, _goto("/account", name="/account (logged out: the login)")]
    common.append(_goto("/account"))
    if role == "user":
        return [
            *common,
            _goto("/support", 403),
            _goto("/reports", 403),
            _goto("/watch", 403),
            _goto("/admin/accounts", 404),
            _goto(f"/scans/{done}", 403, name="/scans/N"),
        ]
    if role == "support":
        common.append(_goto(f"/scans/{done}", 403, name="/scans/N"))
    else:
        common += [
            _goto(f"/scans/{done}", name="/scans/N"),
            _goto(f"/scans/{done}?page_no=2", name="/scans/N (page 2)"),
            _goto(f"/scans/{queued}", name="/scans/N (queued)"),
        ]
    admin_only = (
        [_goto("/admin/accounts"), Visit("/admin/accounts (search)", _admin_search)]
        if role == "admin"
        else [_goto("/admin/accounts", 404)]
    )
    return [
        *common,
        *admin_only,
        _goto("/support"),
        _goto("/support?address=kari%40kunde-ok.example", name="/support (lookup)"),
        Visit("/support (checklist)", _support_checklist, ready=".checklist"),
        _goto("/sink"),
        _goto(f"/sink?to={RESET_ACCOUNT}", name="/sink (mailbox)"),
        _goto(f"/sink/messages/{message_id}", name="/sink/messages/N"),
        _goto("/reports", ready="svg.chart"),
        _goto("/reports?domain=connect.visma.com&days=14", name="/reports (14 days, TLS)"),
        _goto(f"/reports/records?source_ip={SPOOFER}", name="/reports/records (source IP)"),
        _goto(
            "/reports/records?domain=platform.visma.com&receiver=kunde-spam.example",
            name="/reports/records (receiver)",
        ),
        *(
            [Visit("/reports (refused files)", _reports_with_a_refused_file)]
            if role == "admin"
            else []
        ),
        _goto("/watch", ready="#watch-events"),
    ]


def _maildiag(lab_process: LabProcess, *args: str) -> None:
    command = [sys.executable, "-m", "maildiag", *args, "--data", str(lab_process.data_dir)]
    subprocess.run(command, check=False, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def watched(lab_process: LabProcess) -> None:
    """Watch rounds with a change in them, for ``/watch``: the lab's legacy DKIM key is
    restored between two rounds, then broken again as the lab has it."""
    _maildiag(lab_process, "watch", "--once")
    _maildiag(lab_process, "lab", "dkim", "restore")
    time.sleep(2 * FOLLOW_SECONDS)  # the running lab DNS server picks the switch up
    _maildiag(lab_process, "watch", "--once")
    _maildiag(lab_process, "lab", "dkim", "break")
    time.sleep(2 * FOLLOW_SECONDS)


@pytest.fixture(scope="module")
def reset_mail(lab_process: LabProcess) -> tuple[str, int]:
    """A valid reset token and the id of the mail that carried it."""
    with httpx.Client(base_url=lab_process.base_url, headers=lab_process.bearer, timeout=60) as api:
        message = _request_reset(api, RESET_ACCOUNT)
        link = _link(api, message["id"])
    return link.rsplit("token=", 1)[1], int(message["id"])


@pytest.fixture(scope="module")
def lab_scans(lab_process: LabProcess, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, int]:
    """A finished scan of the demo domains (with more than a page of results), run by
    ``maildiag scan --resume`` in the lab's database, and a queued scan no worker has taken."""
    from maildiag.db import create_engine
    from maildiag.lab.zones import DEMO_DOMAINS
    from maildiag.scans import create_scan

    names = [*DEMO_DOMAINS, *(f"nx{n}.kunde-ok.example" for n in range(60))]
    source = tmp_path_factory.mktemp("scan") / "customers.txt"
    source.write_text("\n".join(names) + "\n", encoding="utf-8")
    argv = [sys.executable, "-m", "maildiag", "--nameserver", f"127.0.0.1:{lab_process.dns_port}"]
    argv += ["scan", str(source), "--resume", "--data", str(lab_process.data_dir)]
    ran = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert ran.returncode == 1, ran.stderr  # the null MX domain
    started = re.search(r"scan (\d+) started", ran.stderr)
    assert started, ran.stderr
    done = int(started[1])
    engine = create_engine(f"sqlite:///{lab_process.data_dir.resolve() / 'maildiag.sqlite3'}")
    try:
        queued = create_scan(
            engine,
            names,
            source="queued.txt",
            fingerprint="queued",
            chunk_size=20,
            queued=True,
            now=dt.datetime.now(dt.UTC),
        )
    finally:
        engine.dispose()
    return done, queued


@pytest.fixture(scope="module")
def walk(
    browser: Any,
    lab_process: LabProcess,
    reset_mail: tuple[str, int],
    watched: None,
    lab_scans: tuple[int, int],
) -> list[Seen]:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    token, message_id = reset_mail
    seen: list[Seen] = []
    for role in ROLES:
        for lang in LANGS:
            walker = Walker(browser, lab_process.base_url, role, lang, axe)
            try:
                walker.start()
                seen += [walker.visit(v) for v in visits(role, lang, token, message_id, lab_scans)]
            finally:
                walker.close()
    return seen


def _report(walk: list[Seen], attribute: str) -> str:
    lines = [f"{s.where}: {getattr(s, attribute)}" for s in walk if getattr(s, attribute)]
    return "\n".join(lines)


def test_the_walk_covers_every_role_and_language(walk: list[Seen]) -> None:
    walked = {s.where.split(" ", 1)[0] for s in walk}
    assert walked == {f"{role}/{lang}" for role in ROLES for lang in LANGS}
    assert len(walk) >= 4 * 2 * 17
    account = {s.where.split(" ", 1)[0] for s in walk if s.where.endswith(" /account")}
    assert account == {f"{role}/{lang}" for role in ACCOUNTS for lang in LANGS}


def test_every_page_fits_every_width(walk: list[Seen]) -> None:
    report = _report(walk, "overflow")
    assert not report, report


def test_no_navigation_link_or_table_header_breaks(walk: list[Seen]) -> None:
    report = _report(walk, "broken")
    assert not report, report


def test_no_console_error_and_no_failed_request(walk: list[Seen]) -> None:
    report = _report(walk, "errors")
    assert not report, report


def test_no_serious_accessibility_violation(walk: list[Seen]) -> None:
    report = _report(walk, "axe")
    assert not report, report


def test_one_language_per_page(walk: list[Seen]) -> None:
    report = _report(walk, "foreign")
    assert not report, report


def test_the_other_language_words_are_found() -> None:
    """The word lists the walk looks for hold the known leaks (so the test can fail)."""
    assert "E-postadresse" in foreign_words("en")
    assert _shows('placeholder "e-postadresse"', "E-postadresse")
    assert not _shows("do.not.reply@connect.visma.com kunde-ukjent.example", "Reply")
    assert "E-mail address" in foreign_words("nb")
