/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The checks of a load beyond one value: who may write or read the file
 * (anyone who can write it can make koverto run any program as msp), that
 * iniparser and the pre-pass agree, and the options that need each other,
 * with the defaults that need the passwd entry. */
#include "config-check.h"
#include "config-listen-load.h"
#include "config-value.h"
#include "error.h"

#include <string.h>
#include <sys/stat.h>

/* Who besides the owner has the permission @group_bit/@other_bit in
 * @mode: "its group", "others" or "its group and others". */
static const char *
kov_config_check_who(mode_t mode, mode_t group_bit, mode_t other_bit)
{
	if ((mode & group_bit) != 0)
		return (mode & other_bit) != 0 ? "its group and others" : "its group";
	return "others";
}

/* Anyone who can write the file can set msp, and so make koverto run any
 * program as the user it runs as. */
gboolean
kov_config_check_writable(KovConfigLoad *load, GError **error)
{
	if ((load->st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		kov_config_fail(error, load, 0,
		                "may be written by %s (mode %04o), who could make koverto run any "
		                "program; chmod go-w it",
		                kov_config_check_who(load->st.st_mode, S_IWGRP, S_IWOTH),
		                (unsigned)(load->st.st_mode & 07777));
		return FALSE;
	}
	return TRUE;
}

/* The pre-pass must have placed everything iniparser read; if the two ever
 * disagree about the syntax, refuse rather than check the wrong lines. */
gboolean
kov_config_check_placed(KovConfigLoad *load, GError **error)
{
	if (load->kuvert)
		return TRUE;
	for (ssize_t i = 0; i < load->dict->size; i++) {
		const char *key = load->dict->key[i];
		if (key != NULL && !g_hash_table_contains(load->where, key)) {
			kov_config_fail(error, load, 0, "cannot tell where \"%s\" is in the file", key);
			return FALSE;
		}
	}
	return TRUE;
}

/* The first value given for option @name, before any check. (borrowed) */
static const char *
kov_config_check_raw_value(const KovConfigLoad *load, const char *name)
{
	if (!load->kuvert) {
		g_autofree char *dict_key = g_strconcat("koverto:", name, NULL);
		return iniparser_getstring(load->dict, dict_key, NULL);
	}
	for (guint i = 0; i < load->entries->len; i++) {
		const KovConfigEntry *entry = g_ptr_array_index(load->entries, i);
		if (!entry->rule && g_str_equal(entry->key, name))
			return entry->value;
	}
	return NULL;
}

gboolean
kov_config_check_mode(KovConfigLoad *load, GError **error)
{
	const char *secrets[] = { "mspass", "ma-pass" };
	gboolean holds = FALSE;
	for (gsize i = 0; i < G_N_ELEMENTS(secrets); i++) {
		const char *value = kov_config_check_raw_value(load, secrets[i]);
		holds = holds || (value != NULL && value[0] != '\0');
	}
	/* A [client] password hash can be attacked offline: kept as secret. */
	holds = holds || kov_config_listen_holds_hash(load);
	if (holds && (load->st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
		kov_config_fail(error, load, 0,
		                "holds a password but is readable by %s (mode %04o); chmod 600 it",
		                kov_config_check_who(load->st.st_mode, S_IRGRP, S_IROTH),
		                (unsigned)(load->st.st_mode & 07777));
		return FALSE;
	}
	return TRUE;
}

/* Checks across options, and the defaults that need the passwd entry. */
gboolean
kov_config_check_all(KovConfigLoad *load, KovConfig *config, GError **error)
{
	guint msp_line = kov_config_line_of(load, "koverto:msp");

	if (config->msserver == NULL) {
		/* No SMTP server: msp is the transport, so it must run. */
		if (config->msp == NULL) {
			kov_config_fail(error, load, msp_line,
			                "key \"msp\": empty, and without msserver nothing could deliver");
			return FALSE;
		}
		g_autoptr(GError) why = NULL;
		g_autofree char *program = kov_config_value_find_program(config->msp[0], &why);
		if (program == NULL) {
			kov_config_fail(error, load, msp_line,
			                "key \"msp\"%s: %s (msserver is unset, so msp delivers)",
			                msp_line != 0 ? "" : " (default)", why->message);
			return FALSE;
		}
		g_free(config->msp[0]);
		config->msp[0] = g_steal_pointer(&program);
	}
	if (config->msuser != NULL && config->mspass == NULL && !config->mspass_from_query_secret) {
		kov_config_fail(error, load, kov_config_line_of(load, "koverto:msuser"),
		                "key \"msuser\": needs mspass (or mspass-from-query-secret)");
		return FALSE;
	}
	if (config->mspass_from_query_secret && config->query_secret == NULL) {
		kov_config_fail(error, load, kov_config_line_of(load, "koverto:mspass-from-query-secret"),
		                "key \"mspass-from-query-secret\": needs query-secret");
		return FALSE;
	}
	if ((config->ssl_cert == NULL) != (config->ssl_key == NULL)) {
		gboolean cert = config->ssl_cert != NULL;
		kov_config_fail(error, load,
		                kov_config_line_of(load, cert ? "koverto:ssl-cert" : "koverto:ssl-key"),
		                "key \"%s\": needs %s too", cert ? "ssl-cert" : "ssl-key",
		                cert ? "ssl-key" : "ssl-cert");
		return FALSE;
	}
	if (config->queuedir == NULL || config->tempdir == NULL) {
		if (!kov_config_passwd(load, error)) {
			g_prefix_error(error, "%s: ", load->file);
			return FALSE;
		}
		if (config->queuedir == NULL)
			config->queuedir = g_build_filename(load->home, ".kuvert_queue", NULL);
		if (config->tempdir == NULL) {
			/* Not Kuvert's name: Kuvert empties its tempdir on start. */
			const char *tmp = g_getenv("TMPDIR");
			g_autofree char *name = g_strconcat("koverto.", load->user, NULL);
			config->tempdir = g_build_filename(tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", name,
			                                   NULL);
		}
	}
	if (config->retry_max < config->retry_first) {
		guint line = kov_config_line_of(load, "koverto:retry-max");
		kov_config_fail(error, load, line != 0 ? line : kov_config_line_of(load, "koverto:retry-first"),
		                "key \"retry-max\" (%" G_GINT64_FORMAT "s) is shorter than retry-first (%"
		                G_GINT64_FORMAT "s)", config->retry_max, config->retry_first);
		return FALSE;
	}
	return TRUE;
}
