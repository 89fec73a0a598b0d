"""A delivery status notification (RFC 3464) as Postfix sends one back to a return path,
for the bounce tests."""
from __future__ import annotations


def dsn(action: str, status: str, report_type: str = "message/delivery-status") -> str:
    return (
        "From: MAILER-DAEMON@mx.example (Mail Delivery System)\r\n"
        "To: bounces+5-7-0123456789ab@shop.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\n"
        "This is the mail system at host mx.example. I'm sorry to have to inform you...\r\n\r\n"
        f"--B\r\nContent-Type: {report_type}\r\n\r\n"
        "Reporting-MTA: dns; mx.example\r\n"
        "Arrival-Date: Fri, 27 Nov 2026 10:00:00 +0000 (UTC)\r\n\r\n"
        "Final-Recipient: rfc822; ann@example.test\r\n"
        "Original-Recipient: rfc822;ann@example.test\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <ann@example.test>: User unknown\r\n\r\n"
        "--B\r\nContent-Type: message/rfc822\r\n\r\n"
        "From: news@shop.example\r\nTo: ann@example.test\r\nSubject: News\r\n\r\nHello\r\n"
        "--B--\r\n")
