"""Plain dataclasses, enums and rules of the MailUp model; no SQLAlchemy, no spyne."""
