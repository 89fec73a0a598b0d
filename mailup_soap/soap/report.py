"""MailupReport: sessions now; statistics come with the Send and export issues."""
from __future__ import annotations

from mailup_soap.soap.operations import Op
from mailup_soap.soap.session_ops import SESSION_OPS
from mailup_soap.soap.types import Int, String

KEY = ("accessKey", String)

OPERATIONS = [
    *SESSION_OPS,
    Op("ReportByUser", [KEY, ("email", String), ("listID", Int), ("messageID", Int)]),
    Op("ReportByUserEN", [KEY, ("email", String), ("listID", Int), ("messageID", Int)]),
    Op("ReportByMessage", [KEY, ("listID", Int), ("messageID", Int)]),
    Op("ReportByMessageEN", [KEY, ("listID", Int), ("messageID", Int)]),
]
