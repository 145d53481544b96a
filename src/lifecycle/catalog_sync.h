/*
 * catalog_sync.h - the shareholder catalog kept in step across the nodes
 * (ssn.catalog_sync): changes signed, sent and applied in order.
 */
#ifndef SSN_CATALOG_SYNC_H
#define SSN_CATALOG_SYNC_H

/* the message kind 'catalog' (from _PG_init) */
extern void catalog_sync_init(void);

#endif							/* SSN_CATALOG_SYNC_H */
