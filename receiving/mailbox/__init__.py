"""Collecting invoices from e-mail: each entity's IMAP mailboxes, read by a periodic task (see ``fetching``)."""
