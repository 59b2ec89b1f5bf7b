/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Must not compile: the decide layer cannot see the mail layer above it
 * (CMakeLists.txt, test layers/decide-rejects-upward). */
#include "policy.h"
#include "message.h"
