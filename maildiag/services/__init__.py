"""The application's use cases, between the adapters (``maildiag.web``, ``maildiag.commands``)
and the libraries: sender identities, input parsing, the checklist for each audience, the
domain check, test sends, the sender report, the SPF query and the account pages' services.

Adapters parse input, call one of these and render; they never call each other.
"""

from maildiag.services.core import Services, build_services, make_resolver

__all__ = ["Services", "build_services", "make_resolver"]
