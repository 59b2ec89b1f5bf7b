/* SPDX-License-Identifier: GPL-3.0-or-later */
/* sd_notify(3) by hand (notify.h): one datagram per state change on a
 * fresh unbound socket, as libsystemd sends it. Not libsystemd itself:
 * the protocol is one sendto(), GIO is linked already, and the daemon
 * then runs the same under any manager that speaks it (or none). */
#include "notify.h"
#include "error.h"
#include "log.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>
#include <sys/un.h>

struct _KovNotify {
	GSocketAddress *address;
};

KovNotify *
kov_notify_new(const char *name, GError **error)
{
	g_return_val_if_fail(name != NULL, NULL);
	struct sockaddr_un sun;
	gsize len = strlen(name);
	GSocketAddress *address;

	/* sun_path holds the abstract name after its leading NUL, or the path
	 * with its terminating NUL: one byte less either way. */
	if (len < 2 || len >= sizeof sun.sun_path || (name[0] != '/' && name[0] != '@')) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "notify: NOTIFY_SOCKET \"%.*s\" is neither an absolute path nor an "
		            "abstract name ('@'), or too long", 80, name);
		return NULL;
	}
	if (name[0] == '@')
		address = g_unix_socket_address_new_with_type(name + 1, (gint)len - 1,
		                                              G_UNIX_SOCKET_ADDRESS_ABSTRACT);
	else
		address = g_unix_socket_address_new(name);
	KovNotify *n = g_new0(KovNotify, 1);
	n->address = address;
	return n;
}

KovNotify *
kov_notify_new_from_env(GError **error)
{
	const char *name = g_getenv("NOTIFY_SOCKET");
	if (name == NULL || *name == '\0') {
		g_unsetenv("NOTIFY_SOCKET");
		return NULL;
	}
	KovNotify *n = kov_notify_new(name, error);
	g_unsetenv("NOTIFY_SOCKET");
	return n;
}

void
kov_notify_free(KovNotify *n)
{
	if (n == NULL)
		return;
	g_clear_object(&n->address);
	g_free(n);
}

gboolean
kov_notify_send(KovNotify *n, const char *state, GError **error)
{
	g_return_val_if_fail(state != NULL, FALSE);
	if (n == NULL)
		return TRUE;
	g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM,
	                                         G_SOCKET_PROTOCOL_DEFAULT, error);
	if (socket == NULL) {
		g_prefix_error(error, "notify: ");
		return FALSE;
	}
	/* The manager not reading is its problem; the mail must not wait. */
	g_socket_set_blocking(socket, FALSE);
	gsize len = strlen(state);
	gssize sent = g_socket_send_to(socket, n->address, state, len, NULL, error);
	if (sent < 0) {
		g_prefix_error(error, "notify: ");
		return FALSE;
	}
	if ((gsize)sent != len) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_IOERR, "notify: %zd of %zu bytes sent", sent, len);
		return FALSE;
	}
	return TRUE;
}

void
kov_notify_status(KovNotify *n, const char *state, const char *format, ...)
{
	if (n == NULL)
		return;
	va_list ap;
	va_start(ap, format);
	g_autofree char *status = g_strdup_vprintf(format, ap);
	va_end(ap);
	/* One line: a newline in a queue name or a path would start a new
	 * assignment. */
	g_strdelimit(status, "\n\r", ' ');
	g_autofree char *message = g_strdup_printf("%s%sSTATUS=%s", state ? state : "",
	                                           state ? "\n" : "", status);
	g_autoptr(GError) error = NULL;
	if (!kov_notify_send(n, message, &error))
		kov_log_err("%s", error->message);
}
