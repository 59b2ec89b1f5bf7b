/* SPDX-License-Identifier: GPL-3.0-or-later */
/* lib/base/metrics.c: the text format compared whole (HELP and TYPE,
 * escaping, series sorted, histograms cumulative up to +Inf with _sum and
 * _count, label sets at 0 from the start), and the event lines: what a
 * reporter writes is what the watcher applies, and anything else is
 * refused without changing a number. */
#include "error.h"
#include "metrics.h"

#include <glib.h>
#include <math.h>
#include <string.h>

static const char *const queue_labels[] = { "queue", "outcome", NULL };

static KovMetrics *
make_registry(void)
{
	KovMetrics *m = kov_metrics_new();
	static const double buckets[] = { 0.5, 1, 2.5, 432000 };
	kov_metrics_declare(m, "t_info", KOV_METRIC_GAUGE, "Build.", (const char *const[]){ "version", NULL },
	                    NULL, 0);
	kov_metrics_declare(m, "t_recipients_total", KOV_METRIC_COUNTER, "Recipients by outcome.",
	                    queue_labels, NULL, 0);
	kov_metrics_declare(m, "t_restarts_total", KOV_METRIC_COUNTER, "Restarts.", NULL, NULL, 0);
	kov_metrics_declare(m, "t_duration_seconds", KOV_METRIC_HISTOGRAM, "Latency.",
	                    (const char *const[]){ "queue", NULL }, buckets, G_N_ELEMENTS(buckets));
	return m;
}

static void
test_render_exact(void)
{
	g_autoptr(KovMetrics) m = make_registry();

	kov_metrics_set(m, "t_info", (const char *const[]){ "1.2", NULL }, 1);
	kov_metrics_touch(m, "t_recipients_total", (const char *const[]){ "sign", "signed", NULL });
	kov_metrics_touch(m, "t_recipients_total", (const char *const[]){ "enc", "failed", NULL });
	kov_metrics_add(m, "t_recipients_total", (const char *const[]){ "enc", "encrypted", NULL }, 2);
	kov_metrics_add(m, "t_restarts_total", NULL, 1);
	kov_metrics_touch(m, "t_duration_seconds", (const char *const[]){ "sign", NULL });
	kov_metrics_add(m, "t_duration_seconds", (const char *const[]){ "enc", NULL }, 0.25);
	kov_metrics_add(m, "t_duration_seconds", (const char *const[]){ "enc", NULL }, 1);
	kov_metrics_add(m, "t_duration_seconds", (const char *const[]){ "enc", NULL }, 2);
	kov_metrics_add(m, "t_duration_seconds", (const char *const[]){ "enc", NULL }, 3600);
	g_autofree char *text = kov_metrics_render(m);
	g_assert_cmpstr(text, ==,
		"# HELP t_info Build.\n"
		"# TYPE t_info gauge\n"
		"t_info{version=\"1.2\"} 1\n"
		"# HELP t_recipients_total Recipients by outcome.\n"
		"# TYPE t_recipients_total counter\n"
		"t_recipients_total{queue=\"enc\",outcome=\"encrypted\"} 2\n"
		"t_recipients_total{queue=\"enc\",outcome=\"failed\"} 0\n"
		"t_recipients_total{queue=\"sign\",outcome=\"signed\"} 0\n"
		"# HELP t_restarts_total Restarts.\n"
		"# TYPE t_restarts_total counter\n"
		"t_restarts_total 1\n"
		"# HELP t_duration_seconds Latency.\n"
		"# TYPE t_duration_seconds histogram\n"
		"t_duration_seconds_bucket{queue=\"enc\",le=\"0.5\"} 1\n"
		"t_duration_seconds_bucket{queue=\"enc\",le=\"1\"} 2\n"
		"t_duration_seconds_bucket{queue=\"enc\",le=\"2.5\"} 3\n"
		"t_duration_seconds_bucket{queue=\"enc\",le=\"432000\"} 4\n"
		"t_duration_seconds_bucket{queue=\"enc\",le=\"+Inf\"} 4\n"
		"t_duration_seconds_sum{queue=\"enc\"} 3603.25\n"
		"t_duration_seconds_count{queue=\"enc\"} 4\n"
		"t_duration_seconds_bucket{queue=\"sign\",le=\"0.5\"} 0\n"
		"t_duration_seconds_bucket{queue=\"sign\",le=\"1\"} 0\n"
		"t_duration_seconds_bucket{queue=\"sign\",le=\"2.5\"} 0\n"
		"t_duration_seconds_bucket{queue=\"sign\",le=\"432000\"} 0\n"
		"t_duration_seconds_bucket{queue=\"sign\",le=\"+Inf\"} 0\n"
		"t_duration_seconds_sum{queue=\"sign\"} 0\n"
		"t_duration_seconds_count{queue=\"sign\"} 0\n");
}

/* HELP escapes \ and LF; label values escape \, " and LF. */
static void
test_render_escaping(void)
{
	g_autoptr(KovMetrics) m = kov_metrics_new();
	kov_metrics_declare(m, "t_x", KOV_METRIC_GAUGE, "a \\ b\nc \"d\"", (const char *const[]){ "l", NULL },
	                    NULL, 0);
	kov_metrics_set(m, "t_x", (const char *const[]){ "q\"u\\o\nte", NULL }, 0.1);
	kov_metrics_set(m, "t_x", (const char *const[]){ "big", NULL }, 1e21);
	kov_metrics_set(m, "t_x", (const char *const[]){ "neg", NULL }, -3);
	kov_metrics_set(m, "t_x", (const char *const[]){ "time", NULL }, 1796651890);
	kov_metrics_set(m, "t_x", (const char *const[]){ "tiny", NULL }, 1.5e-7);
	g_autofree char *text = kov_metrics_render(m);
	g_assert_cmpstr(text, ==,
		"# HELP t_x a \\\\ b\\nc \"d\"\n"
		"# TYPE t_x gauge\n"
		"t_x{l=\"big\"} 1e+21\n"
		"t_x{l=\"neg\"} -3\n"
		"t_x{l=\"q\\\"u\\\\o\\nte\"} 0.1\n"
		"t_x{l=\"time\"} 1796651890\n"
		"t_x{l=\"tiny\"} 1.5e-07\n");
}

static void
test_clear_and_get(void)
{
	g_autoptr(KovMetrics) m = make_registry();
	const char *const enc[] = { "enc", "encrypted", NULL };

	g_assert_cmpfloat(kov_metrics_get(m, "t_recipients_total", enc), ==, -1);
	kov_metrics_add(m, "t_recipients_total", enc, 1);
	g_assert_cmpfloat(kov_metrics_get(m, "t_recipients_total", enc), ==, 1);
	g_assert_cmpfloat(kov_metrics_get(m, "t_restarts_total", NULL), ==, 0);
	kov_metrics_clear(m, "t_recipients_total");
	g_assert_cmpfloat(kov_metrics_get(m, "t_recipients_total", enc), ==, -1);
	kov_metrics_add(m, "t_restarts_total", NULL, 1);
	kov_metrics_clear(m, "t_restarts_total");
	g_assert_cmpfloat(kov_metrics_get(m, "t_restarts_total", NULL), ==, 0);
}

/* What a reporter writes is what the watcher applies. */
static void
test_event_round_trip(void)
{
	g_autoptr(KovMetrics) m = make_registry();
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	const char *family = NULL;
	g_auto(GStrv) values = NULL;

	kov_metrics_touch(m, "t_recipients_total", (const char *const[]){ "enc", "encrypted", NULL });
	kov_metrics_touch(m, "t_duration_seconds", (const char *const[]){ "enc", NULL });
	kov_metrics_event_append(out, "t_recipients_total", 3, "queue", "enc", "outcome", "encrypted", NULL);
	kov_metrics_event_append(out, "t_duration_seconds", 0.75, "queue", "enc", NULL);
	kov_metrics_event_append(NULL, "t_duration_seconds", 0.75, "queue", "enc", NULL);
	g_assert_cmpstr(out->str, ==, "M t_recipients_total queue=enc outcome=encrypted 3\n"
	                              "M t_duration_seconds queue=enc 0.75\n");
	g_auto(GStrv) lines = g_strsplit(out->str, "\n", -1);
	g_assert_true(kov_metrics_is_event(lines[0]));
	g_assert_true(kov_metrics_apply_event(m, lines[0], &family, &values, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(family, ==, "t_recipients_total");
	g_assert_cmpstrv(values, ((const char *const[]){ "enc", "encrypted", NULL }));
	g_assert_true(kov_metrics_apply_event(m, lines[1], NULL, NULL, &error));
	g_assert_cmpfloat(kov_metrics_get(m, "t_recipients_total",
	                                  (const char *const[]){ "enc", "encrypted", NULL }), ==, 3);
	g_assert_cmpfloat(kov_metrics_get(m, "t_duration_seconds", (const char *const[]){ "enc", NULL }),
	                  ==, 1);
	/* A value that is not event-safe goes as "_", which no series has. */
	g_string_truncate(out, 0);
	kov_metrics_event_append(out, "t_recipients_total", 1, "queue", "a b\"", "outcome", "", NULL);
	g_assert_cmpstr(out->str, ==, "M t_recipients_total queue=_ outcome=_ 1\n");
}

/* Garbled, unknown or hostile lines change nothing. */
static void
test_event_strict(void)
{
	static const char *const bad[] = {
		"",
		"M",
		"M ",
		"X t_restarts_total 1",
		"M t_restarts_total",
		"M t_restarts_total 1 ",
		"M t_restarts_total  1",
		"M t_restarts_total -1",
		"M t_restarts_total nan",
		"M t_restarts_total inf",
		"M t_restarts_total 1e999",
		"M t_restarts_total 0x10",
		"M t_restarts_total 1x",
		"M t_unknown_total 1",
		"M t_info version=1.2 1",                               /* a gauge */
		"M t_recipients_total queue=enc 1",                     /* a label short */
		"M t_recipients_total outcome=encrypted queue=enc 1",   /* the wrong order */
		"M t_recipients_total queue=enc outcome=encrypted x=y 1",
		"M t_recipients_total queue=enc outcome=signed 1",      /* no such series */
		"M t_recipients_total queue=enc outcome= 1",
		"M t_recipients_total queue=e\"nc outcome=encrypted 1",
		"M t_recipients_total queuex=enc outcome=encrypted 1",
		"M t_recipients_total queue=enc\toutcome=encrypted 1",
	};
	g_autoptr(KovMetrics) m = make_registry();
	kov_metrics_touch(m, "t_recipients_total", (const char *const[]){ "enc", "encrypted", NULL });
	kov_metrics_set(m, "t_info", (const char *const[]){ "1.2", NULL }, 1);
	g_autofree char *before = kov_metrics_render(m);

	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_auto(GStrv) values = NULL;
		g_assert_false(kov_metrics_apply_event(m, bad[i], NULL, &values, &error));
		g_assert_error(error, KOV_ERROR, KOV_ERROR_DATAERR);
		g_assert_null(values);
	}
	g_autofree char *longline = g_strdup_printf("M t_restarts_total %0*d", KOV_METRICS_EVENT_MAX, 1);
	g_assert_false(kov_metrics_apply_event(m, longline, NULL, NULL, NULL));
	g_autofree char *after = kov_metrics_render(m);
	g_assert_cmpstr(before, ==, after);
	g_assert_true(kov_metrics_apply_event(m, "M t_restarts_total 1", NULL, NULL, NULL));
	g_assert_cmpfloat(kov_metrics_get(m, "t_restarts_total", NULL), ==, 1);
}

static guint
count_lines(const char *s)
{
	guint n = 0;
	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* Random lines, and random mutations of good ones: no crash, and the
 * registry neither grows nor changes unless the line was a good event. */
static void
test_event_random(void)
{
	static const char *const good[] = {
		"M t_recipients_total queue=enc outcome=encrypted 1",
		"M t_duration_seconds queue=enc 0.5",
		"M t_restarts_total 1",
	};
	static const char alphabet[] = "M t_=. 0123456789\"\\\n\teqnucoiadrs+-xe";
	g_autoptr(KovMetrics) m = make_registry();
	g_autoptr(GRand) rand = g_rand_new_with_seed(15);
	kov_metrics_touch(m, "t_recipients_total", (const char *const[]){ "enc", "encrypted", NULL });
	kov_metrics_touch(m, "t_duration_seconds", (const char *const[]){ "enc", NULL });

	for (int i = 0; i < 5000; i++) {
		g_autoptr(GString) line = g_string_new(good[g_rand_int_range(rand, 0, G_N_ELEMENTS(good))]);
		int edits = g_rand_int_range(rand, 0, 4);
		for (int e = 0; e < edits && line->len > 0; e++) {
			gsize at = g_rand_int_range(rand, 0, line->len);
			char c = alphabet[g_rand_int_range(rand, 0, sizeof alphabet - 1)];
			switch (g_rand_int_range(rand, 0, 3)) {
			case 0: line->str[at] = c; break;
			case 1: g_string_insert_c(line, at, c); break;
			default: g_string_erase(line, at, 1); break;
			}
		}
		g_autofree char *before = kov_metrics_render(m);
		gboolean applied = kov_metrics_apply_event(m, line->str, NULL, NULL, NULL);
		g_autofree char *after = kov_metrics_render(m);
		/* The series are the same ones: only a value may change. */
		g_assert_cmpuint(count_lines(after), ==, count_lines(before));
		if (!applied)
			g_assert_cmpstr(before, ==, after);
	}
	g_assert_cmpfloat(kov_metrics_get(m, "t_recipients_total",
	                                  (const char *const[]){ "enc", "signed", NULL }), ==, -1);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/metrics/render-exact", test_render_exact);
	g_test_add_func("/metrics/render-escaping", test_render_escaping);
	g_test_add_func("/metrics/clear-and-get", test_clear_and_get);
	g_test_add_func("/metrics/event-round-trip", test_event_round_trip);
	g_test_add_func("/metrics/event-strict", test_event_strict);
	g_test_add_func("/metrics/event-random", test_event_random);
	return g_test_run();
}
