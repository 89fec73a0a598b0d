"""Mail through the configured SMTP server. See `service_layer.ports.Mailer`."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from mailup_soap.service_layer.ports import MailerError


class SmtpMailer:
    def __init__(self, host: str, port: int, *, user: str = "", password: str = "",
                 starttls: bool = False, timeout: float = 30.0) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.timeout = starttls, timeout

    def send(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailerError(f"SMTP {self.host}:{self.port}: {exc}") from exc
