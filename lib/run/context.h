/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What a worker holds for every mail it handles: the configuration, the
 * keys and the delivery connection. Its own header, so that reports and
 * the plan's actor share it without including each other. */
#pragma once
#include "config.h"
#include "deliver.h"
#include "keys.h"

typedef struct {
	const KovConfig *config;  /* borrowed */
	KovKeys *keys;            /* borrowed */
	KovDeliver *deliver;      /* borrowed; its connection is reused across mails */
	GString *events;          /* borrowed, nullable (no metrics-file): metric event
	                           * lines for the watcher (metrics.h), sent before the reply */
} KovContext;
