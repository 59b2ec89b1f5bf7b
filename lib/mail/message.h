/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One queued mail read with GMime: its envelope (pseudo-headers, Delivered-To,
 * Return-Path, or the headers), its recipients with their roles, and the
 * header clean-up every outgoing copy needs. No crypto, no policy. */
#pragma once
#include <glib.h>
#include <gmime/gmime.h>
#include "policy.h"

typedef struct {
	char *address;   /* bare addr-spec, lower case */
	KovRole role;
	/* Kuvert's in-address directive, Name "action=...,key=..." <addr>, in
	 * the To/Cc/Bcc entry of this address (the first one that has one). */
	gboolean has_directive_action;
	KovAction directive_action;   /* mustencrypt included (Kuvert ignored it) */
	char *directive_key;          /* hex key ID, as written; NULL: none given */
} KovRecipient;

/* Frees a KovRecipient (a GDestroyNotify for arrays of them). */
void kov_recipient_free(gpointer recipient);

typedef struct {
	GMimeMessage *message;   /* owned; parsed from a file-backed stream */
	gint64 size;             /* bytes of the file it was parsed from */
	char *sender;            /* envelope sender, bare lower case; "" is the null sender <> */
	char *from;              /* first From address, bare lower case; NULL when none */
	GPtrArray *recipients;   /* of KovRecipient* (owned), de-duplicated, To, Cc, then Bcc */
	gboolean envelope_given; /* X-Kuvert-To or Delivered-To named the recipients */
	gboolean sender_given;   /* X-Kuvert-From or Return-Path named the sender */
	gboolean from_single;    /* exactly one From field with one mailbox (no group) */
	/* Ciphertext (PGP/MIME or S/MIME enveloped) by its bytes, see
	 * ciphertext.h; its MIME part is then koverto's own wrapping of it. */
	gboolean already_encrypted;
	const char *not_ciphertext; /* static: why a mail labelled encrypted is not; NULL */
	/* The first X-Kuvert header, trimmed and lower-cased, when it is one of
	 * the five action names; otherwise has_x_kuvert is FALSE. */
	gboolean has_x_kuvert;
	KovAction x_kuvert;
	char *from_key;          /* key= directive in the first From address: the signing key; NULL */
	char *client;            /* X-Koverto-Client in the envelope block: the listener's
	                          * client that submitted it (as written); NULL */
	/* The bare lower-case addresses of the first Resent-To and Resent-Cc
	 * headers (a bounce), when there is a Resent-To and no explicit
	 * envelope was given (empty when it names nobody); NULL otherwise. Of
	 * char* (owned). resent_bcc: the first Resent-Bcc's, likewise. */
	GPtrArray *resent_to;
	GPtrArray *resent_bcc;
	char *resent_from;       /* the resender (first Resent-From address), bare; NULL */
} KovMail;

/* Who gets @mail, one answer for the worker's plan and `koverto status`:
 * its recipients, or, for Kuvert's bounce shortcut (@kuvert: the Kuvert
 * queue; a Resent-To header, someone in Resent-To/-Cc/-Bcc, no explicit
 * envelope), the Resent-To/-Cc then the Resent-Bcc addresses, sent from
 * the resender unless the envelope named a sender. *@sender (borrowed
 * from @mail): the envelope sender to use; *@resent: TRUE for the
 * shortcut. (transfer full, of KovRecipient*) */
GPtrArray *kov_message_addressed(const KovMail *mail, gboolean kuvert, const char **sender,
                                 gboolean *resent);

typedef struct {
	/* Honour the topmost Delivered-To: (policy Maildirs, one copy per recipient). */
	gboolean use_delivered_to;
	/* The file is a mail as its author gave it (koverto submit's input):
	 * it has no envelope block, X-Kuvert-From/-To in it are its own. */
	gboolean mail_only;
	/* With mail_only: the envelope given beside the mail (koverto submit's
	 * -f and recipients), NULL where none is given. "" is the null sender. */
	const char *sender;
	const char *const *recipients;   /* NULL-terminated */
	/* Read the mail from descriptor @fd (from its start; it stays the
	 * caller's) instead of opening the path, which then only names it in
	 * messages: a mail held in memory (koverto explain). */
	gboolean from_fd;
	int fd;
} KovMessageOptions;

/* Parse the mail in @path and work out its envelope. Only the fields its
 * writer put on top count: the leading block of X-Kuvert-From/-To fields,
 * then (when enabled) the Return-Path/Delivered-To/X-Original-To lines of
 * a delivery agent; the same names further down, in the mail's own header,
 * never count and are removed. Precedence for the recipients: X-Kuvert-To
 * > topmost Delivered-To > To/Cc/Bcc; envelope recipients not in To/Cc
 * count as Bcc, To/Cc addresses not in an explicit envelope are not
 * recipients. Sender: X-Kuvert-From > Return-Path > From. Also reads what the decision
 * needs: directives, X-Kuvert, Resent-To (see KovMail). Errors:
 * KOV_ERROR_DATAERR with the reason (not a mail, no sender, no recipient,
 * CR/LF in an address, a bad Resent-To address). */
KovMail *kov_message_load(const char *path, const KovMessageOptions *options, GError **error);
void kov_message_free(KovMail *mail);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovMail, kov_message_free)

/* Write the queue file @path to @fd with @envelope (header lines, nullable)
 * on top, then the file without its X-Kuvert-To and X-Kuvert-From fields,
 * as kov_message_load tells them (any case, blanks before the colon,
 * continuation lines) and X-Koverto-Client fields, wherever they are in
 * the header; with @keep_sender the X-Kuvert-From and X-Koverto-Client
 * fields of the file's envelope block stay. Everything
 * else is copied byte for byte. */
gboolean kov_message_rewrite_envelope(const char *path, const char *envelope, gboolean keep_sender,
                                      int fd, GError **error);

/* The same, reading the file from descriptor @given (see
 * KovMessageOptions.from_fd; -1: open @path). */
gboolean kov_message_rewrite_envelope_fd(const char *path, int given, const char *envelope,
                                         gboolean keep_sender, int fd, GError **error);

/* Remove what must never leave: Bcc, Resent-Bcc, X-Kuvert*, the envelope
 * pseudo-headers, Delivered-To, Return-Path, and Kuvert's in-address directives
 * (Name "action=...,key=..." <addr>) from From/To/Cc. Quoted display names
 * that are not directives stay as they are. Headers whose name is no field
 * name are dropped (from the top-level MIME part too). */
void kov_message_strip_private_headers(GMimeMessage *message);

/* Write @object (a message, or the entity gpg signs) to @fd from its
 * current offset with CRLF (SMTP) or LF (sendmail) line ends. */
gboolean kov_message_write_fd(GMimeObject *object, int fd, gboolean crlf, GError **error);
