"""The checklist's and the test send's wording in Norwegian (nb) and English (en).

Keys: ``title.<item>`` names an item; ``<item>.<status>`` is the next step for that status;
``status.*``, ``provider.*``, ``allowlist.*``, ``audience.*`` and ``ui.*`` are labels. Values
are ``str.format`` templates over ``address``, ``senders``, ``provider``, ``reply`` and the
like. The seed's advice (spam/"søppelpost", the company mail server, the two sender addresses,
lønningsansvarlig) is worded here. Pure data.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_NB: dict[str, str] = {
    "ui.heading": "Sjekkliste: hvorfor kom ikke e-posten?",
    "ui.address": "Adresse",
    "ui.audience": "Visning",
    "ui.provider": "E-postleverandør",
    "ui.next_step": "Neste steg",
    "ui.evidence": "Bevis",
    "ui.findings": "Funn",
    "ui.allowlist": "Slik slipper dere e-posten igjennom",
    "ui.timeline": "Tidslinje",
    "ui.spf_tree": "SPF-tre",
    "ui.transcript": "SMTP-samtale",
    "ui.summary_problem": "Minst ett punkt er et problem.",
    "ui.summary_ok": "Ingen problemer funnet.",
    "ui.testsend_heading": "Testsending",
    "ui.identity": "Avsender",
    "ui.to": "Mottaker",
    "ui.folder": "Mappe",
    "ui.verdict_yes": "kommer fram til innboksen",
    "ui.verdict_no": "kommer IKKE fram til innboksen",
    "ui.reasons": "Årsaker",
    "ui.content": "Innhold",
    "audience.self": "selvbetjening",
    "audience.support": "support",
    "audience.admin": "e-postadministrator",
    "status.ok": "OK",
    "status.problem": "Problem",
    "status.warning": "Advarsel",
    "status.not_checked": "Ikke sjekket",
    "status.todo": "Gjør selv",
    "folder.inbox": "innboks",
    "folder.junk": "søppelpost",
    "folder.rejected": "avvist",
    "folder.unknown": "ukjent",
    "provider.microsoft365": "Microsoft 365",
    "provider.google": "Google Workspace",
    "provider.proofpoint": "Proofpoint",
    "provider.mimecast": "Mimecast",
    "provider.barracuda": "Barracuda",
    "provider.cisco": "Cisco Secure Email",
    "provider.generic": "egen e-postserver",
    "provider.unknown": "ukjent leverandør",
    "title.address.registered": "Er det riktig e-postadresse?",
    "title.reset.requested": "Er det bedt om nytt passord?",
    "title.delivery.sent": "Er e-posten sendt?",
    "title.delivery.accepted": "Tok mottakerens e-postserver imot e-posten?",
    "title.spam.folder": "Ligger e-posten i søppelpost?",
    "title.recipient.blocks_sender": "Stopper e-postserveren i firmaet avsenderen?",
    "title.recipient.can_receive": "Kan domenet ta imot e-post?",
    "title.sender.authentication": "Er avsenderdomenene våre i orden (SPF, DKIM, DMARC)?",
    "title.link.valid": "Er lenken fortsatt gyldig?",
    "address.registered.todo": (
        "Sjekk at dette er e-postadressen du er registrert med i Visma.net. Husker du "
        "ikke hvilken adresse som er brukt, ta kontakt med lønningsansvarlig i din "
        "bedrift."
    ),
    "address.registered.ok": "Kontoen finnes for {address}.",
    "address.registered.problem": (
        "Ingen konto bruker {address}, eller mottakerens server kjenner ikke postkassen "
        "({reply}). Be brukeren sjekke adressen med lønningsansvarlig."
    ),
    "address.registered.not_checked": "Kontoopplysninger var ikke tilgjengelige.",
    "reset.requested.ok": "Siste forespørsel: {requested_at}.",
    "reset.requested.warning": (
        "Det er ikke registrert noen forespørsel om nytt passord. Be brukeren klikke "
        "«Glemt ditt passord?» på nytt."
    ),
    "reset.requested.not_checked": "Ingen konto å sjekke.",
    "delivery.sent.ok": "E-posten er sendt (status {status}).",
    "delivery.sent.warning": "E-posten ligger fortsatt i kø (status {status}). Vent noen minutter.",
    "delivery.sent.problem": "E-posten kunne ikke sendes (status {status}): {reply}",
    "delivery.sent.not_checked": "Ingen forespørsel å følge.",
    "delivery.accepted.ok": "Mottakerens server tar imot e-post fra oss.",
    "delivery.accepted.warning": (
        "Mottakerens server utsetter e-posten midlertidig ({reply}). Den prøves på nytt; "
        "vent noen minutter."
    ),
    "delivery.accepted.problem": "Mottakerens server avviste e-posten: {reply}",
    "delivery.accepted.not_checked": "Mottakerens server ble ikke spurt.",
    "spam.folder.todo": (
        "Sjekk først at e-posten ikke er tolket som «spam» og ligger i «søppelpost» (se "
        "etter avsender {senders})."
    ),
    "spam.folder.ok": "Mottakerens filter la e-posten i innboksen.",
    "spam.folder.problem": (
        "Mottakerens filter la e-posten i søppelpost eller karantene. Flytt den til "
        "innboksen og be den som styrer e-posten i firmaet slippe igjennom {senders}."
    ),
    "spam.folder.warning": "Headerne viser ingen spam-vurdering.",
    "recipient.blocks_sender.todo": (
        "Det kan være at e-postserveren i firmaet ditt ikke slipper igjennom «glemt "
        "passord»-eposten. Be den som styrer e-posten i firmaet sjekke at {senders} ikke "
        "blir stoppet."
    ),
    "recipient.blocks_sender.ok": "Mottakerens server stopper ikke avsenderne våre.",
    "recipient.blocks_sender.problem": (
        "Mottakerens server stopper avsenderen vår ({reply}). Be den som styrer e-posten "
        "i firmaet slippe igjennom {senders}."
    ),
    "recipient.can_receive.ok": "Domenet har e-postserver ({provider}).",
    "recipient.can_receive.warning": (
        "Domenet har ingen MX-post, men e-post går til adressen (implisitt MX). Be dem "
        "publisere en MX-post."
    ),
    "recipient.can_receive.problem": (
        "Domenet kan ikke ta imot e-post (null MX eller ingen e-postserver). Bruk en annen adresse."
    ),
    "recipient.can_receive.not_checked": "DNS svarte ikke; prøv igjen senere.",
    "sender.authentication.ok": "SPF, DKIM og DMARC er i orden for avsenderne våre.",
    "sender.authentication.warning": "Avsenderdomenene har advarsler; se funnene.",
    "sender.authentication.problem": (
        "En avsenderidentitet feiler autentisering; se funnene. Dette må rettes hos oss, "
        "ikke hos mottakeren."
    ),
    "sender.authentication.not_checked": "Avsenderne ble ikke sjekket.",
    "link.valid.ok": "Lenken er gyldig til {expires_at}.",
    "link.valid.problem": "Lenken er brukt eller utløpt. Be brukeren be om nytt passord igjen.",
    "link.valid.not_checked": "Ingen lenke å sjekke.",
    "allowlist.m365.tenant_allow_block_list": (
        "Microsoft 365 Defender: legg {senders} til som tillatte avsendere i Tenant "
        "Allow/Block List (eller en regel i Exchange admin center som setter SCL til -1)."
    ),
    "allowlist.m365.transport_rule_scl": (
        "Exchange admin center > Mail flow > Rules: en regel for avsender {senders} som "
        "setter spam confidence level (SCL) til -1."
    ),
    "allowlist.google.spam_approved_senders": (
        "Google Admin > Gmail > Spam, phishing og skadelig programvare: legg {senders} "
        "til listen over godkjente avsendere."
    ),
    "allowlist.google.inbound_gateway": (
        "Bruker dere en gateway foran Gmail, legg den inn under Inbound gateway."
    ),
    "allowlist.proofpoint.safe_senders": (
        "Proofpoint: legg {senders} til Safe Senders-listen for organisasjonen."
    ),
    "allowlist.mimecast.permitted_senders": (
        "Mimecast: legg {senders} til en Permitted Senders-policy."
    ),
    "allowlist.barracuda.sender_allow": (
        "Barracuda: legg {senders} under Sender Policies som Exempt/Allow."
    ),
    "allowlist.cisco.sender_group_allowed": (
        "Cisco Secure Email: legg {senders} i en tillatt avsendergruppe (ALLOWED_LIST)."
    ),
    "allowlist.generic.allowlist": (
        "Legg {senders} til listen over tillatte avsendere i spamfilteret."
    ),
    "allowlist.check_quarantine": "Se i karantenen etter e-post fra {senders} og frigi den.",
    "testsend.ok": "Testen ble lagt i innboksen.",
    "testsend.fail": "Testen kom ikke til innboksen.",
}

_EN: dict[str, str] = {
    "ui.heading": "Checklist: why did the mail not arrive?",
    "ui.address": "Address",
    "ui.audience": "View",
    "ui.provider": "Mail provider",
    "ui.next_step": "Next step",
    "ui.evidence": "Evidence",
    "ui.findings": "Findings",
    "ui.allowlist": "How to let the mail through",
    "ui.timeline": "Timeline",
    "ui.spf_tree": "SPF tree",
    "ui.transcript": "SMTP conversation",
    "ui.summary_problem": "At least one item is a problem.",
    "ui.summary_ok": "No problems found.",
    "ui.testsend_heading": "Test send",
    "ui.identity": "Sender",
    "ui.to": "Recipient",
    "ui.folder": "Folder",
    "ui.verdict_yes": "reaches the inbox",
    "ui.verdict_no": "does NOT reach the inbox",
    "ui.reasons": "Reasons",
    "ui.content": "Content",
    "audience.self": "self-service",
    "audience.support": "support",
    "audience.admin": "mail administrator",
    "status.ok": "OK",
    "status.problem": "Problem",
    "status.warning": "Warning",
    "status.not_checked": "Not checked",
    "status.todo": "Your check",
    "folder.inbox": "inbox",
    "folder.junk": "junk",
    "folder.rejected": "rejected",
    "folder.unknown": "unknown",
    "provider.microsoft365": "Microsoft 365",
    "provider.google": "Google Workspace",
    "provider.proofpoint": "Proofpoint",
    "provider.mimecast": "Mimecast",
    "provider.barracuda": "Barracuda",
    "provider.cisco": "Cisco Secure Email",
    "provider.generic": "own mail server",
    "provider.unknown": "unknown provider",
    "title.address.registered": "Is it the right e-mail address?",
    "title.reset.requested": "Was a new password requested?",
    "title.delivery.sent": "Was the mail sent?",
    "title.delivery.accepted": "Did the recipient's mail server accept the mail?",
    "title.spam.folder": "Is the mail in the junk folder?",
    "title.recipient.blocks_sender": "Does the company's mail server stop the sender?",
    "title.recipient.can_receive": "Can the domain receive mail?",
    "title.sender.authentication": "Are our sender domains in order (SPF, DKIM, DMARC)?",
    "title.link.valid": "Is the link still valid?",
    "address.registered.todo": (
        "Check that this is the e-mail address you are registered with in Visma.net. If "
        "you do not remember which address was used, contact the payroll manager "
        "(lønningsansvarlig) at your company."
    ),
    "address.registered.ok": "The account exists for {address}.",
    "address.registered.problem": (
        "No account uses {address}, or the recipient's server does not know the mailbox "
        "({reply}). Ask the user to check the address with the payroll manager."
    ),
    "address.registered.not_checked": "Account data was not available.",
    "reset.requested.ok": "Latest request: {requested_at}.",
    "reset.requested.warning": (
        "No password reset request is recorded. "
        'Ask the user to click "Forgot your password?" again.'
    ),
    "reset.requested.not_checked": "No account to check.",
    "delivery.sent.ok": "The mail was sent (status {status}).",
    "delivery.sent.warning": "The mail is still queued (status {status}). Wait a few minutes.",
    "delivery.sent.problem": "The mail could not be sent (status {status}): {reply}",
    "delivery.sent.not_checked": "No request to follow.",
    "delivery.accepted.ok": "The recipient's server accepts mail from us.",
    "delivery.accepted.warning": (
        "The recipient's server defers the mail for now ({reply}). It is retried; wait a "
        "few minutes."
    ),
    "delivery.accepted.problem": "The recipient's server refused the mail: {reply}",
    "delivery.accepted.not_checked": "The recipient's server was not asked.",
    "spam.folder.todo": (
        "First check that the mail was not taken for spam and is in the junk folder "
        "(look for sender {senders})."
    ),
    "spam.folder.ok": "The recipient's filter put the mail in the inbox.",
    "spam.folder.problem": (
        "The recipient's filter put the mail in junk or quarantine. Move it to the inbox "
        "and ask whoever runs the company's mail to let {senders} through."
    ),
    "spam.folder.warning": "The headers hold no spam verdict.",
    "recipient.blocks_sender.todo": (
        'The company\'s mail server may stop the "forgot password" mail. Ask whoever '
        "runs the company's mail to check that {senders} are not stopped."
    ),
    "recipient.blocks_sender.ok": "The recipient's server does not stop our senders.",
    "recipient.blocks_sender.problem": (
        "The recipient's server stops our sender ({reply}). Ask whoever runs the "
        "company's mail to let {senders} through."
    ),
    "recipient.can_receive.ok": "The domain has a mail server ({provider}).",
    "recipient.can_receive.warning": (
        "The domain has no MX record, but mail goes to its address (implicit MX). Ask "
        "them to publish an MX record."
    ),
    "recipient.can_receive.problem": (
        "The domain cannot receive mail (null MX or no mail server). Use another address."
    ),
    "recipient.can_receive.not_checked": "The DNS did not answer; try again later.",
    "sender.authentication.ok": "SPF, DKIM and DMARC are in order for our senders.",
    "sender.authentication.warning": "Our sender domains have warnings; see the findings.",
    "sender.authentication.problem": (
        "A sender identity fails authentication; see the findings. This must be fixed on "
        "our side, not the recipient's."
    ),
    "sender.authentication.not_checked": "The senders were not checked.",
    "link.valid.ok": "The link is valid until {expires_at}.",
    "link.valid.problem": (
        "The link was used or has expired. Ask the user to request a new password again."
    ),
    "link.valid.not_checked": "No link to check.",
    "allowlist.m365.tenant_allow_block_list": (
        "Microsoft 365 Defender: add {senders} as allowed senders in the Tenant "
        "Allow/Block List (or an Exchange admin center rule that sets SCL to -1)."
    ),
    "allowlist.m365.transport_rule_scl": (
        "Exchange admin center > Mail flow > Rules: a rule for sender {senders} that "
        "sets the spam confidence level (SCL) to -1."
    ),
    "allowlist.google.spam_approved_senders": (
        "Google Admin > Gmail > Spam, phishing and malware: add {senders} to the "
        "approved senders list."
    ),
    "allowlist.google.inbound_gateway": (
        "If a gateway sits in front of Gmail, add it under Inbound gateway."
    ),
    "allowlist.proofpoint.safe_senders": (
        "Proofpoint: add {senders} to the organization's Safe Senders list."
    ),
    "allowlist.mimecast.permitted_senders": (
        "Mimecast: add {senders} to a Permitted Senders policy."
    ),
    "allowlist.barracuda.sender_allow": (
        "Barracuda: add {senders} under Sender Policies as Exempt/Allow."
    ),
    "allowlist.cisco.sender_group_allowed": (
        "Cisco Secure Email: put {senders} in an allowed sender group (ALLOWED_LIST)."
    ),
    "allowlist.generic.allowlist": "Add {senders} to the spam filter's allowed senders.",
    "allowlist.check_quarantine": "Look in the quarantine for mail from {senders} and release it.",
    "testsend.ok": "The test landed in the inbox.",
    "testsend.fail": "The test did not reach the inbox.",
}

CHECKLIST_CATALOG: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {"nb": MappingProxyType(_NB), "en": MappingProxyType(_EN)}
)
CONJUNCTION: Mapping[str, str] = MappingProxyType({"nb": "og", "en": "and"})

__all__ = ["CHECKLIST_CATALOG", "CONJUNCTION"]
