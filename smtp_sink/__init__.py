"""smtp_sink."""
