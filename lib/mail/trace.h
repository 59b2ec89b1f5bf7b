/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Mail loops: koverto marks every copy it sends with a trace header, and a
 * mail that comes back with our mark, or with more hops than max-hops, is
 * failed instead of being processed again and again. */
#pragma once
#include <glib.h>
#include <gmime/gmime.h>

#define KOV_TRACE_HEADER "X-Koverto-Trace"

/* FALSE with KOV_ERROR_PERMFAIL ("mail loop: ...") when @message already
 * passed through koverto on @host, or carries more than @max_hops
 * Received/trace headers. */
gboolean kov_trace_check(GMimeMessage *message, const char *host, guint max_hops, GError **error);

/* Put our mark on top of @message's header. */
void kov_trace_add(GMimeMessage *message, const char *host, const char *id);

/* This machine's name, for traces and reports (borrowed, static). */
const char *kov_trace_host(void);
