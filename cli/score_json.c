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
    jw_key(w, name);
    if (v.reason) {
        jw_null(w);
        char key[64];
        snprintf(key, sizeof key, "%s_reason", name);
        jw_key(w, key);
        jw_string(w, v.reason);
    } else {
        jw_number(w, v.value);
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
                jw_key(w, lt[i].name), jw_integer(w, (long long)v.value);
            else
                write_value(w, lt[i].name, v);
        }
    }
    jw_key(w, "both_empty");
    jw_bool(w, sc->pair.both_empty);
}

static void write_details(json_writer *w, const sa_pair_metrics *m) {
    jw_key(w, "details");
    jw_object_open(w);
    jw_key(w, "tp"), jw_integer(w, (long long)m->tp);
    jw_key(w, "fp"), jw_integer(w, (long long)m->fp);
    jw_key(w, "fn"), jw_integer(w, (long long)m->fn);
    jw_key(w, "tn"), jw_integer(w, (long long)m->tn);
    jw_key(w, "ref_voxels"), jw_integer(w, (long long)m->ref_voxels);
    jw_key(w, "pred_voxels"), jw_integer(w, (long long)m->pred_voxels);
    jw_key(w, "ref_surface_voxels"), jw_integer(w, (long long)m->ref_surface_voxels);
    jw_key(w, "pred_surface_voxels"), jw_integer(w, (long long)m->pred_surface_voxels);
    write_value(w, "hd_pred_to_ref", m->hd_pred_to_ref);
    write_value(w, "hd_ref_to_pred", m->hd_ref_to_pred);
    write_value(w, "p95_pred_to_ref", m->p95_pred_to_ref);
    write_value(w, "p95_ref_to_pred", m->p95_ref_to_pred);
    write_value(w, "mean_pred_to_ref", m->mean_pred_to_ref);
    write_value(w, "mean_ref_to_pred", m->mean_ref_to_pred);
    jw_object_close(w);
}

/* One comparison of a multi-rater block: its metrics, then "details". */
static void write_comparison(json_writer *w, const char *key, const sa_scores *sc) {
    jw_key(w, key);
    jw_object_open(w);
    write_metric_members(w, sc);
    write_details(w, &sc->pair);
    jw_object_close(w);
}

static void write_mean(json_writer *w, const sa_scores_mean *mean) {
    jw_key(w, "rater_mean");
    jw_object_open(w);
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    char key[64];
    for (size_t i = 0; i < count; i++) {
        write_value(w, table[i].name, mean->pair[i]);
        if (mean->pair_defined[i] < mean->raters) { /* say how many raters the mean is over */
            snprintf(key, sizeof key, "%s_raters", table[i].name);
            jw_key(w, key), jw_integer(w, mean->pair_defined[i]);
        }
    }
    if (mean->has_lesions) {
        const sa_lesion_metric_info *lt = sa_lesion_metric_table(&count);
        for (size_t i = 0; i < count; i++) {
            write_value(w, lt[i].name, mean->lesion[i]);
            if (mean->lesion_defined[i] < mean->raters) {
                snprintf(key, sizeof key, "%s_raters", lt[i].name);
                jw_key(w, key), jw_integer(w, mean->lesion_defined[i]);
            }
        }
    }
    jw_object_close(w);
}

static void write_multi_block(json_writer *w, const score_settings *s, const sa_multi_result *mr) {
    size_t k = mr->raters;
    write_comparison(w, "consensus", &mr->vs_consensus);
    jw_key(w, "raters");
    jw_object_open(w);
    for (size_t i = 0; i < k; i++) write_comparison(w, rater_id(s, i), &mr->vs_rater[i]);
    jw_object_close(w);
    write_mean(w, &mr->rater_mean);
    const sa_consensus_result *c = &mr->consensus;
    if (s->options.consensus.method == SA_CONSENSUS_STAPLE) {
        jw_key(w, "staple");
        jw_object_open(w);
        for (size_t i = 0; i < k; i++) {
            jw_key(w, rater_id(s, i));
            jw_object_open(w);
            jw_key(w, "sensitivity"), jw_number(w, c->sensitivity[i]);
            jw_key(w, "specificity"), jw_number(w, c->specificity[i]);
            jw_object_close(w);
        }
        jw_object_close(w);
    }
    jw_key(w, "consensus_run");
    jw_object_open(w);
    jw_key(w, "method"), jw_string(w, s->options.consensus.method == SA_CONSENSUS_STAPLE ? "staple" : "majority");
    jw_key(w, "raters"), jw_integer(w, (long long)k);
    if (s->options.consensus.method == SA_CONSENSUS_STAPLE) {
        jw_key(w, "region"),
            jw_string(w, s->options.consensus.region == SA_STAPLE_IMAGE ? "image" : "dilated_union");
        jw_key(w, "region_voxels"), jw_integer(w, (long long)c->region_voxels);
        jw_key(w, "prior"), jw_number(w, c->prior);
        jw_key(w, "iterations"), jw_integer(w, c->iterations);
        jw_key(w, "converged"), jw_bool(w, c->converged);
    }
    jw_object_close(w);
    if (mr->has_human_reference) {
        jw_key(w, "human_reference");
        jw_object_open(w);
        for (size_t i = 0; i < k; i++) write_comparison(w, rater_id(s, i), &mr->human_reference[i]);
        jw_object_close(w);
    }
}

static void write_block(json_writer *w, const score_settings *s, const case_result *r, size_t b) {
    if (r->multi[b]) {
        write_multi_block(w, s, r->multi[b]);
        return;
    }
    jw_key(w, "metrics");
    jw_object_open(w);
    write_metric_members(w, &r->scores[b]);
    jw_object_close(w);
    write_details(w, &r->scores[b].pair);
}

static void write_results(json_writer *w, const score_settings *s, const case_result *r) {
    if (r->failed) {
        jw_key(w, "error"), jw_string(w, r->error);
        return;
    }
    if (r->n_blocks == 1 && r->block_label[0] < 0) {
        write_block(w, s, r, 0);
        return;
    }
    jw_key(w, "labels");
    jw_object_open(w);
    for (size_t b = 0; b < r->n_blocks; b++) {
        char key[32];
        snprintf(key, sizeof key, "%ld", r->block_label[b]);
        jw_key(w, key);
        jw_object_open(w);
        write_block(w, s, r, b);
        jw_object_close(w);
    }
    jw_object_close(w);
}

void write_conventions_json(json_writer *w, const score_settings *s) {
    const sa_multi_options *o = &s->options;
    jw_key(w, "conventions");
    jw_object_open(w);
    jw_key(w, "definition_version"), jw_integer(w, SA_METRIC_DEFINITION_VERSION);
    jw_key(w, "surface"), jw_string(w, "inner boundary, 6-connectivity; outside the image counts as background");
    jw_key(w, "distance"), jw_string(w, "exact Euclidean distance between voxel centres, mm, per-axis spacing");
    jw_key(w, "percentile"), jw_string(w, "linear interpolation between order statistics (numpy default)");
    jw_key(w, "hd95"), jw_string(w, "max of the two directed P95s");
    jw_key(w, "tau_mm"), jw_number(w, o->score.tau_mm);
    jw_key(w, "mask"), jw_string(w, s->all_labels || s->n_labels ? "voxel value == label" : "voxel value > 0");
    jw_key(w, "units"), jw_string(w, "distances mm, volumes mL, rve_percent %");
    jw_key(w, "empty_masks"),
        jw_string(w, "both empty: dice, jaccard, nsd 1 and distances 0 (both_empty); one empty: dice, jaccard, nsd 0 and distances null");
    if (o->lesions) {
        jw_key(w, "lesions");
        jw_object_open(w);
        jw_key(w, "rule"), jw_string(w, "MSSEG 2016");
        jw_key(w, "connectivity"), jw_integer(w, o->lesion.connectivity);
        jw_key(w, "min_volume_mm3"), jw_number(w, o->lesion.min_volume_mm3);
        jw_key(w, "alpha"), jw_number(w, o->lesion.alpha);
        jw_key(w, "beta"), jw_number(w, o->lesion.beta);
        jw_key(w, "gamma"), jw_number(w, o->lesion.gamma);
        jw_object_close(w);
    }
    if (s->n_raters >= 2) {
        jw_key(w, "consensus");
        jw_object_open(w);
        jw_key(w, "method"), jw_string(w, o->consensus.method == SA_CONSENSUS_STAPLE ? "staple" : "majority");
        if (o->consensus.method == SA_CONSENSUS_STAPLE) {
            jw_key(w, "staple_region"),
                jw_string(w, o->consensus.region == SA_STAPLE_IMAGE ? "image" : "dilated_union");
            jw_key(w, "tolerance"), jw_number(w, o->consensus.tolerance);
            jw_key(w, "max_iterations"), jw_integer(w, o->consensus.max_iterations);
            jw_key(w, "threshold"), jw_number(w, o->consensus.threshold);
        }
        jw_key(w, "human_reference"), jw_string(w, "each rater against the consensus of the other raters");
        jw_object_close(w);
    }
    jw_object_close(w);
}

static void write_array(json_writer *w, const char *key, const double *v, int n) {
    jw_key(w, key);
    jw_array_open(w);
    for (int i = 0; i < n; i++) jw_number(w, v[i]);
    jw_array_close(w);
}

static void write_inputs(json_writer *w, const score_settings *s, const case_result *r) {
    const case_geometry *g = &r->geometry;
    jw_key(w, "inputs");
    jw_object_open(w);
    if (s->n_raters >= 2) {
        jw_key(w, "raters");
        jw_object_open(w);
        for (size_t i = 0; i < s->n_raters; i++) jw_key(w, rater_id(s, i)), jw_string(w, s->rater_paths[i]);
        jw_object_close(w);
    } else {
        jw_key(w, "reference"), jw_string(w, r->ref_path);
    }
    jw_key(w, "prediction"), jw_string(w, r->pred_path);
    if (!r->failed) {
        jw_key(w, "size");
        jw_array_open(w);
        for (int a = 0; a < 3; a++) jw_integer(w, (long long)g->size[a]);
        jw_array_close(w);
        write_array(w, "spacing_mm", g->spacing, 3);
        write_array(w, "origin_lps_mm", g->origin, 3);
        write_array(w, "direction", g->direction, 9);
        jw_key(w, "pixel_type"), jw_string(w, g->pixel_type);
    }
    jw_object_close(w);
}

void write_case_json(json_writer *w, const score_settings *s, const case_result *r, int with_conventions) {
    jw_object_open(w);
    if (r->case_id[0]) jw_key(w, "case"), jw_string(w, r->case_id);
    write_results(w, s, r);
    if (with_conventions) write_conventions_json(w, s);
    write_inputs(w, s, r);
    jw_key(w, "engine");
    jw_object_open(w);
    jw_key(w, "device"), jw_string(w, r->gpu_used ? "gpu" : "cpu");
    jw_key(w, "device_requested"), jw_string(w, sa_device_name(s->options.score.device));
    if (r->device_note) jw_key(w, "device_note"), jw_string(w, r->device_note);
    jw_key(w, "threads"), jw_integer(w, r->threads_used);
    jw_key(w, "seconds"), jw_number(w, r->seconds);
    jw_object_close(w);
    jw_object_close(w);
}
