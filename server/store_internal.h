/* Shared between the store's files (store*.c) only. */
#ifndef MAILSTEAD_STORE_INTERNAL_H
#define MAILSTEAD_STORE_INTERNAL_H

#include "db.h"

#define STORE_MAX_STATEMENTS 256

/* Statement groups, one per store_*.c file; store.c prepares them all. */
extern const struct db_statement store_mailbox_statements[];
extern const unsigned store_mailbox_nstatements;

#endif
