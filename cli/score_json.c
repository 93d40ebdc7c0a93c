/*
 * score_json.c: `segarena score --json`, in the shape of the spec's Names
 * section: {"metrics"} for one reference, or {"consensus", "raters",
 * "rater_mean", "staple", "human_reference"} for several raters, under
 * {"labels": {"<label>": ...}} when labels were chosen; then "conventions",
 * "inputs" and "engine". Undefined values are null with "<name>_reason".
 */
#include <string.h>

#include "score_output.h"

static void write_value(json_writer *w, const char *name, sa_value v) {
    json_key(w, name);
    if (v.reason) {
        json_null(w);
        char key[64];
        snprintf(key, sizeof key, "%s_reason", name);
        json_key(w, key);
        json_string(w, v.reason);
    } else {
        json_number(w, v.value);
    }
}

/* The metric names and values of one comparison (no enclosing braces). */
static void write_metric_members(json_writer *w, const sa_scores *sc) {
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    for (size_t i = 0; i < count; i++) write_value(w, table[i].name, sa_metric_get(&sc->pair, &table[i]));
    if (sc->has_lesions) {
        const sa_lesion_metric_info *lt = sa_lesion_metric_table(&count);
        for (size_t i = 0; i < count; i++) {
            sa_value v = lesion_metric_get(&sc->lesions, &lt[i]);
            if (lt[i].is_count)
                json_key(w, lt[i].name), json_integer(w, (long long)v.value);
            else
                write_value(w, lt[i].name, v);
        }
    }
    json_key(w, "both_empty");
    json_bool(w, sc->pair.both_empty);
}

static void write_details(json_writer *w, const sa_pair_metrics *m) {
    json_key(w, "details");
    json_object_open(w);
    json_key(w, "tp"), json_integer(w, (long long)m->tp);
    json_key(w, "fp"), json_integer(w, (long long)m->fp);
    json_key(w, "fn"), json_integer(w, (long long)m->fn);
    json_key(w, "tn"), json_integer(w, (long long)m->tn);
    json_key(w, "ref_voxels"), json_integer(w, (long long)m->ref_voxels);
    json_key(w, "pred_voxels"), json_integer(w, (long long)m->pred_voxels);
    json_key(w, "ref_surface_voxels"), json_integer(w, (long long)m->ref_surface_voxels);
    json_key(w, "pred_surface_voxels"), json_integer(w, (long long)m->pred_surface_voxels);
    write_value(w, "hd_pred_to_ref", m->hd_pred_to_ref);
    write_value(w, "hd_ref_to_pred", m->hd_ref_to_pred);
    write_value(w, "p95_pred_to_ref", m->p95_pred_to_ref);
    write_value(w, "p95_ref_to_pred", m->p95_ref_to_pred);
    write_value(w, "mean_pred_to_ref", m->mean_pred_to_ref);
    write_value(w, "mean_ref_to_pred", m->mean_ref_to_pred);
    json_object_close(w);
}

/* One comparison of a multi-rater block: its metrics, then "details". */
static void write_comparison(json_writer *w, const char *key, const sa_scores *sc) {
    json_key(w, key);
    json_object_open(w);
    write_metric_members(w, sc);
    write_details(w, &sc->pair);
    json_object_close(w);
}

static void write_mean(json_writer *w, const sa_scores_mean *mean) {
    json_key(w, "rater_mean");
    json_object_open(w);
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    char key[64];
    for (size_t i = 0; i < count; i++) {
        write_value(w, table[i].name, mean->pair[i]);
        if (mean->pair_defined[i] < mean->raters) { /* say how many raters the mean is over */
            snprintf(key, sizeof key, "%s_raters", table[i].name);
            json_key(w, key), json_integer(w, mean->pair_defined[i]);
        }
    }
    if (mean->has_lesions) {
        const sa_lesion_metric_info *lt = sa_lesion_metric_table(&count);
        for (size_t i = 0; i < count; i++) {
            write_value(w, lt[i].name, mean->lesion[i]);
            if (mean->lesion_defined[i] < mean->raters) {
                snprintf(key, sizeof key, "%s_raters", lt[i].name);
                json_key(w, key), json_integer(w, mean->lesion_defined[i]);
            }
        }
    }
    json_object_close(w);
}

static void write_multi_block(json_writer *w, const score_settings *s, const sa_multi_result *mr) {
    size_t k = mr->raters;
    write_comparison(w, "consensus", &mr->vs_consensus);
    json_key(w, "raters");
    json_object_open(w);
    for (size_t i = 0; i < k; i++) write_comparison(w, rater_id(s, i), &mr->vs_rater[i]);
    json_object_close(w);
    write_mean(w, &mr->rater_mean);
    const sa_consensus_result *c = &mr->consensus;
    if (s->options.consensus.method == SA_CONSENSUS_STAPLE) {
        json_key(w, "staple");
        json_object_open(w);
        for (size_t i = 0; i < k; i++) {
            json_key(w, rater_id(s, i));
            json_object_open(w);
            json_key(w, "sensitivity"), json_number(w, c->sensitivity[i]);
            json_key(w, "specificity"), json_number(w, c->specificity[i]);
            json_object_close(w);
        }
        json_object_close(w);
    }
    json_key(w, "consensus_run");
    json_object_open(w);
    json_key(w, "method"), json_string(w, s->options.consensus.method == SA_CONSENSUS_STAPLE ? "staple" : "majority");
    json_key(w, "raters"), json_integer(w, (long long)k);
    if (s->options.consensus.method == SA_CONSENSUS_STAPLE) {
        json_key(w, "region"),
            json_string(w, s->options.consensus.region == SA_STAPLE_IMAGE ? "image" : "dilated_union");
        json_key(w, "region_voxels"), json_integer(w, (long long)c->region_voxels);
        json_key(w, "prior"), json_number(w, c->prior);
        json_key(w, "iterations"), json_integer(w, c->iterations);
        json_key(w, "converged"), json_bool(w, c->converged);
    }
    json_object_close(w);
    if (mr->has_human_reference) {
        json_key(w, "human_reference");
        json_object_open(w);
        for (size_t i = 0; i < k; i++) write_comparison(w, rater_id(s, i), &mr->human_reference[i]);
        json_object_close(w);
    }
}

static void write_block(json_writer *w, const score_settings *s, const case_result *r, size_t b) {
    if (r->multi[b]) {
        write_multi_block(w, s, r->multi[b]);
        return;
    }
    json_key(w, "metrics");
    json_object_open(w);
    write_metric_members(w, &r->scores[b]);
    json_object_close(w);
    write_details(w, &r->scores[b].pair);
}

static void write_results(json_writer *w, const score_settings *s, const case_result *r) {
    if (r->failed) {
        json_key(w, "error"), json_string(w, r->error);
        return;
    }
    if (r->n_blocks == 1 && r->block_label[0] < 0) {
        write_block(w, s, r, 0);
        return;
    }
    json_key(w, "labels");
    json_object_open(w);
    for (size_t b = 0; b < r->n_blocks; b++) {
        char key[32];
        snprintf(key, sizeof key, "%ld", r->block_label[b]);
        json_key(w, key);
        json_object_open(w);
        write_block(w, s, r, b);
        json_object_close(w);
    }
    json_object_close(w);
}

void write_conventions_json(json_writer *w, const score_settings *s) {
    const sa_multi_options *o = &s->options;
    json_key(w, "conventions");
    json_object_open(w);
    json_key(w, "definition_version"), json_integer(w, SA_METRIC_DEFINITION_VERSION);
    json_key(w, "surface"), json_string(w, "inner boundary, 6-connectivity; outside the image counts as background");
    json_key(w, "distance"), json_string(w, "exact Euclidean distance between voxel centres, mm, per-axis spacing");
    json_key(w, "percentile"), json_string(w, "linear interpolation between order statistics (numpy default)");
    json_key(w, "hd95"), json_string(w, "max of the two directed P95s");
    json_key(w, "tau_mm"), json_number(w, o->score.tau_mm);
    json_key(w, "mask"), json_string(w, s->all_labels || s->n_labels ? "voxel value == label" : "voxel value > 0");
    json_key(w, "units"), json_string(w, "distances mm, volumes mL, rve_percent %");
    json_key(w, "empty_masks"),
        json_string(w, "both empty: dice, jaccard, nsd 1 and distances 0 (both_empty); one empty: dice, jaccard, nsd 0 and distances null");
    if (o->lesions) {
        json_key(w, "lesions");
        json_object_open(w);
        json_key(w, "rule"), json_string(w, "MSSEG 2016");
        json_key(w, "connectivity"), json_integer(w, o->lesion.connectivity);
        json_key(w, "min_volume_mm3"), json_number(w, o->lesion.min_volume_mm3);
        json_key(w, "alpha"), json_number(w, o->lesion.alpha);
        json_key(w, "beta"), json_number(w, o->lesion.beta);
        json_key(w, "gamma"), json_number(w, o->lesion.gamma);
        json_object_close(w);
    }
    if (s->n_raters >= 2) {
        json_key(w, "consensus");
        json_object_open(w);
        json_key(w, "method"), json_string(w, o->consensus.method == SA_CONSENSUS_STAPLE ? "staple" : "majority");
        if (o->consensus.method == SA_CONSENSUS_STAPLE) {
            json_key(w, "staple_region"),
                json_string(w, o->consensus.region == SA_STAPLE_IMAGE ? "image" : "dilated_union");
            json_key(w, "tolerance"), json_number(w, o->consensus.tolerance);
            json_key(w, "max_iterations"), json_integer(w, o->consensus.max_iterations);
            json_key(w, "threshold"), json_number(w, o->consensus.threshold);
        }
        json_key(w, "human_reference"), json_string(w, "each rater against the consensus of the other raters");
        json_object_close(w);
    }
    json_object_close(w);
}

static void write_array(json_writer *w, const char *key, const double *v, int n) {
    json_key(w, key);
    json_array_open(w);
    for (int i = 0; i < n; i++) json_number(w, v[i]);
    json_array_close(w);
}

static void write_inputs(json_writer *w, const score_settings *s, const case_result *r) {
    const case_geometry *g = &r->geometry;
    json_key(w, "inputs");
    json_object_open(w);
    if (s->n_raters >= 2) {
        json_key(w, "raters");
        json_object_open(w);
        for (size_t i = 0; i < s->n_raters; i++) json_key(w, rater_id(s, i)), json_string(w, s->rater_paths[i]);
        json_object_close(w);
    } else {
        json_key(w, "reference"), json_string(w, r->ref_path);
    }
    json_key(w, "prediction"), json_string(w, r->pred_path);
    if (!r->failed) {
        json_key(w, "size");
        json_array_open(w);
        for (int a = 0; a < 3; a++) json_integer(w, (long long)g->size[a]);
        json_array_close(w);
        write_array(w, "spacing_mm", g->spacing, 3);
        write_array(w, "origin_lps_mm", g->origin, 3);
        write_array(w, "direction", g->direction, 9);
        json_key(w, "pixel_type"), json_string(w, g->pixel_type);
    }
    json_object_close(w);
}

void write_case_json(json_writer *w, const score_settings *s, const case_result *r, int with_conventions) {
    json_object_open(w);
    if (r->case_id[0]) json_key(w, "case"), json_string(w, r->case_id);
    write_results(w, s, r);
    if (with_conventions) write_conventions_json(w, s);
    write_inputs(w, s, r);
    json_key(w, "engine");
    json_object_open(w);
    json_key(w, "device"), json_string(w, "cpu");
    json_key(w, "threads"), json_integer(w, r->threads_used);
    json_key(w, "seconds"), json_number(w, r->seconds);
    json_object_close(w);
    json_object_close(w);
}
