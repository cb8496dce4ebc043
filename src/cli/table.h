/* table.h: the CLI's lists as aligned tables (queue, history and other lists): each column as
 * wide as its widest cell or header, two spaces apart, left-aligned, so that every row's
 * columns start at the same offsets whatever the values; or the same rows as CSV. */
#ifndef GANTRY_TABLE_H
#define GANTRY_TABLE_H

#include <stdio.h>

typedef struct cli_table cli_table_t;

/* A table of ncols columns (1..64) with these headers (copied). */
cli_table_t *cli_table_new(int ncols, const char *const *headers);
/* Adds a row of ncols cells (copied; NULL is an empty cell). */
void cli_table_add(cli_table_t *t, const char *const *cells);
/* Rows so far. */
int cli_table_rows(const cli_table_t *t);
/* Header then rows, aligned; trailing spaces are cut (an empty last cell leaves none). */
void cli_table_print(const cli_table_t *t, FILE *f);
/* CSV (RFC 4180, lines ending in \n): the header, then the rows; a cell holding a comma, a
 * quote or a line break is quoted (quotes doubled). */
void cli_table_print_csv(const cli_table_t *t, FILE *f);
/* Accepts NULL. */
void cli_table_free(cli_table_t *t);

#endif
