"""Composition of processes, above the adapters: the web app under uvicorn (``serve``, with
the lab's DNS server and sink beside it under ``--lab``) and the sink alone with its pages
(``sink``), and the two commands that start them.
"""

from maildiag.runtime.serving import bind_http, serve, serve_sink

__all__ = ["bind_http", "serve", "serve_sink"]
