/*
 * api_admin.c: the organiser's read-only views of the platform: the datasets
 * of the data directory, the users (with their role and teams, never a password
 * hash) and the teams. Stored names go into JSON through sa_web_json_text
 * (U+FFFD for bytes that are not UTF-8), so that no row is lost.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server_internal.h"

int sa_api_datasets(sa_web_call *call) {
    if (!sa_web_require(call, SA_ACT_LIST_DATASETS, NULL)) return 0;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/datasets", call->ctx->data_dir);
    json_t *list = json_array();
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && list && (e = readdir(d))) {
        /* imported datasets only: valid names (temporary folders start with '.') */
        if (!sa_dataset_id_valid(e->d_name)) continue;
        char manifest[4500];
        struct stat sb;
        snprintf(manifest, sizeof manifest, "%s/%s/dataset.json", dir, e->d_name);
        if (stat(manifest, &sb) != 0) continue;
        json_array_append_new(list, json_pack("{s:o}", "name", sa_web_json_text(e->d_name)));
    }
    if (d) closedir(d);
    return sa_web_send_json(call->res, 200, json_pack("{s:o}", "datasets", list));
}

int sa_api_teams(sa_web_call *call) {
    if (!sa_web_require(call, SA_ACT_MANAGE_USERS, NULL)) return 0;
    sa_error err = {{0}};
    sa_team_row *rows = NULL;
    size_t n = 0;
    if (sa_store_team_list(call->st, &rows, &n, &err)) return sa_web_internal_error(call, &err);
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++) {
        char when[32];
        sa_iso8601_format(rows[i].created, when);
        json_array_append_new(list, json_pack("{s:I,s:o,s:s}", "id", (json_int_t)rows[i].id,
                                              "name", sa_web_json_text(rows[i].name), "created",
                                              when));
    }
    free(rows);
    return sa_web_send_json(call->res, 200, json_pack("{s:o}", "teams", list));
}

int sa_api_users(sa_web_call *call) {
    if (!sa_web_require(call, SA_ACT_MANAGE_USERS, NULL)) return 0;
    sa_error err = {{0}};
    sa_user_row *users = NULL;
    sa_team_row *teams = NULL;
    size_t n_users = 0, n_teams = 0;
    if (sa_store_user_list(call->st, &users, &n_users, &err) ||
        sa_store_team_list(call->st, &teams, &n_teams, &err)) {
        sa_user_rows_free(users, n_users);
        return sa_web_internal_error(call, &err);
    }
    json_t *list = json_array();
    int rc = 0;
    for (size_t i = 0; list && rc == 0 && i < n_users; i++) {
        int64_t ids[SA_WEB_MAX_TEAMS];
        size_t n_ids = 0;
        if ((rc = sa_store_user_teams(call->st, users[i].id, ids, SA_WEB_MAX_TEAMS, &n_ids, &err)))
            break;
        json_t *names = json_array();
        for (size_t k = 0; names && k < n_ids; k++)
            for (size_t t = 0; t < n_teams; t++)
                if (teams[t].id == ids[k]) json_array_append_new(names, sa_web_json_text(teams[t].name));
        char when[32];
        sa_iso8601_format(users[i].created, when);
        json_array_append_new(list, json_pack("{s:o,s:o,s:o,s:b,s:s}", "name",
                                              sa_web_json_text(users[i].name), "role",
                                              sa_web_json_text(users[i].role), "teams", names,
                                              "has_password", users[i].password_hash != NULL,
                                              "created", when));
    }
    sa_user_rows_free(users, n_users);
    free(teams);
    if (rc) {
        json_decref(list);
        return sa_web_internal_error(call, &err);
    }
    return sa_web_send_json(call->res, 200, json_pack("{s:o}", "users", list));
}
