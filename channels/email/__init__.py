"""Email, by concern: parsing inbound mail (parse), the IMAP mailbox the poller reads (imap),
SMTP delivery of agent replies (smtp), the signed unsubscribe link (unsubscribe) and how
connections to mail servers are encrypted (connections). Import the module you need: the
package itself loads no mail client library."""
