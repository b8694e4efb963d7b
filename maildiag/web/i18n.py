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
    # The reset flow (wording from the seed help article).
    "login.title": ("Logg inn", "Log in"),
    "login.email": ("E-postadresse", "E-mail address"),
    "login.password": ("Passord", "Password"),
    "login.submit": ("Logg inn", "Log in"),
    "login.remember": ("Husk e-postadressen", "Remember the e-mail address"),
    "login.forgot": ("Glemt ditt passord?", "Forgot your password?"),
    "login.failed": ("Feil e-postadresse eller passord.", "Wrong e-mail address or password."),
    "login.signed_in": ("Du er logget inn som {email}.", "You are logged in as {email}."),
    "login.logout": ("Logg ut", "Log out"),
    "login.logged_out": ("Du er logget ut.", "You are logged out."),
    "forgot.title": ("Glemt passord", "Forgotten password"),
    "forgot.intro": (
        "For å gjenopprette identiteten din / tilbakestille ditt passord, må vi bekrefte at "
        "det er deg. Angi din e-postadresse og klikk Send forespørsel.",
        "To recover your identity / reset your password, we must confirm that it is you. "
        "Enter your e-mail address and click Send request.",
    ),
    "forgot.email_hint": (
        "Dette må være e-postadressen du er registrert med i Visma.net.",
        "This must be the e-mail address you are registered with in Visma.net.",
    ),
    "forgot.submit": ("Send forespørsel", "Send request"),
    "forgot.back": ("Tilbake til innlogging", "Back to login"),
    "captcha.label": ("Jeg er ikke en robot", "I am not a robot"),
    "captcha.working": ("Bekrefter …", "Verifying …"),
    "captcha.done": ("Bekreftet", "Verified"),
    "captcha.failed": ("Bekreftelsen feilet. Prøv igjen.", "Verification failed. Try again."),
    "captcha.needs_js": (
        "Bekreftelsen krever JavaScript.",
        "The verification needs JavaScript.",
    ),
    "sent.title": ("Forespørselen er sendt", "Request sent"),
    "sent.body": (
        "Hvis adressen er registrert hos oss, får du straks en e-post med en lenke der du kan "
        "angi nytt passord. Klikk på Angi nytt passord i e-posten.",
        "If the address is registered with us, you will shortly get an e-mail with a link "
        "where you can set a new password. Click Set new password in the e-mail.",
    ),
    "sent.help_heading": ("Fikk du ikke e-posten?", "Didn't get the e-mail?"),
    "sent.spam": (
        'Sjekk først at e-posten ikke har blitt tolket som "spam" og ligger i "søppelpost".',
        "First check that the e-mail was not taken for spam and sits in the junk folder.",
    ),
    "sent.registered": (
        "Det må være e-postadressen du er registrert med. Husker du ikke hvilken adresse som "
        "er brukt, ta kontakt med lønningsansvarlig i din bedrift.",
        "It must be the address you are registered with. If you do not remember which "
        "address is used, contact the payroll manager (lønningsansvarlig) in your company.",
    ),
    "sent.senders": (
        "Det kan også være at e-postserveren i ditt firma ikke slipper igjennom e-posten. "
        "Visma.net benytter to avsenderadresser:",
        "Your company's mail server may also be stopping the e-mail. Visma.net sends from two "
        "addresses:",
    ),
    "sent.allow": (
        "Be den som styrer e-posten i ditt firma, sjekke at disse e-postadressene ikke blir "
        "stoppet.",
        "Ask whoever runs e-mail in your company to check that these addresses are not stopped.",
    ),
    "sent.no_email_link": (
        "Finn ut hvorfor e-posten ikke kom",
        "Find out why the e-mail did not arrive",
    ),
    "reset.title": ("Angi ditt nye passord", "Set your new password"),
    "reset.password": ("Nytt passord", "New password"),
    "reset.confirm": ("Bekreft passord", "Confirm password"),
    "reset.submit": ("Endre passord", "Change password"),
    "reset.rules": ("Passordet må oppfylle kravene:", "The password must meet these rules:"),
    "reset.refused": ("Passordet ble ikke godtatt:", "The password was not accepted:"),
    "reset.met": ("oppfylt", "met"),
    "reset.unmet": ("ikke oppfylt", "not met"),
    "invalid.title": ("Lenken kan ikke brukes", "The link cannot be used"),
    "invalid.body": (
        "Lenken for å angi nytt passord er ugyldig, utløpt eller allerede brukt. Be om en ny "
        "lenke.",
        "The link to set a new password is invalid, has expired or was already used. Ask for "
        "a new link.",
    ),
    "invalid.malformed": ("Lenken er skadet (ugyldig kode).", "The link is damaged (bad code)."),
    "invalid.request_new": ("Be om en ny lenke", "Request a new link"),
    "done.title": ("Passordet er endret", "Your password has been changed"),
    "done.body": (
        "Passordet ditt er endret. Du kan nå logge inn med det nye passordet ditt.",
        "Your password has been changed. You can now log in with your new password.",
    ),
    "done.login": ("Gå til innlogging", "Go to login"),
    "input.email_missing": ("Skriv inn e-postadressen din.", "Enter your e-mail address."),
    "input.email_too_long": (
        "E-postadressen er for lang (høyst {n} tegn).",
        "The e-mail address is too long (at most {n} characters).",
    ),
    "input.email_non_ascii": (
        "E-postadressen kan bare inneholde ASCII-tegn (a–z, 0–9 og vanlige tegn).",
        "The e-mail address may only contain ASCII characters (a–z, 0–9 and common signs).",
    ),
    "input.email_invalid": (
        "Dette er ikke en gyldig e-postadresse.",
        "This is not a valid e-mail address.",
    ),
    "input.password_missing": ("Skriv inn passordet.", "Enter the password."),
    "input.field_too_long": ("Feltet er for langt.", "The field is too long."),
    "input.captcha": (
        'Bekreftelsen ("Jeg er ikke en robot") mangler eller er ugyldig: {reason}.',
        'The verification ("I am not a robot") is missing or invalid: {reason}.',
    ),
    "csrf.refused": (
        "Skjemaet kunne ikke godtas (CSRF-kontroll: {reason}). Last siden på nytt og prøv igjen.",
        "The form could not be accepted (CSRF check: {reason}). Reload the page and try again.",
    ),
    "csrf.missing_cookie": ("mangler informasjonskapsel", "cookie missing"),
    "csrf.missing_token": ("mangler kode", "token missing"),
    "csrf.malformed": ("ugyldig kode", "malformed token"),
    "csrf.mismatch": ("koden stemmer ikke", "token does not match"),
    # The SMTP sink's pages.
    "nav.sink": ("Fanget e-post", "Captured mail"),
    "sink.heading": ("Fanget e-post (SMTP-sink)", "Captured mail (SMTP sink)"),
    "sink.intro": (
        "Sinken tar imot e-post på SMTP-port {port}, vurderer den slik en mottaker ville gjort, "
        "og legger den i innboksen eller søppelposten til hver mottaker.",
        "The sink receives mail on SMTP port {port}, judges it as a receiver would, and files it "
        "in each recipient's inbox or junk folder.",
    ),
    "sink.mailboxes": ("Postbokser", "Mailboxes"),
    "sink.all": ("Alle meldinger", "All messages"),
    "sink.counts": ("{inbox} i innboks, {junk} i søppelpost", "{inbox} inbox, {junk} junk"),
    "sink.to": ("Mottaker", "Recipient"),
    "sink.sender": ("Avsender", "Sender"),
    "sink.from": ("Fra", "From"),
    "sink.subject": ("Emne", "Subject"),
    "sink.since": ("Fra dato", "From date"),
    "sink.until": ("Til og med dato", "To date (inclusive)"),
    "sink.folder": ("Mappe", "Folder"),
    "sink.folder.any": ("Alle mapper", "Any folder"),
    "sink.folder.inbox": ("Innboks", "Inbox"),
    "sink.folder.junk": ("Søppelpost", "Junk"),
    "sink.search": ("Søk", "Search"),
    "sink.received": ("Mottatt", "Received"),
    "sink.no_subject": ("(uten emne)", "(no subject)"),
    "sink.empty": ("Ingen meldinger her ennå.", "No messages here yet."),
    "sink.newer": ("Nyere", "Newer"),
    "sink.older": ("Eldre", "Older"),
    "sink.back": ("Alle meldinger", "All messages"),
    "sink.envelope_from": ("Konvoluttavsender (MAIL FROM)", "Envelope sender (MAIL FROM)"),
    "sink.envelope_to": ("Levert til", "Delivered to"),
    "sink.peer": ("Avsenderserver", "Sending server"),
    "sink.proxied": ("oppgitt via PROXY-protokollen", "given by the PROXY protocol"),
    "sink.size": ("Størrelse", "Size"),
    "sink.verdict": ("Mottakerens vurdering", "The receiver's verdict"),
    "sink.no_verdict": (
        "Denne meldingen ble ikke vurdert (SPF, DKIM og DMARC ble ikke sjekket).",
        "This message was not judged (SPF, DKIM and DMARC were not checked).",
    ),
    "sink.html": (
        "HTML-delen (renset, uten skript og nettverk)",
        "The HTML part (sanitized, no scripts or network)",
    ),
    "sink.text": ("Tekstdelen", "The text part"),
    "sink.attachments": ("Vedlegg", "Attachments"),
    "sink.headers": ("Header-felt", "Header fields"),
    "sink.raw": ("Last ned hele meldingen (rå)", "Download the whole message (raw)"),
    "sink.delete": ("Slett meldingen", "Delete the message"),
    "sink.delete.confirm": ("Ja, slett denne meldingen", "Yes, delete this message"),
    "sink.delete.unconfirmed": (
        "Kryss av for å bekrefte slettingen.",
        "Tick the box to confirm the deletion.",
    ),
    "sink.explain.spf.pass": (
        "Avsenderserverens IP-adresse har lov til å sende for dette domenet (SPF).",
        "The sending server's IP address may send for this domain (SPF).",
    ),
    "sink.explain.spf.fail": (
        "Domenets SPF-post sier at denne IP-adressen ikke får sende for domenet.",
        "The domain's SPF record says this IP address must not send for it.",
    ),
    "sink.explain.spf.softfail": (
        "Domenets SPF-post tror ikke denne IP-adressen får sende (~all), men avviser ikke.",
        "The domain's SPF record doubts this IP address (~all) but does not reject it.",
    ),
    "sink.explain.spf.neutral": (
        "Domenets SPF-post sier verken ja eller nei om denne IP-adressen.",
        "The domain's SPF record says neither yes nor no about this IP address.",
    ),
    "sink.explain.spf.none": (
        "Domenet har ingen SPF-post, så avsenderserveren kunne ikke sjekkes.",
        "The domain has no SPF record, so the sending server could not be checked.",
    ),
    "sink.explain.spf.temperror": (
        "SPF kunne ikke sjekkes nå: DNS-oppslaget feilet midlertidig.",
        "SPF could not be checked now: a DNS lookup failed temporarily.",
    ),
    "sink.explain.spf.permerror": (
        "SPF-posten er ugyldig eller krever for mange DNS-oppslag (over 10).",
        "The SPF record is invalid or needs too many DNS lookups (over 10).",
    ),
    "sink.explain.dkim.pass": (
        "DKIM-signaturen stemmer med den offentlige nøkkelen i DNS: meldingen er uendret.",
        "The DKIM signature matches the public key in DNS: the message is unchanged.",
    ),
    "sink.explain.dkim.fail": (
        "DKIM-signaturen stemmer ikke: feil nøkkel i DNS, eller meldingen er endret underveis.",
        "The DKIM signature does not verify: a wrong key in DNS, or the message was changed.",
    ),
    "sink.explain.dkim.neutral": (
        "DKIM-signaturen kunne ikke leses eller brukes.",
        "The DKIM signature could not be read or used.",
    ),
    "sink.explain.dkim.policy": (
        "DKIM-signaturen er gyldig, men bryter mottakerens regler (for eksempel en svak nøkkel).",
        "The DKIM signature is valid but breaks the receiver's rules (a weak key, say).",
    ),
    "sink.explain.dkim.none": (
        "Meldingen er ikke DKIM-signert.",
        "The message is not DKIM-signed.",
    ),
    "sink.explain.dkim.temperror": (
        "DKIM-nøkkelen kunne ikke hentes nå (midlertidig DNS-feil).",
        "The DKIM key could not be fetched now (a temporary DNS failure).",
    ),
    "sink.explain.dkim.permerror": (
        "DKIM-nøkkelen mangler i DNS eller er ugyldig.",
        "The DKIM key is missing from DNS or invalid.",
    ),
    "sink.explain.dmarc.pass": (
        "DMARC godkjent: SPF eller DKIM bestod for et domene som stemmer med Fra-adressen.",
        "DMARC passed: SPF or DKIM passed for a domain that matches the From address.",
    ),
    "sink.explain.dmarc.fail": (
        "DMARC feilet: verken SPF eller DKIM bestod for Fra-domenet. Domenets policy (p=) avgjør "
        "om meldingen havner i søppelpost eller avvises.",
        "DMARC failed: neither SPF nor DKIM passed for the From domain. The domain's policy (p=) "
        "decides whether it goes to junk or is rejected.",
    ),
    "sink.explain.dmarc.none": (
        "Fra-domenet har ingen DMARC-post.",
        "The From domain publishes no DMARC record.",
    ),
    "sink.explain.dmarc.temperror": (
        "DMARC kunne ikke sjekkes nå (midlertidig DNS-feil).",
        "DMARC could not be checked now (a temporary DNS failure).",
    ),
    "sink.explain.dmarc.permerror": (
        "Fra-adressen eller DMARC-posten kunne ikke leses.",
        "The From address or the DMARC record could not be read.",
    ),
    "sink.explain.arc.pass": (
        "ARC-kjeden er hel: tidligere mottakeres vurderinger kan stoles på.",
        "The ARC chain is intact: earlier receivers' results can be trusted.",
    ),
    "sink.explain.arc.fail": (
        "ARC-kjeden er brutt: meldingen ble endret etter at den ble videresendt.",
        "The ARC chain is broken: the message was changed after it was forwarded.",
    ),
    "sink.explain.arc.none": (
        "Meldingen har ingen ARC-kjede (den er ikke videresendt).",
        "The message has no ARC chain (it was not forwarded).",
    ),
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
