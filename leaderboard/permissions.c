/*
 * permissions.c: the one place that decides who may do what in the web layer
 * (../shared/spec/container-contract.md, "Who sees what"). Handlers ask
 * sa_web_allowed and never test roles themselves, so that the rules can be read,
 * and tested as a whole matrix, here:
 *   organiser   everything;
 *   challenger  the challenge list, published boards, and for its own teams:
 *               submitting, its submissions, per-case details where the phase
 *               shows them (show_case_details), logs only with show_logs too;
 *   public      the challenge list and published boards.
 * The server's job and run counts (health, metrics) are the organisers': jobs
 * of a hidden phase's run start and end one case at a time, so a count that
 * anyone can poll would tell each hidden case's time.
 * Anything not listed is refused, including unknown roles and actions.
 * One condition is decided outside: whether an unpublished phase takes
 * submissions now (its opens..closes window), for a challenger's page of it and
 * upload to it, is sa_web_unpublished_open's (router.c), which asks here first
 * (organisers) and leaves the team's right to submit to SA_ACT_SUBMIT here.
 */
#include "web.h"

/* 1 when the challenger belongs to the team (team ids start at 1). */
static int member_of(const sa_identity *who, int64_t team_id) {
    if (team_id <= 0) return 0;
    size_t n = who->n_teams < SA_WEB_MAX_TEAMS ? who->n_teams : SA_WEB_MAX_TEAMS;
    for (size_t i = 0; i < n; i++)
        if (who->teams[i] == team_id) return 1;
    return 0;
}

static int public_allowed(sa_action action, const sa_subject *about) {
    switch (action) {
    case SA_ACT_LIST_CHALLENGES: return 1;
    case SA_ACT_READ_PUBLISHED_BOARD: return about->phase_published != 0;
    default: return 0;
    }
}

static int challenger_allowed(const sa_identity *who, sa_action action, const sa_subject *about) {
    int own = member_of(who, about->team_id);
    int details = own && about->show_case_details;
    switch (action) {
    case SA_ACT_LIST_CHALLENGES: return 1;
    case SA_ACT_READ_PUBLISHED_BOARD: return about->phase_published != 0;
    case SA_ACT_SUBMIT:
    case SA_ACT_READ_OWN_SUBMISSION: return own;
    case SA_ACT_READ_CASE_DETAILS: return details;
    case SA_ACT_READ_LOGS: return details && about->show_logs;
    default: return 0;
    }
}

static int organiser_allowed(sa_action action) {
    switch (action) {
    case SA_ACT_READ_PUBLISHED_BOARD:
    case SA_ACT_READ_UNPUBLISHED_BOARD:
    case SA_ACT_LIST_CHALLENGES:
    case SA_ACT_SUBMIT:
    case SA_ACT_READ_OWN_SUBMISSION:
    case SA_ACT_READ_CASE_DETAILS:
    case SA_ACT_READ_LOGS:
    case SA_ACT_MANAGE_RUNS:
    case SA_ACT_PUBLISH:
    case SA_ACT_LIST_DATASETS:
    case SA_ACT_MANAGE_USERS:
    case SA_ACT_EXPORT_BOARD:
    case SA_ACT_READ_SERVER_STATUS: return 1;
    }
    return 0; /* a value outside the enum */
}

int sa_web_allowed(const sa_identity *who, sa_action action, const sa_subject *about) {
    static const sa_subject nothing; /* a NULL subject: no team, unpublished, nothing shown */
    if (!about) about = &nothing;
    if (!who) return public_allowed(action, about);
    switch (who->role) {
    case SA_ROLE_PUBLIC: return public_allowed(action, about);
    case SA_ROLE_CHALLENGER: return challenger_allowed(who, action, about);
    case SA_ROLE_ORGANISER: return organiser_allowed(action);
    }
    return 0; /* a value outside the enum */
}
