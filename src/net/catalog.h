/*
 * catalog.h - the controller's view of the network: the shareholder catalog
 * (ssn.shareholder) and which entry is this node (the one whose SAE ID is
 * ssn.sae_id).  Lookups run SPI queries; callers must be in a transaction.
 */
#ifndef SSN_CATALOG_H
#define SSN_CATALOG_H

#include "postgres.h"

#define SSN_NAME_MAXLEN 63

typedef struct Shareholder
{
	char		name[SSN_NAME_MAXLEN + 1];
	char	   *sae_id;
	char	   *conninfo;		/* NULL if none is registered */
	int			share_index;	/* 0 if none */
	char	   *trusted_node;	/* NULL if none */
	char	   *state;			/* in service / out of service / standby / reserved */
	char	   *peer_role;		/* the login role it uses here, NULL if none is bound */
	char	   *organization;	/* NULL if none */
	bool		in_service;
	bool		is_self;
	bool		reachable;		/* last health check (true if never checked) */
	double		rtt_ms;			/* its round trip then (0 if unknown) */
} Shareholder;

typedef struct ShareholderList
{
	int			count;
	Shareholder *items;			/* by share_index, those without one last */
	int			self;			/* index into items, -1 if this node is not listed */
} ShareholderList;

/* The whole catalog, allocated in the current memory context. */
extern ShareholderList *catalog_load(void);

/* Entry by name or by share index, NULL if absent. */
extern Shareholder *catalog_find(ShareholderList *l, const char *name);
extern Shareholder *catalog_find_index(ShareholderList *l, int share_index);

/* This node's name, or NULL if ssn.sae_id matches no entry. */
extern char *catalog_self_name(void);

/* This node's entry, or an error naming what is missing. */
extern Shareholder *catalog_require_self(ShareholderList *l);

/* A known peer (not this node) with the given name, or an error. */
extern Shareholder *catalog_require_peer(ShareholderList *l, const char *name);



/* OID of a type of the ssn extension (ssn_share, ssn_secret), or an error */
extern Oid	catalog_type_oid(const char *name);

/*
 * Run the following SPI work with the rights of the bootstrap superuser (the
 * catalogs are closed to users) and search_path = pg_catalog, pg_temp (so that
 * no object of the caller's can stand in for unnest(), = or pg_has_role());
 * the caller's identity is captured first.  Restored by catalog_end_privileged()
 * or by the (sub)transaction's abort.
 */
typedef struct PrivilegedScope
{
	Oid			caller;
	Oid			saved_uid;
	int			saved_sec;
	int			guc_level;
} PrivilegedScope;

extern void catalog_begin_privileged(PrivilegedScope *ps);
extern void catalog_end_privileged(PrivilegedScope *ps);
/* search_path for the node's own processes (workers): pg_catalog, pg_temp */
extern void catalog_set_safe_search_path(void);

#endif							/* SSN_CATALOG_H */
