"""Page wording in Norwegian (nb, the default) and English (en), and the language choice.

The language comes from ``?lang=``, then the ``lang`` cookie, then the configured default.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

_TEXT: dict[str, tuple[str, str]] = {
    "site.title": ("maildiag", "maildiag"),
    "site.tagline": (
        "Hvorfor kommer ikke e-posten for nytt passord fram – og bevisene for det.",
        "Why reset mails don't arrive, and the proof.",
    ),
    "nav.home": ("Forside", "Home"),
    "nav.spf": ("SPF-sjekk", "SPF check"),
    "nav.lang": ("English", "Norsk"),
    "home.intro": (
        "maildiag sjekker SPF, DKIM og DMARC for avsenderdomenene, tester levering og lager "
        "sjekklisten for support.",
        "maildiag checks SPF, DKIM and DMARC for the sender domains, tests delivery, and "
        "builds the support checklist.",
    ),
    "spf.heading": ("SPF-sjekk", "SPF check"),
    "spf.domain": ("Domene", "Domain"),
    "spf.ip": ("Klientens IP-adresse", "Client IP address"),
    "spf.sender": ("Avsenderadresse (MAIL FROM, valgfri)", "Sender address (MAIL FROM, optional)"),
    "spf.helo": ("HELO-navn (valgfritt)", "HELO name (optional)"),
    "spf.lint": ("Vis include-treet og funn", "Show the include tree and findings"),
    "spf.submit": ("Sjekk", "Check"),
    "error.heading": ("Noe var galt med forespørselen", "Something was wrong with the request"),
    "error.back": ("Tilbake", "Back"),
    # The checklist pages: /help/no-email, /support, /check (advice worded after the seed).
    "nav.help": ("Fikk ikke e-post?", "No e-mail?"),
    "nav.check": ("Sjekk domene", "Check a domain"),
    "nav.support": ("Support", "Support"),
    "help.title": (
        "Jeg har klikket på glemt passord, men mottar ikke noen e-post",
        "I clicked forgot password, but no e-mail arrives",
    ),
    "help.advice_heading": ("Sjekk dette først", "Check this first"),
    "help.spam": (
        'Sjekk først at e-posten ikke har blitt tolket som "spam" og ligger i "søppelpost".',
        "First check that the e-mail was not taken for spam and sits in the junk folder "
        '("søppelpost").',
    ),
    "help.server": (
        'Det kan også være at e-postserveren i ditt firma ikke slipper igjennom "glemt passord"-'
        "e-posten. Visma.net benytter to avsenderservere. Avsenderadressen på disse e-postene er:",
        "Your company's mail server may also be stopping the forgot-password e-mail. Visma.net "
        "uses two sending servers. The sender address of these e-mails is:",
    ),
    "help.allow": (
        "Be den som styrer e-posten i ditt firma, sjekke at disse e-postadressene ikke blir "
        "stoppet.",
        "Ask whoever runs e-mail in your company to check that these addresses are not stopped.",
    ),
    "help.registered": (
        "Det må være e-postadressen du er registrert med i Visma.net. Dersom du ikke husker "
        "hvilken e-postadresse som er benyttet, ta kontakt med lønningsansvarlig i din bedrift.",
        "It must be the e-mail address you are registered with in Visma.net. If you do not "
        "remember which address is used, contact the payroll manager (lønningsansvarlig) in "
        "your company.",
    ),
    "help.check_heading": ("Sjekk adressen din", "Check your address"),
    "help.check_intro": (
        "Vi sjekker om e-postserveren for adressen kan ta imot e-post fra oss, og hva den svarer "
        "våre to avsendere. Svaret sier aldri om adressen er registrert hos oss.",
        "We check whether the mail server for the address can receive mail from us, and what it "
        "answers our two senders. The answer never says whether the address is registered "
        "with us.",
    ),
    "help.submit": ("Sjekk", "Check"),
    "help.admin_link": (
        "Send gjerne denne sjekken til den som styrer e-posten i ditt firma:",
        "You may pass this check on to whoever runs e-mail in your company:",
    ),
    "help.admin_link_text": ("sjekk av {domain}", "check of {domain}"),
    "help.result": ("Resultat", "Result"),
    "help.address": ("E-postadresse", "E-mail address"),
    "checklist.address_missing": ("Skriv inn e-postadressen.", "Enter the e-mail address."),
    "checklist.address_too_long": (
        "E-postadressen er for lang (høyst {n} tegn).",
        "The e-mail address is too long (at most {n} characters).",
    ),
    "checklist.address_non_ascii": (
        "E-postadressen kan bare inneholde ASCII-tegn (a–z, 0–9 og vanlige tegn).",
        "The e-mail address may only contain ASCII characters (a–z, 0–9 and common signs).",
    ),
    "support.signed_in": ("Logget inn som {email}.", "Signed in as {email}."),
    "checklist.address_invalid": (
        "Dette er ikke en gyldig e-postadresse ({reason}).",
        "This is not a valid e-mail address ({reason}).",
    ),
    "checklist.domain_missing": ("Skriv inn et domene.", "Enter a domain."),
    "checklist.domain_too_long": (
        "Domenet er for langt (høyst {n} tegn).",
        "The domain is too long (at most {n} characters).",
    ),
    "checklist.domain_invalid": (
        "Dette er ikke et gyldig domenenavn ({reason}).",
        "This is not a valid domain name ({reason}).",
    ),
    "limit.ip": (
        "For mange sjekker fra nettverket ditt. Prøv igjen om {minutes} minutter.",
        "Too many checks from your network. Try again in {minutes} minutes.",
    ),
    "limit.target": (
        "For mange sjekker av denne adressen eller dette domenet. Prøv igjen om {minutes} "
        "minutter.",
        "Too many checks of this address or domain. Try again in {minutes} minutes.",
    ),
    "support.title": ("Supportkonsoll", "Support console"),
    "support.forbidden": (
        "Denne siden krever rollen support.",
        "This page needs the support role.",
    ),
    "support.lookup": ("Finn bruker (e-postadresse)", "Find a user (e-mail address)"),
    "support.find": ("Finn", "Find"),
    "support.account": ("Konto", "Account"),
    "support.exists": ("Adressen har en konto.", "The address has an account."),
    "support.missing": (
        "Ingen konto med denne adressen. Er adressen skrevet riktig?",
        "No account has this address. Is the address spelt right?",
    ),
    "support.role": ("Rolle", "Role"),
    "support.language": ("Språk", "Language"),
    "support.created": ("Konto opprettet", "Account created"),
    "support.password_changed": ("Passord sist endret", "Password last changed"),
    "support.sessions": ("Åpne innlogginger", "Open sessions"),
    "support.resets": ("Forespørsler om nytt passord", "Reset requests"),
    "support.no_resets": ("Ingen forespørsler.", "No requests."),
    "support.requested_at": ("Forespurt", "Requested"),
    "support.outbox": ("Utboks-id", "Outbox id"),
    "support.status": ("Status", "Status"),
    "support.token_expires": ("Lenken utløper", "Link expires"),
    "support.token_used": ("Lenken brukt", "Link used"),
    "support.deliveries": ("Leveringslogg", "Delivery log"),
    "support.no_deliveries": ("Ingen leveringsforsøk.", "No delivery attempts."),
    "support.at": ("Tidspunkt", "Time"),
    "support.relay": ("Relé", "Relay"),
    "support.reply": ("Svar", "Reply"),
    "support.queue_id": ("Kø-id", "Queue id"),
    "support.run_heading": ("Sjekkliste for support", "Support checklist"),
    "support.headers": (
        "Innlimte e-posthoder (valgfritt)",
        "Pasted message headers (optional)",
    ),
    "support.bounce": ("Innlimt returmelding (valgfritt)", "Pasted bounce (optional)"),
    "support.paste_hint": ("Høyst {n} KiB hver.", "At most {n} KiB each."),
    "support.run": ("Kjør sjekklisten", "Run the checklist"),
    "support.export_html": ("Last ned HTML", "Download HTML"),
    "support.export_markdown": ("Last ned Markdown", "Download Markdown"),
    "support.export_json": ("Last ned JSON", "Download JSON"),
    "support.result": ("Sjekkliste", "Checklist"),
    "support.bad_format": ("Ukjent format.", "Unknown format."),
    "support.paste_too_long": (
        "Innlimt tekst er for lang (høyst {n} KiB).",
        "Pasted text is too long (at most {n} KiB).",
    ),
    "check.title": ("Sjekk for e-postadministratorer", "Check for mail administrators"),
    "check.intro": (
        "Skriv inn firmaets domene. Vi viser MX og e-postleverandør, hva e-postserveren svarer "
        "når våre avsendere sender, SPF, DKIM og DMARC for avsenderne, og hvordan du slipper "
        "gjennom e-post fra disse adressene:",
        "Enter your company's domain. We show its MX and mail provider, what its mail server "
        "answers our senders, the senders' SPF, DKIM and DMARC, and how to allow mail from "
        "these addresses:",
    ),
    "check.domain": ("Domene (eller e-postadresse)", "Domain (or e-mail address)"),
    "check.submit": ("Sjekk", "Check"),
    "check.result": ("Resultat", "Result"),
    "check.sender_heading": (
        "Våre avsendere: SPF, DKIM og DMARC",
        "Our senders: SPF, DKIM and DMARC",
    ),
    "check.sender_intro": (
        "Slik ser e-postserveren din våre to avsendere når den sjekker dem.",
        "This is how your mail server sees our two senders when it checks them.",
    ),
    "check.address_as_domain": (
        "Bare domenet er sjekket. Sjekk av én postkasse (RCPT) krever innlogging som "
        "administrator.",
        "Only the domain was checked. Checking one mailbox (RCPT) needs an admin login.",
    ),
}


def lang_of(request: Request, default: str) -> str:
    """The language for this request: ``?lang=``, the cookie, or ``default``."""
    for candidate in (request.query_params.get("lang"), request.cookies.get("lang")):
        if candidate in ("nb", "en"):
            return candidate
    return default


def text(key: str, lang: str, **values: Any) -> str:
    """The wording for ``key`` in ``lang``; the key itself when unknown."""
    pair = _TEXT.get(key)
    if pair is None:
        return key
    value = pair[0] if lang == "nb" else pair[1]
    return value.format(**values) if values else value
