"""Table definitions (SQLAlchemy Core). Every tenant table keys on account_id first, and
every foreign key between tenant tables includes it, so rows cannot point across accounts.

The references an import writes through once per row (marked `SET_FK` below) are not
foreign key constraints but statement-level triggers doing the same set-based: the key
checked and its parent locked FOR KEY SHARE, ON DELETE CASCADE, key columns fixed (migration
0006, a fifth of an import's merge time)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from mailup_soap.domain.model import PERSONAL_FIELD_COUNT

metadata = sa.MetaData()

TS = sa.DateTime(timezone=True)


def _now() -> sa.TextClause:
    return sa.text("now()")


accounts = sa.Table(
    "accounts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # the console id
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("console_host", sa.Text, nullable=False, unique=True),
    sa.Column("ws_enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("ws_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("next_list_id", sa.Integer, nullable=False, server_default="1"),
    sa.Column("next_group_id", sa.Integer, nullable=False, server_default="1"),
    # Messages the account may still send, per channel; NULL: no limit (GetCredits).
    sa.Column("email_credits", sa.BigInteger),
    sa.Column("sms_credits", sa.BigInteger),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.CheckConstraint("status in ('active','suspended','inactive','expired')",
                       name="accounts_status_check"),
    sa.CheckConstraint("email_credits >= 0 and sms_credits >= 0", name="accounts_credits_check"),
)

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("username", sa.Text, nullable=False, unique=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.CheckConstraint("kind in ('console','ws')", name="users_kind_check"),
)

access_keys = sa.Table(
    "access_keys", metadata,
    sa.Column("key_hash", sa.Text, primary_key=True),  # sha256 hex; the key itself is never stored
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("issued_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False, index=True),
    sa.Column("revoked_at", TS),
)

lists = sa.Table(
    "lists", metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("guid", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("options", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("auto_id", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
)

groups = sa.Table(
    "groups", metadata,
    sa.Column("account_id", sa.Integer, primary_key=True),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("list_id", sa.Integer, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("notes", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.ForeignKeyConstraint(["account_id", "list_id"], ["lists.account_id", "lists.id"],
                            ondelete="CASCADE"),
    sa.UniqueConstraint("account_id", "list_id", "name", name="groups_name_key"),
)

fields = sa.Table(
    "fields", metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.CheckConstraint(f"id between 1 and {PERSONAL_FIELD_COUNT}", name="fields_id_check"),
)

recipients = sa.Table(
    "recipients", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False),  # SET_FK accounts.id, cascade
    sa.Column("email", sa.Text),
    sa.Column("mobile_prefix", sa.Text),
    sa.Column("mobile_number", sa.Text),
    *[sa.Column(f"field{i}", sa.Text) for i in range(1, PERSONAL_FIELD_COUNT + 1)],
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.Column("updated_at", TS, nullable=False, server_default=_now()),
    # No index on (account_id, id) (migration 0011): the planner could take it for a
    # lookup by email or number and read all of an account's recipients per row.
    sa.CheckConstraint("email is not null or mobile_number is not null",
                       name="recipients_contact_check"),
)
sa.Index("recipients_email_key", recipients.c.account_id, sa.func.lower(recipients.c.email),
         unique=True, postgresql_where=recipients.c.email.isnot(None))
# Not unique: an email address identifies a recipient; two of them may share a phone.
sa.Index("recipients_mobile_idx", recipients.c.account_id, recipients.c.mobile_number,
         postgresql_where=recipients.c.mobile_number.isnot(None))

subscriptions = sa.Table(
    "subscriptions", metadata,
    sa.Column("account_id", sa.Integer, primary_key=True),
    sa.Column("list_id", sa.Integer, primary_key=True),
    sa.Column("recipient_id", sa.BigInteger, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("requested_at", TS),  # became pending (double opt-in request)
    sa.Column("subscribed_at", TS),
    sa.Column("unsubscribed_at", TS),
    sa.Column("unsubscribe_reason", sa.Integer),
    sa.Column("unsubscribe_source", sa.Text),
    sa.Column("optout_message_id", sa.Integer),
    sa.Column("updated_at", TS, nullable=False, server_default=_now()),
    # SET_FK (account_id, list_id) -> lists, (account_id, recipient_id) -> recipients; cascade
    sa.CheckConstraint("status in ('pending','subscribed','unsubscribed')",
                       name="subscriptions_status_check"),
)
sa.Index("subscriptions_recipient_idx", subscriptions.c.account_id,
         subscriptions.c.recipient_id)
sa.Index("subscriptions_unsubscribed_idx", subscriptions.c.account_id, subscriptions.c.list_id,
         subscriptions.c.unsubscribed_at, postgresql_where=subscriptions.c.status == "unsubscribed")

group_members = sa.Table(
    "group_members", metadata,
    sa.Column("account_id", sa.Integer, primary_key=True),
    sa.Column("group_id", sa.Integer, primary_key=True),
    sa.Column("recipient_id", sa.BigInteger, primary_key=True),
    # SET_FK (account_id, group_id) -> groups, (account_id, recipient_id) -> recipients; cascade
)
sa.Index("group_members_recipient_idx", group_members.c.account_id, group_members.c.recipient_id)

# Lifecycle events: one row per subscription change, written in the change's transaction.
# Not foreign-keyed to lists/recipients on purpose: a removal event outlives what it removed.
events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False),  # SET_FK accounts.id, cascade
    sa.Column("list_id", sa.Integer, nullable=False),
    sa.Column("recipient_id", sa.BigInteger),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("reason", sa.Integer),
    sa.Column("email", sa.Text),
    sa.Column("mobile_prefix", sa.Text),
    sa.Column("mobile_number", sa.Text),
    sa.Column("payload", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("occurred_at", TS, nullable=False),
    sa.CheckConstraint(
        "type in ('subscription_requested','subscription_confirmed','unsubscribed','removed',"
        "'profile_changed')", name="events_type_check"),
)
sa.Index("events_account_idx", events.c.account_id, events.c.id)

# IP addresses allowed to call the frontend endpoints (registered by WSActivation.aspx).
frontend_ips = sa.Table(
    "frontend_ips", metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("ip", sa.Text, primary_key=True),
    sa.Column("ws_name", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
)

webhooks = sa.Table(
    "webhooks", metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("list_id", sa.Integer, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("events", sa.ARRAY(sa.Text), nullable=False),
    sa.Column("sources", sa.ARRAY(sa.Text), nullable=False),
    sa.Column("params", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("rc4_key", sa.Text, nullable=False, server_default=""),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("disabled_reason", sa.Text),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.ForeignKeyConstraint(["account_id", "list_id"], ["lists.account_id", "lists.id"],
                            ondelete="CASCADE"),
    sa.CheckConstraint("method in ('GET','POST')", name="webhooks_method_check"),
)
sa.Index("webhooks_list_idx", webhooks.c.account_id, webhooks.c.list_id)

# One row per (webhook, event): its id is the Standard Webhooks `webhook-id`, stable across
# retries and worker crashes.
webhook_deliveries = sa.Table(
    "webhook_deliveries", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("webhook_id", sa.Integer, sa.ForeignKey("webhooks.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("event_id", sa.BigInteger, sa.ForeignKey("events.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("msg_id", sa.Text, nullable=False, unique=True),
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", TS),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.UniqueConstraint("webhook_id", "event_id", name="webhook_deliveries_once"),
    sa.CheckConstraint("status in ('pending','succeeded','failed')",
                       name="webhook_deliveries_status_check"),
)

webhook_attempts = sa.Table(
    "webhook_attempts", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("delivery_id", sa.BigInteger,
              sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("attempted_at", TS, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("duration_ms", sa.Integer, nullable=False),
)

import_processes = sa.Table(
    "import_processes", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),  # idProcess
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("list_id", sa.Integer, nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False, server_default="1"),
    sa.Column("options", JSONB, nullable=False),
    sa.Column("source", sa.Text, nullable=False, server_default="API"),
    # Merged by a job under the list's procrastinate lock (the Import service's starts),
    # rather than by the daily sync, `mailup-soap import` or SendMessageNL (migration 0013).
    sa.Column("by_list_job", sa.Boolean, nullable=False, server_default=sa.false()),
    # The SendMessageNL delivery whose send job starts this queued process at its sending
    # time (migration 0014); nothing else starts it.
    sa.Column("delivery_id", sa.BigInteger),
    sa.Column("rows_staged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_done", sa.Integer, nullable=False, server_default="0"),  # merged up to row_no
    # A process merged in lanes (migration 0015): how far each lane got; rows_done is the
    # least. NULL until its first run decides the number of lanes.
    sa.Column("lanes_done", sa.ARRAY(sa.Integer)),
    # Valid rows giving a contact by mobile number alone (such a process merges in one lane);
    # NULL for processes stored before migration 0015.
    sa.Column("rows_by_number", sa.Integer),
    *[sa.Column(name, sa.Integer, nullable=False, server_default="0") for name in (
        "total", "new_email", "new_mobile", "existing_email", "existing_mobile", "opt_out_email",
        "opt_out_mobile", "rejected_email", "rejected_mobile", "rejected_other",
        "confirmations")],
    sa.Column("error", sa.Text),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.Column("started_at", TS),
    sa.Column("ended_at", TS),
    sa.ForeignKeyConstraint(["account_id", "list_id"], ["lists.account_id", "lists.id"],
                            ondelete="CASCADE"),
    sa.CheckConstraint("status between 1 and 4", name="import_processes_status_check"),
)
sa.Index("import_processes_list_idx", import_processes.c.account_id, import_processes.c.list_id,
         import_processes.c.status)

# Validated rows of a process, COPYed in by NewImportProcess and merged by the worker.
import_rows = sa.Table(
    "import_rows", metadata,
    sa.Column("process_id", sa.BigInteger, primary_key=True),  # SET_FK import_processes.id
    sa.Column("row_no", sa.Integer, primary_key=True),
    sa.Column("email", sa.Text),
    sa.Column("mobile_number", sa.Text),
    *[sa.Column(f"field{i}", sa.Text) for i in range(1, PERSONAL_FIELD_COUNT + 1)],
    sa.Column("status", sa.Text),  # FTP CSV: subscribe / unsubscribe / pending / delete
    sa.Column("groups", sa.Text),  # FTP CSV: group ids for this row
    sa.Column("problem", sa.Text),  # why the row is rejected; NULL when valid
)

# The daily batch sync (FTP site). One login per account; its home is <ftp root>/<account id>.
ftp_users = sa.Table(
    "ftp_users", metadata,
    sa.Column("username", sa.Text, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
)

# One row per imported file content and list: a file posted twice is recognised by its hash,
# and a sync that crashed mid-file resumes the same process.
sync_files = sa.Table(
    "sync_files", metadata,
    sa.Column("account_id", sa.Integer, primary_key=True),
    sa.Column("list_id", sa.Integer, primary_key=True),
    sa.Column("sha256", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("process_id", sa.BigInteger,
              sa.ForeignKey("import_processes.id", ondelete="SET NULL")),
    sa.Column("status", sa.Text, nullable=False, server_default="importing"),
    sa.Column("received_at", TS, nullable=False, server_default=_now()),
    sa.Column("done_at", TS),
    sa.ForeignKeyConstraint(["account_id", "list_id"], ["lists.account_id", "lists.id"],
                            ondelete="CASCADE"),
    sa.CheckConstraint("status in ('importing','done')", name="sync_files_status_check"),
)

# Saved unsubscriber-export filters: each writes a CSV into export/ after every daily sync.
export_profiles = sa.Table(
    "export_profiles", metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("filters", JSONB, nullable=False),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
)

# Email messages (MailUp "newsletters") of a list. The id is the newsletterID.
# SMS messages (channel 'sms') live here too: the id is the smsID, `html` holds the SMS text.
messages = sa.Table(
    "messages", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("list_id", sa.Integer, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("html", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("dynamic_fields", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("link_tracking", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("cloned_from", sa.BigInteger),
    sa.Column("is_template", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("channel", sa.Text, nullable=False, server_default="email"),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.Column("updated_at", TS, nullable=False, server_default=_now()),
    sa.UniqueConstraint("account_id", "id", name="messages_account_id_key"),
    sa.CheckConstraint("channel in ('email','sms')", name="messages_channel_check"),
    sa.ForeignKeyConstraint(["account_id", "list_id"], ["lists.account_id", "lists.id"],
                            ondelete="CASCADE"),
    sa.CheckConstraint("content_type in ('HTML','TEXT')", name="messages_content_type_check"),
)
sa.Index("messages_list_idx", messages.c.account_id, messages.c.list_id)

# A sending of a message to a list: its recipients are fixed when it is created.
# SMS deliveries (channel 'sms'): from_name is the sender id, from_email ''; SendDirectSMS
# stores no message (message_id NULL) and keeps its text in sms_text.
deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),  # deliveryID
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("list_id", sa.Integer, nullable=False),
    sa.Column("message_id", sa.BigInteger),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("from_email", sa.Text, nullable=False),
    sa.Column("from_name", sa.Text, nullable=False),
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sent", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.Column("scheduled_at", TS, nullable=False),
    sa.Column("started_at", TS),
    sa.Column("completed_at", TS),
    sa.Column("error", sa.Text),
    sa.Column("channel", sa.Text, nullable=False, server_default="email"),
    sa.Column("sms_text", sa.Text),
    sa.UniqueConstraint("account_id", "id", name="deliveries_account_id_key"),
    sa.CheckConstraint("channel in ('email','sms')", name="deliveries_channel_check"),
    sa.CheckConstraint("channel = 'sms' or message_id is not null",
                       name="deliveries_message_check"),
    sa.ForeignKeyConstraint(["account_id", "message_id"], ["messages.account_id", "messages.id"],
                            ondelete="CASCADE"),
    sa.CheckConstraint("status in ('scheduled','sending','paused','completed')",
                       name="deliveries_status_check"),
)
sa.Index("deliveries_account_idx", deliveries.c.account_id, deliveries.c.status)

# Every (delivery, recipient): pending until the SMTP server accepted it (sent) or refused it
# for good (failed); skipped when the recipient was no longer subscribed at send time.
delivery_recipients = sa.Table(
    "delivery_recipients", metadata,
    sa.Column("delivery_id", sa.BigInteger, sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("recipient_id", sa.BigInteger, primary_key=True),
    sa.Column("state", sa.Text, nullable=False, server_default="pending"),
    sa.Column("sent_at", TS),
    sa.Column("error", sa.Text),
    # SMS: the number of a one-to-one send (SendSingleSMS / SendDirectSMS; recipient_id is 0
    # when nobody on file has it; NULL: the recipient's mobile), and the gateway's message id.
    sa.Column("number", sa.Text),
    sa.Column("gateway_id", sa.Text),
    sa.CheckConstraint("state in ('pending','sent','failed','skipped')",
                       name="delivery_recipients_state_check"),
)
sa.Index("delivery_recipients_pending_idx", delivery_recipients.c.delivery_id,
         delivery_recipients.c.recipient_id,
         postgresql_where=delivery_recipients.c.state == "pending")

# Opens and clicks, from the tracking pixel and the signed click links.
tracking_events = sa.Table(
    "tracking_events", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("delivery_id", sa.BigInteger, sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
              nullable=False),  # migration 0018
    sa.Column("recipient_id", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("ip", sa.Text),
    sa.Column("occurred_at", TS, nullable=False),
    sa.CheckConstraint("kind in ('open','click')", name="tracking_events_kind_check"),
)
sa.Index("tracking_events_delivery_idx", tracking_events.c.account_id,
         tracking_events.c.delivery_id)
sa.Index("tracking_events_recipient_idx", tracking_events.c.account_id,
         tracking_events.c.recipient_id)  # ReportByUser (migration 0016)

# Bounces read from the delivery status notifications sent back to a message's return path
# (`mailup-soap inbound-mail`): soft ones are counted towards reason 512, and ReportByUser
# dates the last one.
bounces = sa.Table(
    "bounces", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("delivery_id", sa.BigInteger, sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("recipient_id", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # the DSN's, e.g. 5.1.1
    sa.Column("occurred_at", TS, nullable=False),
    sa.CheckConstraint("kind in ('hard','soft')", name="bounces_kind_check"),
)
sa.Index("bounces_recipient_idx", bounces.c.account_id, bounces.c.recipient_id)
