"""Notification channels (webhook, e-mail) and the notifier that delivers alarm changes to
them through the `notification_deliveries` outbox (docs/NOTIFICATIONS.md)."""
