"""Mail through the configured SMTP server. See `service_layer.ports.Mailer`."""
from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.message import EmailMessage

from mailup_soap.service_layer.ports import MailerError, RecipientRefused


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

    def open_session(self) -> SmtpSession:
        return SmtpSession(self)


class SmtpSession:
    """A connection opened on first use, reused for every message, reopened once if the
    server dropped it (servers close idle or long-lived connections)."""

    def __init__(self, mailer: SmtpMailer) -> None:
        self.mailer = mailer
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        m = self.mailer
        smtp = smtplib.SMTP(m.host, m.port, timeout=m.timeout)
        if m.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if m.user:
            smtp.login(m.user, m.password)
        return smtp

    def send(self, message: bytes, envelope_from: str, to: str) -> None:
        for attempt in (1, 2):
            try:
                if self._smtp is None:
                    self._smtp = self._connect()
                self._smtp.sendmail(envelope_from, [to], message)
                return
            except smtplib.SMTPRecipientsRefused as exc:
                code = next(iter(exc.recipients.values()))[0]
                if 500 <= code < 600:
                    raise RecipientRefused(f"{to}: {code}") from exc
                raise MailerError(f"{to}: {code}") from exc
            except smtplib.SMTPServerDisconnected as exc:
                self._smtp = None
                if attempt == 2:
                    raise MailerError(f"SMTP {self.mailer.host}: {exc}") from exc
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                raise MailerError(f"SMTP {self.mailer.host}:{self.mailer.port}: {exc}") from exc

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None
