/* SPDX-License-Identifier: GPL-3.0-or-later */
/* lib/run/telemetry.c on a real directory under /tmp: the file is written
 * whole, mode 0644 under umask 077, with no temporary left; the queue
 * gauges come from the items reported; events count, garbage does not;
 * a delivery sets the queue's last delivery; the timing says when the
 * file is due; a file that cannot be written is logged once, and once
 * more when it can be again. */
#include "config.h"
#include "fixture.h"
#include "log.h"
#include "telemetry.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
	char *dir;
	char *metrics;            /* dir/m/koverto.prom */
	KovConfig *config;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	f->dir = kov_test_tmpdir_new("kovtm");
	g_autofree char *g = g_build_filename(f->dir, "g", NULL);
	g_autofree char *m = g_build_filename(f->dir, "m", NULL);
	g_assert_cmpint(g_mkdir(g, 0700), ==, 0);
	g_assert_cmpint(g_mkdir(m, 0755), ==, 0);
	f->metrics = g_build_filename(m, "koverto.prom", NULL);
	g_autofree char *conf = g_build_filename(f->dir, "koverto.conf", NULL);
	g_autofree char *text = g_strdup_printf("[koverto]\nqueuedir = %s/q\ngnupghome = %s\n"
	                                        "metrics-file = %s\n[queue fallback]\n"
	                                        "[listen]\nsubmission = 127.0.0.1:1\n"
	                                        "[client mon]\nqueue = fallback\nsenders = .*\n"
	                                        "password = $6$abcdefgh$KQeXafAQAaOoKTevphVU215RvJdgzy"
	                                        "fASRasIOuh12hO8u0r1bGW92ZnTmC9IjsiQ8VPiTXBiZF49dFL1U4wX/\n",
	                                        f->dir, g, f->metrics);
	g_assert_true(g_file_set_contents(conf, text, -1, &error));
	g_chmod(conf, 0600);
	f->config = kov_config_load(conf, &error);
	g_assert_no_error(error);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
	(void)data;
	kov_config_free(f->config);
	kov_test_tree_remove(f->dir);
	g_free(f->dir);
	g_free(f->metrics);
}

static gboolean
has_line(const char *text, const char *line)
{
	g_autofree char *needle = g_strdup_printf("\n%s\n", line);
	return strstr(text, needle) != NULL;
}

static void
test_write(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(KovTelemetry) t = kov_telemetry_new(f->config);
	struct stat st;

	g_assert_true(kov_telemetry_due(t, FALSE));   /* never written */
	kov_telemetry_queues_begin(t);
	kov_telemetry_queue_item(t, "fallback", KOV_TELEMETRY_NEW, 200);
	kov_telemetry_queue_item(t, "fallback", KOV_TELEMETRY_DEFERRED, 50);
	kov_telemetry_queue_item(t, "fallback", KOV_TELEMETRY_DEFERRED, 70);
	kov_telemetry_queue_item(t, "gone", KOV_TELEMETRY_NEW, 1);   /* not configured: ignored */
	mode_t old = umask(077);
	kov_telemetry_write(t);
	umask(old);
	g_assert_cmpint(g_stat(f->metrics, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 07777, ==, 0644);
	g_autofree char *m = g_path_get_dirname(f->metrics);
	g_assert_cmpuint(kov_test_dir_count(m), ==, 1);   /* no temporary left */
	g_autofree char *text = kov_test_file_read(f->metrics, NULL);
	g_assert_true(has_line(text, "koverto_queue_messages{queue=\"fallback\",state=\"new\"} 1"));
	g_assert_true(has_line(text, "koverto_queue_messages{queue=\"fallback\",state=\"deferred\"} 2"));
	g_assert_true(has_line(text, "koverto_queue_messages{queue=\"fallback\",state=\"active\"} 0"));
	g_assert_true(has_line(text, "koverto_queue_messages{queue=\"must-encrypt\",state=\"new\"} 0"));
	g_assert_true(has_line(text, "koverto_queue_oldest_message_timestamp_seconds{queue=\"fallback\"} 50"));
	g_assert_null(strstr(text, "koverto_queue_oldest_message_timestamp_seconds{queue=\"kuvert\"}"));
	g_assert_null(strstr(text, "gone"));
	g_assert_true(has_line(text, "koverto_listener_messages_total{client=\"mon\"} 0"));
	g_assert_true(has_line(text, "koverto_build_info{version=\"" KOVERTO_VERSION "\"} 1"));

	/* Just written: due again only after activity and a second, or a minute. */
	g_assert_false(kov_telemetry_due(t, FALSE));
	g_assert_cmpint(kov_telemetry_timeout_ms(t, G_MAXINT), >, 50000);
	kov_telemetry_event(t, "M koverto_listener_sessions_total 1");
	g_assert_false(kov_telemetry_due(t, FALSE));
	g_assert_cmpint(kov_telemetry_timeout_ms(t, G_MAXINT), <=, 1001);
	g_assert_true(kov_telemetry_due(t, TRUE));
}

static void
test_events(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(KovTelemetry) t = kov_telemetry_new(f->config);

	kov_telemetry_event(t, "M koverto_recipients_total queue=fallback outcome=encrypted 2");
	kov_telemetry_event(t, "M koverto_recipients_total queue=nosuch outcome=encrypted 1");
	kov_telemetry_event(t, "M koverto_recipients_total queue=fallback outcome=lost 1");
	kov_telemetry_event(t, "M koverto_queue_messages queue=fallback state=new 9");   /* a gauge */
	kov_telemetry_event(t, "D 0");
	kov_telemetry_event(t, "M koverto_delivery_duration_seconds queue=fallback 0.3");
	kov_telemetry_deferred(t, "fallback");
	kov_telemetry_deferred(t, "nosuch");
	kov_telemetry_failed(t, "kuvert");
	kov_telemetry_worker_restarted(t);
	kov_telemetry_queues_begin(t);
	g_autofree char *text = kov_telemetry_render(t);
	g_assert_true(has_line(text, "koverto_recipients_total{queue=\"fallback\",outcome=\"encrypted\"} 2"));
	g_assert_null(strstr(text, "nosuch"));
	g_assert_null(strstr(text, "lost"));
	g_assert_true(has_line(text, "koverto_queue_messages{queue=\"fallback\",state=\"new\"} 0"));
	g_assert_true(has_line(text, "koverto_delivery_duration_seconds_bucket{queue=\"fallback\",le=\"0.25\"} 0"));
	g_assert_true(has_line(text, "koverto_delivery_duration_seconds_bucket{queue=\"fallback\",le=\"0.5\"} 1"));
	g_assert_true(has_line(text, "koverto_deferrals_total{queue=\"fallback\"} 1"));
	g_assert_true(has_line(text, "koverto_messages_failed_total{queue=\"kuvert\"} 1"));
	g_assert_true(has_line(text, "koverto_worker_restarts_total 1"));
	g_assert_true(has_line(text, "koverto_last_delivery_timestamp_seconds{queue=\"kuvert\"} 0"));
	g_assert_null(strstr(text, "koverto_last_delivery_timestamp_seconds{queue=\"fallback\"} 0\n"));
}

/* A directory that is not there: one line in the log, however many
 * writes fail; one more when a write works again. */
static void
test_write_failure_once(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autofree char *log = g_build_filename(f->dir, "log", NULL);
	g_autofree char *m = g_path_get_dirname(f->metrics);
	KovLogOptions options = { "test", FALSE, FALSE, log, NULL };
	g_assert_true(kov_log_open(&options, &error));
	g_autoptr(KovTelemetry) t = kov_telemetry_new(f->config);

	g_assert_cmpint(g_rmdir(m), ==, 0);
	for (int i = 0; i < 3; i++) {
		kov_telemetry_queues_begin(t);
		kov_telemetry_write(t);
	}
	g_assert_cmpint(g_mkdir(m, 0755), ==, 0);
	kov_telemetry_write(t);
	kov_telemetry_write(t);
	kov_log_close();
	g_autofree char *text = kov_test_file_read(log, NULL);
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	guint failed = 0, again = 0;
	for (char **l = lines; *l != NULL; l++) {
		failed += strstr(*l, "metrics: cannot create") != NULL;
		again += strstr(*l, "written again") != NULL;
	}
	g_assert_cmpuint(failed, ==, 1);
	g_assert_cmpuint(again, ==, 1);
	g_assert_true(g_file_test(f->metrics, G_FILE_TEST_IS_REGULAR));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/telemetry/write", Fixture, NULL, fixture_set_up, test_write, fixture_tear_down);
	g_test_add("/telemetry/events", Fixture, NULL, fixture_set_up, test_events, fixture_tear_down);
	g_test_add("/telemetry/write-failure-once", Fixture, NULL, fixture_set_up, test_write_failure_once,
	           fixture_tear_down);
	return g_test_run();
}
