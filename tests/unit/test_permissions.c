/*
 * test_permissions.c: sa_web_allowed (leaderboard/permissions.c) over the whole
 * matrix: four people (the public, a challenger of team A, a challenger of team
 * B, an organiser) x every action x every subject (no team, team A, team B;
 * published or not; show_case_details on or off; show_logs on or off). What is
 * expected is the table below, one rule per person and action, read straight
 * off ../shared/spec/container-contract.md "Who sees what"; then a few cases
 * written out literally, a NULL subject, a NULL identity and values outside the
 * enums.
 */
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "web.h"

#define TEAM_A 1
#define TEAM_B 2

/* When an action is allowed, in terms of the subject. */
typedef enum rule {
    NEVER,
    ALWAYS,
    PUBLISHED,   /* the phase is published */
    OWN,         /* the subject's team is one of the person's teams */
    OWN_DETAILS, /* OWN and the phase shows case details */
    OWN_LOGS     /* OWN_DETAILS and the phase shows logs */
} rule;

#define N_ACTIONS 13
static const sa_action actions[N_ACTIONS] = {
    SA_ACT_READ_PUBLISHED_BOARD, SA_ACT_READ_UNPUBLISHED_BOARD, SA_ACT_LIST_CHALLENGES,
    SA_ACT_SUBMIT,               SA_ACT_READ_OWN_SUBMISSION,    SA_ACT_READ_CASE_DETAILS,
    SA_ACT_READ_LOGS,            SA_ACT_MANAGE_RUNS,            SA_ACT_PUBLISH,
    SA_ACT_LIST_DATASETS,        SA_ACT_MANAGE_USERS,           SA_ACT_EXPORT_BOARD,
    SA_ACT_READ_SERVER_STATUS};
static const char *const action_names[N_ACTIONS] = {
    "read_published_board", "read_unpublished_board", "list_challenges", "submit",
    "read_own_submission",  "read_case_details",      "read_logs",       "manage_runs",
    "publish",              "list_datasets",          "manage_users",    "export_board",
    "read_server_status"};

#define N_PEOPLE 4
static const char *const people[N_PEOPLE] = {"public", "challenger A", "challenger B", "organiser"};

/* expected[person][action], actions in the order above. */
static const rule expected[N_PEOPLE][N_ACTIONS] = {
    /*               pub_board  unpub  list    submit own_sub case_details logs      runs   publish datasets users  export status */
    /* public    */ {PUBLISHED, NEVER, ALWAYS, NEVER, NEVER,  NEVER,       NEVER,    NEVER, NEVER,  NEVER,   NEVER, NEVER, NEVER},
    /* chall. A  */ {PUBLISHED, NEVER, ALWAYS, OWN,   OWN,    OWN_DETAILS, OWN_LOGS, NEVER, NEVER,  NEVER,   NEVER, NEVER, NEVER},
    /* chall. B  */ {PUBLISHED, NEVER, ALWAYS, OWN,   OWN,    OWN_DETAILS, OWN_LOGS, NEVER, NEVER,  NEVER,   NEVER, NEVER, NEVER},
    /* organiser */ {ALWAYS,    ALWAYS, ALWAYS, ALWAYS, ALWAYS, ALWAYS,    ALWAYS,   ALWAYS, ALWAYS, ALWAYS, ALWAYS, ALWAYS, ALWAYS},
};

static sa_identity person(int index) {
    sa_identity who;
    memset(&who, 0, sizeof who);
    switch (index) {
    case 0: who.role = SA_ROLE_PUBLIC; break;
    case 1: who.role = SA_ROLE_CHALLENGER, who.user_id = 10, who.teams[0] = TEAM_A, who.n_teams = 1; break;
    case 2: who.role = SA_ROLE_CHALLENGER, who.user_id = 11, who.teams[0] = TEAM_B, who.n_teams = 1; break;
    default: who.role = SA_ROLE_ORGANISER, who.user_id = 1; break;
    }
    return who;
}

static int rule_holds(rule r, const sa_identity *who, const sa_subject *s) {
    int own = 0;
    for (size_t i = 0; i < who->n_teams; i++) own |= s->team_id != 0 && who->teams[i] == s->team_id;
    switch (r) {
    case NEVER: return 0;
    case ALWAYS: return 1;
    case PUBLISHED: return s->phase_published;
    case OWN: return own;
    case OWN_DETAILS: return own && s->show_case_details;
    case OWN_LOGS: return own && s->show_case_details && s->show_logs;
    }
    return -1;
}

static void check_matrix(void) {
    static const int64_t teams[3] = {0, TEAM_A, TEAM_B};
    size_t checked = 0;
    for (int p = 0; p < N_PEOPLE; p++) {
        sa_identity who = person(p);
        for (int a = 0; a < N_ACTIONS; a++)
            for (int t = 0; t < 3; t++)
                for (int bits = 0; bits < 8; bits++) {
                    sa_subject s = {teams[t], bits & 1, (bits >> 1) & 1, (bits >> 2) & 1};
                    int want = rule_holds(expected[p][a], &who, &s);
                    int got = sa_web_allowed(&who, actions[a], &s);
                    CHECK(got == want);
                    if (got != want)
                        fprintf(stderr,
                                "  %s, %s, team %lld published %d details %d logs %d: got %d, expected %d\n",
                                people[p], action_names[a], (long long)s.team_id, s.phase_published,
                                s.show_case_details, s.show_logs, got, want);
                    checked++;
                }
    }
    CHECK(checked == (size_t)N_PEOPLE * N_ACTIONS * 3 * 8);
}

/* A few of the matrix's cells written out, so that a mistake in the table above
 * and the same one in the code cannot cancel out. */
static void check_literal_cases(void) {
    sa_identity pub = person(0), a = person(1), b = person(2), org = person(3);
    sa_subject own_all = {TEAM_A, 1, 1, 1}, own_no_details = {TEAM_A, 1, 0, 1};
    sa_subject own_details_no_logs = {TEAM_A, 0, 1, 0}, other_all = {TEAM_B, 1, 1, 1};
    sa_subject unpublished = {0, 0, 0, 0}, published = {0, 1, 0, 0};
    CHECK(sa_web_allowed(&a, SA_ACT_READ_LOGS, &own_all) == 1);
    CHECK(sa_web_allowed(&a, SA_ACT_READ_LOGS, &own_no_details) == 0); /* logs need details too */
    CHECK(sa_web_allowed(&a, SA_ACT_READ_LOGS, &own_details_no_logs) == 0);
    CHECK(sa_web_allowed(&a, SA_ACT_READ_CASE_DETAILS, &own_details_no_logs) == 1);
    CHECK(sa_web_allowed(&a, SA_ACT_READ_CASE_DETAILS, &other_all) == 0);
    CHECK(sa_web_allowed(&b, SA_ACT_READ_CASE_DETAILS, &other_all) == 1);
    CHECK(sa_web_allowed(&a, SA_ACT_SUBMIT, &other_all) == 0);
    CHECK(sa_web_allowed(&a, SA_ACT_READ_OWN_SUBMISSION, &other_all) == 0);
    CHECK(sa_web_allowed(&a, SA_ACT_READ_UNPUBLISHED_BOARD, &own_all) == 0);
    CHECK(sa_web_allowed(&a, SA_ACT_EXPORT_BOARD, &own_all) == 0);
    CHECK(sa_web_allowed(&pub, SA_ACT_READ_PUBLISHED_BOARD, &unpublished) == 0);
    CHECK(sa_web_allowed(&pub, SA_ACT_READ_PUBLISHED_BOARD, &published) == 1);
    CHECK(sa_web_allowed(&pub, SA_ACT_READ_OWN_SUBMISSION, &own_all) == 0);
    CHECK(sa_web_allowed(&org, SA_ACT_READ_UNPUBLISHED_BOARD, &unpublished) == 1);
    CHECK(sa_web_allowed(&org, SA_ACT_READ_LOGS, &unpublished) == 1);
}

static void check_null_and_out_of_range(void) {
    sa_identity pub = person(0), a = person(1), org = person(3);
    /* a NULL subject is all zero: no team, unpublished, nothing shown */
    CHECK(sa_web_allowed(&pub, SA_ACT_LIST_CHALLENGES, NULL) == 1);
    CHECK(sa_web_allowed(&pub, SA_ACT_READ_PUBLISHED_BOARD, NULL) == 0);
    CHECK(sa_web_allowed(&a, SA_ACT_SUBMIT, NULL) == 0);
    CHECK(sa_web_allowed(&a, SA_ACT_LIST_CHALLENGES, NULL) == 1);
    CHECK(sa_web_allowed(&org, SA_ACT_MANAGE_USERS, NULL) == 1);
    /* a NULL identity is the public */
    sa_subject published = {TEAM_A, 1, 1, 1};
    CHECK(sa_web_allowed(NULL, SA_ACT_READ_PUBLISHED_BOARD, &published) == 1);
    CHECK(sa_web_allowed(NULL, SA_ACT_READ_OWN_SUBMISSION, &published) == 0);
    /* values outside the enums are refused, to everyone */
    CHECK(sa_web_allowed(&org, (sa_action)99, &published) == 0);
    CHECK(sa_web_allowed(&a, (sa_action)99, &published) == 0);
    sa_identity odd = org;
    odd.role = (sa_role)7;
    CHECK(sa_web_allowed(&odd, SA_ACT_LIST_CHALLENGES, &published) == 0);
    /* team 0 is no team, even if an identity lists it */
    sa_identity zero = a;
    zero.teams[0] = 0;
    sa_subject no_team = {0, 1, 1, 1};
    CHECK(sa_web_allowed(&zero, SA_ACT_SUBMIT, &no_team) == 0);
    /* a member of many teams; a bogus n_teams is read no further than the array */
    sa_identity many = a;
    for (int i = 0; i < SA_WEB_MAX_TEAMS; i++) many.teams[i] = 100 + i;
    many.n_teams = SA_WEB_MAX_TEAMS + 50;
    sa_subject last = {100 + SA_WEB_MAX_TEAMS - 1, 0, 0, 0}, beyond = {100 + SA_WEB_MAX_TEAMS, 0, 0, 0};
    CHECK(sa_web_allowed(&many, SA_ACT_SUBMIT, &last) == 1);
    CHECK(sa_web_allowed(&many, SA_ACT_SUBMIT, &beyond) == 0);
}

int main(void) {
    check_matrix();
    check_literal_cases();
    check_null_and_out_of_range();
    return test_report("test_permissions");
}
