/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target over the event lines workers and the listener send the
 * watcher ("M NAME LABEL=VALUE ... V", lib/base/metrics.c), which a
 * compromised worker writes as it likes. Each line of the input (up to
 * 32, NUL cut) goes to kov_metrics_apply_event on a registry of every
 * kind of family, and to the watcher's own (lib/run/telemetry.c, from a
 * configuration written once under $KOVERTO_FUZZ_DIR or /tmp). Promises,
 * any break aborts:
 * - a refused line changes nothing: the rendered registry is the same
 *   byte for byte, and the refusal says why;
 * - an accepted line is an event line of at most KOV_METRICS_EVENT_MAX
 *   bytes, of a counter or histogram declared, with as many label values
 *   as the family has labels, each event-safe; no series is made;
 * - the rendering stays valid UTF-8, without NaN, Inf or a negative
 *   counter.
 * Built with -DKOVERTO_FUZZ=ON (clang); run by scripts/fuzz, seeds in
 * seed-metric-event/. */
#include "config.h"
#include "error.h"
#include "metrics.h"
#include "telemetry.h"

#include <glib/gstdio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...)                                                   \
	do {                                                        \
		fprintf(stderr, "fuzz-metric-event: " __VA_ARGS__); \
		fputc('\n', stderr);                                \
		abort();                                            \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const queue_outcome[] = { "queue", "outcome", NULL };
static const char *const queue_only[] = { "queue", NULL };

static KovMetrics *
registry(void)
{
	KovMetrics *m = kov_metrics_new();
	static const double buckets[] = { 0.1, 1, 10, 432000 };
	kov_metrics_declare(m, "f_info", KOV_METRIC_GAUGE, "A gauge.", queue_only, NULL, 0);
	kov_metrics_declare(m, "f_total", KOV_METRIC_COUNTER, "No labels.", NULL, NULL, 0);
	kov_metrics_declare(m, "f_recipients_total", KOV_METRIC_COUNTER, "Two labels.", queue_outcome,
	                    NULL, 0);
	kov_metrics_declare(m, "f_seconds", KOV_METRIC_HISTOGRAM, "A histogram.", queue_only, buckets,
	                    G_N_ELEMENTS(buckets));
	kov_metrics_touch(m, "f_info", (const char *const[]){ "fallback", NULL });
	kov_metrics_touch(m, "f_recipients_total", (const char *const[]){ "fallback", "sent", NULL });
	kov_metrics_touch(m, "f_recipients_total", (const char *const[]){ "must-encrypt", "failed", NULL });
	kov_metrics_touch(m, "f_seconds", (const char *const[]){ "fallback", NULL });
	return m;
}

static guint
labels_of(const char *family)
{
	if (strcmp(family, "f_total") == 0)
		return 0;
	if (strcmp(family, "f_recipients_total") == 0)
		return 2;
	if (strcmp(family, "f_seconds") == 0)
		return 1;
	FAIL("an event applied to \"%s\", no counter or histogram", family);
}

static void
check_render(const char *text)
{
	if (!g_utf8_validate(text, -1, NULL))
		FAIL("a rendering that is not UTF-8");
	for (const char *line = text; *line != '\0';) {
		const char *nl = strchr(line, '\n');
		gsize len = nl != NULL ? (gsize)(nl - line) : strlen(line);
		g_autofree char *l = g_strndup(line, len);
		if (l[0] != '#' && l[0] != '\0') {
			const char *v = strrchr(l, ' ');
			if (v == NULL || strstr(v, "Nan") || strstr(v, "NaN") || strstr(v, "Inf") || v[1] == '-')
				FAIL("a series line with a bad value: %s", l);
		}
		line += len + (nl != NULL);
	}
}

/* The watcher's registry, made once: events never make series, so it does
 * not grow from one input to the next. */
static KovTelemetry *
telemetry(void)
{
	static KovConfig *config;
	static KovTelemetry *t;
	if (t == NULL) {
		g_autoptr(GError) error = NULL;
		const char *base = g_getenv("KOVERTO_FUZZ_DIR");
		g_autofree char *dir = g_build_filename(base != NULL ? base : g_get_tmp_dir(), "kovfmXXXXXX",
		                                        NULL);
		if (g_mkdtemp(dir) == NULL)
			FAIL("cannot make a directory");
		g_autofree char *conf = g_build_filename(dir, "koverto.conf", NULL);
		g_autofree char *text = g_strdup_printf("[koverto]\nqueuedir = %s/q\ngnupghome = %s\n"
		                                        "metrics-file = %s/koverto.prom\n"
		                                        "[queue fallback]\n[queue must-encrypt]\n",
		                                        dir, dir, dir);
		if (!g_file_set_contents(conf, text, -1, &error))
			FAIL("cannot write %s", conf);
		g_chmod(conf, 0600);
		config = kov_config_load(conf, &error);
		if (config == NULL)
			FAIL("cannot load the configuration: %s", error->message);
		t = kov_telemetry_new(config);
	}
	return t;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	g_auto(GStrv) lines = g_strsplit(text, "\n", 33);
	g_autoptr(KovMetrics) m = registry();
	KovTelemetry *t = telemetry();

	for (guint i = 0; lines[i] != NULL && i < 32; i++) {
		const char *line = lines[i];
		g_autofree char *before = kov_metrics_render(m);
		g_autoptr(GError) error = NULL;
		const char *family = NULL;
		g_auto(GStrv) values = NULL;
		if (!kov_metrics_apply_event(m, line, &family, &values, &error)) {
			if (error == NULL || error->domain != KOV_ERROR || error->message[0] == '\0')
				FAIL("refused without an error");
			if (family != NULL || values != NULL)
				FAIL("refused, but a family or values set");
			g_autofree char *after = kov_metrics_render(m);
			if (strcmp(before, after) != 0)
				FAIL("a refused line changed the registry: \"%s\"", line);
		} else {
			if (!kov_metrics_is_event(line) || strlen(line) > KOV_METRICS_EVENT_MAX)
				FAIL("accepted a line that is no event line: \"%s\"", line);
			if (family == NULL || values == NULL || g_strv_length(values) != labels_of(family))
				FAIL("accepted, with the wrong label values: \"%s\"", line);
			for (char **v = values; *v != NULL; v++) {
				gsize n = strlen(*v);
				if (n == 0 || n > KOV_METRICS_VALUE_MAX
				    || strspn(*v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				                  "0123456789._@+-") != n)
					FAIL("accepted a label value that is not event-safe: \"%s\"", *v);
			}
			g_autofree char *after = kov_metrics_render(m);
			/* No series is made: as many lines as before. */
			guint nb = 0, na = 0;
			for (const char *p = before; *p; p++)
				nb += *p == '\n';
			for (const char *p = after; *p; p++)
				na += *p == '\n';
			if (na != nb)
				FAIL("an event made a series: \"%s\"", line);
			check_render(after);
		}
		kov_telemetry_event(t, line);
	}
	/* Its rendering is large (every bucket of every queue): now and then. */
	static guint inputs;
	if (inputs++ % 64 == 0) {
		g_autofree char *rendered = kov_telemetry_render(t);
		check_render(rendered);
	}
	return 0;
}
