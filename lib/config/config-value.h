/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The typed value parsers behind the option table, and the rule line.
 * Each returns FALSE (or NULL) with KOV_ERROR_CONFIG saying only what is
 * wrong with the value; the caller adds file, line and key. Internal to
 * lib/config. */
#pragma once
#include "config-internal.h"

/* Check @value for @opt and store it at @opt's offset in @base (a
 * KovConfig or KovQueueConfig); @load gives the home for "~/". */
gboolean kov_config_value_parse(KovConfigLoad *load, const KovOption *opt, gpointer base,
                                const char *value, GError **error);
/* Digits only (no sign, no blanks), @min..@max. */
gboolean kov_config_value_parse_number(const char *value, guint min, guint max, guint *out,
                                       GError **error);
/* Seconds, or a number with s, m, h or d; @min..@max seconds. */
gboolean kov_config_value_parse_duration(const char *value, guint64 min, guint64 max, gint64 *out,
                                         GError **error);
/* Octets, or a number with k, M or G (1024-based); @min..@max octets. */
gboolean kov_config_value_parse_size(const char *value, guint64 min, guint64 max, guint64 *out,
                                     GError **error);
/* 8, 16 or 40 hex digits, any case, optional 0x. */
gboolean kov_config_value_is_keyid(const char *value);
/* An IP address, or a host name of letters, digits, '.', '-' and '_'. */
gboolean kov_config_value_is_host(const char *value);
/* @pattern compiled to match a whole address in any case. (transfer full) */
GRegex *kov_config_value_compile_senders(const char *pattern, GError **error);
/* @word as a program: a path to an executable file, or a name looked up
 * in $PATH. (transfer full) */
char *kov_config_value_find_program(const char *word, GError **error);
/* "program args" split on whitespace, as Kuvert does (no shell quoting).
 * (transfer full, NULL-terminated) */
char **kov_config_value_split_words(const char *value);
/* "REGEX ACTION[,KEY]" with an optional "#" comment, as a rule from
 * @line. (transfer full) */
KovRule *kov_config_value_parse_rule(const char *text, guint line, GError **error);
/* A [rules] key: a positive whole number, the rule's place in the order. */
gboolean kov_config_value_rule_number(const char *key, guint *number);
