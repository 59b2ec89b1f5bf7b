/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What only the unit tests and the fuzz target ask of a session (not part
 * of the contract in session.h): how much input it holds. */
#pragma once
#include "session.h"

/* Octets pushed and not consumed yet (at most a partial line once _step
 * said NEED_INPUT). */
gsize kov_smtp_session_pending(const KovSmtpSession *s);
