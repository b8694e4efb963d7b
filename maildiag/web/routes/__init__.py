"""The web app's routers: each module parses a request, calls a service and renders."""
