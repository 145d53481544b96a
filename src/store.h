/*
 * store.h - ssn_store()'s buffered rows, written before anything reads them.
 */
#ifndef SSN_STORE_H
#define SSN_STORE_H

/* write the shares this transaction buffered (retrieval calls it first) */
extern void store_flush_pending(void);

#endif							/* SSN_STORE_H */
