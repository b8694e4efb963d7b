"""The sink as maildiag runs it: the SMTP sink's service with its judge, worker pool, events,
stored records and API token."""
