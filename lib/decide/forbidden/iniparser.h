/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Found first on the include path of the base and decide layers, so that
 * an include of <iniparser.h> there fails the build: those layers take GLib alone
 * and do no I/O (doc/architecture.md). Move the code up a layer instead. */
#error "<iniparser.h> in the base or decide layer: these take GLib alone (see doc/architecture.md)"
