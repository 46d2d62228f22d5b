#ifndef MEPHISTO_DB_H
#define MEPHISTO_DB_H

/* The schema, compiled in from share/mephisto/schema.sql. */
extern const char db_schema_sql[];

#endif
