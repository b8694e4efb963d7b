"""The SMTP probe of a recipient's mail servers (EHLO, STARTTLS, MAIL FROM, RCPT TO; never
DATA), guarded by diag.netguard, with the full transcript as evidence and the replies turned
into findings with stable codes.
"""

from diag.probe.replies import Reply, interpret, parse_reply_line
from diag.probe.run import SMTP_PORT, ProbeReport, probe, probe_domain
from diag.probe.session import TranscriptLine
from diag.probe.tlsinfo import CertificateFacts, TlsSession, certificate_facts, name_matches

__all__ = [
    "SMTP_PORT",
    "CertificateFacts",
    "ProbeReport",
    "Reply",
    "TlsSession",
    "TranscriptLine",
    "certificate_facts",
    "interpret",
    "name_matches",
    "parse_reply_line",
    "probe",
    "probe_domain",
]
