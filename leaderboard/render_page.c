/*
 * render_page.c: the frame every HTML page shares, in one place: the document's
 * head (charset, viewport, the one style sheet, an optional self-refresh), the
 * small header bar ("logged in as NAME (role) · log out", or "log in") and the
 * end of the document. The style fits a phone (the viewport, tables scroll in
 * their own box) and follows the browser's light or dark theme. The header bar
 * sits between two HTML comments so that a page cached for the public can have
 * it replaced per request (pages.c). Pure functions; every text from data is
 * escaped; the markup is well-formed XML (void elements closed with "/>").
 */
#include <string.h>

#include "web.h"

static const char *const page_style =
    ":root{color-scheme:light dark}"
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:72rem;"
    "padding:1rem;line-height:1.45}"
    "h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem}"
    ".wrap{overflow-x:auto;-webkit-overflow-scrolling:touch}"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums}"
    "th,td{padding:.35rem .6rem;border-bottom:1px solid #8886;text-align:right;white-space:nowrap;"
    "vertical-align:top}"
    "th{font-weight:600}.team{text-align:left}"
    "td small{display:block;font-size:.75em;opacity:.75}"
    "tr.human td{font-style:italic;color:#7d8590}"
    "tr.human-heading td{text-align:left;font-size:.85em;color:#7d8590;border-bottom:none;"
    "padding-top:1rem}"
    ".marker{color:#cf222e;font-weight:normal;font-size:.8em}"
    ".notes p{max-width:60rem}figure{margin:1rem 0}"
    /* header bar, forms, status and progress */
    ".bar{display:flex;flex-wrap:wrap;gap:.3rem .8rem;justify-content:space-between;"
    "align-items:center;font-size:.9rem;border-bottom:1px solid #8886;padding-bottom:.4rem}"
    ".bar form{display:inline;margin:0}"
    "button.link{background:none;border:none;padding:0;font:inherit;color:inherit;"
    "text-decoration:underline;cursor:pointer}"
    "form.box{display:grid;gap:.6rem;max-width:28rem}"
    "form.box label{display:grid;gap:.2rem}"
    "input,select,button{font:inherit;max-width:100%}"
    ".message{border-left:4px solid #cf222e;padding:.3rem .7rem}"
    ".ok{color:#1a7f37}.bad{color:#cf222e}"
    "progress{width:100%;max-width:28rem;height:1.2rem}"
    "dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}"
    "dl.facts dt{font-weight:600}dl.facts dd{margin:0;overflow-wrap:anywhere}";

void sa_render_path_segment(sa_strbuf *b, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~')
            sa_strbuf_appendf(b, "%c", *p);
        else
            sa_strbuf_appendf(b, "%%%02X", *p);
    }
}

/* A local path as a query value (next=...): unreserved and '/' as they are. */
static void append_query_value(sa_strbuf *b, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~' || *p == '/')
            sa_strbuf_appendf(b, "%c", *p);
        else
            sa_strbuf_appendf(b, "%%%02X", *p);
    }
}

void sa_render_header_bar(sa_strbuf *b, const sa_page_viewer *viewer) {
    sa_strbuf_append(b, SA_PAGE_BAR_OPEN "<nav class=\"bar\"><a href=\"/\">SegArena</a><span>");
    if (viewer && viewer->name && *viewer->name) {
        sa_strbuf_append(b, "logged in as <strong>");
        sa_strbuf_append_html(b, viewer->name);
        sa_strbuf_append(b, "</strong> (");
        sa_strbuf_append_html(b, viewer->role ? viewer->role : "");
        sa_strbuf_append(b, ")");
        if (viewer->csrf && *viewer->csrf) {
            sa_strbuf_append(b, " \xC2\xB7 <form method=\"post\" action=\"/logout\">"
                                "<input type=\"hidden\" name=\"csrf\" value=\"");
            sa_strbuf_append_html(b, viewer->csrf);
            sa_strbuf_append(b, "\"/><button type=\"submit\" class=\"link\">log out</button></form>");
        }
    } else if (viewer) {
        sa_strbuf_append(b, "<a href=\"/login");
        if (viewer->here && viewer->here[0] == '/' && strcmp(viewer->here, "/")) {
            sa_strbuf_append(b, "?next=");
            append_query_value(b, viewer->here);
        }
        sa_strbuf_append(b, "\">log in</a>");
    }
    sa_strbuf_append(b, "</span></nav>" SA_PAGE_BAR_CLOSE "\n");
}

void sa_render_page_open(sa_strbuf *b, const char *title, const sa_page_viewer *viewer,
                         int refresh_seconds) {
    sa_strbuf_append(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>");
    if (refresh_seconds > 0)
        sa_strbuf_appendf(b, "<meta http-equiv=\"refresh\" content=\"%d\"/>", refresh_seconds);
    sa_strbuf_append(b, "<title>");
    sa_strbuf_append_html(b, title);
    sa_strbuf_append(b, "</title><style>");
    sa_strbuf_append(b, page_style);
    sa_strbuf_append(b, "</style></head>\n<body>");
    sa_render_header_bar(b, viewer);
    sa_strbuf_append(b, "<main>\n");
}

char *sa_render_page_close(sa_strbuf *b, size_t *len) {
    sa_strbuf_append(b, "</main></body></html>\n");
    return sa_strbuf_take(b, len);
}
