/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The metrics registry and its text format. Families keep the order they
 * were declared in; within one, series are sorted by their rendered label
 * set, so the output is the same for the same numbers (the tests compare
 * it whole). Events from other processes may only add to series that the
 * owner made already: what a worker says cannot grow the registry. */
#include "metrics.h"
#include "error.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

typedef struct {
	char **values;            /* label values, as many as the family's labels */
	double value;             /* counter, gauge; histogram: the sum */
	guint64 count;            /* histogram */
	guint64 *buckets;         /* histogram: per bucket (not cumulative), n_buckets */
} KovSeries;

typedef struct {
	char *name;
	KovMetricType type;
	char *help;
	char **labels;
	guint n_labels;
	double *bounds;
	gsize n_bounds;
	GTree *series;            /* rendered label set "{a=\"x\"}" (owned) -> KovSeries (owned) */
} KovFamily;

struct _KovMetrics {
	GPtrArray *families;      /* of KovFamily, in declaration order */
	GHashTable *by_name;      /* name -> KovFamily (borrowed) */
};

static void
kov_series_free(gpointer data)
{
	KovSeries *s = data;
	g_strfreev(s->values);
	g_free(s->buckets);
	g_free(s);
}

static void
kov_family_free(gpointer data)
{
	KovFamily *f = data;
	g_free(f->name);
	g_free(f->help);
	g_strfreev(f->labels);
	g_free(f->bounds);
	g_tree_unref(f->series);
	g_free(f);
}

static gint
kov_metrics_compare(gconstpointer a, gconstpointer b, gpointer data)
{
	(void)data;
	return strcmp(a, b);
}

KovMetrics *
kov_metrics_new(void)
{
	KovMetrics *m = g_new0(KovMetrics, 1);
	m->families = g_ptr_array_new_with_free_func(kov_family_free);
	m->by_name = g_hash_table_new(g_str_hash, g_str_equal);
	return m;
}

void
kov_metrics_free(KovMetrics *metrics)
{
	if (metrics == NULL)
		return;
	g_hash_table_unref(metrics->by_name);
	g_ptr_array_unref(metrics->families);
	g_free(metrics);
}

/* A label value in the text format: \, " and LF escaped. */
static void
kov_metrics_escape(GString *out, const char *s, gboolean quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			g_string_append(out, "\\\\");
		else if (*s == '\n')
			g_string_append(out, "\\n");
		else if (*s == '"' && quote)
			g_string_append(out, "\\\"");
		else
			g_string_append_c(out, *s);
	}
}

/* A number as Prometheus reads it back: the shortest form that gives
 * the same double, +Inf/-Inf/NaN by name. */
static void
kov_metrics_number(GString *out, double v)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];

	if (isnan(v)) {
		g_string_append(out, "NaN");
		return;
	}
	if (isinf(v)) {
		g_string_append(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* Whole numbers (counts, timestamps, most bounds) in full, not 1.7e+09. */
	if (v > -1e15 && v < 1e15 && v == (double)(gint64)v) {
		g_string_append_printf(out, "%.0f", v == 0 ? 0 : v);
		return;
	}
	for (int precision = 1; precision <= 17; precision++) {
		char format[8];
		g_snprintf(format, sizeof format, "%%.%dg", precision);
		g_ascii_formatd(buf, sizeof buf, format, v);
		if (g_ascii_strtod(buf, NULL) == v)
			break;
	}
	g_string_append(out, buf);
}

/* "{a=\"x\",b=\"y\"}", or "" without labels; @extra (nullable) one more
 * label, rendered last (a histogram's le). */
static void
kov_metrics_labels(GString *out, const KovFamily *f, char *const *values, const char *extra,
                   const char *extra_value)
{
	if (f->n_labels == 0 && extra == NULL)
		return;
	g_string_append_c(out, '{');
	for (guint i = 0; i < f->n_labels; i++) {
		g_string_append_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
		kov_metrics_escape(out, values[i], TRUE);
		g_string_append_c(out, '"');
	}
	if (extra != NULL)
		g_string_append_printf(out, "%s%s=\"%s\"", f->n_labels ? "," : "", extra, extra_value);
	g_string_append_c(out, '}');
}

static KovFamily *
kov_metrics_family(const KovMetrics *metrics, const char *name)
{
	return g_hash_table_lookup(metrics->by_name, name);
}

static KovSeries *
kov_metrics_lookup(const KovFamily *f, const char *const *values)
{
	g_autoptr(GString) key = g_string_new(NULL);
	kov_metrics_labels(key, f, (char *const *)values, NULL, NULL);
	return g_tree_lookup(f->series, key->str);
}

static KovSeries *
kov_metrics_series(KovFamily *f, const char *const *values)
{
	g_autoptr(GString) key = g_string_new(NULL);
	kov_metrics_labels(key, f, (char *const *)values, NULL, NULL);
	KovSeries *s = g_tree_lookup(f->series, key->str);
	if (s != NULL)
		return s;
	s = g_new0(KovSeries, 1);
	s->values = g_new0(char *, f->n_labels + 1);
	for (guint i = 0; i < f->n_labels; i++)
		s->values[i] = g_strdup(values[i]);
	if (f->type == KOV_METRIC_HISTOGRAM)
		s->buckets = g_new0(guint64, f->n_bounds);
	g_tree_insert(f->series, g_string_free(g_steal_pointer(&key), FALSE), s);
	return s;
}

void
kov_metrics_declare(KovMetrics *metrics, const char *name, KovMetricType type, const char *help,
                    const char *const *labels, const double *buckets, gsize n_buckets)
{
	g_return_if_fail(metrics != NULL && name != NULL && help != NULL);
	g_return_if_fail(kov_metrics_family(metrics, name) == NULL);
	g_return_if_fail(type == KOV_METRIC_HISTOGRAM || n_buckets == 0);
	KovFamily *f = g_new0(KovFamily, 1);

	f->name = g_strdup(name);
	f->type = type;
	f->help = g_strdup(help);
	f->labels = g_strdupv((char **)(labels != NULL ? labels : (const char *const[]){ NULL }));
	f->n_labels = g_strv_length(f->labels);
	f->bounds = g_memdup2(buckets, n_buckets * sizeof(double));
	f->n_bounds = n_buckets;
	f->series = g_tree_new_full(kov_metrics_compare, NULL, g_free, kov_series_free);
	g_ptr_array_add(metrics->families, f);
	g_hash_table_insert(metrics->by_name, f->name, f);
	if (f->n_labels == 0)
		kov_metrics_series(f, NULL);
}

void
kov_metrics_touch(KovMetrics *metrics, const char *name, const char *const *values)
{
	g_return_if_fail(metrics != NULL && name != NULL);
	KovFamily *f = kov_metrics_family(metrics, name);
	g_return_if_fail(f != NULL);
	g_return_if_fail(f->n_labels == 0 || (values != NULL && g_strv_length((char **)values) == f->n_labels));
	kov_metrics_series(f, values);
}

static void
kov_metrics_observe(const KovFamily *f, KovSeries *s, double v)
{
	if (f->type != KOV_METRIC_HISTOGRAM) {
		s->value += v;
		return;
	}
	s->value += v;
	s->count++;
	for (gsize i = 0; i < f->n_bounds; i++)
		if (v <= f->bounds[i]) {
			s->buckets[i]++;
			break;
		}
}

void
kov_metrics_add(KovMetrics *metrics, const char *name, const char *const *values, double v)
{
	g_return_if_fail(metrics != NULL && name != NULL);
	KovFamily *f = kov_metrics_family(metrics, name);
	g_return_if_fail(f != NULL);
	g_return_if_fail(f->n_labels == 0 || (values != NULL && g_strv_length((char **)values) == f->n_labels));
	kov_metrics_observe(f, kov_metrics_series(f, values), v);
}

void
kov_metrics_set(KovMetrics *metrics, const char *name, const char *const *values, double v)
{
	g_return_if_fail(metrics != NULL && name != NULL);
	KovFamily *f = kov_metrics_family(metrics, name);
	g_return_if_fail(f != NULL && f->type == KOV_METRIC_GAUGE);
	g_return_if_fail(f->n_labels == 0 || (values != NULL && g_strv_length((char **)values) == f->n_labels));
	kov_metrics_series(f, values)->value = v;
}

void
kov_metrics_clear(KovMetrics *metrics, const char *name)
{
	g_return_if_fail(metrics != NULL && name != NULL);
	KovFamily *f = kov_metrics_family(metrics, name);
	g_return_if_fail(f != NULL);
	g_tree_unref(f->series);
	f->series = g_tree_new_full(kov_metrics_compare, NULL, g_free, kov_series_free);
	if (f->n_labels == 0)
		kov_metrics_series(f, NULL);
}

double
kov_metrics_get(const KovMetrics *metrics, const char *name, const char *const *values)
{
	g_return_val_if_fail(metrics != NULL && name != NULL, -1);
	const KovFamily *f = kov_metrics_family(metrics, name);
	g_return_val_if_fail(f != NULL, -1);
	if (f->n_labels > 0 && (values == NULL || g_strv_length((char **)values) != f->n_labels))
		return -1;
	const KovSeries *s = kov_metrics_lookup(f, values);
	if (s == NULL)
		return -1;
	return f->type == KOV_METRIC_HISTOGRAM ? (double)s->count : s->value;
}

typedef struct {
	const KovFamily *family;
	GString *out;
} KovRender;

static gboolean
kov_metrics_render_series(gpointer key, gpointer value, gpointer data)
{
	KovRender *r = data;
	const KovFamily *f = r->family;
	const KovSeries *s = value;
	GString *out = r->out;

	if (f->type != KOV_METRIC_HISTOGRAM) {
		g_string_append_printf(out, "%s%s ", f->name, (const char *)key);
		kov_metrics_number(out, s->value);
		g_string_append_c(out, '\n');
		return FALSE;
	}
	guint64 cumulative = 0;
	for (gsize i = 0; i <= f->n_bounds; i++) {
		g_autoptr(GString) le = g_string_new(NULL);
		kov_metrics_number(le, i < f->n_bounds ? f->bounds[i] : INFINITY);
		cumulative = i < f->n_bounds ? cumulative + s->buckets[i] : s->count;
		g_string_append_printf(out, "%s_bucket", f->name);
		kov_metrics_labels(out, f, s->values, "le", le->str);
		g_string_append_printf(out, " %" G_GUINT64_FORMAT "\n", cumulative);
	}
	g_string_append_printf(out, "%s_sum%s ", f->name, (const char *)key);
	kov_metrics_number(out, s->value);
	g_string_append_printf(out, "\n%s_count%s %" G_GUINT64_FORMAT "\n", f->name, (const char *)key,
	                       s->count);
	return FALSE;
}

char *
kov_metrics_render(const KovMetrics *metrics)
{
	g_return_val_if_fail(metrics != NULL, NULL);
	static const char *const types[] = { "counter", "gauge", "histogram" };
	GString *out = g_string_new(NULL);

	for (guint i = 0; i < metrics->families->len; i++) {
		const KovFamily *f = g_ptr_array_index(metrics->families, i);
		g_string_append_printf(out, "# HELP %s ", f->name);
		kov_metrics_escape(out, f->help, FALSE);
		g_string_append_printf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
		KovRender r = { f, out };
		g_tree_foreach(f->series, kov_metrics_render_series, &r);
	}
	return g_string_free(out, FALSE);
}

/* ---- events ------------------------------------------------------------- */

static gboolean
kov_metrics_safe_value(const char *s)
{
	gsize n = strlen(s);
	if (n == 0 || n > KOV_METRICS_VALUE_MAX)
		return FALSE;
	for (; *s != '\0'; s++)
		if (!g_ascii_isalnum(*s) && strchr("._@+-", *s) == NULL)
			return FALSE;
	return TRUE;
}

static gboolean
kov_metrics_safe_name(const char *s)
{
	if (*s == '\0' || strlen(s) > 128 || g_ascii_isdigit(*s))
		return FALSE;
	for (; *s != '\0'; s++)
		if (!g_ascii_isalnum(*s) && *s != '_')
			return FALSE;
	return TRUE;
}

void
kov_metrics_event_append(GString *out, const char *name, double v, ...)
{
	if (out == NULL)
		return;
	g_return_if_fail(name != NULL && kov_metrics_safe_name(name));
	va_list ap;
	const char *label;

	g_string_append_printf(out, "M %s", name);
	va_start(ap, v);
	while ((label = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);
		g_string_append_printf(out, " %s=%s", label,
		                       value != NULL && kov_metrics_safe_value(value) ? value : "_");
	}
	va_end(ap);
	g_string_append_c(out, ' ');
	kov_metrics_number(out, v);
	g_string_append_c(out, '\n');
}

gboolean
kov_metrics_is_event(const char *line)
{
	return line != NULL && line[0] == 'M' && line[1] == ' ';
}

gboolean
kov_metrics_apply_event(KovMetrics *metrics, const char *line, const char **family, GStrv *values,
                        GError **error)
{
	g_return_val_if_fail(metrics != NULL && line != NULL, FALSE);
	if (strlen(line) > KOV_METRICS_EVENT_MAX || !kov_metrics_is_event(line)) {
		g_set_error_literal(error, KOV_ERROR, KOV_ERROR_DATAERR, "not an event line");
		return FALSE;
	}
	g_auto(GStrv) words = g_strsplit(line + 2, " ", -1);
	guint n = g_strv_length(words);
	KovFamily *f = n >= 2 ? kov_metrics_family(metrics, words[0]) : NULL;
	if (f == NULL || f->type == KOV_METRIC_GAUGE) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR, "no counter or histogram \"%s\"",
		            n >= 1 ? words[0] : "");
		return FALSE;
	}
	if (n != f->n_labels + 2) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR, "%s: %u labels, not %u", f->name,
		            n - 2, f->n_labels);
		return FALSE;
	}
	g_autofree const char **vals = g_new0(const char *, f->n_labels + 1);
	for (guint i = 0; i < f->n_labels; i++) {
		const char *word = words[i + 1];
		gsize len = strlen(f->labels[i]);
		if (strncmp(word, f->labels[i], len) != 0 || word[len] != '='
		    || !kov_metrics_safe_value(word + len + 1)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR, "%s: label %u is not %s=VALUE",
			            f->name, i + 1, f->labels[i]);
			return FALSE;
		}
		vals[i] = word + len + 1;
	}
	const char *number = words[n - 1];
	char *end = NULL;
	double v = g_ascii_strtod(number, &end);
	if (*number == '\0' || strspn(number, "0123456789.eE+-") != strlen(number) || end == NULL || *end != '\0' || !isfinite(v) || v < 0) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR, "%s: not a value: \"%s\"", f->name, number);
		return FALSE;
	}
	KovSeries *s = kov_metrics_lookup(f, vals);
	if (s == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR, "%s: no such series", f->name);
		return FALSE;
	}
	kov_metrics_observe(f, s, v);
	if (family != NULL)
		*family = f->name;
	if (values != NULL)
		*values = g_strdupv((char **)vals);
	return TRUE;
}
