#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# What -n and the daemon's start say and refuse before anything runs
# (issue 10 B1, B2, B4, B5, B9).
. "$T/lib.sh"
setup

# B9: -h prints the real search order, ~/.kuvert included.
"$KOVERTO" -h > "$W/help"
check "-h: exit 0" [ $? = 0 ]
check "-h names ~/.kuvert" grep -q '~/.kuvert' "$W/help"
check "-h: \$KOVERTO_CONF before ~/.kuvert before the default" \
	grep -q 'KOVERTO_CONF, else ~/.kuvert if it exists, else /etc/koverto/koverto.conf' "$W/help"

done_testing
