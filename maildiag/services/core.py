"""``Services``: what every use case needs, built once per process (in ``create_app`` and in
``cli.main``): the settings, the Public Suffix List, the resolver factory and the sink
running in this process, if any.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from publicsuffixlist import PublicSuffixList

from diag.dmarc import default_psl
from diag.errors import InputError
from diag.resolver import DnsPythonResolver, Resolver
from maildiag.settings import Settings

if TYPE_CHECKING:
    from maildiag.sink.service import SinkHandle


def make_resolver(settings: Settings) -> DnsPythonResolver:
    """A resolver on the configured nameservers, or the system's. Raises UsageError for a
    nameserver that cannot be used."""
    try:
        return DnsPythonResolver(settings.nameservers or None, timeout=settings.dns_timeout)
    except ValueError as exc:
        raise InputError("usage.bad_nameserver", detail=str(exc)) from exc


@dataclasses.dataclass(kw_only=True)
class Services:
    """The use cases' shared parts. ``resolver`` replaces DNS for every use (tests, the lab);
    ``sink`` is the SMTP sink running beside the app (the lab's test sends go to it)."""

    settings: Settings
    psl: PublicSuffixList
    resolver: Resolver | None = None
    sink: SinkHandle | None = None

    def new_resolver(self) -> Resolver:
        """A resolver for one use (its cache and log belong to that use)."""
        if self.resolver is not None:
            return self.resolver
        return make_resolver(self.settings)


def build_services(settings: Settings, *, resolver: Resolver | None = None) -> Services:
    """The services for ``settings``, with the process's one Public Suffix List."""
    return Services(settings=settings, psl=default_psl(), resolver=resolver)
