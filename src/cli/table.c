/* table.c: aligned and CSV tables for the CLI's lists (table.h). */
#include "cli/table.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct cli_table {
    int ncols;
    char **cells;          /* (nrows + 1) * ncols: the header first */
    size_t nrows, cap;     /* rows including the header */
};

static void add(cli_table_t *t, const char *const *cells)
{
    if ((t->nrows + 1) * (size_t)t->ncols > t->cap) {
        size_t need = (t->nrows + 1) * (size_t)t->ncols;
        GT_GROW(t->cells, t->cap, need);
    }
    for (int c = 0; c < t->ncols; c++)
        t->cells[t->nrows * (size_t)t->ncols + (size_t)c] = xstrdup(cells[c] ? cells[c] : "");
    t->nrows++;
}

cli_table_t *cli_table_new(int ncols, const char *const *headers)
{
    if (ncols < 1 || ncols > 64)
        return NULL;
    cli_table_t *t = xcalloc(1, sizeof(*t));
    t->ncols = ncols;
    add(t, headers);
    return t;
}

void cli_table_add(cli_table_t *t, const char *const *cells) { add(t, cells); }

int cli_table_rows(const cli_table_t *t) { return (int)t->nrows - 1; }

static const char *cell(const cli_table_t *t, size_t r, int c)
{
    return t->cells[r * (size_t)t->ncols + (size_t)c];
}

void cli_table_print(const cli_table_t *t, FILE *f)
{
    size_t w[64] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            size_t n = strlen(cell(t, r, c));
            if (n > w[c])
                w[c] = n;
        }
    gt_buf_t line = {0};
    for (size_t r = 0; r < t->nrows; r++) {
        line.len = 0;
        for (int c = 0; c < t->ncols; c++) {
            const char *s = cell(t, r, c);
            gt_buf_printf(&line, "%s%-*s", c ? "  " : "", (int)w[c], s);
        }
        while (line.len && line.data[line.len - 1] == ' ')
            line.len--;
        fprintf(f, "%.*s\n", (int)line.len, line.len ? line.data : "");
    }
    gt_buf_free(&line);
}

void cli_table_print_csv(const cli_table_t *t, FILE *f)
{
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = cell(t, r, c);
            if (c)
                fputc(',', f);
            if (!strpbrk(s, ",\"\r\n")) {
                fputs(s, f);
                continue;
            }
            fputc('"', f);
            for (; *s; s++) {
                if (*s == '"')
                    fputc('"', f);
                fputc(*s, f);
            }
            fputc('"', f);
        }
        fputc('\n', f);
    }
}

void cli_table_free(cli_table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}
