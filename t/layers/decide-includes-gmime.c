/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Must not compile: the decide layer takes GLib alone (CMakeLists.txt,
 * test layers/decide-rejects-gmime). */
#include "policy.h"
#include <gmime/gmime.h>
