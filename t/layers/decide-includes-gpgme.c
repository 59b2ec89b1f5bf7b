/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Must not compile: gpgme.h sits in /usr/include, so only the stub in
 * lib/decide/forbidden keeps it out of the decide layer. */
#include "policy.h"
#include <gpgme.h>
