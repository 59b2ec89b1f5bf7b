/* SPDX-License-Identifier: GPL-3.0-or-later */
/* RFC 3156 PGP/MIME with GMime for the structure and GPGME for the crypto.
 * The entity to protect is made 7-bit safe by lib/mail/mime7bit.c (hostile
 * input included), written once with CRLF into an
 * unlinked temporary file, signed or encrypted by gpg from and to file
 * descriptors, and (when signed) sent as that very file, so the bytes in
 * the multipart are the bytes gpg saw and memory stays flat as mails grow.
 * Every signature is verified before the message is returned. */
#include "crypto.h"
#include "ciphertext.h"
#include "header.h"
#include "mime7bit.h"

#include "gmime-autoptr.h"
#include "gpgme-autoptr.h"
#include "error.h"
#include "gpgerror.h"
#include "keys.h"
#include "message.h"
#include "scratch.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Kuvert's preamble (kuvert-reference §9.2), kept word for word; §9.3's
 * is KOV_CIPHERTEXT_PGP_PREAMBLE. */
#define CRYPTO_SIGNED_PREAMBLE \
	"This is a multi-part message in MIME format.\n" \
	"It has been signed conforming to RFC3156.\n" \
	"You need GPG to check the signature.\n"

/* ---- files ---------------------------------------------------------- */

/* Write @object with CRLF line ends to the new scratch file @fd, and
 * rewind: the bytes gpg signs or encrypts are the bytes the copy carries. */
static gboolean
crypto_write_crlf(GMimeObject *object, int fd, GError **error)
{
	if (!kov_message_write_fd(object, fd, TRUE, error))
		return FALSE;
	if (lseek(fd, 0, SEEK_SET) < 0) {
		kov_error_set_errno(error, errno, "crypto: cannot rewind a temporary file");
		return FALSE;
	}
	return TRUE;
}

static gpgme_data_t
crypto_data_from_fd(int fd, GError **error)
{
	gpgme_data_t data = NULL;
	gpgme_error_t err = gpgme_data_new_from_fd(&data, fd);
	if (err != 0)
		kov_gpgerror_set(error, err, KOV_GPGERROR_BY_CODE, "crypto: cannot wrap a file for GPGME");
	return data;
}

/* A part whose content is @stream, taken as it is (already 7-bit). */
static GMimePart *
crypto_new_part(const char *type, const char *subtype, GMimeStream *stream)
{
	g_autoptr(GMimePart) part = g_mime_part_new_with_type(type, subtype);
	g_autoptr(GMimeDataWrapper) content =
		g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(part, content);
	g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_7BIT);
	return g_steal_pointer(&part);
}

/* A new message with @message's headers except Content-* (raw bytes and
 * order kept where they are fit to send; see crypto_headers_make_7bit()
 * for the others), MIME-Version where it stood or appended, and @body. */
static GMimeMessage *
crypto_outer_message(GMimeMessage *message, GMimeObject *body)
{
	g_autoptr(GMimeMessage) outer = g_mime_message_new(FALSE);
	GMimeHeaderList *from = g_mime_object_get_header_list(GMIME_OBJECT(message));
	GMimeHeaderList *to = g_mime_object_get_header_list(GMIME_OBJECT(outer));
	for (int i = 0; i < g_mime_header_list_get_count(from); i++) {
		GMimeHeader *header = g_mime_header_list_get_header_at(from, i);
		const char *name = g_mime_header_get_name(header);
		if (g_ascii_strncasecmp(name, "Content-", 8) == 0 || !kov_header_name_valid(name))
			continue;
		/* Appending by value lets the message parse its addresses;
		 * the raw value then keeps the original folding and encoding. */
		g_mime_header_list_append(to, name, g_mime_header_get_value(header), NULL);
		GMimeHeader *copy = g_mime_header_list_get_header_at(to, g_mime_header_list_get_count(to) - 1);
		g_mime_header_set_raw_value(copy, g_mime_header_get_raw_value(header));
		if (kov_mime7bit_header_unfit(copy)) {
			kov_mime7bit_header_refit(copy);
			if (kov_mime7bit_header_unfit(copy))
				g_mime_header_list_remove_at(to, g_mime_header_list_get_count(to) - 1);
		}
	}
	if (!g_mime_header_list_contains(to, "MIME-Version"))
		g_mime_header_list_append(to, "MIME-Version", "1.0", NULL);
	g_mime_message_set_mime_part(outer, body);
	return g_steal_pointer(&outer);
}

/* The entity to protect, made 7-bit safe and written CRLF to a new
 * temporary file (rewound). Returns the fd or -1. */
static int
crypto_prepare_entity(const KovCryptoOptions *options, GMimeMessage *message, GError **error)
{
	GMimeObject *entity = g_mime_message_get_mime_part(message);
	if (entity == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR, "crypto: the mail has no MIME body");
		return -1;
	}
	kov_mime7bit_repair(entity);
	int fd = kov_scratch_new(options->tempdir, options->mail_size, error);
	if (fd < 0)
		return -1;
	if (!crypto_write_crlf(entity, fd, error)) {
		close(fd);
		return -1;
	}
	return fd;
}

static gboolean
crypto_set_signer(gpgme_ctx_t ctx, gpgme_key_t signer, GError **error)
{
	gpgme_signers_clear(ctx);
	if (signer == NULL)
		return TRUE;
	gpgme_error_t err = gpgme_signers_add(ctx, signer);
	if (err != 0) {
		kov_gpgerror_set(error, err, KOV_GPGERROR_BY_CODE, "crypto: cannot sign with key %s",
		                 kov_keys_fingerprint(signer));
		return FALSE;
	}
	return TRUE;
}

/* gpg answered without error: make sure it really signed. */
static gboolean
crypto_check_sign_result(gpgme_ctx_t ctx, gpgme_key_t signer, gpgme_hash_algo_t *hash, GError **error)
{
	gpgme_sign_result_t result = gpgme_op_sign_result(ctx);
	if (result == NULL || result->invalid_signers != NULL || result->signatures == NULL ||
	    result->signatures->next != NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL, "crypto: gpg made no signature with key %s",
		            kov_keys_fingerprint(signer));
		return FALSE;
	}
	if (hash != NULL)
		*hash = result->signatures->hash_algo;
	return TRUE;
}

/* ---- the signed entity, byte for byte -------------------------------- */

/* What gpg signed is what goes out. Parsing the signed file back into a
 * MIME tree and letting GMime write that again is not enough: GMime 3.2
 * does not write every tree back as it read it (a truncated multipart, or
 * one without a boundary parameter, gains a line at each round), and the
 * signature over the first bytes then fails on the second. This object
 * writes the signed file itself, only converting the line ends to the
 * format asked for (the signature is text mode: CRLF and LF hash alike).
 * It carries the entity's Content-Type for whoever looks at the tree; its
 * own header list is never written. */
typedef struct {
	GMimeObject parent;
	GMimeStream *bytes;   /* owned: the signed file */
} KovCryptoEntity;

typedef struct {
	GMimeObjectClass parent_class;
} KovCryptoEntityClass;

G_DEFINE_TYPE(KovCryptoEntity, kov_crypto_entity, GMIME_TYPE_OBJECT)

static ssize_t
kov_crypto_entity_write(GMimeObject *object, GMimeFormatOptions *options, gboolean content_only,
                        GMimeStream *stream)
{
	(void)content_only;
	KovCryptoEntity *self = (KovCryptoEntity *)object;
	g_autoptr(GMimeFilter) newline = g_mime_format_options_create_newline_filter(options, FALSE);
	g_autoptr(GMimeStream) view =
		g_mime_stream_substream(self->bytes, self->bytes->bound_start, self->bytes->bound_end);
	char buf[8192];
	ssize_t n, total = 0;
	char *out;
	size_t outlen, prespace;

	while ((n = g_mime_stream_read(view, buf, sizeof buf)) > 0) {
		g_mime_filter_filter(newline, buf, (size_t)n, 0, &out, &outlen, &prespace);
		if (outlen > 0 && g_mime_stream_write(stream, out, outlen) < 0)
			return -1;
		total += (ssize_t)outlen;
	}
	if (n < 0)
		return -1;
	g_mime_filter_complete(newline, buf, 0, 0, &out, &outlen, &prespace);
	if (outlen > 0 && g_mime_stream_write(stream, out, outlen) < 0)
		return -1;
	return total + (ssize_t)outlen;
}

static void
kov_crypto_entity_encode(GMimeObject *object, GMimeEncodingConstraint constraint)
{
	/* Signed bytes are final (and 7-bit already). */
	(void)object;
	(void)constraint;
}

static void
kov_crypto_entity_finalize(GObject *object)
{
	g_clear_object(&((KovCryptoEntity *)object)->bytes);
	G_OBJECT_CLASS(kov_crypto_entity_parent_class)->finalize(object);
}

static void
kov_crypto_entity_class_init(KovCryptoEntityClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = kov_crypto_entity_finalize;
	GMIME_OBJECT_CLASS(klass)->write_to_stream = kov_crypto_entity_write;
	GMIME_OBJECT_CLASS(klass)->encode = kov_crypto_entity_encode;
}

static void
kov_crypto_entity_init(KovCryptoEntity *self)
{
	(void)self;
}

/* The entity whose bytes are @bytes (whole stream), typed as @type says.
 * (transfer full) */
static GMimeObject *
crypto_entity_new(GMimeStream *bytes, GMimeContentType *type)
{
	KovCryptoEntity *self = g_object_new(kov_crypto_entity_get_type(), NULL);
	self->bytes = g_object_ref(bytes);
	g_autoptr(GMimeContentType) copy =
		g_mime_content_type_new(g_mime_content_type_get_media_type(type),
		                        g_mime_content_type_get_media_subtype(type));
	GMimeParamList *params = g_mime_content_type_get_parameters(type);
	for (int i = 0; i < g_mime_param_list_length(params); i++) {
		GMimeParam *param = g_mime_param_list_get_parameter_at(params, i);
		/* Only a label: the bytes are written as they are. */
		if (!kov_mime7bit_param_name_writable(g_mime_param_get_name(param)))
			continue;
		g_mime_content_type_set_parameter(copy, g_mime_param_get_name(param),
		                                  g_mime_param_get_value(param));
	}
	g_mime_object_set_content_type(GMIME_OBJECT(self), copy);
	return GMIME_OBJECT(self);
}

/* ---- sign ----------------------------------------------------------- */

/* A detached armored text-mode signature of @fd's content by @signer.
 * (transfer full: a small memory stream) */
static GMimeStream *
crypto_sign_detached(gpgme_ctx_t ctx, int fd, gpgme_key_t signer, char **micalg, GError **error)
{
	if (!crypto_set_signer(ctx, signer, error))
		return NULL;
	gpgme_set_armor(ctx, 1);
	gpgme_set_textmode(ctx, 1);
	g_auto(gpgme_data_t) in = crypto_data_from_fd(fd, error);
	if (in == NULL)
		return NULL;
	g_auto(gpgme_data_t) out = NULL;
	gpgme_error_t err = gpgme_data_new(&out);
	if (err == 0)
		err = gpgme_op_sign(ctx, in, out, GPGME_SIG_MODE_DETACH);
	if (err != 0) {
		kov_gpgerror_set(error, err, KOV_GPGERROR_BY_CODE, "crypto: signing with key %s",
		                 kov_keys_fingerprint(signer));
		return NULL;
	}
	gpgme_hash_algo_t hash = GPGME_MD_NONE;
	if (!crypto_check_sign_result(ctx, signer, &hash, error))
		return NULL;
	const char *name = gpgme_hash_algo_name(hash);
	if (name == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL, "crypto: unknown signature hash %d", hash);
		return NULL;
	}
	g_autofree char *lower = g_ascii_strdown(name, -1);
	*micalg = g_strconcat("pgp-", lower, NULL);

	size_t len = 0;
	char *sig = gpgme_data_release_and_get_mem(g_steal_pointer(&out), &len);
	if (sig == NULL || len == 0) {
		gpgme_free(sig);
		g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL, "crypto: gpg wrote an empty signature");
		return NULL;
	}
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(sig, len);
	gpgme_free(sig);
	return stream;
}

/* Does @signature verify as a good signature by @signer over @part written
 * exactly as it will be transmitted (CRLF)? */
static gboolean
crypto_self_verify(const KovCryptoOptions *options, GMimeObject *part, GMimeStream *signature,
                   gpgme_key_t signer, GError **error)
{
	int fd = kov_scratch_new(options->tempdir, options->mail_size, error);
	if (fd < 0)
		return FALSE;
	gboolean ok = FALSE;
	GByteArray *sig = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(signature));
	g_auto(gpgme_data_t) text = NULL;
	g_auto(gpgme_data_t) sigdata = NULL;
	gpgme_error_t err = 0;
	if (!crypto_write_crlf(part, fd, error) || (text = crypto_data_from_fd(fd, error)) == NULL)
		goto out;
	err = gpgme_data_new_from_mem(&sigdata, (const char *)sig->data, sig->len, 0);
	if (err == 0)
		err = gpgme_op_verify(options->ctx, sigdata, text, NULL);
	if (err != 0) {
		kov_gpgerror_set(error, err, KOV_GPGERROR_BY_CODE, "crypto: verifying our own signature");
		goto out;
	}
	gpgme_verify_result_t result = gpgme_op_verify_result(options->ctx);
	gpgme_signature_t s = result != NULL ? result->signatures : NULL;
	if (s != NULL && s->next == NULL && gpg_err_code(s->status) == GPG_ERR_NO_ERROR && s->fpr != NULL) {
		/* gpg names the signing subkey or the primary key. */
		for (gpgme_subkey_t sub = signer->subkeys; sub != NULL && !ok; sub = sub->next)
			ok = sub->fpr != NULL && g_ascii_strcasecmp(sub->fpr, s->fpr) == 0;
	}
	if (!ok) {
		char buf[256] = "not exactly one signature";
		if (s != NULL && s->next == NULL && gpg_err_code(s->status) != GPG_ERR_NO_ERROR)
			gpgme_strerror_r(s->status, buf, sizeof buf);
		else if (s != NULL && s->next == NULL)
			g_snprintf(buf, sizeof buf, "made by key %s", s->fpr != NULL ? s->fpr : "(unknown)");
		g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL,
		            "crypto: our own signature by %s does not verify: %s",
		            kov_keys_fingerprint(signer), buf);
	}
out:
	close(fd);
	return ok;
}

GMimeMessage *
kov_crypto_sign(const KovCryptoOptions *options, GMimeMessage *message, gpgme_key_t signer,
                GError **error)
{
	g_return_val_if_fail(options != NULL && options->ctx != NULL, NULL);
	g_return_val_if_fail(GMIME_IS_MESSAGE(message) && signer != NULL, NULL);

	int fd = crypto_prepare_entity(options, message, error);
	if (fd < 0)
		return NULL;
	/* The stream owns fd from here; the parsed part keeps it alive. */
	g_autoptr(GMimeStream) file = g_mime_stream_fs_new(fd);
	g_autofree char *micalg = NULL;
	g_autoptr(GMimeStream) signature = crypto_sign_detached(options->ctx, fd, signer, &micalg, error);
	if (signature == NULL)
		return NULL;

	/* The signed bytes themselves are what goes out. */
	GMimeObject *entity = g_mime_message_get_mime_part(message);
	g_autoptr(GMimeObject) content = crypto_entity_new(file, g_mime_object_get_content_type(entity));

	g_autoptr(GMimePart) sigpart = crypto_new_part("application", "pgp-signature", signature);
	g_mime_part_set_filename(sigpart, "signature.asc");
	g_mime_object_set_disposition(GMIME_OBJECT(sigpart), GMIME_DISPOSITION_INLINE);
	g_mime_part_set_content_description(sigpart, "OpenPGP digital signature");

	g_autoptr(GMimeMultipartSigned) mps = g_mime_multipart_signed_new();
	GMimeMultipart *multipart = GMIME_MULTIPART(mps);
	g_mime_multipart_set_boundary(multipart, NULL);
	g_mime_object_set_content_type_parameter(GMIME_OBJECT(mps), "micalg", micalg);
	g_mime_object_set_content_type_parameter(GMIME_OBJECT(mps), "protocol", "application/pgp-signature");
	if (options->preamble)
		g_mime_multipart_set_prologue(multipart, CRYPTO_SIGNED_PREAMBLE);
	g_mime_multipart_add(multipart, content);
	g_mime_multipart_add(multipart, GMIME_OBJECT(sigpart));

	if (!crypto_self_verify(options, content, signature, signer, error))
		return NULL;
	return crypto_outer_message(message, GMIME_OBJECT(mps));
}

/* ---- encrypt -------------------------------------------------------- */

/* After gpgme_op_encrypt*: a refused recipient, with gpg's reason. */
static gboolean
crypto_check_encrypt_result(gpgme_ctx_t ctx, gpgme_error_t err, GError **error)
{
	gpgme_encrypt_result_t result = gpgme_op_encrypt_result(ctx);
	if (result != NULL && result->invalid_recipients != NULL) {
		char buf[256];
		gpgme_strerror_r(result->invalid_recipients->reason, buf, sizeof buf);
		g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL, "crypto: gpg refused recipient key %s: %s",
		            result->invalid_recipients->fpr, buf);
		return FALSE;
	}
	if (err != 0) {
		kov_gpgerror_set(error, err, KOV_GPGERROR_BY_CODE, "crypto: encrypting");
		return FALSE;
	}
	return TRUE;
}

/* Encrypt (and sign) the content of @in_fd into a new temporary file,
 * returned rewound, or -1. */
static int
crypto_encrypt_file(const KovCryptoOptions *options, int in_fd, gpgme_key_t *recipients,
                    const char *recpstring, gpgme_key_t signer, GError **error)
{
	gpgme_ctx_t ctx = options->ctx;
	if (!crypto_set_signer(ctx, signer, error))
		return -1;
	gpgme_set_armor(ctx, 1);
	gpgme_set_textmode(ctx, 1);
	int out_fd = kov_scratch_new(options->tempdir, options->mail_size, error);
	if (out_fd < 0)
		return -1;
	g_auto(gpgme_data_t) in = crypto_data_from_fd(in_fd, error);
	g_auto(gpgme_data_t) out = in != NULL ? crypto_data_from_fd(out_fd, error) : NULL;
	if (out == NULL)
		goto fail;
	/* ALWAYS_TRUST: the caller chose these keys after checking their
	 * validity itself (or was told alwaystrust), so gpg's own trust check
	 * would only repeat it. NO_ENCRYPT_TO: exactly these recipients, never
	 * a gpg.conf encrypt-to key that a Bcc recipient's copy would reveal. */
	gpgme_encrypt_flags_t flags = GPGME_ENCRYPT_ALWAYS_TRUST | GPGME_ENCRYPT_NO_ENCRYPT_TO;
	gpgme_error_t err;
	if (recpstring != NULL)
		err = signer != NULL ? gpgme_op_encrypt_sign_ext(ctx, NULL, recpstring, flags, in, out)
		                     : gpgme_op_encrypt_ext(ctx, NULL, recpstring, flags, in, out);
	else
		err = signer != NULL ? gpgme_op_encrypt_sign(ctx, recipients, flags, in, out)
		                     : gpgme_op_encrypt(ctx, recipients, flags, in, out);
	if (!crypto_check_encrypt_result(ctx, err, error) ||
	    (signer != NULL && !crypto_check_sign_result(ctx, signer, NULL, error)))
		goto fail;
	if (lseek(out_fd, 0, SEEK_SET) < 0) {
		kov_error_set_errno(error, errno, "crypto: cannot rewind a temporary file");
		goto fail;
	}
	return out_fd;
fail:
	close(out_fd);
	return -1;
}

/* To @recipients (keys) or, when not NULL, @recpstring (gpg's lines). */
static GMimeMessage *
crypto_encrypt(const KovCryptoOptions *options, GMimeMessage *message, gpgme_key_t *recipients,
               const char *recpstring, gpgme_key_t signer, GError **error)
{
	int in_fd = crypto_prepare_entity(options, message, error);
	if (in_fd < 0)
		return NULL;
	int out_fd = crypto_encrypt_file(options, in_fd, recipients, recpstring, signer, error);
	close(in_fd);
	if (out_fd < 0)
		return NULL;
	g_autoptr(GMimeStream) ciphertext = g_mime_stream_fs_new(out_fd);
	g_autoptr(GMimeObject) mpe = kov_ciphertext_pgp_new(ciphertext, options->preamble);
	return crypto_outer_message(message, mpe);
}

GMimeMessage *
kov_crypto_encrypt(const KovCryptoOptions *options, GMimeMessage *message,
                   gpgme_key_t *recipients, gpgme_key_t signer, GError **error)
{
	g_return_val_if_fail(options != NULL && options->ctx != NULL, NULL);
	g_return_val_if_fail(GMIME_IS_MESSAGE(message), NULL);
	g_return_val_if_fail(recipients != NULL && recipients[0] != NULL, NULL);
	return crypto_encrypt(options, message, recipients, NULL, signer, error);
}

/* A fingerprint (40 or 64 hex digits), optionally with '!': gpg can read
 * nothing else in it, no user ID, no option, no second line. */
static gboolean
crypto_pin_ok(const char *pin)
{
	gsize n = strspn(pin, "0123456789abcdefABCDEF");
	return (n == 40 || n == 64) && (pin[n] == '\0' || (pin[n] == '!' && pin[n + 1] == '\0'));
}

GMimeMessage *
kov_crypto_encrypt_pinned(const KovCryptoOptions *options, GMimeMessage *message,
                          const char *const *pins, gpgme_key_t signer, GError **error)
{
	g_return_val_if_fail(options != NULL && options->ctx != NULL, NULL);
	g_return_val_if_fail(GMIME_IS_MESSAGE(message), NULL);
	g_return_val_if_fail(pins != NULL && pins[0] != NULL, NULL);

	g_autoptr(GString) lines = g_string_new(NULL);
	for (const char *const *pin = pins; *pin != NULL; pin++) {
		if (!crypto_pin_ok(*pin)) {
			g_autofree char *shown = g_strescape(*pin, NULL);
			g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL,
			            "crypto: recipient \"%s\" is not a fingerprint", shown);
			return NULL;
		}
		g_string_append_printf(lines, "%s\n", *pin);
	}
	return crypto_encrypt(options, message, NULL, lines->str, signer, error);
}
