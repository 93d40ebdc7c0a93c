/* names.c: the spec's metric names (JSON keys, CSV columns) mapped to the fields
 * of sa_pair_metrics, so that every output lists the same metrics in one order. */
#include <stddef.h>
#include <string.h>

#include "metrics.h"

#define METRIC(field, unit, better) {#field, offsetof(sa_pair_metrics, field), unit, better}

static const sa_metric_info table[] = {
    METRIC(dice, "", 1),
    METRIC(jaccard, "", 1),
    METRIC(sensitivity, "", 1),
    METRIC(specificity, "", 1),
    METRIC(ppv, "", 1),
    METRIC(volume_ref_ml, "mL", -1),
    METRIC(volume_pred_ml, "mL", -1),
    METRIC(abs_volume_diff_ml, "mL", 0),
    METRIC(rve_percent, "%", -1),
    METRIC(pet_accuracy, "", 1),
    METRIC(hd, "mm", 0),
    METRIC(hd95, "mm", 0),
    METRIC(hd95_pooled, "mm", 0),
    METRIC(hd95_mean, "mm", 0),
    METRIC(assd, "mm", 0),
    METRIC(masd, "mm", 0),
    METRIC(nsd, "", 1),
};

const sa_metric_info *sa_metric_table(size_t *count) {
    *count = sizeof table / sizeof table[0];
    return table;
}

const sa_metric_info *sa_metric_find(const char *name) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, name) == 0) return &table[i];
    return NULL;
}

sa_value sa_metric_get(const sa_pair_metrics *m, const sa_metric_info *info) {
    sa_value v;
    memcpy(&v, (const char *)m + info->offset, sizeof v);
    return v;
}
